using System.Security.Cryptography.X509Certificates;

namespace AgentIdentity.Tests.X509;

public sealed class X509SvidValidatorTests : IDisposable
{
    private static readonly DateTimeOffset Now = new(2026, 11, 28, 12, 0, 0, TimeSpan.Zero);
    private readonly TestPki _pki = TestPki.Create("example.org", Now);

    private X509SvidValidationResult Validate(X509Certificate2 leaf, ITrustBundleSource? bundles = null, DateTimeOffset? at = null, TimeSpan skew = default) =>
        X509SvidValidator.Validate(leaf, [_pki.Intermediate], bundles ?? _pki.Bundle, at ?? Now, new X509SvidValidationOptions { ClockSkew = skew });

    [Fact]
    public void Validate_WellFormedSvid_ReturnsIdAndVerifiedChain()
    {
        using var leaf = _pki.IssueLeaf();

        var result = Validate(leaf);

        Assert.True(result.IsValid, result.Reason);
        Assert.Equal("spiffe://example.org/agent/test/1", result.Id.ToString());
        Assert.Equal(3, result.VerifiedChain.Count);
        Assert.Equal(_pki.Root.Thumbprint, result.VerifiedChain[^1].Thumbprint);
        Assert.Equal(result.Id, result.ThrowIfInvalid());
    }

    [Fact]
    public void Validate_BundleHoldsOnlyTheIntermediate_NonSelfSignedAnchorIsAccepted()
    {
        // SPIFFE bundles are sets of trust anchors; go-spiffe and SPIRE accept any bundle certificate as one, self-signed or not
        // (issue 18, defect 16). The chain stops at the anchor: its own issuer is neither needed nor checked.
        using var leaf = _pki.IssueLeaf();
        var bundle = new TrustBundle(_pki.TrustDomain, [TestPki.Public(_pki.Intermediate)]);

        var result = X509SvidValidator.Validate(leaf, [], bundle, Now);

        Assert.True(result.IsValid, result.Reason);
        Assert.Equal(2, result.VerifiedChain.Count);
        Assert.Equal(_pki.Intermediate.Thumbprint, result.VerifiedChain[^1].Thumbprint);
    }

    [Fact]
    public void Validate_NonSelfSignedAnchor_LeafOfAnotherCaWithTheSameNames_IsRejected()
    {
        // Another CA of the same trust domain and the same subject names: the leaf names the anchor as issuer, but the
        // signature is not the anchor's, so the partial chain is not accepted.
        using var other = TestPki.Create("example.org", Now);
        using var forged = other.IssueLeaf();
        var bundle = new TrustBundle(_pki.TrustDomain, [TestPki.Public(_pki.Intermediate)]);

        var result = X509SvidValidator.Validate(forged, [], bundle, Now);

        Assert.False(result.IsValid);
        Assert.Equal(X509SvidValidationError.UntrustedChain, result.Error);
    }

    [Fact]
    public void Validate_KeyUsageWithKeyCertSign_IsRejected()
    {
        using var leaf = _pki.IssueLeaf(s => s.KeyUsage = X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyCertSign);
        AssertRejected(Validate(leaf), X509SvidValidationError.InvalidKeyUsage, "keyCertSign");
    }

    [Fact]
    public void Validate_KeyUsageWithoutDigitalSignature_IsRejected()
    {
        using var leaf = _pki.IssueLeaf(s => s.KeyUsage = X509KeyUsageFlags.KeyEncipherment);
        AssertRejected(Validate(leaf), X509SvidValidationError.InvalidKeyUsage, "digitalSignature");
    }

    [Fact]
    public void Validate_KeyUsageNotCritical_IsRejected()
    {
        using var leaf = _pki.IssueLeaf(s => s.KeyUsageCritical = false);
        AssertRejected(Validate(leaf), X509SvidValidationError.InvalidKeyUsage, "not critical");
    }

    [Fact]
    public void Validate_MissingKeyUsage_IsRejected()
    {
        using var leaf = _pki.IssueLeaf(s => s.KeyUsage = null);
        AssertRejected(Validate(leaf), X509SvidValidationError.InvalidKeyUsage, "no key usage");
    }

    [Fact]
    public void Validate_ExtendedKeyUsageWithoutClientAuth_IsRejected()
    {
        using var leaf = _pki.IssueLeaf(s => s.ExtendedKeyUsages = ["1.3.6.1.5.5.7.3.1"]);
        AssertRejected(Validate(leaf), X509SvidValidationError.InvalidExtendedKeyUsage, "clientAuth");
    }

    [Fact]
    public void Validate_NoExtendedKeyUsage_IsAccepted()
    {
        using var leaf = _pki.IssueLeaf(s => s.ExtendedKeyUsages = null);
        Assert.True(Validate(leaf).IsValid);
    }

    [Fact]
    public void Validate_CaCertificateAsLeaf_IsRejected()
    {
        using var leaf = _pki.IssueLeaf(s =>
        {
            s.IsCertificateAuthority = true;
            s.KeyUsage = X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.DigitalSignature;
        });
        AssertRejected(Validate(leaf), X509SvidValidationError.LeafIsCertificateAuthority, "CA certificate");
    }

    [Fact]
    public void Validate_IntermediatePresentedAsLeaf_IsRejected() =>
        AssertRejected(Validate(_pki.Intermediate), X509SvidValidationError.MissingUriSan, "no URI SAN");

    [Fact]
    public void Validate_TwoUriSans_IsRejected()
    {
        using var leaf = _pki.IssueLeaf(s => s.Uris.Add("spiffe://example.org/agent/other/2"));
        AssertRejected(Validate(leaf), X509SvidValidationError.MultipleUriSans, "2 URI SANs");
    }

    [Fact]
    public void Validate_NoUriSan_IsRejected()
    {
        using var leaf = _pki.IssueLeaf(s =>
        {
            s.Uris.Clear();
            s.DnsNames.Add("agent.example.org");
        });
        AssertRejected(Validate(leaf), X509SvidValidationError.MissingUriSan, "no URI SAN");
    }

    [Fact]
    public void Validate_UriSanNotSpiffe_IsRejected()
    {
        using var leaf = _pki.IssueLeaf(s =>
        {
            s.Uris.Clear();
            s.Uris.Add("https://example.org/agent");
        });
        AssertRejected(Validate(leaf), X509SvidValidationError.InvalidSpiffeId, "scheme");
    }

    [Fact]
    public void Validate_IdWithoutPath_IsRejected()
    {
        using var leaf = _pki.IssueLeaf(s =>
        {
            s.Uris.Clear();
            s.Uris.Add("spiffe://example.org");
        });
        AssertRejected(Validate(leaf), X509SvidValidationError.MissingIdPath, "no path");
    }

    [Fact]
    public void Validate_EmptySubjectWithNonCriticalSan_IsRejected()
    {
        using var leaf = _pki.IssueLeaf(s => s.SanCritical = false);
        AssertRejected(Validate(leaf), X509SvidValidationError.SanNotCritical, "not critical");
    }

    [Fact]
    public void Validate_LeafOutsideNameConstraints_IsRejected()
    {
        // A CA constrained to example.org signs a leaf for another trust domain; the bundle of that domain trusts the same root.
        using var leaf = _pki.IssueLeaf(s =>
        {
            s.Uris.Clear();
            s.Uris.Add("spiffe://evil.org/agent/x/1");
        });
        var evilBundle = new TrustBundle(TrustDomain.Parse("evil.org"), [X509CertificateLoader.LoadCertificate(_pki.Root.RawData)]);

        AssertRejected(Validate(leaf, evilBundle), X509SvidValidationError.NameConstraintViolation, "permits only URIs with host 'example.org'");
    }

    [Fact]
    public void Validate_SubdomainConstraint_MatchesOnlySubdomains()
    {
        using var pki = TestPki.Create("prod.example.org", Now, constrainTo: ".example.org");
        using var leaf = pki.IssueLeaf();
        Assert.True(X509SvidValidator.Validate(leaf, [pki.Intermediate], pki.Bundle, Now).IsValid);

        using var apex = TestPki.Create("example.org", Now, constrainTo: ".example.org");
        using var apexLeaf = apex.IssueLeaf();
        AssertRejected(X509SvidValidator.Validate(apexLeaf, [apex.Intermediate], apex.Bundle, Now), X509SvidValidationError.NameConstraintViolation, "example.org");
    }

    [Fact]
    public void Validate_Expired_IsRejected()
    {
        using var leaf = _pki.IssueLeaf(s =>
        {
            s.NotBefore = Now.AddHours(-2);
            s.NotAfter = Now.AddMinutes(-1);
        });
        AssertRejected(Validate(leaf), X509SvidValidationError.Expired, "expired at");
        Assert.True(Validate(leaf, skew: TimeSpan.FromMinutes(2)).IsValid);
    }

    [Fact]
    public void Validate_NotYetValidBeyondSkew_IsRejected()
    {
        using var leaf = _pki.IssueLeaf(s =>
        {
            s.NotBefore = Now.AddMinutes(5);
            s.NotAfter = Now.AddHours(1);
        });
        AssertRejected(Validate(leaf, skew: TimeSpan.FromMinutes(1)), X509SvidValidationError.NotYetValid, "not valid until");
        Assert.True(Validate(leaf, skew: TimeSpan.FromMinutes(6)).IsValid);
    }

    [Fact]
    public void Validate_WrongTrustDomain_HasNoBundle()
    {
        using var other = TestPki.Create("other.org", Now);
        using var leaf = other.IssueLeaf();
        var result = X509SvidValidator.Validate(leaf, [other.Intermediate], _pki.Bundle, Now);
        AssertRejected(result, X509SvidValidationError.UnknownTrustDomain, "no trust bundle is configured for trust domain 'other.org'");
    }

    [Fact]
    public void Validate_ChainToAnotherRoot_IsUntrusted()
    {
        // Same trust domain name, different CA: a bundle is per trust domain and never merged.
        using var impostor = TestPki.Create("example.org", Now);
        using var leaf = impostor.IssueLeaf();
        var result = X509SvidValidator.Validate(leaf, [impostor.Intermediate], _pki.Bundle, Now);
        AssertRejected(result, X509SvidValidationError.UntrustedChain, "does not lead to an X.509 authority");
    }

    [Fact]
    public void Validate_MissingIntermediate_IsUntrusted()
    {
        using var leaf = _pki.IssueLeaf();
        AssertRejected(X509SvidValidator.Validate(leaf, [], _pki.Bundle, Now), X509SvidValidationError.UntrustedChain, "example.org");
    }

    [Fact]
    public void Validate_TrustBundleSet_SelectsBundleByTrustDomain()
    {
        using var other = TestPki.Create("other.org", Now);
        using var leaf = other.IssueLeaf();
        var set = new TrustBundleSet([_pki.Bundle, other.Bundle]);
        Assert.True(X509SvidValidator.Validate(leaf, [other.Intermediate], set, Now).IsValid);
        Assert.Throws<ArgumentException>(() => new TrustBundleSet([_pki.Bundle, _pki.Bundle]));
    }

    [Fact]
    public void ThrowIfInvalid_Invalid_ThrowsWithError()
    {
        using var leaf = _pki.IssueLeaf(s => s.SanCritical = false);
        var ex = Assert.Throws<X509SvidValidationException>(() => Validate(leaf).ThrowIfInvalid());
        Assert.Equal(X509SvidValidationError.SanNotCritical, ex.Error);
    }

    private static void AssertRejected(X509SvidValidationResult result, X509SvidValidationError error, string reasonFragment)
    {
        Assert.False(result.IsValid);
        Assert.Equal(error, result.Error);
        Assert.Contains(reasonFragment, result.Reason, StringComparison.Ordinal);
        Assert.Empty(result.VerifiedChain);
        Assert.Throws<X509SvidValidationException>(() => result.ThrowIfInvalid());
    }

    public void Dispose() => _pki.Dispose();
}
