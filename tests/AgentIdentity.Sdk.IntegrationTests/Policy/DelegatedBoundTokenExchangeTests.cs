using System.Collections.Concurrent;
using System.Net.Http.Json;
using System.Text.Json;
using AgentIdentity.IntegrationTests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace AgentIdentity.IntegrationTests.Policy;

/// <summary>
/// RFC 8693 exchange of an agent's RFC 8705 bound token for a task identity, end to end with real parts: the planner's bound token
/// from a real OpenIddict 7.8 server (PKI mode, mTLS alias), a task credential minted by <see cref="AgentCredential.DelegateAsync"/>,
/// the exchange made by the task's own agent HttpClient over mTLS with the task certificate, and a real Kestrel resource server whose
/// OpenIddict validation enforces the delegated token's binding to the task certificate.
/// </summary>
public sealed class DelegatedBoundTokenExchangeTests
{
    private const string EchoId = BoundTokenDeployment.EchoId;

    private static readonly AgentPolicy PlannerPolicy = new(
        services: ["spiffe://example.org/svc/*"],
        actions: ["invoices:*"],
        maxDelegationDepth: 2,
        delegationTargets: ["spiffe://example.org/agent/*"]);

    private static readonly AgentPolicy TaskPolicy = new(
        services: [EchoId],
        actions: ["invoices:read"],
        maxDelegationDepth: 1,
        delegationTargets: ["spiffe://example.org/agent/*"]);

    [Fact]
    public async Task Exchange_TaskIdentity_GetsTokenBoundToTaskCertificateNamingEveryActor()
    {
        await using var env = await Environment.StartAsync();
        await using var task1 = await env.Planner.DelegateAsync("t1", TaskPolicy);
        using var task1Http = env.TaskClient(task1, ct => env.Tokens.GetAccessTokenAsync(AgentClient.Name, ct));

        // Hop 1: t1 exchanges the planner's bound token; the resource server accepts the delegated token only with t1's certificate.
        var seen = await task1Http.GetFromJsonAsync<JsonElement>("/api/actor");
        Assert.Equal(TestPki.Sha256Hex(task1.GetCurrent().Certificate), seen.GetProperty("certificate").GetString());
        Assert.Equal(OpenIddictAuthorizationServer.ClientId, seen.GetProperty("sub").GetString()); // the subject stays the planner('s client)
        Assert.Equal([task1.Id.ToString()], Actors(seen));

        var exchange = env.AuthorizationServer.TokenRequests.Last();
        Assert.Equal("/mtls/connect/token", exchange.Path);
        Assert.Equal(task1.GetCurrent().Thumbprint, exchange.Thumbprint);
        Assert.All(env.Seen, s => Assert.Equal(s.CertificateX5t, s.TokenX5t));

        // Hop 2: t2, minted by t1, exchanges t1's delegated token; act nests, current actor outermost.
        await using var task2 = await task1.DelegateAsync("t2", new AgentPolicy(services: [EchoId], actions: ["invoices:read"]));
        using var task2Http = env.TaskClient(task2, ct => AgentAccessTokens.GetAccessTokenAsync(task1Http.Handler, ct));
        seen = await task2Http.GetFromJsonAsync<JsonElement>("/api/actor");
        Assert.Equal(TestPki.Sha256Hex(task2.GetCurrent().Certificate), seen.GetProperty("certificate").GetString());
        Assert.Equal([task2.Id.ToString(), task1.Id.ToString()], Actors(seen));
        Assert.All(env.Seen, s => Assert.Equal(s.CertificateX5t, s.TokenX5t));

        // The delegated token is cached per task certificate: no second exchange.
        var requests = env.AuthorizationServer.TokenRequests.Count;
        await task2Http.GetFromJsonAsync<JsonElement>("/api/actor");
        Assert.Equal(requests, env.AuthorizationServer.TokenRequests.Count);
    }

    [Fact]
    public async Task Exchange_AfterParentRotation_TaskRenewsAndExchangesTheParentsNewToken()
    {
        await using var env = await Environment.StartAsync();

        // Timeline (1 h planner SVID, renewal at 50 % ± 10 %): at 20 min a 40 min task is minted, whose own renewal point is at 38-42 min;
        // the planner rotates at 27-33 min, and the clock stops at 34 min.
        env.Pki.Clock.Advance(TimeSpan.FromMinutes(20));
        await using var task1 = await env.Planner.DelegateAsync("t1", TaskPolicy, TimeSpan.FromMinutes(40));
        using var task1Http = env.TaskClient(task1, ct => env.Tokens.GetAccessTokenAsync(AgentClient.Name, ct));
        await task1Http.GetFromJsonAsync<JsonElement>("/api/actor");
        var taskBefore = task1.GetCurrent();

        // The planner rotates; its task renews at once (signed by the new certificate), before its own renewal point.
        var taskRenewed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var registration = taskBefore.ChangeToken.RegisterChangeCallback(_ => taskRenewed.TrySetResult(), null);
        var plannerAfter = await AgentClient.RotateAsync(env.Pki, env.Planner, TimeSpan.FromMinutes(14));
        await taskRenewed.Task.WaitAsync(TimeSpan.FromSeconds(30));
        var taskAfter = task1.GetCurrent();
        Assert.Equal(plannerAfter.GetCertificateHash(), taskAfter.DelegationChain!.Parent.GetCertificateHash());

        // The next call exchanges the planner's new token (bound to its new certificate) with the renewed task certificate.
        var seen = await task1Http.GetFromJsonAsync<JsonElement>("/api/actor");
        Assert.Equal(TestPki.Sha256Hex(taskAfter.Certificate), seen.GetProperty("certificate").GetString());
        Assert.Equal([task1.Id.ToString()], Actors(seen));
        Assert.Contains(env.AuthorizationServer.TokenRequests, r => r.Thumbprint == plannerAfter.Thumbprint);
        Assert.Equal(taskAfter.Thumbprint, env.AuthorizationServer.TokenRequests.Last().Thumbprint);
        Assert.All(env.Seen, s => Assert.Equal(s.CertificateX5t, s.TokenX5t));
    }

    [Fact]
    public async Task Exchange_ParentTokenPresentedByAnotherAgentsTask_RefusedAndNothingSent()
    {
        await using var env = await Environment.StartAsync();

        // Another agent of the same OAuth client mints a task and tries to exchange the planner's token: the token's binding names
        // the planner's certificate, which is not in that task's delegation chain.
        await using var other = await AgentCredential.CreateAsync(
            SpiffeId.Parse("spiffe://example.org/agent/planner/intruder"), env.Pki.Ca, new AgentCredentialOptions { Policy = PlannerPolicy }, env.Pki.Time);
        await using var otherTask = await other.DelegateAsync("t1", TaskPolicy);
        using var otherHttp = env.TaskClient(otherTask, ct => env.Tokens.GetAccessTokenAsync(AgentClient.Name, ct));

        var ex = await Assert.ThrowsAsync<BoundTokenException>(() => otherHttp.GetStringAsync("/api/actor"));

        Assert.Contains("token-exchange request", ex.Message, StringComparison.Ordinal);
        Assert.Contains("invalid_grant", ex.Message, StringComparison.Ordinal);
        Assert.Contains($"other than the one of '{otherTask.Id}''s parent '{other.Id}'", ex.Message, StringComparison.Ordinal);
        Assert.Equal(0, env.ResourceServer.RequestCount);
    }

    [Fact]
    public async Task Exchange_AgentWithoutDelegationChain_RefusedAsNotATaskIdentity()
    {
        await using var env = await Environment.StartAsync();

        // The planner itself (no delegation chain) tries to exchange its own token.
        using var plannerExchange = env.TaskClient(env.Planner, ct => env.Tokens.GetAccessTokenAsync(AgentClient.Name, ct));

        var ex = await Assert.ThrowsAsync<BoundTokenException>(() => plannerExchange.GetStringAsync("/api/actor"));

        Assert.Contains($"'{env.Planner.Id}' is not a task identity", ex.Message, StringComparison.Ordinal);
        Assert.Equal(0, env.ResourceServer.RequestCount);
    }

    [Fact]
    public async Task Exchange_SubjectTokenSourceFails_ClearErrorNamingTheSource()
    {
        await using var env = await Environment.StartAsync();
        await using var task1 = await env.Planner.DelegateAsync("t1", TaskPolicy);
        using var task1Http = env.TaskClient(task1, _ => throw new InvalidOperationException("the parent is gone"));

        var ex = await Assert.ThrowsAsync<BoundTokenException>(() => task1Http.GetStringAsync("/api/actor"));

        Assert.Contains("could not obtain the subject token to exchange (BoundTokenOptions.SubjectTokenSource): the parent is gone", ex.Message, StringComparison.Ordinal);
        Assert.Equal(0, env.ResourceServer.RequestCount);
    }

    [Fact]
    public async Task Exchange_RevokedTaskChain_RefusedNamingTheRevocationAndNothingSent()
    {
        // The authorization server's revocation set is fed with the signed entries of a real registry, verified like a feed subscriber does.
        var revocations = new RevocationSet();
        await using var env = await Environment.StartAsync(revocations);
        var signer = env.Pki.Ca.CreateRevocationSigner();
        var registry = new InMemoryRevocationRegistry(signer, timeProvider: env.Pki.Time);
        using var verifier = new RevocationFeedVerifier(signer.Certificate, env.Pki.Ca.TrustDomain);
        async Task FeedAsync()
        {
            foreach (var entry in await registry.GetEntriesAsync(revocations.LastSequence, 100))
            {
                revocations.Apply(verifier.Verify(entry.GetEncoded()));
            }
        }

        await using var control = await env.Planner.DelegateAsync("t0", TaskPolicy);
        await using var bySerial = await env.Planner.DelegateAsync("t1", TaskPolicy);
        await using var byIdentity = await env.Planner.DelegateAsync("t2", TaskPolicy);
        await using var byParent = await env.Planner.DelegateAsync("t3", TaskPolicy);
        using (var controlHttp = env.TaskClient(control, ct => env.Tokens.GetAccessTokenAsync(AgentClient.Name, ct)))
        {
            await controlHttp.GetFromJsonAsync<JsonElement>("/api/actor"); // the chain is fine before any revocation
        }

        Assert.Equal(1, env.ResourceServer.RequestCount);

        // The task's own certificate, by serial number.
        var serialEntry = await registry.RevokeCertificateAsync(bySerial.GetCurrent().SerialNumber, System.Security.Cryptography.X509Certificates.X509RevocationReason.KeyCompromise);
        await FeedAsync();
        var ex = await ExchangeFailsAsync(env, bySerial);
        Assert.Contains($"the task certificate of '{bySerial.Id}' (serial {bySerial.GetCurrent().SerialNumber}) is revoked by revocation {serialEntry}", ex.Message, StringComparison.Ordinal);

        // The task identity.
        var identityEntry = await registry.RevokeIdentityAsync(byIdentity.Id, System.Security.Cryptography.X509Certificates.X509RevocationReason.KeyCompromise);
        await FeedAsync();
        ex = await ExchangeFailsAsync(env, byIdentity);
        Assert.Contains($"the task identity '{byIdentity.Id}' is revoked by revocation {identityEntry}", ex.Message, StringComparison.Ordinal);

        // A delegation ancestor: the planner itself.
        var parentEntry = await registry.RevokeIdentityAsync(env.Planner.Id, System.Security.Cryptography.X509Certificates.X509RevocationReason.KeyCompromise);
        await FeedAsync();
        ex = await ExchangeFailsAsync(env, byParent);
        Assert.Contains($"the delegation chain of '{byParent.Id}' is revoked: '{env.Planner.Id}', which delegated to it, is revoked by revocation {parentEntry}", ex.Message, StringComparison.Ordinal);

        Assert.Equal(1, env.ResourceServer.RequestCount);
    }

    private static async Task<BoundTokenException> ExchangeFailsAsync(Environment env, AgentCredential task)
    {
        using var http = env.TaskClient(task, ct => env.Tokens.GetAccessTokenAsync(AgentClient.Name, ct));
        var ex = await Assert.ThrowsAsync<BoundTokenException>(() => http.GetStringAsync("/api/actor"));
        Assert.Contains("invalid_grant", ex.Message, StringComparison.Ordinal);
        return ex;
    }

    private static string[] Actors(JsonElement seen)
    {
        using var act = JsonDocument.Parse($"{{\"act\":{seen.GetProperty("act").GetString()}}}");
        Assert.True(ActorClaim.TryReadChain(act.RootElement, out var actors, out var error), error);
        return [.. actors];
    }

    /// <summary>The bound-token deployment (OpenIddict AS, resource server, the planner's "erp" client) with the planner's policy.</summary>
    private sealed class Environment : IAsyncDisposable
    {
        private readonly BoundTokenDeployment _deployment;

        private Environment(BoundTokenDeployment deployment)
        {
            _deployment = deployment;
            Tokens = deployment.Services.GetRequiredService<AgentAccessTokens>();
        }

        public TestPki Pki => _deployment.Pki;

        public OpenIddictAuthorizationServer AuthorizationServer => _deployment.AuthorizationServer;

        public MtlsTestServer ResourceServer => _deployment.ResourceServer;

        /// <summary>Gets, per request with a token, the presented certificate's and the token's x5t#S256.</summary>
        public ConcurrentQueue<(string CertificateX5t, string TokenX5t)> Seen => _deployment.Seen;

        public AgentCredential Planner => _deployment.Credential!;

        public AgentAccessTokens Tokens { get; }

        public static async Task<Environment> StartAsync(RevocationSet? revocations = null) =>
            new(await BoundTokenDeployment.StartAsync(TimeSpan.FromHours(2), policy: PlannerPolicy, revocations: revocations));

        /// <summary>An HttpClient for a task credential whose tokens are obtained by exchanging <paramref name="subjectToken"/>.</summary>
        public TaskHttp TaskClient(AgentCredential credential, Func<CancellationToken, ValueTask<string>> subjectToken)
        {
            var handler = AgentHttpClient.CreateHandler(credential, o =>
            {
                BoundTokenDeployment.ConfigureOptions(o, AuthorizationServer);
                o.Token.SubjectTokenSource = subjectToken;
            }, Pki.Time);
            return new TaskHttp(handler) { BaseAddress = ResourceServer.BaseAddress };
        }

        public ValueTask DisposeAsync() => _deployment.DisposeAsync();
    }

    private sealed class TaskHttp(HttpMessageHandler handler) : HttpClient(handler)
    {
        public HttpMessageHandler Handler { get; } = handler;
    }
}
