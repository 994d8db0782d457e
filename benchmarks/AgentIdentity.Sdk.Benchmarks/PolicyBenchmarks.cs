using System.Security.Cryptography.X509Certificates;
using AgentIdentity;
using BenchmarkDotNet.Attributes;

namespace AgentIdentity.Benchmarks;

/// <summary>
/// Policy codec and evaluation. Target (issue 6): decode + evaluation per request under 1 µs when cached by thumbprint,
/// under 20 µs uncached. Baseline: evaluating an already-decoded policy.
/// </summary>
[MemoryDiagnoser]
public class PolicyBenchmarks
{
    private static readonly AgentPolicy Parent = new(
        services: ["spiffe://corp.example/svc/*", "spiffe://corp.example/agent/researcher/*"],
        actions: ["invoices:*", "orders:read", "orders:write", "customers:read"],
        tools: ["Erp.*", "Crm.FindCustomer", "Crm.GetCustomer", "Mail.Send"],
        maxDelegationDepth: 2,
        delegationTargets: ["spiffe://corp.example/agent/planner/*"]);

    private static readonly AgentPolicy Child = new(
        services: ["spiffe://corp.example/svc/erp"],
        actions: ["invoices:read", "orders:read"],
        tools: ["Erp.GetInvoice", "Crm.FindCustomer"],
        maxDelegationDepth: 1,
        delegationTargets: ["spiffe://corp.example/agent/planner/1/task/*"],
        taskId: "t1");

    private readonly CertificatePolicyCache _cache = new();
    private DevelopmentCertificateAuthority _ca = null!;
    private AgentCredential _planner = null!;
    private AgentCredential _task = null!;
    private X509Certificate2 _taskCertificate = null!;
    private X509Certificate2[] _copies = null!;
    private int _next;
    private byte[] _childDer = null!;

    [GlobalSetup]
    public void Setup()
    {
        _ca = DevelopmentCertificateAuthority.Create(TrustDomain.Parse("corp.example"));
        _planner = AgentCredential.CreateAsync(SpiffeId.Parse("spiffe://corp.example/agent/planner/1"), _ca, new AgentCredentialOptions { Policy = Parent }).GetAwaiter().GetResult();
        _task = _planner.DelegateAsync("t1", Child).GetAwaiter().GetResult();
        _taskCertificate = X509CertificateLoader.LoadCertificate(_task.GetCurrent().Certificate.RawData);
        _copies = [.. Enumerable.Range(0, 64).Select(_ => X509CertificateLoader.LoadCertificate(_taskCertificate.RawData))];
        _childDer = Child.ToDer();
        _cache.Get(_taskCertificate);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _planner.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _ca.Dispose();
    }

    [Benchmark(Baseline = true)]
    public bool EvaluateDecoded() => Child.AllowsAction("invoices:read") && Child.AllowsTool("Erp.GetInvoice");

    [Benchmark]
    public byte[] Encode() => Child.WithTaskId("t2").ToDer();

    [Benchmark]
    public AgentPolicy Decode() => AgentPolicy.FromDer(_childDer);

    [Benchmark]
    public bool IsSubsetOf() => Child.IsSubsetOf(Parent);

    [Benchmark]
    public AgentPolicy Intersect() => Child.Intersect(Parent);

    [Benchmark]
    public bool PerRequestUncached()
    {
        var policy = CertificatePolicy.Read(_taskCertificate).EffectivePolicy!;
        return policy.AllowsAction("invoices:read") && policy.AllowsTool("Erp.GetInvoice");
    }

    [Benchmark]
    public bool PerRequestCachedByContent()
    {
        // A different instance of the same certificate on every call, as separate connections would present it.
        var policy = _cache.Get(_copies[_next++ & (_copies.Length - 1)]).EffectivePolicy!;
        return policy.AllowsAction("invoices:read") && policy.AllowsTool("Erp.GetInvoice");
    }
}
