using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Time.Testing;

namespace AgentIdentity.Testing;

/// <summary>The test PKI's development CA for td.example with its revocation signer and an in-memory registry, on a fake clock.</summary>
public sealed class RevocationTestPki : IDisposable
{
    public static readonly TrustDomain Td = TrustDomain.Parse("td.example");

    private readonly TestPki _pki;

    public RevocationTestPki(DevelopmentCertificateAuthorityOptions? options = null)
    {
        _pki = new TestPki(Td.Name, Time, options);
        Signer = Ca.CreateRevocationSigner();
        Registry = new InMemoryRevocationRegistry(Signer, timeProvider: Time);
        Verifier = new RevocationFeedVerifier(Signer.Certificate, Td);
    }

    public FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 11, 28, 10, 0, 0, TimeSpan.Zero));

    public DevelopmentCertificateAuthority Ca => _pki.Ca;

    public RevocationSigner Signer { get; }

    public InMemoryRevocationRegistry Registry { get; }

    public RevocationFeedVerifier Verifier { get; }

    /// <summary>Issues a certificate from the CA and records it in the registry.</summary>
    public async Task<X509Certificate2> IssueAsync(string id)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var issuer = new RevocationAwareIssuer(Ca, Registry);
        var spiffeId = SpiffeId.Parse(id);
        var issuance = await issuer.IssueAsync(new X509SvidRequest(spiffeId, TestPki.Csr(spiffeId, key), TimeSpan.FromHours(1)));
        return issuance.Certificate;
    }

    public void Dispose()
    {
        Verifier.Dispose();
        _pki.Dispose();
    }
}
