using System.Diagnostics;
using AgentIdentity.Audit;
using Xunit.Abstractions;

namespace AgentIdentity.Tests.Audit;

/// <summary>Kills a real writer process in the middle of appending, then reopens and verifies the log.</summary>
public sealed class AuditLogCrashTests(ITestOutputHelper output) : IDisposable
{
    // The reopening instance's clock runs after the killed writer's (which uses the system clock), as it would in production.
    private readonly AuditFixture _fixture = new(start: TimeProvider.System.GetUtcNow().AddMinutes(5));

    [Theory]
    [InlineData(AuditFlushMode.Never)]
    [InlineData(AuditFlushMode.OnCheckpoint)]
    [InlineData(AuditFlushMode.EveryAppend)]
    public async Task KillWriterMidWrite_Reopen_KeepsEverythingUpToTheLastCheckpointAndVerifies(AuditFlushMode mode)
    {
        var writer = Path.Combine(AppContext.BaseDirectory, "AuditCrashWriter.dll");
        Assert.True(File.Exists(writer), $"writer not found at {writer}");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(writer);
        start.ArgumentList.Add(_fixture.Directory);
        start.ArgumentList.Add(mode.ToString());
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        try
        {
            // Wait for the writer to say it is in its append loop (past its first checkpoints), then kill it without warning.
            var line = await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60));
            if (line is null || !line.StartsWith("WRITING ", StringComparison.Ordinal))
            {
                process.Kill(entireProcessTree: true);
                Assert.Fail($"The writer did not start: '{line}' {await stderr}");
            }
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        }

        var published = AuditFixture.ReadPublished(_fixture.Directory);
        var writerBundle = TrustBundle.Parse(AuditFixture.Domain, await File.ReadAllTextAsync(Path.Combine(_fixture.Directory, "bundle.json")));
        var bundles = new TrustBundle(AuditFixture.Domain, [.. writerBundle.X509Authorities, .. _fixture.Ca.Bundle.X509Authorities]);
        // A killed writer leaves entries after its last checkpoint: accepted as an unsigned tail, and counted.
        var before = AuditLogVerifier.Verify(_fixture.Directory, new AuditLogVerificationOptions { TrustBundles = bundles, AllowUnsignedTail = true });
        output.WriteLine($"after kill: {before.Problem}, {before.TreeSize} entries, published checkpoint {published.Checkpoint.TreeSize}: {before.Message}");
        Assert.True(before.Problem is AuditLogProblem.None or AuditLogProblem.TornTail, before.Message);
        Assert.True(before.TreeSize >= published.Checkpoint.TreeSize);

        // Reopening repairs a torn tail and keeps every entry the last published checkpoint covers.
        long reopenedSize;
        using (var log = _fixture.Open())
        {
            reopenedSize = log.TreeSize;
            Assert.True(reopenedSize >= published.Checkpoint.TreeSize, $"{reopenedSize} < {published.Checkpoint.TreeSize}");
            log.Append(_fixture.Event(0));
        }

        // Two instances of the agent (the killed writer's and the one that reopened the log) signed it.
        var after = AuditLogVerifier.Verify(_fixture.Directory, new AuditLogVerificationOptions { TrustBundles = bundles, AllowAnyInstance = true });
        Assert.True(after.IsValid, after.Message);
        Assert.Equal(reopenedSize + 1, after.TreeSize);
        Assert.Equal(0, after.UncoveredEntries);
        Assert.True(after.CheckpointCount >= 5);
        Assert.Equal(2, after.Signers.Count); // The killed writer's instance and the one that reopened the log.
    }

    public void Dispose() => _fixture.Dispose();
}
