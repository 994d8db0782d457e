using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace AgentIdentity.Tests.X509;

public sealed class X509SvidTests : IDisposable
{
    private static readonly DateTimeOffset Now = new(2026, 11, 28, 12, 0, 0, TimeSpan.Zero);
    private readonly TestPki _pki = TestPki.Create("example.org", Now);

    [Fact]
    public void Constructor_ValidLeaf_ExposesIdValidityAndHash()
    {
        using var leaf = _pki.IssueLeaf();
        var svid = new X509Svid(leaf, [_pki.Intermediate]);

        Assert.Equal("spiffe://example.org/agent/test/1", svid.Id.ToString());
        Assert.Equal(leaf.NotAfter.ToUniversalTime(), svid.NotAfter.UtcDateTime);
        Assert.Equal(SHA256.HashData(leaf.RawData), svid.GetCertificateHash());
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(leaf.RawData)), svid.Thumbprint);
        Assert.Same(svid, svid.GetCurrent());
        Assert.Equal(2, svid.GetChain().Count);
        Assert.False(svid.IsExpired(Now));
        Assert.True(svid.IsExpired(svid.NotAfter));
        Assert.DoesNotContain("PRIVATE KEY", svid.ExportCertificatesPem(), StringComparison.Ordinal);
    }

    [Fact]
    public void Constructor_WithoutPrivateKey_Throws()
    {
        using var leaf = _pki.IssueLeaf();
        using var publicOnly = X509CertificateLoader.LoadCertificate(leaf.RawData);
        Assert.Contains("no private key", Assert.Throws<ArgumentException>(() => new X509Svid(publicOnly)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Constructor_ProfileViolation_ThrowsNamingTheRule()
    {
        using var leaf = _pki.IssueLeaf(s => s.Uris.Add("spiffe://example.org/b"));
        Assert.Contains("2 URI SANs", Assert.Throws<ArgumentException>(() => new X509Svid(leaf)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Constructor_LeafAsIntermediate_Throws()
    {
        using var leaf = _pki.IssueLeaf();
        using var other = _pki.IssueLeaf();
        Assert.Contains("is not a CA certificate", Assert.Throws<ArgumentException>(() => new X509Svid(leaf, [other])).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void OwnerMarkSuperseded_FiresChangeTokenAndKeepsKey()
    {
        using var owner = new X509SvidOwner(_pki.IssueLeaf());
        var svid = owner.Svid;
        var fired = 0;
        using var registration = svid.ChangeToken.RegisterChangeCallback(_ => fired++, null);

        owner.MarkSuperseded();
        owner.MarkSuperseded();

        Assert.Equal(1, fired);
        Assert.True(svid.IsSuperseded);
        Assert.True(svid.Certificate.HasPrivateKey);
    }

    [Fact]
    public void OwnerDispose_FiresChangeTokenAndReleasesKey()
    {
        var owner = new X509SvidOwner(_pki.IssueLeaf());
        var svid = owner.Svid;
        var fired = false;
        using var registration = svid.ChangeToken.RegisterChangeCallback(_ => fired = true, null);

        owner.Dispose();
        owner.Dispose();

        Assert.True(fired);
        Assert.True(svid.IsSuperseded);
        Assert.Equal(IntPtr.Zero, svid.Certificate.Handle);
    }

    [Fact]
    public void Constructor_CallerKeepsCertificate_SnapshotNeverDisposesIt()
    {
        using var leaf = _pki.IssueLeaf();
        var svid = new X509Svid(leaf);

        Assert.False(svid.IsSuperseded);
        Assert.Same(leaf, svid.Certificate);
        Assert.NotEqual(IntPtr.Zero, leaf.Handle);
    }

    public void Dispose() => _pki.Dispose();
}
