using System.Buffers.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Time.Testing;

namespace AgentIdentity.Tests.Policy;

/// <summary>The authorization server's decision for a task identity exchanging its parent's bound token, on real certificates
/// from the development CA (planner → t1 → t2).</summary>
public sealed class DelegatedTokenExchangeTests : IAsyncLifetime
{
    private static readonly TrustDomain Td = TrustDomain.Parse("td.example");
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 28, 10, 0, 0, TimeSpan.Zero));
    private DevelopmentCertificateAuthority _ca = null!;
    private AgentCredential _planner = null!;
    private AgentCredential _t1 = null!;
    private AgentCredential _t2 = null!;

    public async Task InitializeAsync()
    {
        _ca = DevelopmentCertificateAuthority.Create(Td, timeProvider: _time);
        _planner = await AgentCredential.CreateAsync(
            SpiffeId.Parse("spiffe://td.example/agent/planner/1"), _ca,
            new AgentCredentialOptions { Policy = new AgentPolicy(services: ["spiffe://td.example/svc/*"], maxDelegationDepth: 2, delegationTargets: ["spiffe://td.example/agent/*"]) },
            _time);
        _t1 = await _planner.DelegateAsync("t1", new AgentPolicy(services: ["spiffe://td.example/svc/erp"], maxDelegationDepth: 1, delegationTargets: ["spiffe://td.example/agent/*"]));
        _t2 = await _t1.DelegateAsync("t2", new AgentPolicy(services: ["spiffe://td.example/svc/erp"]));
    }

    public async Task DisposeAsync()
    {
        await _planner.DisposeAsync();
        _ca.Dispose();
    }

    [Fact]
    public void TryAuthorize_ParentsBoundToken_ActNamesTheTask()
    {
        Assert.True(DelegatedTokenExchange.TryAuthorize(Claims(BoundTo(_planner)), Verify(_t1), out var act, out var error), error);
        Assert.Equal(ActorClaim.Create([_t1.Id.ToString()]).ToJsonString(), act.ToJsonString());
    }

    [Fact]
    public void TryAuthorize_SecondHop_NestsTheSubjectTokensAct()
    {
        var subject = Claims(BoundTo(_t1), ActorClaim.Create([_t1.Id.ToString()]));

        Assert.True(DelegatedTokenExchange.TryAuthorize(subject, Verify(_t2), out var act, out var error), error);
        Assert.Equal(ActorClaim.Create([_t2.Id.ToString(), _t1.Id.ToString()]).ToJsonString(), act.ToJsonString());
    }

    [Fact]
    public void TryAuthorize_TokenBoundToGrandparent_Refused()
    {
        // t2 presents the planner's own token: it is bound to t2's grandparent, not to its parent t1.
        Assert.False(DelegatedTokenExchange.TryAuthorize(Claims(BoundTo(_planner)), Verify(_t2), out var act, out var error));
        Assert.Null(act);
        Assert.Contains($"bound to a certificate other than the one of '{_t2.Id}''s parent '{_t1.Id}'", error, StringComparison.Ordinal);
    }

    [Fact]
    public void TryAuthorize_UnboundSubjectToken_Refused()
    {
        using var claims = JsonDocument.Parse("{\"sub\":\"planner\"}");
        Assert.False(DelegatedTokenExchange.TryAuthorize(claims.RootElement, Verify(_t1), out _, out var error));
        Assert.Contains("not certificate-bound (no cnf.x5t#S256)", error, StringComparison.Ordinal);
    }

    [Fact]
    public void TryAuthorize_AgentWithoutDelegationChain_Refused()
    {
        Assert.False(DelegatedTokenExchange.TryAuthorize(Claims(BoundTo(_planner)), Verify(_planner), out _, out var error));
        Assert.Contains($"'{_planner.Id}' is not a task identity", error, StringComparison.Ordinal);
    }

    [Fact]
    public void TryAuthorize_InvalidClientCertificate_Refused()
    {
        // Verified against another CA's bundle: the chain does not validate.
        using var other = DevelopmentCertificateAuthority.Create(Td, timeProvider: _time);
        var actor = DelegationChainVerifier.Verify(_t1.GetCurrent().Certificate, _t1.GetCurrent().Intermediates, other, _time.GetUtcNow());

        Assert.False(DelegatedTokenExchange.TryAuthorize(Claims(BoundTo(_planner)), actor, out _, out var error));
        Assert.StartsWith("the client certificate is not a valid SVID with a valid delegation chain", error, StringComparison.Ordinal);
    }

    [Fact]
    public void TryAuthorize_ActChainThatDoesNotMatchTheDelegationChain_Refused()
    {
        // A token bound to t1 that claims a different earlier actor than t2's chain records.
        var subject = Claims(BoundTo(_t1), ActorClaim.Create(["spiffe://td.example/agent/planner/1/task/other"]));

        Assert.False(DelegatedTokenExchange.TryAuthorize(subject, Verify(_t2), out _, out var error));
        Assert.Contains("act chain [spiffe://td.example/agent/planner/1/task/other] does not match the delegation chain", error, StringComparison.Ordinal);
    }

    [Fact]
    public void TryAuthorize_MalformedAct_Refused()
    {
        var subject = Claims(BoundTo(_planner), new JsonObject { ["iss"] = "no sub" });

        Assert.False(DelegatedTokenExchange.TryAuthorize(subject, Verify(_t1), out _, out var error));
        Assert.Contains("act claim is malformed", error, StringComparison.Ordinal);
    }

    [Fact]
    public void TryAuthorize_ClaimsNotAnObject_Refused()
    {
        using var claims = JsonDocument.Parse("[]");
        Assert.False(DelegatedTokenExchange.TryAuthorize(claims.RootElement, Verify(_t1), out _, out var error));
        Assert.Equal("the subject token's claims are not a JSON object", error);
    }

    private DelegationVerificationResult Verify(AgentCredential credential)
    {
        var svid = credential.GetCurrent();
        return DelegationChainVerifier.Verify(svid.Certificate, svid.Intermediates, _ca, _time.GetUtcNow());
    }

    private static string BoundTo(AgentCredential credential) => Base64Url.EncodeToString(credential.GetCurrent().GetCertificateHash());

    private static JsonElement Claims(string x5t, JsonObject? act = null)
    {
        var claims = new JsonObject { ["sub"] = "planner", ["cnf"] = new JsonObject { ["x5t#S256"] = x5t } };
        if (act is not null)
        {
            claims[ActorClaim.ClaimName] = act;
        }

        return JsonDocument.Parse(claims.ToJsonString()).RootElement.Clone();
    }
}
