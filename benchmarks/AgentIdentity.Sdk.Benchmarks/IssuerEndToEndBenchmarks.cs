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
/// against the in-process development CA (key + CSR + sign). Target: at least 0.5 × the in-process rate.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(PercentilesConfig))]
public class IssuerEndToEndBenchmarks
{
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

    [Benchmark(Baseline = true, Description = "in-process dev CA: keygen+CSR+sign")]
    public X509SvidIssuance InProcess()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var issuance = _ca.Issue(new X509SvidRequest(_id, SvidKeys.CreateSigningRequest(_id, key), TimeSpan.FromHours(1)));
        issuance.Certificate.Dispose();
        return issuance;
    }

    [Benchmark(Description = "issuer over HTTPS, SQLite: token+keygen+CSR+POST v1/issue")]
    public async Task<X509SvidIssuance> HttpsSqlite()
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
