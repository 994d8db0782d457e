using System.Net;
using System.Security.Cryptography.X509Certificates;
using AgentIdentity.AspNetCore.Tests.TestInfrastructure;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;

namespace AgentIdentity.AspNetCore.Tests.Revocation;

/// <summary>End to end over real sockets: an issuer publishing its feed, three Kestrel services and two agents subscribing.</summary>
public sealed class RevocationPropagationTests : IAsyncLifetime, IDisposable
{
    private static readonly TimeSpan Safety = TimeSpan.FromSeconds(30);
    private static readonly AgentPolicy PlannerPolicy = new(
        services: ["spiffe://corp.example/svc/*"], actions: ["invoices:*"], tools: ["Erp.*"], maxDelegationDepth: 2,
        delegationTargets: ["spiffe://corp.example/agent/planner/*"]);

    private static readonly AgentPolicy TaskPolicy = new(
        services: ["spiffe://corp.example/svc/erp"], actions: ["invoices:read"], tools: ["Erp.GetInvoice"], maxDelegationDepth: 1,
        delegationTargets: ["spiffe://corp.example/agent/planner/a/task/*"]);

    private readonly TestPki _pki = TestPki.ForCorp();
    private readonly List<AgentTestServer> _services = [];
    private readonly List<(AgentCredential Credential, RevocationFeedSubscriber Subscriber, AgentRevocationMonitor Monitor, HttpClient Http)> _agents = [];
    private RevocationIssuerServer _issuer = null!;

    public async Task InitializeAsync()
    {
        _issuer = await RevocationIssuerServer.StartAsync(_pki.Ca);
        for (var i = 0; i < 3; i++)
        {
            var service = await StartServiceAsync(_issuer.FeedUri);
            _services.Add(service);
        }

        foreach (var name in new[] { "a", "b" })
        {
            var credential = await AgentCredential.CreateAsync(
                SpiffeId.Parse($"spiffe://corp.example/agent/planner/{name}"),
                new RevocationAwareIssuer(_pki.Ca, _issuer.Registry),
                new AgentCredentialOptions { Policy = PlannerPolicy });
            var set = new RevocationSet();
            var http = new HttpClient { Timeout = Timeout.InfiniteTimeSpan };
            var subscriber = new RevocationFeedSubscriber(http, _issuer.FeedUri, new RevocationFeedVerifier(_issuer.Signer.Certificate, TestPki.Corp), set);
            var monitor = new AgentRevocationMonitor(set);
            monitor.Watch(credential);
            var connected = subscriber.WaitConnectedAsync(Safety);
            subscriber.Start();
            await connected;
            _agents.Add((credential, subscriber, monitor, http));
        }
    }

    private async Task<AgentTestServer> StartServiceAsync(Uri feed, Action<AgentRevocationFeedOptions>? configure = null, Action<IServiceCollection>? services = null)
    {
        var server = await AgentTestServer.StartAsync(
            _pki,
            services: s =>
            {
                s.AddAgentIdentityRevocationFeed(o =>
                {
                    o.FeedUri = feed;
                    o.SignerCertificate = _pki.Ca.IntermediateCertificate;
                    o.TrustDomain = "corp.example";
                    configure?.Invoke(o);
                });
                services?.Invoke(s);
            },
            listen: (lo, svid) =>
            {
                lo.UseAgentIdentityHttps(svid);
                lo.UseAgentIdentityRevocation();
            });
        return server;
    }

    private static async Task WaitServiceConnectedAsync(AgentTestServer service)
    {
        var feed = service.Services.GetRequiredService<AgentRevocationFeedService>();
        await feed.Subscriber!.WaitConnectedAsync(Safety);
    }

    public async Task DisposeAsync()
    {
        foreach (var (credential, subscriber, monitor, http) in _agents)
        {
            await subscriber.DisposeAsync();
            monitor.Dispose();
            http.Dispose();
            await credential.DisposeAsync();
        }

        foreach (var service in _services)
        {
            await service.DisposeAsync();
        }

        await _issuer.DisposeAsync();
    }

    public void Dispose() => _pki.Dispose();

    private static async Task<bool> IsAcceptedAsync(HttpClient client)
    {
        try
        {
            using var response = await client.GetAsync("/whoami");
            return response.StatusCode switch
            {
                HttpStatusCode.OK => true,
                HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden => false,
                var other => throw new InvalidOperationException($"Unexpected status {other}."),
            };
        }
        catch (HttpRequestException)
        {
            return false; // the connection was aborted or refused after the handshake
        }
    }

    [Fact]
    public async Task RevokeIdentity_ReachesThreeServicesAndTwoAgents_OpenConnectionsAbortedAndTaskIdentityCascades()
    {
        foreach (var service in _services)
        {
            await WaitServiceConnectedAsync(service);
        }

        var (agentA, _, _, _) = _agents[0];
        var (agentB, _, _, _) = _agents[1];
        await using var task = await agentA.DelegateAsync("t1", TaskPolicy);
        var aClients = _services.Select(s => s.CreateClient(agentA.GetCurrent(), _pki.Bundles)).ToList();
        var bClients = _services.Select(s => s.CreateClient(agentB.GetCurrent(), _pki.Bundles)).ToList();
        var taskClient = _services[0].CreateClient(task.GetCurrent(), _pki.Bundles);
        foreach (var client in aClients.Concat(bClients).Append(taskClient))
        {
            Assert.True(await IsAcceptedAsync(client)); // opens a keep-alive connection
        }

        var entry = await _issuer.Registry.RevokeIdentityAsync(agentA.Id, X509RevocationReason.KeyCompromise);

        foreach (var service in _services)
        {
            await service.Services.GetRequiredService<RevocationSet>().WaitForSequenceAsync(entry.Sequence).WaitAsync(Safety);
            var tracker = service.Services.GetRequiredService<AgentRevocationConnectionTracker>();
            Assert.True(tracker.AbortedConnections >= 1, "the open connection of the revoked agent is aborted");
        }

        foreach (var (_, subscriber, _, _) in _agents)
        {
            await subscriber.Set.WaitForSequenceAsync(entry.Sequence).WaitAsync(Safety);
        }

        Assert.True(agentA.IsRevoked);
        Assert.Throws<IdentityRevokedException>(() => agentA.GetCurrent());
        Assert.Throws<IdentityRevokedException>(() => task.GetCurrent());
        Assert.False(agentB.IsRevoked);
        foreach (var client in aClients.Append(taskClient))
        {
            Assert.False(await IsAcceptedAsync(client));
        }

        foreach (var client in bClients)
        {
            Assert.True(await IsAcceptedAsync(client));
        }

        foreach (var client in aClients.Concat(bClients).Append(taskClient))
        {
            client.Dispose();
        }
    }

    [Fact]
    public async Task RevokedCertificate_NewConnection_IsRefusedAndRequestGets401WithoutTracker()
    {
        await WaitServiceConnectedAsync(_services[0]);
        var svid = _pki.IssueSvid("spiffe://corp.example/agent/planner/c");
        var entry = await _issuer.Registry.RevokeCertificateAsync(svid.SerialNumber);
        await _services[0].Services.GetRequiredService<RevocationSet>().WaitForSequenceAsync(entry.Sequence).WaitAsync(Safety);

        using var client = _services[0].CreateClient(svid, _pki.Bundles);
        Assert.False(await IsAcceptedAsync(client));

        // The authentication handler's revocation hook on its own (no connection tracking on this endpoint) answers 401.
        var checker = _services[0].Services.GetRequiredService<IAgentRevocationChecker>();
        Assert.IsType<AgentRevocationFeedService>(checker);
        await using var plain = await AgentTestServer.StartAsync(_pki, services: s => s.AddSingleton(checker));
        using var plainClient = plain.CreateClient(svid, _pki.Bundles);
        using var response = await plainClient.GetAsync("/whoami");
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Contains(plain.Logs.GetSnapshot(), r => r.Id.Id == 3002 && r.Message.Contains("revocation #", StringComparison.Ordinal));
    }

    [Fact]
    public async Task FeedUnreachablePastGracePeriod_FailClosedRejects_FailOpenAccepts()
    {
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(DateTimeOffset.UtcNow);
        var dead = new Uri("http://127.0.0.1:1/revocation/feed"); // nothing listens on port 1
        await using var closed = await StartServiceAsync(dead, o => o.GracePeriod = TimeSpan.FromSeconds(10), s => s.AddSingleton<TimeProvider>(time));
        await using var open = await StartServiceAsync(dead, o => { o.GracePeriod = TimeSpan.FromSeconds(10); o.FailurePolicy = RevocationFeedFailurePolicy.FailOpen; }, s => s.AddSingleton<TimeProvider>(time));
        var svid = _pki.IssueSvid("spiffe://corp.example/agent/planner/d");
        using var closedClient = closed.CreateClient(svid, _pki.Bundles);
        using var openClient = open.CreateClient(svid, _pki.Bundles);
        Assert.True(await IsAcceptedAsync(closedClient), "within the grace period callers are accepted");

        time.Advance(TimeSpan.FromSeconds(11));

        Assert.False(await IsAcceptedAsync(closedClient));
        Assert.True(await IsAcceptedAsync(openClient));
        Assert.True(closed.Services.GetRequiredService<AgentRevocationFeedService>().IsStale);
        Assert.Contains(closed.Logs.GetSnapshot(), r => r.Id.Id == 3500);
    }

    [Fact]
    public void AddAgentIdentityRevocationFeed_MissingSigner_FailsWithSpecificError()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddAgentIdentityRevocationFeed(o => { o.FeedUri = new Uri("http://127.0.0.1/feed"); o.TrustDomain = "corp.example"; });
        using var provider = services.BuildServiceProvider();

        var ex = Assert.Throws<Microsoft.Extensions.Options.OptionsValidationException>(() => provider.GetRequiredService<AgentRevocationFeedService>());
        Assert.Contains("SignerCertificate", ex.Message, StringComparison.Ordinal);
    }
}
