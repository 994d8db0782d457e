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
/// (latency), and <see cref="Concurrency"/> enrollments in flight (throughput, where group commit lets one fsync cover every
/// write that queued up meanwhile; each is still acknowledged only after its commit). Target: throughput at least 0.5 × the
/// in-process rate at the same concurrency.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(PercentilesConfig))]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class IssuerEndToEndBenchmarks
{
    /// <summary>The enrollments in flight in the concurrent group.</summary>
    public const int Concurrency = 16;

    /// <summary>Gets or sets a value indicating whether the SQLite store coalesces concurrent writes (its default); <see langword="false"/>
    /// measures one transaction and one fsync per write, as before group commit, in the same run.</summary>
    [Params(false, true)]
    public bool GroupCommit { get; set; }

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
    [Benchmark(Baseline = true, OperationsPerInvoke = Concurrency, Description = "in-process dev CA, 16 in parallel")]
    public Task InProcessConcurrent() => Task.WhenAll(Enumerable.Range(0, Concurrency).Select(_ => Task.Run(InProcess)));

    [BenchmarkCategory("concurrent")]
    [Benchmark(OperationsPerInvoke = Concurrency, Description = "issuer over HTTPS, SQLite, 16 in flight")]
    public Task HttpsSqliteConcurrent() => Task.WhenAll(Enumerable.Range(0, Concurrency).Select(_ => Task.Run(EnrollAsync)));

    private async Task<X509SvidIssuance> EnrollAsync()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var id = SpiffeId.NewAgentInstance(TrustDomain.Parse("bench.example"), "planner");
        var issuance = await _client.IssueAsync(new X509SvidRequest(id, SvidKeys.CreateSigningRequest(id, key), TimeSpan.FromHours(1))).ConfigureAwait(false);
        issuance.Certificate.Dispose();
        return issuance;
    }

    private sealed class PercentilesConfig : ManualConfig
    {
        public PercentilesConfig() => AddColumn(StatisticColumn.P95, StatisticColumn.P100);
    }
}
