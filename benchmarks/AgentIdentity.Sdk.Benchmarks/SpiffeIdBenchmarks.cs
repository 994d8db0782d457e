using AgentIdentity;
using BenchmarkDotNet.Attributes;

namespace AgentIdentity.Benchmarks;

/// <summary>SPIFFE ID parsing and validation (every rule of SPIFFE-ID.md §2).</summary>
[MemoryDiagnoser]
public class SpiffeIdBenchmarks
{
    private const string AgentId = "spiffe://example.org/agent/planner/kffi7vyxicmckmxrqrmk24kzba";
    private readonly SpiffeId _parsed = SpiffeId.Parse(AgentId);

    [Benchmark(Baseline = true, Description = "Uri ctor (no SPIFFE rules)")]
    public Uri SystemUri() => new(AgentId);

    [Benchmark(Description = "SpiffeId.Parse")]
    public SpiffeId Parse() => SpiffeId.Parse(AgentId);

    [Benchmark(Description = "SpiffeId.TryParse(span) invalid")]
    public bool TryParseInvalid() => SpiffeId.TryParse("spiffe://example.org/agent/../x".AsSpan(), out _, out _);

    [Benchmark(Description = "IsMemberOf")]
    public bool IsMemberOf() => _parsed.IsMemberOf(_parsed.TrustDomain);
}
