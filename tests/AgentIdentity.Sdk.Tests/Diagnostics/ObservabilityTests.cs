using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using OpenTelemetry;
using OpenTelemetry.Trace;

namespace AgentIdentity.Tests.Diagnostics;

/// <summary>Rotation spans (OpenTelemetry SDK, in-memory exporter, FakeTimeProvider) and the health checks of AddHealthChecks().</summary>
[Collection(ActivityListenerTests.Name)]
public sealed class ObservabilityTests
{
    [Fact]
    public async Task Rotation_IssueThenRenewSpans_RenewalIsItsOwnTraceAndNamesBothSerials()
    {
        var exported = new List<Activity>();
        var renewed = new TaskCompletionSource<Activity>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var pki = TestPki.OnFakeClock();
        var id = SpiffeId.Parse($"spiffe://example.org/agent/rotor/{Guid.NewGuid():N}");
        using var tracing = Sdk.CreateTracerProviderBuilder()
            .AddSource(AgentIdentityMetrics.ActivitySourceName)
            .AddInMemoryExporter(exported)
            .AddProcessor(new EndSignal(a =>
            {
                if (a.OperationName == "agentidentity.svid.renew" && Equals(a.GetTagItem("agentidentity.agent.id"), id.ToString()))
                {
                    renewed.TrySetResult(a);
                }
            }))
            .Build()!;
        using var creator = new ActivitySource("AgentIdentity.Tests.Creator");
        using var listener = new ActivityListener { ShouldListenTo = s => s.Name == creator.Name, Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded };
        ActivitySource.AddActivityListener(listener);

        AgentCredential credential;
        ActivityTraceId creatorTrace;
        using (var start = creator.StartActivity("host.start"))
        {
            creatorTrace = start!.TraceId;
            credential = await AgentCredential.CreateAsync(id, pki.Ca, new AgentCredentialOptions { Lifetime = TimeSpan.FromHours(1), RenewalJitter = 0 }, pki.Time)
                .WaitAsync(TimeSpan.FromSeconds(30));
        }

        await using var _ = credential;
        var first = credential.GetCurrent();
        pki.Clock.Advance(TimeSpan.FromMinutes(31));
        var renew = await renewed.Task.WaitAsync(TimeSpan.FromSeconds(30));
        var second = credential.GetCurrent();
        tracing.ForceFlush();

        var issue = Assert.Single(Snapshot(exported), a => a.OperationName == "agentidentity.svid.issue" && Equals(a.GetTagItem("agentidentity.agent.id"), id.ToString()));
        Assert.Equal(creatorTrace, issue.TraceId); // the first issuance belongs to whatever created the credential
        Assert.Equal(first.SerialNumber, issue.GetTagItem("agentidentity.svid.serial"));
        Assert.Equal(first.Thumbprint, issue.GetTagItem("agentidentity.svid.thumbprint"));

        Assert.NotEqual(first.SerialNumber, second.SerialNumber);
        Assert.NotEqual(creatorTrace, renew.TraceId); // a renewal is a trace of its own
        Assert.Equal(default, renew.ParentSpanId);
        Assert.Equal(second.SerialNumber, renew.GetTagItem("agentidentity.svid.serial"));
        Assert.Equal(first.SerialNumber, renew.GetTagItem("agentidentity.svid.previous_serial"));
        var rotated = Assert.Single(renew.Events, e => e.Name == "agentidentity.svid.rotated");
        Assert.Contains(rotated.Tags, t => t.Key == "agentidentity.svid.serial" && Equals(t.Value, second.SerialNumber));
        Assert.NotEqual(ActivityStatusCode.Error, renew.Status);
    }

    [Fact]
    public async Task AddHealthChecks_AddAgentIdentity_ReportsEachCredentialWithReasonAndSecondsToExpiry()
    {
        var time = new ObservableTimeProvider(new DateTimeOffset(2026, 12, 1, 8, 0, 0, TimeSpan.Zero));
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings { EnvironmentName = "Development" });
        builder.Services.AddSingleton<TimeProvider>(time);
        builder.Services.AddAgentIdentity(o =>
        {
            o.TrustDomain = "example.org";
            o.AgentName = "planner";
            o.Credential.Lifetime = TimeSpan.FromHours(1);
        }).UseDevelopmentCertificateAuthority().AddAgent("researcher");
        builder.Services.AddHealthChecks().AddAgentIdentity().AddAgentIdentity(); // twice: one check
        using var host = builder.Build();
        await host.StartAsync();
        var planner = host.Services.GetRequiredService<AgentCredential>();
        var researcher = host.Services.GetRequiredKeyedService<AgentCredential>("researcher");
        await Task.WhenAll(planner.WhenReadyAsync(), researcher.WhenReadyAsync()).WaitAsync(TimeSpan.FromSeconds(30));
        var health = host.Services.GetRequiredService<HealthCheckService>();

        var report = await health.CheckHealthAsync();
        var entry = Assert.Single(report.Entries).Value;
        Assert.Equal(HealthStatus.Healthy, entry.Status);
        Assert.Equal(2, entry.Data["credentials"]);
        Assert.Equal("Healthy", entry.Data[planner.Id.ToString()]);
        Assert.InRange((long)entry.Data[planner.Id + ".secondsToExpiry"], 3500L, 3600L);
        Assert.StartsWith("is valid until", (string)entry.Data[planner.Id + ".reason"], StringComparison.Ordinal);

        // The kill switch trips for one of them: it alone turns Unhealthy, with the reason, and no time left.
        using var ecdsa = System.Security.Cryptography.ECDsa.Create();
        planner.TripKillSwitch(RevocationEntry.Create(TestPki.Corp, 1, RevocationKind.Identity, null, planner.Id, time.GetUtcNow(), System.Security.Cryptography.X509Certificates.X509RevocationReason.KeyCompromise, ecdsa));
        time.Advance(TimeSpan.FromMinutes(10));

        entry = (await health.CheckHealthAsync()).Entries[AgentIdentityHealthChecksBuilderExtensions.DefaultName];
        Assert.Equal(HealthStatus.Unhealthy, entry.Status);
        Assert.Equal("Unhealthy", entry.Data[planner.Id.ToString()]);
        Assert.Contains("revoked", (string)entry.Data[planner.Id + ".reason"], StringComparison.Ordinal);
        Assert.Equal(0L, entry.Data[planner.Id + ".secondsToExpiry"]);
        Assert.Equal("Healthy", entry.Data[researcher.Id.ToString()]);
        Assert.InRange((long)entry.Data[researcher.Id + ".secondsToExpiry"], 2900L, 3000L);
        Assert.Contains(planner.Id.ToString(), entry.Description, StringComparison.Ordinal);
        await host.StopAsync();
    }

    [Fact]
    public async Task AddHealthChecks_AddAgentIdentity_WithoutAddAgentIdentity_ReportsUnhealthyAndSaysWhatToCall()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddHealthChecks().AddAgentIdentity();
        await using var provider = services.BuildServiceProvider();

        var entry = (await provider.GetRequiredService<HealthCheckService>().CheckHealthAsync()).Entries["agent-identity"];

        Assert.Equal(HealthStatus.Unhealthy, entry.Status);
        Assert.Contains("services.AddAgentIdentity(", entry.Description, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AddHealthChecks_AddAgentIdentityIssuer_ReportsStoreReachability()
    {
        var directory = Directory.CreateTempSubdirectory("agentid-health-");
        try
        {
            var reachable = await CheckIssuerAsync(Path.Combine(directory.FullName, "issuer.db"));
            Assert.Equal(HealthStatus.Healthy, reachable.Status);
            Assert.Equal("SqliteIssuerStore", reachable.Data["store"]);
            Assert.True(reachable.Data.ContainsKey("storeRoundTripMs"));

            var unreachable = await CheckIssuerAsync(Path.Combine(directory.FullName, "missing", "dir", "issuer.db"));
            Assert.Equal(HealthStatus.Unhealthy, unreachable.Status);
            Assert.Contains("unreachable", unreachable.Description, StringComparison.Ordinal);
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            directory.Delete(recursive: true);
        }
    }

    private static async Task<HealthReportEntry> CheckIssuerAsync(string databasePath)
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddAgentIdentityIssuer(o => o.TrustDomain = "example.org").UseSqlite(databasePath);
        services.AddHealthChecks().AddAgentIdentityIssuer();
        await using var provider = services.BuildServiceProvider();
        return (await provider.GetRequiredService<HealthCheckService>().CheckHealthAsync()).Entries["agent-identity-issuer"];
    }

    private static List<Activity> Snapshot(List<Activity> exported)
    {
        lock (exported)
        {
            return [.. exported];
        }
    }

    private sealed class EndSignal(Action<Activity> callback) : BaseProcessor<Activity>
    {
        public override void OnEnd(Activity data) => callback(data);
    }
}

/// <summary>Tests that listen to the process-wide "AgentIdentity" ActivitySource run alone: spans of tests running in parallel would
/// land in their exporters.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ActivityListenerTests
{
    /// <summary>The collection's name.</summary>
    public const string Name = "ActivityListener";
}
