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

    public static TheoryData<TokenExchangeRequest, string> BadRequests => new()
    {
        { new TokenExchangeRequest { SubjectToken = "" }, "subject_token must not be empty" },
        { new TokenExchangeRequest { SubjectToken = "s", ActorToken = "a" }, "actor_token_type is required" },
        { new TokenExchangeRequest { SubjectToken = "s", ActorTokenType = TokenExchangeRequest.JwtTokenType }, "must not be sent without actor_token" },
        { new TokenExchangeRequest { SubjectToken = "s", Resources = ["/relative"] }, "absolute URI without a fragment" },
        { new TokenExchangeRequest { SubjectToken = "s", Resources = ["https://x.example/#f"] }, "absolute URI without a fragment" },
        { new TokenExchangeRequest { SubjectToken = "s", Scopes = ["a b"] }, "contain no spaces" },
    };

    [Theory]
    [MemberData(nameof(BadRequests))]
    public void ToParameters_BreaksRfc_ThrowsSayingWhich(TokenExchangeRequest request, string expected) =>
        Assert.Contains(expected, Assert.Throws<ArgumentException>(() => request.ToParameters()).Message, StringComparison.Ordinal);

    [Fact]
    public void FromDelegation_TaskOfTask_NestsCurrentFirstRootLast()
    {
        var policy = AgentPolicy.Empty;
        var chain = new DelegationChain(
        [
            new DelegationLink(SpiffeId.Parse("spiffe://td/agent/planner/1"), new byte[32], DateTimeOffset.UnixEpoch, policy),
            new DelegationLink(SpiffeId.Parse("spiffe://td/agent/planner/1/task/t1"), new byte[32], DateTimeOffset.UnixEpoch, policy),
        ]);
        var act = ActorClaim.FromDelegation(SpiffeId.Parse("spiffe://td/agent/planner/1/task/t1/task/t2"), chain);
        Assert.Equal(
            """{"sub":"spiffe://td/agent/planner/1/task/t1/task/t2","act":{"sub":"spiffe://td/agent/planner/1/task/t1","act":{"sub":"spiffe://td/agent/planner/1"}}}""",
            act.ToJsonString());
    }

    [Fact]
    public void Nest_ExistingAct_AddsNewCurrentActorOnTop()
    {
        using var previous = JsonDocument.Parse("""{"sub":"b","act":{"sub":"a"}}""");
        Assert.Equal("""{"sub":"c","act":{"sub":"b","act":{"sub":"a"}}}""", ActorClaim.Nest("c", previous.RootElement).ToJsonString());
    }

    [Theory]
    [InlineData("""{"sub":"u"}""", "")]
    [InlineData("""{"sub":"u","act":{"sub":"c","act":{"sub":"b"}}}""", "c,b")]
    public void TryReadChain_WellFormed_ReturnsActorsCurrentFirst(string payload, string expected)
    {
        using var document = JsonDocument.Parse(payload);
        Assert.True(ActorClaim.TryReadChain(document.RootElement, out var actors, out var error), error);
        Assert.Equal(expected, string.Join(',', actors));
    }

    [Theory]
    [InlineData("""{"sub":"u","actor":{"sub":"c"}}""", "'actor' claim but no RFC 8693 'act' claim")]
    [InlineData("""{"act":"c"}""", "is a JSON String, not an object")]
    [InlineData("""{"act":{"sub":""}}""", "no non-empty string 'sub'")]
    [InlineData("""{"act":{"sub":"c","act":[]}}""", "act at depth 1 is a JSON Array")]
    [InlineData("""{"act":{"sub":1}}""", "no non-empty string 'sub'")]
    [InlineData("[]", "not a JSON object")]
    public void TryReadChain_Malformed_FailsSayingWhy(string payload, string expected)
    {
        using var document = JsonDocument.Parse(payload);
        Assert.False(ActorClaim.TryReadChain(document.RootElement, out _, out var error));
        Assert.Contains(expected, error, StringComparison.Ordinal);
    }

    [Fact]
    public void TryReadChain_TooDeep_Fails()
    {
        var json = "{\"sub\":\"x0\"}";
        for (var i = 1; i <= ActorClaim.MaxActors; i++)
        {
            json = $"{{\"sub\":\"x{i}\",\"act\":{json}}}";
        }

        using var document = JsonDocument.Parse($"{{\"act\":{json}}}");
        Assert.False(ActorClaim.TryReadChain(document.RootElement, out _, out var error));
        Assert.Contains("deeper than", error, StringComparison.Ordinal);
    }
}
