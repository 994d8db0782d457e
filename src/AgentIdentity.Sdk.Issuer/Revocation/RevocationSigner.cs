using System.Numerics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace AgentIdentity;

/// <summary>
/// The issuer's revocation key: the CA certificate (with its ECDSA private key) that signed the SVIDs. It signs feed entries,
/// CRLs and OCSP responses. The private key stays in the <see cref="X509Certificate2"/> it came in; it is never exported.
/// </summary>
/// <remarks>Thread-safe. It does not own the certificate: dispose that yourself after the signer's last use.</remarks>
public sealed class RevocationSigner
{
    private readonly X509Certificate2 _issuer;
    private readonly ECDsa _key;

    /// <summary>Initializes a new instance of the <see cref="RevocationSigner"/> class.</summary>
    /// <param name="issuer">The CA certificate that issues SVIDs, with its ECDSA private key.</param>
    /// <param name="trustDomain">The trust domain the CA issues for.</param>
    /// <exception cref="ArgumentException">The certificate has no ECDSA private key or is not a CA that may sign CRLs.</exception>
    public RevocationSigner(X509Certificate2 issuer, TrustDomain trustDomain)
    {
        ArgumentNullException.ThrowIfNull(issuer);
        if (trustDomain.IsEmpty)
        {
            throw new ArgumentException("The trust domain is empty.", nameof(trustDomain));
        }

        _key = issuer.GetECDsaPrivateKey()
            ?? throw new ArgumentException($"The revocation signer '{issuer.Subject}' needs its ECDSA private key; load the CA certificate with its key.", nameof(issuer));
        var usage = issuer.Extensions.OfType<X509KeyUsageExtension>().FirstOrDefault();
        var constraints = issuer.Extensions.OfType<X509BasicConstraintsExtension>().FirstOrDefault();
        if (constraints is not { CertificateAuthority: true } || (usage is not null && (usage.KeyUsages & X509KeyUsageFlags.CrlSign) == 0))
        {
            _key.Dispose();
            throw new ArgumentException($"The revocation signer '{issuer.Subject}' must be the CA certificate that issues the SVIDs (cA=true, keyUsage cRLSign).", nameof(issuer));
        }

        _issuer = issuer;
        TrustDomain = trustDomain;
        Certificate = X509CertificateLoader.LoadCertificate(issuer.RawData);
    }

    /// <summary>Gets the trust domain the signer speaks for.</summary>
    public TrustDomain TrustDomain { get; }

    /// <summary>Gets the signer certificate (public part): give it to subscribers as their feed-signer certificate.</summary>
    public X509Certificate2 Certificate { get; }

    internal X509Certificate2 IssuerWithKey => _issuer;

    internal ECDsa Key => _key;

    /// <summary>A version 1 entry (no log ID), for tests and benchmarks of readers.</summary>
    internal RevocationEntry CreateEntry(long sequence, RevocationKind kind, string? serialNumber, SpiffeId id, DateTimeOffset revokedAt, X509RevocationReason reason) =>
        RevocationEntry.Create(TrustDomain, sequence, kind, serialNumber, id, revokedAt, reason, _key);

    internal RevocationEntry CreateEntry(ReadOnlySpan<byte> logId, long sequence, RevocationKind kind, string? serialNumber, SpiffeId id, DateTimeOffset revokedAt, X509RevocationReason reason) =>
        RevocationEntry.Create(TrustDomain, logId, sequence, kind, serialNumber, id, revokedAt, reason, _key);

    internal byte[] Sign(ReadOnlySpan<byte> data) => _key.SignData(data, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);

    internal byte[] BuildCrl(IEnumerable<(string Serial, DateTimeOffset RevokedAt, X509RevocationReason Reason)> entries, BigInteger crlNumber, DateTimeOffset thisUpdate, DateTimeOffset nextUpdate)
    {
        var builder = new CertificateRevocationListBuilder();
        foreach (var (serial, revokedAt, reason) in entries)
        {
            builder.AddEntry(Convert.FromHexString(serial), revokedAt, reason);
        }

        return builder.Build(_issuer, crlNumber, nextUpdate, HashAlgorithmName.SHA256, thisUpdate: thisUpdate);
    }
}
