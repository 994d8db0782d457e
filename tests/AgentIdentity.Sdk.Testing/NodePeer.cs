using System.Diagnostics;
using System.Text;

namespace AgentIdentity.Testing;

/// <summary>
/// Runs an interop peer written by others: a script in <c>tests/interop/scripts</c> under Debian's node 20, with the npm packages
/// pinned by <c>tests/interop/package-lock.json</c> (installed by <c>eng/test.sh</c> with <c>npm ci</c>; nothing is fetched at
/// test time). One call, one process: arguments in, standard input written and closed, exit code and both outputs back.
/// </summary>
public static class NodePeer
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(120);

    /// <summary>Gets the <c>tests/interop</c> folder of this repository.</summary>
    public static string InteropDirectory { get; } = FindInteropDirectory();

    /// <summary>The result of one run.</summary>
    /// <param name="ExitCode">The process exit code.</param>
    /// <param name="StandardOutput">Everything written to stdout.</param>
    /// <param name="StandardError">Everything written to stderr.</param>
    public sealed record Result(int ExitCode, string StandardOutput, string StandardError)
    {
        /// <summary>Throws with both outputs unless the script exited 0.</summary>
        /// <returns>This result.</returns>
        public Result EnsureSuccess() => ExitCode == 0
            ? this
            : throw new InvalidOperationException($"node exited {ExitCode}.\nstdout: {StandardOutput}\nstderr: {StandardError}");
    }

    /// <summary>Runs <c>node scripts/<paramref name="script"/></c> in the interop folder.</summary>
    /// <param name="script">The script's file name in <c>tests/interop/scripts</c>, e.g. <c>dpop-sign.mjs</c>.</param>
    /// <param name="arguments">Its command-line arguments.</param>
    /// <param name="standardInput">Written to its stdin, which is then closed; <see langword="null"/> closes it at once.</param>
    /// <param name="environment">Extra environment variables (e.g. <c>NODE_EXTRA_CA_CERTS</c>).</param>
    /// <param name="cancellationToken">Cancels the wait and kills the process.</param>
    /// <returns>The exit code and outputs.</returns>
    public static async Task<Result> RunAsync(string script, IEnumerable<string>? arguments = null, string? standardInput = null,
        IReadOnlyDictionary<string, string>? environment = null, CancellationToken cancellationToken = default)
    {
        var modules = Path.Combine(InteropDirectory, "node_modules");
        if (!Directory.Exists(modules))
        {
            throw new InvalidOperationException($"The npm interop peers are not installed ({modules} is missing): run eng/test.sh, or `npm ci --ignore-scripts` in {InteropDirectory}.");
        }

        var start = new ProcessStartInfo("node")
        {
            WorkingDirectory = InteropDirectory,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        start.ArgumentList.Add(Path.Combine("scripts", script));
        foreach (var argument in arguments ?? [])
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("node did not start: run eng/test.sh (it installs Debian's nodejs).");
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        if (standardInput is not null)
        {
            await process.StandardInput.WriteAsync(standardInput.AsMemory(), cancellationToken);
        }

        process.StandardInput.Close();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(Timeout);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"node scripts/{script} did not exit within {Timeout.TotalSeconds:0} s.");
        }

        return new Result(process.ExitCode, await stdout, await stderr);
    }

    private static string FindInteropDirectory()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "AgentIdentity.Sdk.sln")))
        {
            directory = directory.Parent;
        }

        return directory is null
            ? throw new InvalidOperationException($"No AgentIdentity.Sdk.sln above {AppContext.BaseDirectory}.")
            : Path.Combine(directory.FullName, "tests", "interop");
    }
}
