using AgentIdentity.Audit;
using AgentIdentity.Cli;
using Microsoft.Extensions.Time.Testing;

namespace AgentIdentity.Cli.Tests;

/// <summary><c>agentid audit verify</c>'s progress: the bar's rendering, and the plain lines written when stderr is redirected.</summary>
public sealed class VerifyProgressTests : IAsyncLifetime
{
    private static readonly TrustDomain Domain = TrustDomain.Parse("example.org");
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 3, 1, 9, 0, 0, TimeSpan.Zero));
    private readonly string _directory = Directory.CreateTempSubdirectory("agentid-progress-").FullName;

    public async Task InitializeAsync()
    {
        using var ca = DevelopmentCertificateAuthority.Create(Domain, null, _time);
        await using var credential = await AgentCredential.CreateAsync(SpiffeId.ForAgent(Domain, "planner", "i-1"), ca, null, _time);

        // Enough records for several progress reports (one every 4 096 records), in three segments.
        using var log = AuditLog.Open(new AuditLogOptions { Directory = _directory, CheckpointEveryEntries = 500, MaxSegmentBytes = 256 * 1024, FlushMode = AuditFlushMode.Never }, credential, _time);
        for (var i = 0; i < 3 * AuditLogVerifier.ProgressEveryRecords; i++)
        {
            log.Append(new AuditEvent { Kind = AuditEventKind.ToolCall, Timestamp = _time.GetUtcNow(), Agent = credential.Id, Tool = "Erp.GetInvoice", RequestId = $"call-{i}" });
        }
    }

    [Theory]
    [InlineData(0, 1000, "[..........]   0%")]
    [InlineData(450, 1000, "[####......]  45%")]
    [InlineData(999, 1000, "[#########.]  99%")]
    [InlineData(1000, 1000, "[##########] 100%")]
    [InlineData(5, 0, "[##########] 100%")] // an empty log is done at once
    public void RenderBar_FillsCellsInProportionToTheBytesRead(long read, long total, string expected)
    {
        var text = VerifyProgress.RenderBar(new AuditVerificationProgress(read, total, 123_456), TimeSpan.FromSeconds(3.14), 10);

        Assert.Equal($"{expected}  123,456 entries  0.0 MB / 0.0 MB  3.1 s", text);
    }

    [Fact]
    public void RenderLine_IsOnePlainLine()
    {
        var text = VerifyProgress.RenderLine(new AuditVerificationProgress(31_200_000, 115_000_000, 281_088), TimeSpan.FromSeconds(3.1));

        Assert.Equal("verifying: 27% (281,088 entries, 31.2 MB of 115.0 MB, 3.1 s)", text);
    }

    [Fact]
    public void Bar_RedrawsInPlace_AndEndsWithANewline()
    {
        using var stderr = new StringWriter();
        var progress = VerifyProgress.Create(ProgressMode.Auto, VerifyProgress.AutoThresholdBytes, stderr, new CliConsole(ErrorIsTerminal: true, _time))!;

        progress.Report(new AuditVerificationProgress(100, 1000, 10));
        progress.Report(new AuditVerificationProgress(100, 1000, 11)); // no visible change: not redrawn
        _time.Advance(TimeSpan.FromSeconds(2));
        progress.Report(new AuditVerificationProgress(1000, 1000, 100));
        progress.Complete();

        var text = stderr.ToString();
        Assert.Equal(2, text.Count(c => c == '\r'));
        Assert.StartsWith("\r[###", text, StringComparison.Ordinal);
        Assert.EndsWith($"100%  100 entries  0.0 MB / 0.0 MB  2.0 s{Environment.NewLine}", text, StringComparison.Ordinal);
        Assert.Single(text.Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public void Auto_OnASmallLog_ShowsNothing()
    {
        using var stderr = new StringWriter();

        Assert.Null(VerifyProgress.Create(ProgressMode.Auto, VerifyProgress.AutoThresholdBytes - 1, stderr, new CliConsole(true, _time)));
        Assert.Null(VerifyProgress.Create(ProgressMode.None, long.MaxValue, stderr, new CliConsole(true, _time)));
    }

    [Fact]
    public void AuditVerify_Redirected_PrintsPlainLinesOnStderr_AndTheResultAloneOnStdout()
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();

        var code = AgentIdCommand.Run(["audit", "verify", _directory, "--progress", "lines"], stdout, stderr, new CliConsole(ErrorIsTerminal: false, _time));

        Assert.Equal(AgentIdCommand.Ok, code);
        var lines = stderr.ToString().Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries).Where(l => l.StartsWith("verifying: ", StringComparison.Ordinal)).ToList();
        Assert.True(lines.Count >= 3, stderr.ToString());
        Assert.DoesNotContain('\r', stderr.ToString());
        Assert.Equal("verifying: 100%", lines[^1].Split(" (")[0]);
        Assert.Contains($"({3 * AuditLogVerifier.ProgressEveryRecords:N0} entries", lines[^1], StringComparison.Ordinal);
        var percents = lines.Select(l => int.Parse(l["verifying: ".Length..l.IndexOf('%', StringComparison.Ordinal)], System.Globalization.CultureInfo.InvariantCulture)).ToList();
        var deciles = percents.Select(p => p / 10).ToList(); // one line each time a 10 % step is crossed
        Assert.Equal(deciles.Order(), deciles);
        Assert.Equal(deciles.Distinct().Count(), deciles.Count);
        Assert.DoesNotContain("verifying", stdout.ToString(), StringComparison.Ordinal);
        Assert.StartsWith($"OK: {3 * AuditLogVerifier.ProgressEveryRecords} entries verified", stdout.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void AuditVerify_BadProgressMode_IsAUsageError()
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();

        var code = AgentIdCommand.Run(["audit", "verify", _directory, "--progress", "fancy"], stdout, stderr);

        Assert.Equal(AgentIdCommand.UsageError, code);
        Assert.Contains("--progress 'fancy' is not one of auto, bar, lines, none.", stderr.ToString(), StringComparison.Ordinal);
    }

    public Task DisposeAsync()
    {
        Directory.Delete(_directory, recursive: true);
        return Task.CompletedTask;
    }
}
