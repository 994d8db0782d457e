using AgentIdentity.IntegrationTests.Infrastructure;

namespace AgentIdentity.IntegrationTests.Http;

/// <summary><see cref="AgentHttpClient.CreateHandler"/>: the agent handler for credentials made at run time (task identities), against
/// real Kestrel mTLS on loopback, and its configuration errors.</summary>
public sealed class StandaloneAgentHandlerTests
{
    private const string EchoId = "spiffe://example.org/svc/echo";

    [Fact]
    public async Task CreateHandler_TaskCredential_PresentsTaskSvidAndFollowsItsRotation()
    {
        using var pki = TestPki.OnFakeClock();
        await using var server = await MtlsTestServer.StartAsync(pki);
        await using var planner = await AgentCredential.CreateAsync(
            SpiffeId.Parse("spiffe://example.org/agent/planner/1"), pki.Ca,
            new AgentCredentialOptions { Policy = new AgentPolicy(services: ["spiffe://example.org/svc/*"], maxDelegationDepth: 1, delegationTargets: ["spiffe://example.org/agent/*"]) },
            pki.Time);
        await using var task = await planner.DelegateAsync("t1", new AgentPolicy(services: [EchoId]));
        using var client = new HttpClient(AgentHttpClient.CreateHandler(task, o => o.ServerId = EchoId, pki.Time)) { BaseAddress = server.BaseAddress };

        Assert.Equal(task.GetCurrent().Thumbprint, await client.GetStringAsync("/whoami"));

        var rotated = await AgentClient.RotateAsync(pki, task, AgentCredential.DefaultTaskLifetime * 0.6);
        Assert.Equal(rotated.Thumbprint, await client.GetStringAsync("/whoami"));
    }

    [Fact]
    public async Task CreateHandler_WrongServerId_RefusesTheServer()
    {
        using var pki = TestPki.OnFakeClock();
        await using var server = await MtlsTestServer.StartAsync(pki);
        await using var agent = await AgentCredential.CreateAsync(SpiffeId.Parse("spiffe://example.org/agent/a/1"), pki.Ca, timeProvider: pki.Time);
        using var client = new HttpClient(AgentHttpClient.CreateHandler(agent, o => o.ServerId = "spiffe://example.org/svc/other", pki.Time)) { BaseAddress = server.BaseAddress };

        var ex = await Assert.ThrowsAsync<PeerRejectedException>(() => client.GetStringAsync("/whoami"));
        Assert.Contains(EchoId, ex.Message, StringComparison.Ordinal);
        Assert.Equal(0, server.RequestCount);
    }

    [Fact]
    public async Task CreateHandler_InvalidOptions_ArgumentExceptionNamingEachProblem()
    {
        using var pki = TestPki.OnFakeClock();
        await using var agent = await AgentCredential.CreateAsync(SpiffeId.Parse("spiffe://example.org/agent/a/1"), pki.Ca, timeProvider: pki.Time);

        var ex = Assert.Throws<ArgumentException>(() => AgentHttpClient.CreateHandler(agent, o =>
        {
            o.Token.Authority = new Uri("https://as.example/");
            o.Token.ClientId = "a";
            o.Token.SubjectTokenSource = _ => ValueTask.FromResult("t");
            o.Token.SubjectTokenType = string.Empty;
        }));

        Assert.Contains("SubjectTokenType is required with SubjectTokenSource", ex.Message, StringComparison.Ordinal);
        ex = Assert.Throws<ArgumentException>(() => AgentHttpClient.CreateHandler(agent, o =>
        {
            o.Token.Authority = new Uri("http://as.example/");
            o.Token.ClientId = "a";
        }));
        Assert.Contains("'http://as.example/' must be an absolute https URI", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GetAccessTokenAsync_HandlerWithoutTokensOrForeignHandler_ClearErrors()
    {
        using var pki = TestPki.OnFakeClock();
        await using var agent = await AgentCredential.CreateAsync(SpiffeId.Parse("spiffe://example.org/agent/a/1"), pki.Ca, timeProvider: pki.Time);
        using var handler = AgentHttpClient.CreateHandler(agent, timeProvider: pki.Time);
        using var foreign = new SocketsHttpHandler();

        var noTokens = await Assert.ThrowsAsync<InvalidOperationException>(() => AgentAccessTokens.GetAccessTokenAsync(handler).AsTask());
        var notOurs = await Assert.ThrowsAsync<ArgumentException>(() => AgentAccessTokens.GetAccessTokenAsync(foreign).AsTask());

        Assert.Contains("has no bound tokens: set Token.Authority or Token.TokenEndpoint", noTokens.Message, StringComparison.Ordinal);
        Assert.Contains("was not created by AgentHttpClient.CreateHandler", notOurs.Message, StringComparison.Ordinal);
    }
}
