using System.Diagnostics;
using System.Globalization;

namespace AgentIdentity.Benchmarks.Http;

/// <summary>
/// Keep-alive request latency percentiles of the agent HttpClient against a plain HttpClient with a static client certificate (issue 3
/// target: at most 1.05x at p50 and p99), on the same loopback Kestrel mTLS server as <see cref="HttpClientKeepAliveBenchmark"/>.
/// BenchmarkDotNet reports means; this times every request with <see cref="Stopwatch.GetTimestamp"/>. A third client, the same static
/// certificate handler behind IHttpClientFactory, shows which share of the overhead is the factory's (its logging handlers) rather than the
/// SDK's; a fourth, the agent client with <c>RemoveAllLoggers()</c>, shows the SDK's own cost. After a warm-up round (discarded, so that tiered JIT has settled), the clients run in rotating blocks (each block of the next
/// client in turn, the starting client shifting every cycle), one request at a time, so that drift and background load hit all alike.
/// Prints p50/p90/p99/p99.9, the mean and the bytes allocated per request (whole process, so the in-process server's share is included
/// alike for every client) of each, and the ratios to the plain client at p50 and p99, per round and overall.
/// Run: dotnet run -c Release --project benchmarks/AgentIdentity.Sdk.Benchmarks -- http-keepalive-percentiles [requests=20000] [rounds=5] [block=100]
/// (requests per client per round).
/// </summary>
internal static class HttpKeepAlivePercentiles
{
    public static async Task<int> RunAsync(int requests, int rounds, int block)
    {
        if (requests <= 0 || rounds <= 0 || block <= 0 || requests % block != 0)
        {
            Console.Error.WriteLine($"requests ({requests}), rounds ({rounds}) and block ({block}) must be positive, and requests a multiple of block.");
            return 2;
        }

        await using var server = await LoopbackMtlsServer.StartAsync();
        var (agentServices, agent, credential) = server.CreateAgentClient(allowTlsResume: false, newConnectionPerRequest: false);
        await using var _ = agentServices;
        using var plain = server.CreatePlainClient(credential.GetCurrent(), allowTlsResume: false, newConnectionPerRequest: false);
        var (factoryServices, factory) = server.CreatePlainFactoryClient(credential.GetCurrent());
        await using var __ = factoryServices;
        var (quietServices, quiet, _) = server.CreateAgentClient(allowTlsResume: false, newConnectionPerRequest: false, removeFactoryLoggers: true);
        await using var ___ = quietServices;
        (string Name, HttpClient Client)[] clients = [("plain", plain), ("agent", agent), ("factory", factory), ("agent-q", quiet)];

        Console.WriteLine($"Keep-alive GET /ping over loopback mTLS, one request at a time: {requests} requests per client per round, {rounds} rounds " +
            $"after one warm-up round, rotating blocks of {block}; {Environment.ProcessorCount} logical CPUs, {System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription}");
        Console.WriteLine("plain = SocketsHttpHandler with a static certificate (baseline); agent = AddAgentIdentity() through IHttpClientFactory; " +
            "factory = the plain handler through IHttpClientFactory; agent-q = agent with RemoveAllLoggers(). Latencies in microseconds.");
        await RunRoundAsync(clients, requests, block); // warm-up, discarded
        var all = clients.Select(_ => new List<double>(requests * rounds)).ToArray();
        var allAllocated = new long[clients.Length];
        for (var round = 1; round <= rounds; round++)
        {
            var (times, allocated) = await RunRoundAsync(clients, requests, block);
            Report($"round {round}", clients, times, allocated);
            for (var c = 0; c < clients.Length; c++)
            {
                all[c].AddRange(times[c]);
                allAllocated[c] += allocated[c];
            }
        }

        Report("overall", clients, [.. all.Select(a => a.ToArray())], allAllocated);
        return 0;
    }

    private static async Task<(double[][] Times, long[] Allocated)> RunRoundAsync((string Name, HttpClient Client)[] clients, int requests, int block)
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        var times = clients.Select(_ => new double[requests]).ToArray();
        var allocated = new long[clients.Length];
        var toMicroseconds = 1_000_000.0 / Stopwatch.Frequency;
        for (var start = 0; start < requests; start += block)
        {
            var first = start / block % clients.Length;
            for (var k = 0; k < clients.Length; k++)
            {
                var c = (first + k) % clients.Length;
                var allocatedBefore = GC.GetTotalAllocatedBytes(precise: false);
                for (var i = start; i < start + block; i++)
                {
                    var begin = Stopwatch.GetTimestamp();
                    await clients[c].Client.GetStringAsync("/ping");
                    times[c][i] = (Stopwatch.GetTimestamp() - begin) * toMicroseconds;
                }

                allocated[c] += GC.GetTotalAllocatedBytes(precise: false) - allocatedBefore;
            }
        }

        return (times, allocated);
    }

    /// <param name="allocated">Bytes allocated in the process (the in-process server's share included, alike for every client) per client.</param>
    private static void Report(string label, (string Name, HttpClient Client)[] clients, double[][] times, long[] allocated)
    {
        Console.WriteLine($"{label}:");
        foreach (var t in times)
        {
            Array.Sort(t);
        }

        for (var c = 0; c < clients.Length; c++)
        {
            var t = times[c];
            var ratios = c == 0 ? string.Empty : string.Create(CultureInfo.InvariantCulture, $"   /plain: p50 {At(t, 50) / At(times[0], 50):F3}x, p99 {At(t, 99) / At(times[0], 99):F3}x");
            Console.WriteLine(string.Create(
                CultureInfo.InvariantCulture,
                $"  {clients[c].Name,-7} p50 {At(t, 50),7:F1}  p90 {At(t, 90),7:F1}  p99 {At(t, 99),7:F1}  p99.9 {At(t, 99.9),8:F1}  mean {t.Average(),7:F1}  {(double)allocated[c] / t.Length,6:F0} B/req{ratios}"));
        }
    }

    /// <summary>Nearest-rank percentile of sorted values.</summary>
    private static double At(double[] sorted, double percentile) =>
        sorted[Math.Clamp((int)Math.Ceiling(percentile / 100.0 * sorted.Length) - 1, 0, sorted.Length - 1)];
}
