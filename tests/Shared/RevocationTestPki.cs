using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Time.Testing;

namespace AgentIdentity.Tests.Revocation;

/// <summary>A development CA with its revocation signer and an in-memory registry, on a fake clock.</summary>
internal sealed class RevocationTestPki : IDisposable
{
    public static readonly TrustDomain Td = TrustDomain.Parse("td.example");

    public RevocationTestPki(DevelopmentCertificateAuthorityOptions? options = null)
    {
        Ca = DevelopmentCertificateAuthority.Create(Td, options, Time);
        Signer = Ca.CreateRevocationSigner();
        Registry = new InMemoryRevocationRegistry(Signer, timeProvider: Time);
        Verifier = new RevocationFeedVerifier(Signer.Certificate, Td);
    }

    public FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 11, 28, 10, 0, 0, TimeSpan.Zero));

    public DevelopmentCertificateAuthority Ca { get; }

    public RevocationSigner Signer { get; }

    public InMemoryRevocationRegistry Registry { get; }

    public RevocationFeedVerifier Verifier { get; }

    /// <summary>Issues a certificate from the CA and records it in the registry.</summary>
    public async Task<X509Certificate2> IssueAsync(string id)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName(string.Empty), key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddUri(new Uri(id));
        request.CertificateExtensions.Add(san.Build(critical: true));
        var issuer = new RevocationAwareIssuer(Ca, Registry);
        var issuance = await issuer.IssueAsync(new X509SvidRequest(SpiffeId.Parse(id), request.CreateSigningRequest(), TimeSpan.FromHours(1)));
        return issuance.Certificate;
    }

    public void Dispose()
    {
        Verifier.Dispose();
        Ca.Dispose();
    }
}
