using BenchmarkDotNet.Attributes;

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

    [GlobalSetup]
    public async Task SetupAsync()
    {
        using var ca = DevelopmentCertificateAuthority.Create(TrustDomain.Parse("bench.example"));
        var registry = new InMemoryRevocationRegistry(ca.CreateRevocationSigner());
        for (var i = 0; i < 10_000; i++)
        {
            await registry.RevokeCertificateAsync((0x40000000 + i).ToString("X8", System.Globalization.CultureInfo.InvariantCulture) + "00112233445566778899AABB");
        }

        for (var i = 0; i < 1_000; i++)
        {
            await registry.RevokeIdentityAsync(SpiffeId.Parse($"spiffe://bench.example/agent/revoked/{i}"));
        }

        foreach (var entry in await registry.GetEntriesAsync(0, int.MaxValue))
        {
            _set.Apply(entry);
        }

        _revokedSerial = "4000000500112233445566778899AABB";
    }

    [Benchmark(Baseline = true)]
    public bool EmptySet() => _empty.IsRevoked(_serial, _id, null, out _);

    [Benchmark]
    public bool NotRevoked() => _set.IsRevoked(_serial, _id, null, out _);

    [Benchmark]
    public bool RevokedSerial() => _set.IsRevoked(_revokedSerial, _id, null, out _);
}
