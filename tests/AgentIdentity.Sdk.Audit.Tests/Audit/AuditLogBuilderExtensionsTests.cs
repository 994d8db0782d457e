using AgentIdentity.Audit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Time.Testing;

namespace AgentIdentity.Tests.Audit;

public sealed class AuditLogBuilderExtensionsTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "agentid-audit-di-" + Guid.NewGuid().ToString("N"));

    [Fact]
    public async Task AddAuditLog_ResolvedSink_WritesSignedLogAndMirrorsToLogger()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        var collector = new FakeLogCollector();
        var services = new ServiceCollection();
        services.AddSingleton<TimeProvider>(time);
        services.AddLogging(b => b.AddProvider(new FakeLoggerProvider(collector)).SetMinimumLevel(LogLevel.Debug));
        services.AddAgentIdentity(o => o.TrustDomain = "example.org")
            .UseDevelopmentCertificateAuthority(o => o.AllowInProduction = true)
            .AddAuditLog("planner", o => { o.Directory = _directory; o.CheckpointEveryEntries = 2; })
            .AddAuditLog("planner", o => { });

        SpiffeId agent;
        await using (var provider = services.BuildServiceProvider())
        {
            var credential = provider.GetRequiredKeyedService<AgentCredential>("planner");
            await credential.WhenReadyAsync().WaitAsync(TimeSpan.FromSeconds(30));
            agent = credential.Id;
            var sink = provider.GetRequiredService<IAuditSink>();
            for (var i = 0; i < 3; i++)
            {
                await sink.AppendAsync(new AuditEvent { Kind = AuditEventKind.ToolCall, Timestamp = time.GetUtcNow(), Agent = agent, Tool = "T" });
            }

            Assert.Equal(3, provider.GetRequiredService<AuditLog>().TreeSize);
        }

        var result = AuditLogVerifier.Verify(_directory);
        Assert.True(result.IsValid, result.Message);
        Assert.Equal(3, result.TreeSize);
        Assert.Equal(0, result.UncoveredEntries); // Disposing the container signed the tail.
        Assert.Equal(agent, Assert.Single(result.Signers));
        Assert.Equal(3, collector.GetSnapshot().Count(r => r.Id.Id == 7000));
        Assert.Contains(collector.GetSnapshot(), r => r.Id.Id == 7001);
    }

    public void Dispose()
    {
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }
    }
}
