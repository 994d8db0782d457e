using System.Net;
using System.Security.Cryptography;
using AgentIdentity.Issuer;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AgentIdentity.Benchmarks;

/// <summary>
/// End-to-end enrollment over HTTPS against the embedded issuer on SQLite (create a join token in process, then the agent's
/// key + CSR + POST v1/issue over a kept-alive TLS connection + token redemption and certificate record in one transaction),
/// against the in-process development CA (key + CSR + sign). Two groups, each with its own baseline: one enrollment at a time
/// (latency), and <see cref="InFlight"/> enrollments in flight (throughput, where group commit lets one fsync cover every
/// write that queued up meanwhile; each is still acknowledged only after its commit). Target: throughput at least 0.5 × the
/// in-process rate at the same concurrency.
/// </summary>
/// <remarks>The throughput group is a closed loop: <see cref="InFlight"/> workers each start their next enrollment as soon as
/// their last one completed, until <see cref="Enrollments"/> have completed, so <see cref="InFlight"/> are in flight the whole
/// time (except the last few) on both sides. Starting batches of 16 and waiting for all of them instead (as this benchmark did
/// before) measures a batch's latency: every enrollment of a batch waits for the same two commits at the same time, and the
/// cores idle while they wait.</remarks>
[MemoryDiagnoser]
[Config(typeof(PercentilesConfig))]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class IssuerEndToEndBenchmarks
{
    /// <summary>The enrollments in flight in the concurrent group by default.</summary>
    public const int Concurrency = 16;

    /// <summary>The enrollments one invocation of the throughput group completes.</summary>
    public const int Enrollments = 256;

    /// <summary>Gets or sets a value indicating whether the SQLite store coalesces concurrent writes (its default); <see langword="false"/>
    /// measures one transaction and one fsync per write, as before group commit, in the same run.</summary>
    [Params(false, true)]
    public bool GroupCommit { get; set; }

    /// <summary>Gets or sets how many enrollments the throughput group keeps in flight (both sides). At 16, two durable commits
    /// per enrollment (the join token's creation, then its redemption) bound the issuer to 16 / (2 × fsync) enrollments per second
    /// however fast the rest is; 64 shows the rate once enough are in flight that a commit is not what each waits for.</summary>
    [Params(Concurrency, 64)]
    public int InFlight { get; set; } = Concurrency;

    private readonly SpiffeId _id = SpiffeId.Parse("spiffe://bench.example/agent/planner/abc");
    private DevelopmentCertificateAuthority _ca = null!;
    private WebApplication _app = null!;
    private AgentIdentityIssuer _issuer = null!;
    private IssuerClient _client = null!;
    private string _directory = null!;

    [GlobalSetup]
    public void Setup()
    {
        _ca = DevelopmentCertificateAuthority.Create(TrustDomain.Parse("bench.example"));
        _directory = Path.Combine(Path.GetTempPath(), "ai-issuer-bench-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_directory);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddAgentIdentityIssuer(o =>
        {
            o.TrustDomain = "bench.example";
            o.KeyEncryptionKey = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
            o.RateLimitPermits = int.MaxValue;
            o.AnonymousRateLimitPermits = int.MaxValue;
        }).UseSqlite(Path.Combine(_directory, "issuer.db"));
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0, lo => lo.UseAgentIdentityIssuerHttps()));
        _app = builder.Build();
        _app.MapAgentIdentityIssuer();
        _app.StartAsync().GetAwaiter().GetResult();
        _issuer = _app.Services.GetRequiredService<AgentIdentityIssuer>();

        ((SqlIssuerStore)_issuer.Store).UsesGroupCommit = GroupCommit; // internal: for this comparison only

        // For a before/after comparison: AGENTIDENTITY_BENCH_FOREGROUND_CHECKPOINTS=1 lets SQLite checkpoint inside commits, as before.
        ((SqliteIssuerStore)_issuer.Store).UsesBackgroundCheckpoints = Environment.GetEnvironmentVariable("AGENTIDENTITY_BENCH_FOREGROUND_CHECKPOINTS") != "1";
        var address = new Uri(_app.Urls.First().Replace("http://", "https://", StringComparison.Ordinal) + "/agent-identity/");
        _client = new IssuerClient(new IssuerClientOptions
        {
            Address = address,
            ServerId = _issuer.ServerId,
            ServerTrustBundle = _issuer.GetBundle(),
            JoinTokenCallback = async (id, ct) => await _issuer.CreateJoinTokenAsync("planner", null, TimeSpan.FromMinutes(5), ct).ConfigureAwait(false),
        });
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _client.Dispose();
        _app.StopAsync().GetAwaiter().GetResult();
        _app.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _ca.Dispose();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_directory, recursive: true);
    }

    [BenchmarkCategory("sequential")]
    [Benchmark(Baseline = true, Description = "in-process dev CA: keygen+CSR+sign")]
    public X509SvidIssuance InProcess()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var issuance = _ca.Issue(new X509SvidRequest(_id, SvidKeys.CreateSigningRequest(_id, key), TimeSpan.FromHours(1)));
        issuance.Certificate.Dispose();
        return issuance;
    }

    [BenchmarkCategory("sequential")]
    [Benchmark(Description = "issuer over HTTPS, SQLite: token+keygen+CSR+POST v1/issue")]
    public Task<X509SvidIssuance> HttpsSqlite() => EnrollAsync();

    [BenchmarkCategory("concurrent")]
    [Benchmark(Baseline = true, OperationsPerInvoke = Enrollments, Description = "in-process dev CA, N in parallel")]
    public Task InProcessConcurrent() => ClosedLoopAsync(() =>
    {
        InProcess();
        return Task.CompletedTask;
    }, Enrollments, InFlight);

    [BenchmarkCategory("concurrent")]
    [Benchmark(OperationsPerInvoke = Enrollments, Description = "issuer over HTTPS, SQLite, N in flight")]
    public Task HttpsSqliteConcurrent() => ClosedLoopAsync(EnrollAsync, Enrollments, InFlight);

    /// <summary>Runs <paramref name="count"/> operations with <paramref name="inFlight"/> workers, each taking the next one
    /// when it finished its last.</summary>
    private static Task ClosedLoopAsync(Func<Task> operation, int count, int inFlight)
    {
        var remaining = count;
        var workers = new Task[inFlight];
        for (var i = 0; i < workers.Length; i++)
        {
            workers[i] = Task.Run(async () =>
            {
                while (Interlocked.Decrement(ref remaining) >= 0)
                {
                    await operation().ConfigureAwait(false);
                }
            });
        }

        return Task.WhenAll(workers);
    }

    private async Task<X509SvidIssuance> EnrollAsync()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var id = SpiffeId.NewAgentInstance(TrustDomain.Parse("bench.example"), "planner");
        var issuance = await _client.IssueAsync(new X509SvidRequest(id, SvidKeys.CreateSigningRequest(id, key), TimeSpan.FromHours(1))).ConfigureAwait(false);
        issuance.Certificate.Dispose();
        return issuance;
    }

    /// <summary>A plain measurement beside the BenchmarkDotNet run (<c>-- enroll-breakdown [enrollments] [in-flight] [side]</c>):
    /// wall time and process CPU time per enrollment, closed loop, for both sides, with group commit; a warm-up round of the same
    /// size first (tiered JIT keeps compiling for tens of seconds in a process this size). CPU per
    /// enrollment is what bounds the throughput on a loaded machine; wall minus CPU / cores is time spent waiting (fsync).</summary>
    /// <param name="enrollments">How many enrollments each side completes.</param>
    /// <param name="inFlight">How many enrollments are in flight at once.</param>
    /// <param name="side">Only the side whose name starts with this (<c>issuer</c>, <c>in-process</c>; for a profiler), or both.</param>
    /// <returns>The process exit code.</returns>
    public static async Task<int> RunBreakdownAsync(int enrollments, int inFlight, string? side)
    {
        var bench = new IssuerEndToEndBenchmarks { GroupCommit = true };
        bench.Setup();
        try
        {
            foreach (var round in new[] { "warm-up", "measured" })
            {
                var n = enrollments;
                foreach (var (name, operation) in new (string, Func<Task>)[] { ("in-process dev CA", () => { bench.InProcess(); return Task.CompletedTask; }), ("issuer over HTTPS, SQLite", bench.EnrollAsync) })
                {
                    if (side is not null && !name.StartsWith(side, StringComparison.Ordinal))
                    {
                        continue;
                    }

                    var process = System.Diagnostics.Process.GetCurrentProcess();
                    var cpu = process.TotalProcessorTime;
                    var batches = ((SqlIssuerStore)bench._issuer.Store).CommittedBatches;
                    var gc = GC.GetTotalAllocatedBytes(precise: true);
                    var watch = System.Diagnostics.Stopwatch.StartNew();
                    await ClosedLoopAsync(operation, n, inFlight).ConfigureAwait(false);
                    watch.Stop();
                    process.Refresh();
                    var cpuPer = (process.TotalProcessorTime - cpu).TotalMicroseconds / n;
                    if (round == "measured")
                    {
                        Console.WriteLine(System.FormattableString.Invariant(
                            $"{name,-28} {n} enrollments: wall {watch.Elapsed.TotalMicroseconds / n,8:F0} µs/op, CPU {cpuPer,8:F0} µs/op, allocated {(GC.GetTotalAllocatedBytes(true) - gc) / n / 1024.0,6:F1} KB/op, commits {((SqlIssuerStore)bench._issuer.Store).CommittedBatches - batches}"));
                    }
                }
            }
        }
        finally
        {
            bench.Cleanup();
        }

        return 0;
    }

    private sealed class PercentilesConfig : ManualConfig
    {
        public PercentilesConfig() => AddColumn(StatisticColumn.P95, StatisticColumn.P100);
    }
}
