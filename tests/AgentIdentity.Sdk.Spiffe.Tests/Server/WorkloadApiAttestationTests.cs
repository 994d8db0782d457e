using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Grpc.Core;
using Microsoft.Extensions.Logging;

namespace AgentIdentity.Spiffe.Tests;

/// <summary>
/// The Workload API server's caller attestation against real processes: a C program (Server/Harness/connect-exec.c, compiled here
/// with the machine's gcc) connects to the server's socket and then executes another program, or runs from a path that another
/// mount namespace has bound to a different file. A gRPC client reaches the server over that very connection through the
/// program's relay socket, so the server sees exactly the process the attacker controls.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class WorkloadApiAttestationTests : IDisposable
{
    private readonly SpiffeTestEnvironment _env = new();
    private readonly AttestationLog _log = new();
    private readonly List<Process> _processes = [];

    public void Dispose()
    {
        foreach (var process in _processes)
        {
            if (!process.HasExited)
            {
                process.Kill();
            }

            process.Dispose();
        }

        _log.Dispose();
        _env.Dispose();
    }

    [Fact]
    public async Task ConnectThenExecSameBinary_KeepsTheIdentity()
    {
        // The control: the harness works, and a program that re-executes its own file is still that file.
        var tool = Compile("a/tool");
        await using var server = await StartServer(tool);

        await using var source = await ConnectThroughHarness(server, tool, execPath: tool);
        await source.WhenReadyAsync().Within30s();

        Assert.Equal(SpiffeId.Parse("spiffe://example.org/workload/tool"), source.GetCurrent().Id);
    }

    [Fact]
    public async Task ConnectThenExecOtherBinary_ExecutedProcessGetsNoSvidForTheOriginalPath()
    {
        // The registered program connects and is attested; then it executes another program that keeps the connection.
        var tool = Compile("a/tool");
        var other = Copy(tool, "b/other");
        await using var server = await StartServer(tool);

        var denied = new TaskCompletionSource<StatusCode>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var source = await ConnectThroughHarness(server, tool, execPath: other, onRetry: (code, _) => denied.TrySetResult(code));

        Assert.Equal(StatusCode.PermissionDenied, await denied.Task.Within30s());
        Assert.Equal(WorkloadApiSourceState.PermissionDenied, source.State);
        Assert.Throws<IdentityUnavailableException>(source.GetCurrent);
    }

    [Fact]
    public async Task SamePathDifferentInode_AnotherMountNamespacesFileDoesNotMatch()
    {
        // In a private mount namespace, another file is bound over the registered path: the process runs "/…/a/tool" by name,
        // and /proc/<pid>/exe even reads as that path, but it is not the registered file.
        var tool = Compile("a/tool");
        var impostor = Copy(tool, "b/impostor");
        await using var server = await StartServer(tool);

        var denied = new TaskCompletionSource<StatusCode>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var source = await ConnectThroughHarness(server, tool, execPath: null, bindOverToolInNewMountNamespace: impostor, onRetry: (code, _) => denied.TrySetResult(code));

        Assert.Equal(StatusCode.PermissionDenied, await denied.Task.Within30s());
        var attested = await _log.AttestedAsync(_processes[^1].Id).Within30s();
        Assert.Contains(tool, attested, StringComparison.Ordinal); // the path string matched; the inode did not
    }

    [Fact]
    public async Task SetRegistrations_PathWithoutUserId_IsRefused()
    {
        var tool = Compile("a/tool");
        await using var server = await StartServer(tool);

        var ex = Assert.Throws<ArgumentException>(() => server.SetRegistrations([new WorkloadRegistration(SpiffeId.Parse("spiffe://example.org/x")) { ExecutablePath = tool }]));
        Assert.Contains("without UserId", ex.Message, StringComparison.Ordinal);
    }

    private async Task<WorkloadApiServer> StartServer(string toolPath)
    {
        var registration = new WorkloadRegistration(SpiffeId.Parse("spiffe://example.org/workload/tool"))
        {
            UserId = SpiffeTestEnvironment.CurrentUser().Uid,
            ExecutablePath = toolPath,
        };
        var loggerFactory = LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Debug).AddProvider(_log));
        return await WorkloadApiServer.StartAsync(_env.Ca, _env.ServerOptions("attest.sock", registration), SpiffeTestEnvironment.ServerTime(), loggerFactory);
    }

    /// <summary>Runs the harness from <paramref name="toolPath"/>: it connects, the server attests the connection, then (only
    /// then) the harness executes <paramref name="execPath"/> or serves itself; the returned source calls through its relay.</summary>
    private async Task<WorkloadApiX509Source> ConnectThroughHarness(
        WorkloadApiServer server, string toolPath, string? execPath, string? bindOverToolInNewMountNamespace = null, Action<StatusCode, TimeSpan>? onRetry = null)
    {
        var relay = _env.SocketPath($"relay-{_processes.Count}.sock");
        var start = new ProcessStartInfo { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        string[] harness = ["connect", server.SocketPath, relay, .. execPath is null ? Array.Empty<string>() : [execPath]];
        if (bindOverToolInNewMountNamespace is null)
        {
            start.FileName = toolPath;
            harness.ToList().ForEach(start.ArgumentList.Add);
        }
        else
        {
            // unshare -m: a private mount namespace (mounts do not propagate back), where the impostor is bound over the tool's path.
            start.FileName = "unshare";
            foreach (var argument in new[] { "-m", "sh", "-c", "mount --bind \"$0\" \"$1\" && tool=\"$1\" && shift && exec \"$tool\" \"$@\"", bindOverToolInNewMountNamespace, toolPath })
            {
                start.ArgumentList.Add(argument);
            }

            harness.ToList().ForEach(start.ArgumentList.Add);
        }

        var process = Process.Start(start)!;
        _processes.Add(process);
        var connected = await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True(connected?.StartsWith("connected ", StringComparison.Ordinal), $"harness: {connected} {await ReadErrorAsync(process)}");
        var pid = int.Parse(connected!["connected ".Length..], CultureInfo.InvariantCulture);
        Assert.Equal(process.Id, pid);

        // The server has read the connection's peer credentials before the program changes.
        await _log.AttestedAsync(pid).Within30s();
        await process.StandardInput.WriteLineAsync("go");
        await process.StandardInput.FlushAsync();
        var listening = await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True(listening == "listening", $"harness: {listening} {await ReadErrorAsync(process)}");

        return WorkloadApiX509Source.Start(new WorkloadApiOptions { Address = "unix://" + relay }, SpiffeTestEnvironment.ClientTime(), null, onRetry);
    }

    private static async Task<string> ReadErrorAsync(Process process) =>
        process.HasExited ? await process.StandardError.ReadToEndAsync() : string.Empty;

    private string Compile(string relativePath)
    {
        var output = Path.Combine(_env.Directory.FullName, relativePath);
        Directory.CreateDirectory(Path.GetDirectoryName(output)!);
        var source = Path.Combine(AppContext.BaseDirectory, "Server", "Harness", "connect-exec.c");
        var gcc = new ProcessStartInfo("gcc") { RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in new[] { "-O1", "-o", output, source })
        {
            gcc.ArgumentList.Add(argument);
        }

        using var compiler = Process.Start(gcc)!;
        var errors = compiler.StandardError.ReadToEnd();
        Assert.True(compiler.WaitForExit(TimeSpan.FromSeconds(60)), "gcc did not finish");
        Assert.True(compiler.ExitCode == 0, $"gcc failed (eng/test.sh installs it): {errors}");
        return output;
    }

    private string Copy(string file, string relativePath)
    {
        // A copy is a different file (new inode) with the same content.
        var output = Path.Combine(_env.Directory.FullName, relativePath);
        Directory.CreateDirectory(Path.GetDirectoryName(output)!);
        File.Copy(file, output);
        File.SetUnixFileMode(output, File.GetUnixFileMode(file));
        return output;
    }

    /// <summary>Captures the server's "connection attested" events (6106) by pid.</summary>
    private sealed class AttestationLog : ILoggerProvider, ILogger
    {
        private readonly ConcurrentDictionary<int, TaskCompletionSource<string>> _attested = new();

        public Task<string> AttestedAsync(int pid) => Entry(pid).Task;

        public ILogger CreateLogger(string categoryName) => this;

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (eventId.Id == 6106 && state is IReadOnlyList<KeyValuePair<string, object?>> values &&
                values.FirstOrDefault(v => v.Key == "Pid").Value is int pid)
            {
                Entry(pid).TrySetResult(formatter(state, exception));
            }
        }

        public void Dispose()
        {
        }

        private TaskCompletionSource<string> Entry(int pid) =>
            _attested.GetOrAdd(pid, _ => new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously));
    }
}
