using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Time.Testing;

namespace AgentIdentity.IntegrationTests.Infrastructure;

/// <summary>A development CA on a fake clock (started at the real time), and helpers to issue server certificates from it.</summary>
internal sealed class TestPki : IDisposable
{
    public TestPki(string trustDomain = "example.org", FakeTimeProvider? time = null)
    {
        Time = time ?? new FakeTimeProvider(DateTimeOffset.UtcNow);
        Ca = DevelopmentCertificateAuthority.Create(TrustDomain.Parse(trustDomain), new DevelopmentCertificateAuthorityOptions { CertificateAuthorityLifetime = TimeSpan.FromDays(30), MaxSvidLifetime = TimeSpan.FromDays(2) }, Time);
    }

    public FakeTimeProvider Time { get; }

    public DevelopmentCertificateAuthority Ca { get; }

    public TrustDomain TrustDomain => Ca.TrustDomain;

    /// <summary>Issues a server X.509-SVID (with a DNS SAN for localhost) valid for two days of the fake clock.</summary>
    public (X509Certificate2 Certificate, X509Certificate2Collection Intermediates) IssueServer(string path, TimeSpan? lifetime = null)
    {
        var id = SpiffeId.Parse($"spiffe://{TrustDomain}{path}");
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(string.Empty, key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddUri(id.ToUri());
        request.CertificateExtensions.Add(san.Build(critical: true));
        var issuance = Ca.Issue(new X509SvidRequest(id, request.CreateSigningRequest(), lifetime ?? TimeSpan.FromDays(2)) { DnsNames = ["localhost"] });
        var certificate = issuance.Certificate.CopyWithPrivateKey(key);
        return (certificate, [.. issuance.Intermediates]);
    }

    public static string Sha256Hex(X509Certificate2 certificate) => Convert.ToHexStringLower(SHA256.HashData(certificate.RawData));

    public void Dispose() => Ca.Dispose();
}

/// <summary>An issuer that delegates to a real CA until told to fail: the only way to make renewal fail on demand.</summary>
internal sealed class SwitchableIssuer(IX509SvidIssuer inner) : IX509SvidIssuer
{
    public volatile bool Fail;

    public ValueTask<X509SvidIssuance> IssueAsync(X509SvidRequest request, CancellationToken cancellationToken = default) =>
        Fail ? ValueTask.FromException<X509SvidIssuance>(new CertificateIssuanceException("issuer unavailable (test)")) : inner.IssueAsync(request, cancellationToken);
}
