using Microsoft.Extensions.Time.Testing;
using System.Security.Cryptography.X509Certificates;
using AgentIdentity.IntegrationTests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;

namespace AgentIdentity.IntegrationTests.Revocation;

/// <summary><c>UseRevocationFeed(uri)</c>: one DI call arms the kill switch of every agent of the host against the issuer's signed
/// feed, served by a real Kestrel with TLS; the agent host is a real generic host on the same development CA.</summary>
public sealed class UseRevocationFeedTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private static readonly AgentPolicy PlannerPolicy = new(
        services: ["spiffe://example.org/svc/*"], tools: ["Erp.*"], maxDelegationDepth: 1, delegationTargets: ["spiffe://example.org/agent/planner/*"]);

    private static readonly AgentPolicy TaskPolicy = new(services: ["spiffe://example.org/svc/erp"], tools: ["Erp.GetInvoice"]);

    private readonly FakeTimeProvider _time = new(DateTimeOffset.UtcNow);
    private readonly TestPki _pki;

    public UseRevocationFeedTests() => _pki = new TestPki(time: _time);

    public void Dispose() => _pki.Dispose();

    [Fact]
    public async Task RevokePlannerIdentity_TripsPlannerAndItsTaskIdentity_HealthUnhealthy_UnrelatedAgentUnaffected()
    {
        await using var server = await RevocationFeedServer.StartAsync(_pki);
        using var host = BuildHost(b => b
            .AddAgent("planner", o => o.Policy = PlannerPolicy)
            .AddAgent("researcher")
            .UseRevocationFeed(server.FeedUri, o => o.ServerId = "spiffe://example.org" + RevocationFeedServer.ServerPath));
        await host.StartAsync();
        var subscription = host.Services.GetRequiredService<AgentRevocationSubscription>();
        await WhenConnectedAsync(subscription);
        var planner = host.Services.GetRequiredKeyedService<AgentCredential>("planner");
        var researcher = host.Services.GetRequiredKeyedService<AgentCredential>("researcher");
        await using var task = await planner.DelegateAsync("t1", TaskPolicy);
        var health = host.Services.GetRequiredService<HealthCheckService>();
        var before = (await health.CheckHealthAsync()).Entries["agent-identity"];
        Assert.Equal(HealthStatus.Healthy, before.Status);
        Assert.Equal("connected", before.Data["revocationFeed"]);
        Assert.Equal(server.FeedUri.ToString(), before.Data["revocationFeedUri"]);
        Assert.True(before.Data.ContainsKey("revocationFeedLastContact"));

        var entry = await server.Registry.RevokeIdentityAsync(planner.Id, X509RevocationReason.KeyCompromise);
        await subscription.Set.WaitForSequenceAsync(entry.Sequence).WaitAsync(Timeout);

        var ex = Assert.Throws<IdentityRevokedException>(() => planner.GetCurrent());
        Assert.Equal(planner.Id, ex.Id);
        Assert.Equal(entry.Sequence, planner.Revocation!.Sequence);
        var taskEx = Assert.Throws<IdentityRevokedException>(() => task.GetCurrent());
        Assert.Equal(task.Id, taskEx.Id);
        Assert.False(researcher.IsRevoked);
        _ = researcher.GetCurrent();
        Assert.Equal(HealthStatus.Healthy, researcher.GetStatus().Health);

        var after = (await health.CheckHealthAsync()).Entries["agent-identity"];
        Assert.Equal(HealthStatus.Unhealthy, after.Status);
        Assert.Contains("revoked", after.Description, StringComparison.Ordinal);
        Assert.Equal("Unhealthy", after.Data[planner.Id.ToString()]);
        Assert.Equal("Healthy", after.Data[researcher.Id.ToString()]);
        Assert.Equal(entry.Sequence, after.Data["revocationFeedSequence"]);

        await host.StopAsync();
        Assert.False(subscription.Subscriber!.IsConnected);
    }

    [Fact]
    public async Task FactoryCredentialCreatedAtRunTime_IsWatched_SerialRevocationTripsIt()
    {
        await using var server = await RevocationFeedServer.StartAsync(_pki);
        using var host = BuildHost(b => b.UseRevocationFeed(server.FeedUri));
        await host.StartAsync();
        var subscription = host.Services.GetRequiredService<AgentRevocationSubscription>();
        Assert.Null(subscription.Subscriber); // no agent yet: the subscription waits for the first credential
        var factory = host.Services.GetRequiredService<IAgentCredentialFactory>();

        await using var worker = await factory.CreateAsync("worker");
        await using var other = await factory.CreateAsync("worker");
        var entry = await server.Registry.RevokeCertificateAsync(worker.GetCurrent().SerialNumber, X509RevocationReason.KeyCompromise);
        await subscription.Set.WaitForSequenceAsync(entry.Sequence).WaitAsync(Timeout);

        Assert.Throws<IdentityRevokedException>(() => worker.GetCurrent());
        Assert.False(other.IsRevoked);
        _ = other.GetCurrent();
        Assert.Contains(worker, subscription.Credentials);
    }

    [Fact]
    public async Task DisposedFactoryCredential_IsNoLongerWatched()
    {
        await using var server = await RevocationFeedServer.StartAsync(_pki);
        using var host = BuildHost(b => b.AddAgent("planner").UseRevocationFeed(server.FeedUri));
        await host.StartAsync();
        var subscription = host.Services.GetRequiredService<AgentRevocationSubscription>();
        var worker = await host.Services.GetRequiredService<IAgentCredentialFactory>().CreateAsync("worker");
        Assert.Contains(worker, subscription.Credentials);

        await worker.DisposeAsync();

        Assert.DoesNotContain(worker, subscription.Credentials);
    }

    [Fact]
    public async Task FeedSignedByAnotherCa_EntriesRejected_NothingTrips()
    {
        using var forger = new TestPki(); // same trust domain, another CA
        await using var server = await RevocationFeedServer.StartAsync(_pki, feedSigner: forger.Ca);
        using var host = BuildHost(b => b.AddAgent("planner").UseRevocationFeed(server.FeedUri));
        await host.StartAsync();
        var subscription = host.Services.GetRequiredService<AgentRevocationSubscription>();
        await WhenConnectedAsync(subscription);
        var subscriber = subscription.Subscriber!;
        var rejected = new TaskCompletionSource<RevocationFeedException>(TaskCreationOptions.RunContinuationsAsynchronously);
        subscriber.EntryRejected += (_, ex) => rejected.TrySetResult(ex);
        var planner = host.Services.GetRequiredKeyedService<AgentCredential>("planner");

        await server.Registry.RevokeIdentityAsync(planner.Id, X509RevocationReason.KeyCompromise);
        var reason = await rejected.Task.WaitAsync(Timeout);

        Assert.Contains("does not verify", reason.Message, StringComparison.Ordinal);
        Assert.Equal(0, subscription.Set.LastSequence);
        Assert.False(planner.IsRevoked);
        _ = planner.GetCurrent();
        var report = (await host.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync()).Entries["agent-identity"];
        Assert.NotEqual(HealthStatus.Unhealthy, report.Status);
        Assert.True((long)report.Data["revocationFeedRejectedEntries"] >= 1);
    }

    [Fact]
    public async Task ConfiguredSignerFromAnotherCa_RejectsTheRealFeed()
    {
        using var other = new TestPki();
        var otherSigner = other.Ca.CreateRevocationSigner();
        await using var server = await RevocationFeedServer.StartAsync(_pki);
        using var host = BuildHost(b => b.AddAgent("planner").UseRevocationFeed(server.FeedUri, o => o.SignerCertificate = otherSigner.Certificate));
        await host.StartAsync();
        var subscription = host.Services.GetRequiredService<AgentRevocationSubscription>();
        await WhenConnectedAsync(subscription);
        var rejected = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        subscription.Subscriber!.EntryRejected += (_, _) => rejected.TrySetResult();
        var planner = host.Services.GetRequiredKeyedService<AgentCredential>("planner");

        await server.Registry.RevokeIdentityAsync(planner.Id);
        await rejected.Task.WaitAsync(Timeout);

        Assert.False(planner.IsRevoked);
    }

    [Fact]
    public async Task UseRevocationFeed_CalledThreeTimes_RegistersOneSubscription()
    {
        await using var server = await RevocationFeedServer.StartAsync(_pki);
        var services = new ServiceCollection();
        var builder = services.AddAgentIdentity(o => o.TrustDomain = "example.org");
        builder.UseRevocationFeed(server.FeedUri).UseRevocationFeed(server.FeedUri).UseRevocationFeed();
        Assert.Single(services, d => d.ServiceType == typeof(AgentRevocationSubscription));
        Assert.Single(services, d => d.ServiceType == typeof(IRevocationStatus));

        using var host = BuildHost(b => b.AddAgent("planner").UseRevocationFeed(server.FeedUri).UseRevocationFeed(server.FeedUri).UseRevocationFeed());
        await host.StartAsync();
        var subscription = Assert.Single(host.Services.GetServices<IHostedService>().OfType<AgentRevocationSubscription>());
        Assert.Same(subscription.Set, host.Services.GetRequiredService<IRevocationStatus>());
        await WhenConnectedAsync(subscription);
        var planner = host.Services.GetRequiredKeyedService<AgentCredential>("planner");
        var entry = await server.Registry.RevokeIdentityAsync(planner.Id);
        await subscription.Set.WaitForSequenceAsync(entry.Sequence).WaitAsync(Timeout);

        Assert.True(planner.IsRevoked);
        Assert.Equal(1, server.FeedRequests);
    }

    [Fact]
    public async Task FeedDisconnectedLongerThanGracePeriod_HealthDegraded()
    {
        var server = await RevocationFeedServer.StartAsync(_pki);
        using var host = BuildHost(b => b.AddAgent("planner").UseRevocationFeed(server.FeedUri, o => o.GracePeriod = TimeSpan.FromSeconds(30)));
        await host.StartAsync();
        var subscription = host.Services.GetRequiredService<AgentRevocationSubscription>();
        await WhenConnectedAsync(subscription);
        var disconnected = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        subscription.Subscriber!.ConnectionChanged += (_, connected) =>
        {
            if (!connected)
            {
                disconnected.TrySetResult();
            }
        };
        var health = host.Services.GetRequiredService<HealthCheckService>();

        await server.StopNowAsync();
        await server.DisposeAsync();
        await disconnected.Task.WaitAsync(Timeout);

        var brief = (await health.CheckHealthAsync()).Entries["agent-identity"];
        Assert.Equal(HealthStatus.Healthy, brief.Status);
        Assert.Equal("disconnected", brief.Data["revocationFeed"]);

        _time.Advance(TimeSpan.FromSeconds(31));

        var longer = (await health.CheckHealthAsync()).Entries["agent-identity"];
        Assert.Equal(HealthStatus.Degraded, longer.Status);
        Assert.Contains("unreachable since", longer.Description, StringComparison.Ordinal);
        Assert.True(subscription.IsStale);
        _ = host.Services.GetRequiredKeyedService<AgentCredential>("planner").GetCurrent(); // the agent keeps working
    }

    [Fact]
    public async Task UseRevocationFeedWithoutUri_WithoutIssuer_HostFailsToStartSayingWhatToConfigure()
    {
        using var host = BuildHost(b => b.AddAgent("planner").UseRevocationFeed());

        var ex = await Assert.ThrowsAsync<InvalidOperationException>(() => host.StartAsync());

        Assert.Contains("UseIssuer", ex.Message, StringComparison.Ordinal);
        Assert.Contains("UseRevocationFeed(new Uri(", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void DefaultFeed_IsRevocationFeedOnTheIssuersOrigin()
    {
        Assert.Equal(new Uri("https://issuer.example:8443/revocation/feed"), AgentRevocationSubscription.DeriveFeedUri(new Uri("https://issuer.example:8443/agent-identity/")));
        Assert.Equal(new Uri("https://issuer.example/revocation/feed"), AgentRevocationSubscription.DeriveFeedUri(new Uri("https://issuer.example")));
    }

    [Fact]
    public void UseRevocationFeed_PlainHttpUri_Throws()
    {
        var builder = new ServiceCollection().AddAgentIdentity();

        var ex = Assert.Throws<ArgumentException>(() => builder.UseRevocationFeed(new Uri("http://issuer.example/revocation/feed")));

        Assert.Contains("https://", ex.Message, StringComparison.Ordinal);
    }

    private IHost BuildHost(Action<IAgentIdentityBuilder> configure)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings { EnvironmentName = Environments.Development });
        builder.Services.AddLogging();
        builder.Services.AddSingleton<TimeProvider>(_pki.Time);
        builder.Services.AddSingleton(_pki.Ca); // UseDevelopmentCertificateAuthority() uses this CA: the same one the feed server trusts
        builder.Services.AddHealthChecks().AddCheck<AgentIdentityHealthCheck>("agent-identity");
        configure(builder.Services.AddAgentIdentity(o => o.TrustDomain = _pki.TrustDomain.Name).UseDevelopmentCertificateAuthority());
        return builder.Build();
    }

    private static Task WhenConnectedAsync(AgentRevocationSubscription subscription)
    {
        var subscriber = subscription.Subscriber ?? throw new InvalidOperationException("The subscription has not started.");
        var connected = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        subscriber.ConnectionChanged += (_, isConnected) =>
        {
            if (isConnected)
            {
                connected.TrySetResult();
            }
        };
        if (subscriber.IsConnected)
        {
            connected.TrySetResult();
        }

        return connected.Task.WaitAsync(Timeout);
    }
}
