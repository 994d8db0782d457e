using AgentIdentity;
using BenchmarkDotNet.Attributes;

namespace AgentIdentity.Benchmarks;

/// <summary>Reading the current SVID: the hot path of every request and tool call. Target: under 20 ns and no allocation.</summary>
[MemoryDiagnoser]
public class GetCurrentBenchmarks
{
    private DevelopmentCertificateAuthority _ca = null!;
    private AgentCredential _credential = null!;
    private X509Svid _static = null!;

    [GlobalSetup]
    public void Setup()
    {
        _ca = DevelopmentCertificateAuthority.Create(TrustDomain.Parse("bench.example"));
        _credential = AgentCredential.CreateAsync(SpiffeId.NewAgentInstance(_ca.TrustDomain, "planner"), _ca).GetAwaiter().GetResult();
        _static = _credential.GetCurrent();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _credential.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _ca.Dispose();
    }

    [Benchmark(Baseline = true, Description = "clock read alone (TimeProvider.System)")]
    public long ClockRead() => TimeProvider.System.GetUtcNow().UtcTicks;

    [Benchmark(Description = "AgentCredential.GetCurrent (rotating, expiry-checked)")]
    public X509Svid RotatingGetCurrent() => _credential.GetCurrent();

    [Benchmark(Description = "X509Svid.GetCurrent (fixed)")]
    public X509Svid FixedGetCurrent() => _static.GetCurrent();
}
