using System.Security.Cryptography.X509Certificates;

namespace AgentIdentity.Tests.Policy;

public sealed class CertificatePolicyCacheTests : IDisposable
{
    private static readonly DateTimeOffset Now = new(2026, 11, 28, 10, 0, 0, TimeSpan.Zero);
    private readonly PolicyTestCa _ca = new(TrustDomain.Parse("td.example"), Now);

    public void Dispose() => _ca.Dispose();

    [Fact]
    public void Get_SameContentDifferentInstance_ReturnsSameEntry()
    {
        var policy = new AgentPolicy(actions: ["invoices:read"]);
        using var cert = _ca.Issue("spiffe://td.example/agent/a/1", Now, Now.AddHours(1), policy);
        using var copy = X509CertificateLoader.LoadCertificate(cert.RawData);
        var cache = new CertificatePolicyCache();
        var first = cache.Get(cert);
        Assert.Same(first, cache.Get(copy));
        Assert.Equal(policy, first.EffectivePolicy);
    }

    [Fact]
    public void Get_DifferentCertificates_NeverShareEntries()
    {
        using var a = _ca.Issue("spiffe://td.example/agent/a/1", Now, Now.AddHours(1), new AgentPolicy(actions: ["a:read"]));
        using var b = _ca.Issue("spiffe://td.example/agent/a/1", Now, Now.AddHours(1), new AgentPolicy(actions: ["b:read"]));
        var cache = new CertificatePolicyCache(capacity: 1);
        Assert.True(cache.Get(a).Policy!.AllowsAction("a:read"));
        Assert.True(cache.Get(b).Policy!.AllowsAction("b:read"));
        Assert.False(cache.Get(a).Policy!.AllowsAction("b:read"));
    }

    [Fact]
    public void Get_MalformedPolicy_ThrowsEveryTime()
    {
        using var bad = _ca.Issue("spiffe://td.example/agent/a/1", Now, Now.AddHours(1), rawPolicy: [0x30, 0x00]);
        var cache = new CertificatePolicyCache();
        Assert.Throws<PolicyFormatException>(() => cache.Get(bad));
        Assert.Throws<PolicyFormatException>(() => cache.Get(bad));
    }

    [Fact]
    public void Get_NoPolicy_ReturnsEmptyEntry()
    {
        using var plain = _ca.Issue("spiffe://td.example/agent/a/1", Now, Now.AddHours(1));
        var entry = new CertificatePolicyCache().Get(plain);
        Assert.Null(entry.Policy);
        Assert.Null(entry.EffectivePolicy);
        Assert.Null(entry.DelegationChain);
    }
}
