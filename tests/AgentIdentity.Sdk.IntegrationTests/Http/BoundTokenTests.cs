using System.Collections.Concurrent;
using System.Net;
using AgentIdentity.IntegrationTests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace AgentIdentity.IntegrationTests.Http;

/// <summary>RFC 8705 certificate-bound tokens from a real OpenIddict 7.8 authorization server, checked by OpenIddict validation on a real
/// Kestrel resource server, with rotation, outage and rejection.</summary>
public sealed class BoundTokenTests
{
    private static Action<IHttpClientBuilder> Client(OpenIddictAuthorizationServer authorizationServer) =>
        BoundTokenDeployment.ConfigureClient(authorizationServer, TlsClientAuthenticationMethod.TlsClientAuth);

    [Fact]
    public async Task GetAsync_BoundToken_ObtainedOverMtlsAliasCachedAndAcceptedByResourceServer()
    {
        await using var deployment = await BoundTokenDeployment.StartAsync(TimeSpan.FromMinutes(10));

        await deployment.AssertBoundCallsAsync();
    }

    [Fact]
    public async Task GetAsync_RotationUnderLoad_TokenReacquiredAndNeverSentWithOtherCertificate()
    {
        await using var deployment = await BoundTokenDeployment.StartAsync(TimeSpan.FromHours(2));
        var (pki, credential, client) = (deployment.Pki, deployment.Credential!, deployment.Client);

        long completed = 0;
        var failures = new ConcurrentQueue<Exception>();
        var progress = new SemaphoreSlim(0);
        using var stop = new CancellationTokenSource();
        async Task WorkAsync()
        {
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    using var response = await client.GetAsync("/api/whoami");
                    Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                }
                catch (Exception ex)
                {
                    failures.Enqueue(ex);
                }

                Interlocked.Increment(ref completed);
                progress.Release();
            }
        }

        async Task WaitForCompletionsAsync(long target)
        {
            while (Interlocked.Read(ref completed) < target)
            {
                Assert.True(await progress.WaitAsync(TimeSpan.FromMinutes(3)), "requests stopped completing"); // a safety net on a loaded machine
            }
        }

        var thumbprints = new List<string> { credential.GetCurrent().Thumbprint };
        var workers = Enumerable.Range(0, 4).Select(_ => Task.Run(WorkAsync)).ToArray();
        try
        {
            await WaitForCompletionsAsync(20);
            for (var rotation = 0; rotation < 2; rotation++)
            {
                thumbprints.Add((await AgentClient.RotateAsync(pki, credential, TimeSpan.FromMinutes(42))).Thumbprint);
                await WaitForCompletionsAsync(Interlocked.Read(ref completed) + 20);
            }
        }
        finally
        {
            // Stop the workers whatever happened, so that a failed assertion ends the test instead of leaving them spinning.
            await stop.CancelAsync();
            await Task.WhenAll(workers);
        }

        Assert.Empty(failures);
        Assert.All(deployment.Seen, s => Assert.Equal(s.CertificateX5t, s.TokenX5t));
        Assert.Equal(thumbprints, deployment.AuthorizationServer.TokenRequests.Select(r => r.Thumbprint));
    }

    [Fact]
    public async Task GetAsync_AuthorizationServerDown_CachedTokenUsedUntilExpiryThenClearError()
    {
        await using var deployment = await BoundTokenDeployment.StartAsync(TimeSpan.FromMinutes(10));
        var (pki, client) = (deployment.Pki, deployment.Client);
        await client.GetStringAsync("/api/whoami");

        await deployment.AuthorizationServer.StopAsync();
        pki.Clock.Advance(TimeSpan.FromMinutes(9.5)); // inside the refresh window: the refresh fails in the background
        await client.GetStringAsync("/api/whoami");
        pki.Clock.Advance(TimeSpan.FromMinutes(1)); // past expiry

        var ex = await Assert.ThrowsAsync<BoundTokenException>(() => client.GetStringAsync("/api/whoami"));
        Assert.Contains("could not obtain a certificate-bound access token for client 'planner'", ex.Message, StringComparison.Ordinal);
        Assert.Contains("The cached token expired at", ex.Message, StringComparison.Ordinal);
        Assert.Equal(2, deployment.Seen.Count);
    }

    [Fact]
    public async Task SendAsync_InvalidTokenOnce_RefreshesAndRetriesReplayableRequestOnly()
    {
        using var pki = TestPki.OnFakeClock();
        await using var authorizationServer = await OpenIddictAuthorizationServer.StartAsync(pki, TimeSpan.FromMinutes(10));
        await using var resourceServer = await ResourceServer.StartAsync(pki, authorizationServer, new());
        await using var services = AgentClient.Build(pki, resourceServer.BaseAddress, Client(authorizationServer));
        await AgentClient.ReadyAsync(services);
        var client = services.GetRequiredService<IHttpClientFactory>().CreateClient(AgentClient.Name);

        using var replayable = await client.GetAsync("/api/revoked-once");
        Assert.Equal(HttpStatusCode.OK, replayable.StatusCode);
        Assert.Equal(2, authorizationServer.TokenRequests.Count);

        await using var resourceServer2 = await ResourceServer.StartAsync(pki, authorizationServer, new());
        using var streamed = await client.PostAsync(new Uri(resourceServer2.BaseAddress, "/api/revoked-once"), new StreamContent(new MemoryStream([1, 2, 3])));
        Assert.Equal(HttpStatusCode.Unauthorized, streamed.StatusCode);
        Assert.Equal(2, authorizationServer.TokenRequests.Count);

        // A buffered POST is replayable: the deliberate retry after invalid_token is not mistaken for an unsafe retry.
        await using var resourceServer3 = await ResourceServer.StartAsync(pki, authorizationServer, new());
        using var buffered = await client.PostAsync(new Uri(resourceServer3.BaseAddress, "/api/revoked-once"), new ByteArrayContent([1, 2, 3]));
        Assert.Equal(HttpStatusCode.OK, buffered.StatusCode);
        Assert.Equal(3, authorizationServer.TokenRequests.Count);
    }

    [Fact]
    public async Task GetAsync_AuthorizationServerIssuesUnboundToken_RefusedAndNothingSent()
    {
        await using var deployment = await BoundTokenDeployment.StartAsync(TimeSpan.FromMinutes(10), bindTokens: false);

        var ex = await Assert.ThrowsAsync<BoundTokenException>(() => deployment.Client.GetStringAsync("/api/whoami"));

        Assert.Contains("without cnf.x5t#S256", ex.Message, StringComparison.Ordinal);
        Assert.Equal(0, deployment.ResourceServer.RequestCount);
    }

    [Fact]
    public async Task GetAsync_ClientRegisteredForOtherSpiffeId_AuthorizationServerRefusesWithInvalidClient()
    {
        await using var deployment = await BoundTokenDeployment.StartAsync(TimeSpan.FromMinutes(10), clientSpiffePattern: "spiffe://example.org/agent/other/*");

        var ex = await Assert.ThrowsAsync<BoundTokenException>(() => deployment.Client.GetStringAsync("/api/whoami"));

        Assert.Contains("invalid_client", ex.Message, StringComparison.Ordinal);
        Assert.Equal(0, deployment.ResourceServer.RequestCount);
    }

    [Fact]
    public async Task GetAsync_TokenRequestsKeepFailing_FailFastWithinGrowingBackOff()
    {
        await using var deployment = await BoundTokenDeployment.StartAsync(TimeSpan.FromMinutes(10), clientSpiffePattern: "spiffe://example.org/agent/other/*");
        var (client, requests, time) = (deployment.Client, deployment.AuthorizationServer.TokenRequests, deployment.Pki.Clock);

        // First failure: asked the server. Right after it: fail fast with the last error, without asking again, until the announced
        // time (Polly's exponential back-off with jitter: 1 s median, doubling up to 30 s).
        Assert.Contains("invalid_client", (await Assert.ThrowsAsync<BoundTokenException>(() => client.GetStringAsync("/api/whoami"))).Message, StringComparison.Ordinal);
        var fast = await Assert.ThrowsAsync<BoundTokenException>(() => client.GetStringAsync("/api/whoami"));
        Assert.Contains("the last attempt failed", fast.Message, StringComparison.Ordinal);
        Assert.Contains("invalid_client", fast.Message, StringComparison.Ordinal);
        Assert.Contains("after 1 consecutive failure(s)", fast.Message, StringComparison.Ordinal);
        Assert.Single(requests);

        // At the announced time: one more attempt, which fails and starts the next, longer back-off.
        time.Advance(NextAttempt(fast) - time.GetUtcNow());
        await Assert.ThrowsAsync<BoundTokenException>(() => client.GetStringAsync("/api/whoami"));
        Assert.Equal(2, requests.Count);
        fast = await Assert.ThrowsAsync<BoundTokenException>(() => client.GetStringAsync("/api/whoami"));
        Assert.Contains("after 2 consecutive failure(s)", fast.Message, StringComparison.Ordinal);
        Assert.InRange(NextAttempt(fast) - time.GetUtcNow(), TimeSpan.Zero, TimeSpan.FromSeconds(30));
        Assert.Equal(2, requests.Count);
        time.Advance(NextAttempt(fast) - time.GetUtcNow());
        await Assert.ThrowsAsync<BoundTokenException>(() => client.GetStringAsync("/api/whoami"));
        Assert.Equal(3, requests.Count);
        Assert.Equal(0, deployment.ResourceServer.RequestCount);
    }

    /// <summary>Reads the time a fail-fast message announces for the next attempt.</summary>
    private static DateTimeOffset NextAttempt(BoundTokenException ex)
    {
        const string Marker = "the next attempt is made after ";
        var start = ex.Message.IndexOf(Marker, StringComparison.Ordinal) + Marker.Length;
        return DateTimeOffset.Parse(ex.Message[start..ex.Message.IndexOf(". ", start, StringComparison.Ordinal)], System.Globalization.CultureInfo.InvariantCulture);
    }
}
