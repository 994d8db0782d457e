using System.Text.Json;

namespace AgentIdentity.Tests.Policy;

public sealed class TokenExchangeTests
{
    [Fact]
    public void ToParameters_Delegation_HasRfc8693Fields()
    {
        var fields = new TokenExchangeRequest
        {
            SubjectToken = "subject",
            ActorToken = "actor",
            ActorTokenType = TokenExchangeRequest.AccessTokenType,
            Resources = ["https://erp.example/api"],
            Audiences = ["erp"],
            Scopes = ["invoices:read", "orders:read"],
            RequestedTokenType = TokenExchangeRequest.AccessTokenType,
        }.ToParameters();

        Assert.Equal(
            [
                ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"),
                ("subject_token", "subject"),
                ("subject_token_type", "urn:ietf:params:oauth:token-type:access_token"),
                ("actor_token", "actor"),
                ("actor_token_type", "urn:ietf:params:oauth:token-type:access_token"),
                ("resource", "https://erp.example/api"),
                ("audience", "erp"),
                ("scope", "invoices:read orders:read"),
                ("requested_token_type", "urn:ietf:params:oauth:token-type:access_token"),
            ],
            fields.Select(f => (f.Key, f.Value)));
    }

    // The request type is internal (client-side form building), so the theory names each case by its index.
    private static readonly (TokenExchangeRequest Request, string Expected)[] BadRequestCases =
    [
        (new TokenExchangeRequest { SubjectToken = "" }, "subject_token must not be empty"),
        (new TokenExchangeRequest { SubjectToken = "s", ActorToken = "a" }, "actor_token_type is required"),
        (new TokenExchangeRequest { SubjectToken = "s", ActorTokenType = TokenExchangeRequest.JwtTokenType }, "must not be sent without actor_token"),
        (new TokenExchangeRequest { SubjectToken = "s", Resources = ["/relative"] }, "absolute URI without a fragment"),
        (new TokenExchangeRequest { SubjectToken = "s", Resources = ["https://x.example/#f"] }, "absolute URI without a fragment"),
        (new TokenExchangeRequest { SubjectToken = "s", Scopes = ["a b"] }, "contain no spaces"),
    ];

    public static TheoryData<int, string> BadRequests
    {
        get
        {
            var data = new TheoryData<int, string>();
            for (var i = 0; i < BadRequestCases.Length; i++)
            {
                data.Add(i, BadRequestCases[i].Expected);
            }

            return data;
        }
    }

    [Theory]
    [MemberData(nameof(BadRequests))]
    public void ToParameters_BreaksRfc_ThrowsSayingWhich(int index, string expected) =>
        Assert.Contains(expected, Assert.Throws<ArgumentException>(() => BadRequestCases[index].Request.ToParameters()).Message, StringComparison.Ordinal);
}
