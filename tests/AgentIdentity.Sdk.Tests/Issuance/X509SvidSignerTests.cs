using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Time.Testing;

namespace AgentIdentity.Tests.Issuance;

public sealed class X509SvidSignerTests
{
    private static readonly TrustDomain Domain = TrustDomain.Parse("example.org");
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));

    private (X509SvidSigner Signer, X509Certificate2 Root) CreateSigner(X509SvidSignerOptions? options = null)
    {
        var now = _time.GetUtcNow();
        using var rootKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var root = X509SvidSigner.CreateRootCertificate(Domain, "CN=Test Root", rootKey, now.AddMinutes(-1), now.AddDays(1));
        using var intermediateKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var intermediate = X509SvidSigner.CreateIntermediateCertificate(Domain, "CN=Test Intermediate", intermediateKey, root, now.AddMinutes(-1), now.AddDays(2));
        var bundle = new TrustBundle(Domain, [X509CertificateLoader.LoadCertificate(root.RawData)]);
        return (new X509SvidSigner(intermediate, [intermediate], bundle, options, _time), root);
    }

    [Fact]
    public void Issue_ValidRequest_ChainsToTheRootAndIsCappedByTheIntermediate()
    {
        var (signer, root) = CreateSigner(new X509SvidSignerOptions { MaxSvidLifetime = TimeSpan.FromDays(30) });
        using (signer)
        using (root)
        {
            using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var id = SpiffeId.Parse("spiffe://example.org/agent/a/1");
            var issuance = signer.Issue(new X509SvidRequest(id, TestPki.Csr(id, key), TimeSpan.FromDays(30)));
            var result = X509SvidValidator.Validate(issuance.Certificate, issuance.Intermediates, signer.Bundle, _time.GetUtcNow());
            Assert.True(result.IsValid, result.Reason);
            Assert.Equal(id, result.Id);
            Assert.Equal(root.NotAfter, issuance.Certificate.NotAfter); // the intermediate was shortened to the root; the leaf to the intermediate
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Issue_CsrWithExtraSan_IsRefusedOnlyWhenConfigured(bool reject)
    {
        var (signer, root) = CreateSigner(new X509SvidSignerOptions { RejectExtraSubjectAlternativeNames = reject });
        using (signer)
        using (root)
        {
            using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var id = SpiffeId.Parse("spiffe://example.org/agent/a/1");
            var request = new X509SvidRequest(id, TestPki.Csr(id, key, "evil.example.com"), TimeSpan.FromHours(1));
            if (reject)
            {
                var ex = Assert.Throws<CertificateIssuanceException>(() => signer.Issue(request));
                Assert.Contains("more than the one requested SPIFFE ID", ex.Message, StringComparison.Ordinal);
            }
            else
            {
                using var issued = signer.Issue(request).Certificate;
                Assert.DoesNotContain("evil.example.com", issued.GetNameInfo(X509NameType.DnsName, false), StringComparison.Ordinal);
            }
        }
    }

    [Fact]
    public void Constructor_CertificateWithoutPrivateKey_Throws()
    {
        var (signer, root) = CreateSigner();
        using (signer)
        using (root)
        {
            using var publicOnly = X509CertificateLoader.LoadCertificate(root.RawData);
            var ex = Assert.Throws<ArgumentException>(() => new X509SvidSigner(publicOnly, [], signer.Bundle));
            Assert.Contains("no ECDSA private key", ex.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Issue_AfterSigningCaExpiry_IsRefused()
    {
        var (signer, root) = CreateSigner();
        using (signer)
        using (root)
        {
            _time.Advance(TimeSpan.FromDays(3));
            using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var id = SpiffeId.Parse("spiffe://example.org/agent/a/1");
            var ex = Assert.Throws<CertificateIssuanceException>(() => signer.Issue(new X509SvidRequest(id, TestPki.Csr(id, key), TimeSpan.FromHours(1))));
            Assert.Contains("signing CA expired", ex.Message, StringComparison.Ordinal);
        }
    }
}
