using AgentIdentity.AspNetCore;
using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.DependencyInjection;

namespace AgentIdentity.Benchmarks;

/// <summary>
/// Cost of the per-request revocation check (what the AgentIdentity handler asks on every request): a set holding 10 000 revoked
/// serials and 1 000 revoked identities, looked up for a caller that is not revoked (the common case) and for one that is.
/// Target: under 50 ns. Run: dotnet run -c Release --project benchmarks/AgentIdentity.Sdk.Benchmarks -- --filter '*RevocationCheck*'
/// </summary>
[MemoryDiagnoser]
public class RevocationCheckBenchmarks
{
    private readonly RevocationSet _set = new();
    private readonly RevocationSet _empty = new();
    private readonly string _serial = "4F1E2D3C4B5A69788796A5B4C3D2E1F0";
    private readonly SpiffeId _id = SpiffeId.Parse("spiffe://bench.example/agent/planner/7f3a9c");
    private string _revokedSerial = null!;
    private ServiceProvider _services = null!;
    private AgentRevocationFeedService _checker = null!;
    private AgentCaller _caller = null!;

    [GlobalSetup]
    public void Setup()
    {
        using var ca = DevelopmentCertificateAuthority.Create(TrustDomain.Parse("bench.example"));
        var signer = ca.CreateRevocationSigner();
        var now = DateTimeOffset.UtcNow;
        long sequence = 0;
        for (var i = 0; i < 10_000; i++)
        {
            var serial = (0x40000000 + i).ToString("X8", System.Globalization.CultureInfo.InvariantCulture) + "00112233445566778899AABB";
            _set.Apply(signer.CreateEntry(++sequence, RevocationKind.Serial, serial, default, now, System.Security.Cryptography.X509Certificates.X509RevocationReason.Unspecified));
        }

        for (var i = 0; i < 1_000; i++)
        {
            _set.Apply(signer.CreateEntry(++sequence, RevocationKind.Identity, null, SpiffeId.Parse($"spiffe://bench.example/agent/revoked/{i}"), now, System.Security.Cryptography.X509Certificates.X509RevocationReason.Unspecified));
        }

        _revokedSerial = "4000000500112233445566778899AABB";

        // The per-request hook of the AgentIdentity handler, with a real (cached, per-certificate) caller.
        var credential = AgentCredential.CreateAsync(_id, ca).GetAwaiter().GetResult();
        var svid = credential.GetCurrent();
        _caller = new AgentCaller(svid.Id, svid.Certificate, [svid.Certificate, .. svid.Intermediates, ca.RootCertificate], svid.GetCertificateHash(), ca.Bundle);
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton(_set);
        services.AddAgentIdentityRevocationFeed(o =>
        {
            o.FeedUri = new Uri("http://127.0.0.1:1/revocation/feed");
            o.SignerCertificate = signer.Certificate;
            o.TrustDomain = "bench.example";
        });
        _services = services.BuildServiceProvider();
        _checker = _services.GetRequiredService<AgentRevocationFeedService>();
        if (!_set.IsRevoked(_revokedSerial, _id, null, out _) || _set.IsRevoked(_serial, _id, null, out _))
        {
            throw new InvalidOperationException("The benchmark set is wrong.");
        }
    }

    [Benchmark(Baseline = true)]
    public bool EmptySet() => _empty.IsRevoked(_serial, _id, null, out _);

    [Benchmark]
    public bool NotRevoked() => _set.IsRevoked(_serial, _id, null, out _);

    [Benchmark]
    public bool HandlerHook_NotRevoked() => _checker.IsRevoked(_caller, out _);

    [GlobalCleanup]
    public void Cleanup() => _services.Dispose();

    [Benchmark]
    public bool RevokedSerial() => _set.IsRevoked(_revokedSerial, _id, null, out _);
}
