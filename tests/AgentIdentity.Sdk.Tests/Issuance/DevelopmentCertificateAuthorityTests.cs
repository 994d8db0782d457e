using System.Diagnostics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Time.Testing;

namespace AgentIdentity.Tests.Issuance;

public sealed class DevelopmentCertificateAuthorityTests : IDisposable
{
    private static readonly DateTimeOffset Start = new(2026, 11, 28, 12, 0, 0, TimeSpan.Zero);
    private readonly FakeTimeProvider _time = new(Start);
    private readonly FakeLogger _logger = new();
    private readonly DevelopmentCertificateAuthority _ca;
    private readonly SpiffeId _id = SpiffeId.Parse("spiffe://example.org/agent/planner/abc");

    public DevelopmentCertificateAuthorityTests() =>
        _ca = DevelopmentCertificateAuthority.Create(TrustDomain.Parse("example.org"), timeProvider: _time, logger: _logger);

    [Fact]
    public void Create_LogsLoudWarning()
    {
        var record = Assert.Single(_logger.Collector.GetSnapshot());
        Assert.Equal(LogLevel.Warning, record.Level);
        Assert.Contains("DEVELOPMENT CERTIFICATE AUTHORITY", record.Message, StringComparison.Ordinal);
        Assert.Contains("must not be used in production", record.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void CaCertificates_UriSan_IsTheTrustDomainIdWithoutTrailingSlash()
    {
        // The SPIFFE ID of a trust domain is spiffe://example.org: System.Uri would write spiffe://example.org/, which the SDK's
        // own parser (and the spec) rejects.
        using var rootKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var intermediateKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var root = X509SvidSigner.CreateRootCertificate(_ca.TrustDomain, "CN=root", rootKey, Start, Start.AddDays(1));
        using var intermediate = X509SvidSigner.CreateIntermediateCertificate(_ca.TrustDomain, "CN=intermediate", intermediateKey, root, Start, Start.AddDays(1));

        foreach (var certificate in new[] { _ca.RootCertificate, _ca.IntermediateCertificate, root, intermediate })
        {
            var uri = Assert.Single(CertificateExtensions.ReadUriSans(certificate, out _)!);
            Assert.Equal("spiffe://example.org", uri);
            Assert.True(SpiffeId.TryParse(uri, out var id) && id.IsTrustDomainId, uri);
        }
    }

    [Fact]
    public void Issue_FromCsr_ProducesValidSvidWithSpiffeProfile()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var issuance = _ca.Issue(new X509SvidRequest(_id, SvidKeys.CreateSigningRequest(_id, key), TimeSpan.FromHours(1)));
        var leaf = issuance.Certificate;

        Assert.Equal(Start - TimeSpan.FromSeconds(30), new DateTimeOffset(leaf.NotBefore.ToUniversalTime()));
        Assert.Equal(Start + TimeSpan.FromHours(1), new DateTimeOffset(leaf.NotAfter.ToUniversalTime()));
        Assert.Empty(leaf.SubjectName.Name);
        var san = leaf.Extensions["2.5.29.17"]!;
        Assert.True(san.Critical);
        var usage = Assert.IsType<X509KeyUsageExtension>(leaf.Extensions["2.5.29.15"]);
        Assert.True(usage.Critical);
        Assert.Equal(X509KeyUsageFlags.DigitalSignature, usage.KeyUsages);
        Assert.False(Assert.IsType<X509BasicConstraintsExtension>(leaf.Extensions["2.5.29.19"]).CertificateAuthority);
        Assert.Equal(key.ExportSubjectPublicKeyInfo(), leaf.PublicKey.ExportSubjectPublicKeyInfo());

        var result = X509SvidValidator.Validate(leaf, issuance.Intermediates, issuance.Bundle, _time.GetUtcNow());
        Assert.True(result.IsValid, result.Reason);
        Assert.Equal(_id, result.Id);
    }

    [Fact]
    public void Issue_LifetimeOverMaximum_IsShortened()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var issuance = _ca.Issue(new X509SvidRequest(_id, SvidKeys.CreateSigningRequest(_id, key), TimeSpan.FromDays(3)));
        Assert.Equal(Start + TimeSpan.FromHours(24), new DateTimeOffset(issuance.Certificate.NotAfter.ToUniversalTime()));
    }

    [Fact]
    public void Issue_ForeignTrustDomain_IsRefused()
    {
        var foreign = SpiffeId.Parse("spiffe://evil.org/agent/x/1");
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var ex = Assert.Throws<CertificateIssuanceException>(() => _ca.Issue(new X509SvidRequest(foreign, SvidKeys.CreateSigningRequest(foreign, key), TimeSpan.FromHours(1))));
        Assert.Contains("constrained to trust domain 'example.org'", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Issue_CsrNamingAnotherIdentity_IsRefused()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var csr = SvidKeys.CreateSigningRequest(SpiffeId.Parse("spiffe://example.org/agent/admin/1"), key);
        var ex = Assert.Throws<CertificateIssuanceException>(() => _ca.Issue(new X509SvidRequest(_id, csr, TimeSpan.FromHours(1))));
        Assert.Contains("ask for a different identity", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Issue_GarbageCsr_IsRefusedWithReason()
    {
        var ex = Assert.Throws<CertificateIssuanceException>(() => _ca.Issue(new X509SvidRequest(_id, new byte[] { 0x30, 0x03, 0x02, 0x01, 0x00 }, TimeSpan.FromHours(1))));
        Assert.Contains("not a valid DER PKCS#10 request", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Issue_CsrWithBrokenSignature_IsRefused()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var csr = SvidKeys.CreateSigningRequest(_id, key);
        csr[^3] ^= 0x55; // flip bits inside the signature
        var ex = Assert.Throws<CertificateIssuanceException>(() => _ca.Issue(new X509SvidRequest(_id, csr, TimeSpan.FromHours(1))));
        Assert.Contains("Cannot issue", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Issue_CsrWithTrailingData_IsRefused()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var csr = SvidKeys.CreateSigningRequest(_id, key).Concat(new byte[] { 0, 0 }).ToArray();
        var ex = Assert.Throws<CertificateIssuanceException>(() => _ca.Issue(new X509SvidRequest(_id, csr, TimeSpan.FromHours(1))));
        Assert.Contains("trailing data", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Issue_CsrWhosePublicKeyInfoHasNoKey_IsRefusedWithTheDocumentedException()
    {
        // Was AsnContentException, an HTTP 500 at the issuer (issue 18, defect 10).
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var csr = TestPki.CsrWithPublicKeyInfo(_id, key, TestPki.MalformedPublicKeyInfos(key).WithoutKey);
        var ex = Assert.Throws<CertificateIssuanceException>(() => _ca.Issue(new X509SvidRequest(_id, csr, TimeSpan.FromHours(1))));
        Assert.Contains("the CSR's public key cannot be decoded", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Issue_CsrWhosePublicKeyInfoHasTrailingData_IsRefusedNotCopiedIntoTheCertificate()
    {
        // The self-signature covers the extra data, so it verifies: only a strict read of the key keeps it out of the certificate.
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var csr = TestPki.CsrWithPublicKeyInfo(_id, key, TestPki.MalformedPublicKeyInfos(key).WithTrailingData);
        var ex = Assert.Throws<CertificateIssuanceException>(() => _ca.Issue(new X509SvidRequest(_id, csr, TimeSpan.FromHours(1))));
        Assert.Contains("has data after its key", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Issue_CsrBuiltByTheTestHelperWithAWellFormedKey_IsIssued()
    {
        // The control for the two tests above: the hand-built CSR is accepted when its key is well formed.
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var csr = TestPki.CsrWithPublicKeyInfo(_id, key, key.ExportSubjectPublicKeyInfo());
        var issuance = _ca.Issue(new X509SvidRequest(_id, csr, TimeSpan.FromHours(1)));
        using var certificate = issuance.Certificate;
        Assert.Equal(key.ExportSubjectPublicKeyInfo(), certificate.PublicKey.ExportSubjectPublicKeyInfo());
    }

    [Fact]
    public void Issue_WeakRsaKey_IsRefused()
    {
        using var rsa = RSA.Create(1024);
        var request = new CertificateRequest(new X500DistinguishedName(""), rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var ex = Assert.Throws<CertificateIssuanceException>(() => _ca.Issue(new X509SvidRequest(_id, request.CreateSigningRequest(), TimeSpan.FromHours(1))));
        Assert.Contains("2048 bits", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Issue_UnsupportedCurve_IsRefused()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP521);
        var ex = Assert.Throws<CertificateIssuanceException>(() => _ca.Issue(new X509SvidRequest(_id, SvidKeys.CreateSigningRequest(_id, key), TimeSpan.FromHours(1))));
        Assert.Contains("P-256 or P-384", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(KeyAlgorithm.EcdsaP384)]
    [InlineData(KeyAlgorithm.Rsa2048)]
    public void Issue_OtherSupportedKeyTypes_ProduceValidSvids(KeyAlgorithm algorithm)
    {
        using var key = SvidKeys.Generate(algorithm);
        var issuance = _ca.Issue(new X509SvidRequest(_id, SvidKeys.CreateSigningRequest(_id, key), TimeSpan.FromHours(1)));
        Assert.True(X509SvidValidator.Validate(issuance.Certificate, issuance.Intermediates, issuance.Bundle, _time.GetUtcNow()).IsValid);
        Assert.Equal(key.ExportSubjectPublicKeyInfo(), issuance.Certificate.PublicKey.ExportSubjectPublicKeyInfo());
    }

    [Fact]
    public void Issue_DnsNames_AreAddedBesideTheSpiffeId()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var issuance = _ca.Issue(new X509SvidRequest(_id, SvidKeys.CreateSigningRequest(_id, key), TimeSpan.FromHours(1)) { DnsNames = ["svc.example.org"] });
        var san = Assert.IsType<X509SubjectAlternativeNameExtension>(issuance.Certificate.Extensions["2.5.29.17"]);
        Assert.Equal(["svc.example.org"], san.EnumerateDnsNames());
        Assert.Equal(_id, X509SvidValidator.Validate(issuance.Certificate, issuance.Intermediates, issuance.Bundle, _time.GetUtcNow()).Id);
    }

    [Fact]
    public void Issue_TrustDomainId_IsRefused()
    {
        var td = SpiffeId.Parse("spiffe://example.org");
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        Assert.Contains("needs a SPIFFE ID with a path", Assert.Throws<CertificateIssuanceException>(
            () => _ca.Issue(new X509SvidRequest(td, SvidKeys.CreateSigningRequest(_id, key), TimeSpan.FromHours(1)))).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Issue_AfterCaExpiry_IsRefused()
    {
        _time.Advance(TimeSpan.FromDays(31));
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        Assert.Contains("development CA expired", Assert.Throws<CertificateIssuanceException>(
            () => _ca.Issue(new X509SvidRequest(_id, SvidKeys.CreateSigningRequest(_id, key), TimeSpan.FromHours(1)))).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Certificates_CaAreNameConstrainedAndBundleHoldsRoot()
    {
        foreach (var ca in new[] { _ca.RootCertificate, _ca.IntermediateCertificate })
        {
            var constraints = ca.Extensions["2.5.29.30"];
            Assert.NotNull(constraints);
            Assert.True(constraints.Critical);
            Assert.True(CertificateExtensions.TryReadUriNameConstraints(constraints, out var permitted, out var excluded));
            Assert.Equal(["example.org"], permitted);
            Assert.Empty(excluded);
        }

        Assert.Equal(_ca.RootCertificate.RawData, Assert.Single(_ca.Bundle.X509Authorities).RawData);
        Assert.False(_ca.RootCertificate.HasPrivateKey);
        Assert.False(_ca.IntermediateCertificate.HasPrivateKey);
    }

    /// <summary>A real peer: OpenSSL 3 accepts the SVID with -x509_strict and enforces the name constraint itself.</summary>
    [Fact]
    public async Task OpenSsl_VerifiesIssuedSvidStrictly()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var issuance = _time.GetUtcNow() is var now ? _ca.Issue(new X509SvidRequest(_id, SvidKeys.CreateSigningRequest(_id, key), TimeSpan.FromHours(1))) : null!;
        var dir = Directory.CreateTempSubdirectory("agentid-openssl-");
        try
        {
            await File.WriteAllTextAsync(Path.Combine(dir.FullName, "root.pem"), _ca.RootCertificate.ExportCertificatePem());
            await File.WriteAllTextAsync(Path.Combine(dir.FullName, "intermediate.pem"), _ca.IntermediateCertificate.ExportCertificatePem());
            await File.WriteAllTextAsync(Path.Combine(dir.FullName, "leaf.pem"), issuance.Certificate.ExportCertificatePem());

            var attime = now.ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture);
            var (code, output) = await RunAsync("openssl", $"verify -x509_strict -attime {attime} -purpose sslclient -CAfile root.pem -untrusted intermediate.pem leaf.pem", dir.FullName);
            Assert.True(code == 0, output);
            Assert.Contains("leaf.pem: OK", output, StringComparison.Ordinal);

            // A leaf for another trust domain under a CA constrained to example.org: OpenSSL rejects it too.
            using var pki = TestPki.Create("example.org", now);
            using var evil = pki.IssueLeaf(s => { s.Uris.Clear(); s.Uris.Add("spiffe://evil.org/agent/x/1"); });
            await File.WriteAllTextAsync(Path.Combine(dir.FullName, "root2.pem"), pki.Root.ExportCertificatePem());
            await File.WriteAllTextAsync(Path.Combine(dir.FullName, "int2.pem"), pki.Intermediate.ExportCertificatePem());
            await File.WriteAllTextAsync(Path.Combine(dir.FullName, "evil.pem"), evil.ExportCertificatePem());
            (code, output) = await RunAsync("openssl", $"verify -x509_strict -attime {attime} -CAfile root2.pem -untrusted int2.pem evil.pem", dir.FullName);
            Assert.NotEqual(0, code);
            Assert.Contains("permitted subtree violation", output, StringComparison.Ordinal);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    internal static async Task<(int Code, string Output)> RunAsync(string file, string arguments, string workingDirectory)
    {
        using var process = Process.Start(new ProcessStartInfo(file, arguments)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        return (process.ExitCode, await stdout + await stderr);
    }

    public void Dispose() => _ca.Dispose();
}
