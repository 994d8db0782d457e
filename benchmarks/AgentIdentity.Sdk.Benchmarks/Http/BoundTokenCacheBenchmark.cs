using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.Logging.Abstractions;

namespace AgentIdentity.Benchmarks.Http;

/// <summary>A bound-token cache hit: the token for the current certificate, fresh (target under 200 ns, no allocation).</summary>
[MemoryDiagnoser]
public class BoundTokenCacheBenchmark
{
    private DevelopmentCertificateAuthority _ca = null!;
    private AgentCredential _credential = null!;
    private BoundTokenCache _cache = null!;
    private X509Svid _svid = null!;

    [GlobalSetup]
    public async Task SetupAsync()
    {
        _ca = DevelopmentCertificateAuthority.Create(TrustDomain.Parse("bench.example"));
        _credential = await AgentCredential.CreateAsync(SpiffeId.Parse("spiffe://bench.example/agent/bench/1"), _ca);
        _svid = _credential.GetCurrent();
        var options = new AgentHttpClientOptions { ServerId = "spiffe://bench.example/svc/as" };
        var handler = new GenerationHandler("bench", _credential, _ca, options, options.GetServerAuthorizer(_ca.TrustDomain), TimeProvider.System, NullLogger.Instance);
        var client = new BoundTokenClient("bench", new BoundTokenOptions { TokenEndpoint = new Uri("https://127.0.0.1:1/token"), ClientId = "bench" }, handler, TimeProvider.System);
        _cache = new BoundTokenCache(client, TimeProvider.System, NullLogger.Instance);
        _cache.Prime(_svid, "header.payload.signature", TimeSpan.FromHours(1));
    }

    [Benchmark]
    public string CacheHit()
    {
        var task = _cache.GetTokenAsync(_credential.GetCurrent());
        return task.IsCompletedSuccessfully ? task.Result.AccessToken : throw new InvalidOperationException("cache miss");
    }

    [GlobalCleanup]
    public async Task CleanupAsync()
    {
        _cache.Dispose();
        await _credential.DisposeAsync();
        _ca.Dispose();
    }
}
