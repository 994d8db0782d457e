using System.Diagnostics;
using System.Text;

namespace AgentIdentity.Packaging.Tests;

/// <summary>Runs the .NET CLI (the one running the tests) as a separate process, as a user would in a terminal.</summary>
internal static class DotnetCli
{
    private static readonly string Host = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet";

    /// <summary>Runs <c>dotnet args</c> in <paramref name="directory"/> to its end.</summary>
    public static async Task<CliRun> RunAsync(string directory, IReadOnlyDictionary<string, string> environment, TimeSpan timeout, params string[] args)
    {
        using var process = Start(directory, environment, args);
        var output = new StringBuilder();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) { lock (output) { output.AppendLine(e.Data); } } };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { lock (output) { output.AppendLine(e.Data); } } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await process.WaitForExitAsync().WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"dotnet {string.Join(' ', args)} did not finish within {timeout}:\n{output}");
        }

        process.WaitForExit(); // drains the redirected streams
        lock (output)
        {
            return new CliRun($"dotnet {string.Join(' ', args)}", process.ExitCode, output.ToString());
        }
    }

    /// <summary>Starts <c>dotnet args</c>, a server, and waits for the first line of its standard output that <paramref name="ready"/> accepts.</summary>
    public static async Task<RunningProcess> StartAsync(string directory, IReadOnlyDictionary<string, string> environment, Func<string, bool> ready, TimeSpan timeout, params string[] args)
    {
        var process = Start(directory, environment, args);
        var running = new RunningProcess(process, ready);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var exited = process.WaitForExitAsync();
        var first = await Task.WhenAny(running.Ready, exited, Task.Delay(timeout));
        if (first != running.Ready)
        {
            var why = first == exited ? $"exited with code {process.ExitCode}" : $"printed no ready line within {timeout}";
            await running.DisposeAsync();
            throw new InvalidOperationException($"dotnet {string.Join(' ', args)} {why}:\n{running.Output}");
        }

        return running;
    }

    private static Process Start(string directory, IReadOnlyDictionary<string, string> environment, string[] args)
    {
        var start = new ProcessStartInfo(Host)
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        // The test host runs under `dotnet test`, whose MSBuild settings must not leak into the user's build.
        foreach (var name in start.Environment.Keys.ToList())
        {
            if (name.StartsWith("MSBUILD", StringComparison.OrdinalIgnoreCase) || name.StartsWith("VSTEST", StringComparison.OrdinalIgnoreCase)
                || name is "DOTNET_ENVIRONMENT" or "ASPNETCORE_ENVIRONMENT" or "PORT")
            {
                start.Environment.Remove(name);
            }
        }

        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        start.Environment["DOTNET_SKIP_FIRST_TIME_EXPERIENCE"] = "1";
        start.Environment["MSBUILDDISABLENODEREUSE"] = "1"; // no build server outlives the test
        start.Environment["DOTNET_CLI_USE_MSBUILD_SERVER"] = "0";
        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }

        return Process.Start(start)!;
    }
}

/// <summary>A finished CLI run.</summary>
public sealed record CliRun(string Command, int ExitCode, string Output)
{
    public override string ToString() => $"{Command}: exit code {ExitCode}\n{Output}";
}

/// <summary>A started server process; disposing it kills it and its children.</summary>
internal sealed class RunningProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly TaskCompletionSource<string> _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly List<(Func<string, bool> Match, TaskCompletionSource<string> Line)> _waiters = [];

    public RunningProcess(Process process, Func<string, bool> ready)
    {
        _process = process;
        _waiters.Add((ready, _ready));
        process.OutputDataReceived += (_, e) => OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => OnLine(e.Data);
    }

    /// <summary>The ready line.</summary>
    public Task<string> Ready => _ready.Task;

    /// <summary>Everything printed so far.</summary>
    public string Output { get { lock (_output) { return _output.ToString(); } } }

    /// <summary>Waits for a line that <paramref name="match"/> accepts (printed from now on or already).</summary>
    public async Task<string> WaitForLineAsync(Func<string, bool> match, TimeSpan timeout)
    {
        var line = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_output)
        {
            if (_output.ToString().Split('\n').Select(l => l.TrimEnd('\r')).FirstOrDefault(match) is { } seen)
            {
                return seen;
            }

            _waiters.Add((match, line));
        }

        try
        {
            return await line.Task.WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"no such line within {timeout}:\n{Output}");
        }
    }

    private void OnLine(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.AppendLine(line);
            foreach (var (match, waiter) in _waiters)
            {
                if (!waiter.Task.IsCompleted && match(line))
                {
                    waiter.TrySetResult(line);
                }
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
            }

            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        }
        catch (InvalidOperationException)
        {
            // never started or already gone
        }

        _process.Dispose();
    }
}
