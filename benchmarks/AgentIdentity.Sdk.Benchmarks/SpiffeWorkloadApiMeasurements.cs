using System.Diagnostics;
using System.Globalization;
using AgentIdentity.Spiffe;

namespace AgentIdentity.Benchmarks;

/// <summary>
/// Plain measurements of the SPIFFE Workload API (issue 10), not BenchmarkDotNet runs:
/// <c>spiffe-first-svid [runs]</c>: time from Process.Start of a child process to its first X.509-SVID from a
/// <see cref="WorkloadApiServer"/> on a Unix socket, against the same child that exits at once (process start baseline);
/// <c>spiffe-fanout [clients]</c>: time from <see cref="WorkloadApiServer.RotateAsync"/> until every connected client holds the new SVID.
/// </summary>
internal static class SpiffeWorkloadApiMeasurements
{
    public static async Task<int> RunAsync(string[] args)
    {
        switch (args[0])
        {
            case "spiffe-child":
                {
                    // Child: connect, wait for the first SVID, report the in-process time, exit.
                    var started = Stopwatch.GetTimestamp();
                    var firstSvid = 0.0;
                    if (args[1] != "noop")
                    {
                        await using var source = WorkloadApiX509Source.Start(new WorkloadApiOptions { Address = args[1] });
                        var channelReady = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                        await source.WhenReadyAsync();
                        _ = source.GetCurrent();
                        firstSvid = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                        if (args.Length > 2)
                        {
                            Console.Error.WriteLine($"cold: channel created after {channelReady:F1} ms, first SVID after {Stopwatch.GetElapsedTime(started).TotalMilliseconds:F1} ms");
                        }
                    }

                    Console.WriteLine(firstSvid.ToString("F1", CultureInfo.InvariantCulture));
                    if (args.Length > 2)
                    {
                        // Diagnostics: the same connection again, warm (JIT done), to split JIT/startup from protocol time.
                        var again = Stopwatch.GetTimestamp();
                        await using var source = await WorkloadApiX509Source.CreateAsync(new WorkloadApiOptions { Address = args[1] });
                        Console.Error.WriteLine($"warm: {Stopwatch.GetElapsedTime(again).TotalMilliseconds:F1} ms");
                    }

                    return 0;
                }

            case "spiffe-first-svid":
                return await FirstSvidAsync(args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 10);

            case "spiffe-fanout":
                return await FanOutAsync(args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 1000);

            default:
                return 2;
        }
    }

    private static async Task<int> FirstSvidAsync(int runs)
    {
        await using var env = await Env.CreateAsync();
        var baseline = new List<double>();
        var total = new List<double>();
        var inChild = new List<double>();
        for (var i = 0; i < runs + 1; i++)
        {
            var (noopTotal, _) = await RunChildAsync("noop");
            var (svidTotal, svidInChild) = await RunChildAsync(env.Server.Address.Value);
            if (i == 0)
            {
                continue; // warm-up: disk cache
            }

            baseline.Add(noopTotal);
            total.Add(svidTotal);
            inChild.Add(svidInChild);
        }

        Console.WriteLine($"first X.509-SVID, {runs} runs (median ms): Process.Start to exit of a child that does nothing {Median(baseline):F1}; of a child that gets its first SVID and exits {Median(total):F1}; ratio {Median(total) / Median(baseline):F2}; inside the child, Main to first SVID {Median(inChild):F1}");
        return 0;
    }

    private static async Task<(double Total, double InChild)> RunChildAsync(string address)
    {
        var start = new ProcessStartInfo(Environment.ProcessPath!) { RedirectStandardOutput = true, UseShellExecute = false };
        if (!Environment.ProcessPath!.EndsWith("AgentIdentity.Sdk.Benchmarks", StringComparison.Ordinal))
        {
            start.ArgumentList.Add(typeof(SpiffeWorkloadApiMeasurements).Assembly.Location);
        }

        start.ArgumentList.Add("spiffe-child");
        start.ArgumentList.Add(address);
        if (Environment.GetEnvironmentVariable("SPIFFE_BENCH_WARM") is not null && address != "noop")
        {
            start.ArgumentList.Add("warm");
        }
        var stopwatch = Stopwatch.StartNew();
        using var process = Process.Start(start)!;
        var output = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        stopwatch.Stop();
        return (stopwatch.Elapsed.TotalMilliseconds, double.Parse(output.Trim(), CultureInfo.InvariantCulture));
    }

    private static async Task<int> FanOutAsync(int clients)
    {
        await using var env = await Env.CreateAsync();
        var sources = new WorkloadApiX509Source[clients];
        var connect = Stopwatch.StartNew();
        await Parallel.ForAsync(0, clients, async (i, ct) =>
            sources[i] = await WorkloadApiX509Source.CreateAsync(new WorkloadApiOptions { Address = env.Server.Address.Value }, cancellationToken: ct));
        connect.Stop();
        var results = new List<double>();
        for (var round = 0; round < 5; round++)
        {
            var all = sources.Select(s =>
            {
                var tcs = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                s.GetCurrent().ChangeToken.RegisterChangeCallback(static o => ((TaskCompletionSource)o!).TrySetResult(), tcs);
                return tcs.Task;
            }).ToArray();
            var stopwatch = Stopwatch.StartNew();
            await env.Server.RotateAsync();
            await Task.WhenAll(all);
            stopwatch.Stop();
            results.Add(stopwatch.Elapsed.TotalMilliseconds);
        }

        Console.WriteLine($"rotation fan-out to {clients} clients: connect all {connect.Elapsed.TotalMilliseconds:F0} ms; rotate until all hold the new SVID, 5 rounds (ms): {string.Join(", ", results.Select(r => r.ToString("F1", CultureInfo.InvariantCulture)))}; median {Median(results):F1}");
        foreach (var source in sources)
        {
            await source.DisposeAsync();
        }

        return 0;
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted[sorted.Length / 2];
    }

    private sealed class Env : IAsyncDisposable
    {
        private readonly DirectoryInfo _dir;
        private readonly DevelopmentCertificateAuthority _ca;

        private Env(DirectoryInfo dir, DevelopmentCertificateAuthority ca, WorkloadApiServer server)
        {
            _dir = dir;
            _ca = ca;
            Server = server;
        }

        public WorkloadApiServer Server { get; }

        public static async Task<Env> CreateAsync()
        {
            var dir = Directory.CreateTempSubdirectory("spiffe-bench-");
            var ca = DevelopmentCertificateAuthority.Create(TrustDomain.Parse("example.org"));
            var options = new WorkloadApiServerOptions { SocketPath = Path.Combine(dir.FullName, "agent.sock") };
            options.Registrations.Add(new WorkloadRegistration(SpiffeId.Parse("spiffe://example.org/bench")) { GroupId = GetGid() });
            var server = await WorkloadApiServer.StartAsync(ca, options);
            return new Env(dir, ca, server);
        }

        private static int GetGid() =>
            int.Parse(File.ReadLines("/proc/self/status").First(l => l.StartsWith("Gid:", StringComparison.Ordinal)).Split('\t', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);

        public async ValueTask DisposeAsync()
        {
            await Server.DisposeAsync();
            _ca.Dispose();
            _dir.Delete(true);
        }
    }
}
