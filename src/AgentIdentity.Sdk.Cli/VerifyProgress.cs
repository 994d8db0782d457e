using System.Globalization;
using System.Text;
using AgentIdentity.Audit;

namespace AgentIdentity.Cli;

/// <summary>How <c>agentid audit verify</c> shows its progress (<c>--progress</c>).</summary>
internal enum ProgressMode
{
    /// <summary>A bar when stderr is a terminal, plain lines when it is redirected; nothing for a log under <see cref="VerifyProgress.AutoThresholdBytes"/>.</summary>
    Auto,

    /// <summary>A bar redrawn in place with carriage returns.</summary>
    Bar,

    /// <summary>One plain line every 10 %, for logs, pipes and CI.</summary>
    Lines,

    /// <summary>No progress.</summary>
    None,
}

/// <summary>What the tool runs on: whether stderr is a terminal, and the clock that times long runs.</summary>
/// <param name="ErrorIsTerminal">Whether stderr is a terminal (<see cref="Console.IsErrorRedirected"/> is false).</param>
/// <param name="Time">The clock.</param>
internal sealed record CliConsole(bool ErrorIsTerminal, TimeProvider Time)
{
    /// <summary>Gets the console of a run whose writers are not a terminal (tests, embedding).</summary>
    public static CliConsole Redirected { get; } = new(false, TimeProvider.System);
}

/// <summary>
/// Shows how far <c>agentid audit verify</c> has come, on stderr (stdout carries only the result): a bar redrawn in place on a
/// terminal, plain lines every 10 % when stderr is redirected. Progress is measured in segment bytes, known before the scan.
/// </summary>
internal sealed class VerifyProgress
{
    /// <summary>The size under which <see cref="ProgressMode.Auto"/> shows nothing (about 15 000 entries): such a log verifies in well under a second.</summary>
    public const long AutoThresholdBytes = 4L * 1024 * 1024;

    /// <summary>The width of the bar, in cells, between its brackets.</summary>
    public const int BarWidth = 30;

    private readonly TextWriter _writer;
    private readonly bool _bar;
    private readonly TimeProvider _time;
    private readonly long _started;
    private int _lastShown = -1;

    private VerifyProgress(TextWriter writer, bool bar, TimeProvider time)
    {
        _writer = writer;
        _bar = bar;
        _time = time;
        _started = time.GetTimestamp();
    }

    /// <summary>Creates the progress display that <paramref name="mode"/> asks for, or <see langword="null"/> for none.</summary>
    /// <param name="mode">The requested mode.</param>
    /// <param name="totalBytes">The size of the log's segments.</param>
    /// <param name="stderr">Where progress goes.</param>
    /// <param name="console">Whether stderr is a terminal, and the clock.</param>
    /// <returns>The display, or <see langword="null"/>.</returns>
    public static VerifyProgress? Create(ProgressMode mode, long totalBytes, TextWriter stderr, CliConsole console) => mode switch
    {
        ProgressMode.Bar => new VerifyProgress(stderr, bar: true, console.Time),
        ProgressMode.Lines => new VerifyProgress(stderr, bar: false, console.Time),
        ProgressMode.Auto when totalBytes >= AutoThresholdBytes => new VerifyProgress(stderr, console.ErrorIsTerminal, console.Time),
        _ => null,
    };

    /// <summary>Shows <paramref name="progress"/> when it moved the display: one bar cell's worth of a per-mille for the bar, 10 % for lines.</summary>
    /// <param name="progress">How far the verification is.</param>
    public void Report(AuditVerificationProgress progress)
    {
        var permille = Permille(progress.BytesRead, progress.TotalBytes);
        var step = _bar ? permille : permille / 100 * 100;
        if (step <= _lastShown || (!_bar && step == 0))
        {
            return;
        }

        _lastShown = step;
        var elapsed = _time.GetElapsedTime(_started);
        if (_bar)
        {
            _writer.Write('\r' + RenderBar(progress, elapsed, BarWidth));
        }
        else
        {
            _writer.WriteLine(RenderLine(progress, elapsed));
        }

        _writer.Flush();
    }

    /// <summary>Ends the display: the bar's line is finished with a newline; lines need no end.</summary>
    public void Complete()
    {
        if (_bar && _lastShown >= 0)
        {
            _writer.WriteLine();
            _writer.Flush();
        }
    }

    /// <summary>Renders the bar: <c>[########······················]  27%  281,088 entries  31.2 MB / 115.0 MB  3.1 s</c>.</summary>
    /// <param name="progress">How far the verification is.</param>
    /// <param name="elapsed">The time since it started.</param>
    /// <param name="width">The cells between the brackets.</param>
    /// <returns>One line, without a line break.</returns>
    public static string RenderBar(AuditVerificationProgress progress, TimeSpan elapsed, int width)
    {
        var permille = Permille(progress.BytesRead, progress.TotalBytes);
        var filled = (int)((long)permille * width / 1000);
        var text = new StringBuilder(width + 64);
        text.Append('[').Append('#', filled).Append('.', width - filled).Append(']');
        text.Append(CultureInfo.InvariantCulture, $" {permille / 10,3}%  {Details(progress, elapsed)}");
        return text.ToString();
    }

    /// <summary>Renders a plain line: <c>verifying: 30% (281,088 entries, 31.2 MB of 115.0 MB, 3.1 s)</c>.</summary>
    /// <param name="progress">How far the verification is.</param>
    /// <param name="elapsed">The time since it started.</param>
    /// <returns>One line.</returns>
    public static string RenderLine(AuditVerificationProgress progress, TimeSpan elapsed) =>
        string.Create(CultureInfo.InvariantCulture, $"verifying: {Permille(progress.BytesRead, progress.TotalBytes) / 10}% ({Details(progress, elapsed).Replace("  ", ", ", StringComparison.Ordinal).Replace(" / ", " of ", StringComparison.Ordinal)})");

    private static string Details(AuditVerificationProgress progress, TimeSpan elapsed) =>
        string.Create(CultureInfo.InvariantCulture, $"{progress.Entries:N0} entries  {Megabytes(progress.BytesRead)} / {Megabytes(progress.TotalBytes)}  {elapsed.TotalSeconds:0.0} s");

    private static string Megabytes(long bytes) => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1_000_000.0:0.0} MB");

    private static int Permille(long done, long total) => total <= 0 ? 1000 : (int)Math.Clamp(done * 1000 / total, 0, 1000);
}
