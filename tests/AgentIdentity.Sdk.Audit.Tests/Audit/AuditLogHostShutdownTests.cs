using AgentIdentity.Audit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;

namespace AgentIdentity.Tests.Audit;

/// <summary>Issue 18 defect 11: a real host that appends and stops at once must leave every entry covered by a signed checkpoint.</summary>
public sealed class AuditLogHostShutdownTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "agentid-audit-host-" + Guid.NewGuid().ToString("N"));

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Host_AppendsThenStopsAtOnce_FinalCheckpointCoversEveryEntry(bool declareAgent)
    {
        var collector = new FakeLogCollector();
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.AddProvider(new FakeLoggerProvider(collector)).SetMinimumLevel(LogLevel.Debug);
        var identity = builder.Services.AddAgentIdentity(o => o.TrustDomain = "example.org")
            .UseDevelopmentCertificateAuthority(o => o.AllowInProduction = true);
        if (declareAgent)
        {
            identity.AddAgent("planner");
        }

        identity
            // Longer than the process lives: only the final checkpoint can cover the entries.
            .AddAuditLog("planner", o => { o.Directory = _directory; o.CheckpointInterval = TimeSpan.FromHours(1); });

        SpiffeId agent;
        using (var host = builder.Build())
        {
            await host.StartAsync().WaitAsync(TimeSpan.FromSeconds(60));
            var sink = host.Services.GetRequiredService<IAuditSink>();
            agent = host.Services.GetRequiredKeyedService<AgentCredential>("planner").Id;
            for (var i = 0; i < 5; i++)
            {
                await sink.AppendAsync(new AuditEvent { Kind = AuditEventKind.ToolCall, Timestamp = DateTimeOffset.UnixEpoch, Agent = agent, Tool = "T" + i });
            }

            await host.StopAsync().WaitAsync(TimeSpan.FromSeconds(60));
        }

        Assert.DoesNotContain(collector.GetSnapshot(), r => r.Id.Id == 7004);
        var result = AuditLogVerifier.Verify(_directory, new AuditLogVerificationOptions { ExpectedSigner = agent });
        Assert.True(result.IsValid, result.Message);
        Assert.Equal(5, result.TreeSize);
        Assert.Equal(1, result.CheckpointCount);
        Assert.Equal(0, result.UncoveredEntries);
    }

    [Fact]
    public async Task CredentialClosedBeforeLog_FinalCheckpointSignedWithHeldKey()
    {
        // The order the issue reports (the credential's certificate gone when the log closes): the log holds its own signing handle.
        using var fixture = new AuditFixture();
        var collector = new FakeLogCollector();
        var credential = await AgentCredential.CreateAsync(SpiffeId.ForAgent(AuditFixture.Domain, "planner", "i-1"), fixture.Ca, timeProvider: fixture.Time);
        var log = AuditLog.Open(fixture.Options(o => o.CheckpointInterval = TimeSpan.FromHours(1)), credential, fixture.Time, new FakeLogger(collector));
        for (var i = 0; i < 3; i++)
        {
            log.Append(fixture.Event(i));
        }

        await credential.DisposeAsync();
        await log.DisposeAsync();

        Assert.DoesNotContain(collector.GetSnapshot(), r => r.Id.Id == 7004);
        var result = fixture.Verify();
        Assert.True(result.IsValid, result.Message);
        Assert.Equal(3, result.TreeSize);
        Assert.Equal(0, result.UncoveredEntries);
    }

    [Fact]
    public async Task CredentialClosedBeforeLog_HeldKeyExpired_TailStaysUnsignedAndIsReported()
    {
        using var fixture = new AuditFixture();
        var collector = new FakeLogCollector();
        var credential = await AgentCredential.CreateAsync(SpiffeId.ForAgent(AuditFixture.Domain, "planner", "i-1"), fixture.Ca, timeProvider: fixture.Time);
        var notAfter = credential.GetCurrent().NotAfter;
        var log = AuditLog.Open(fixture.Options(o => o.CheckpointInterval = TimeSpan.FromDays(30)), credential, fixture.Time, new FakeLogger(collector));
        log.Append(fixture.Event(0));
        await credential.DisposeAsync();
        fixture.Time.SetUtcNow(notAfter);
        await log.DisposeAsync();

        Assert.Contains(collector.GetSnapshot(), r => r.Id.Id == 7004); // Never signed with an expired SVID's key.
        Assert.Equal(1, fixture.Verify().UncoveredEntries);
    }

    public void Dispose()
    {
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }
    }
}
