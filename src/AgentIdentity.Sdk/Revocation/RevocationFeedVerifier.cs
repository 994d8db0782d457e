using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace AgentIdentity;

/// <summary>
/// Verifies signed revocation feed entries against the feed-signer certificate (the CA that issues the SVIDs): strict DER,
/// ecdsa-with-SHA256 signature, and the signer's trust domain. A forged or altered entry throws and is never applied.
/// </summary>
/// <remarks>Thread-safe.</remarks>
public sealed class RevocationFeedVerifier : IDisposable
{
    private readonly ECDsa _key;

    /// <summary>Initializes a new instance of the <see cref="RevocationFeedVerifier"/> class for a configured signer certificate.</summary>
    /// <param name="signerCertificate">The feed-signer certificate: the issuer's <c>RevocationSigner.Certificate</c> (Issuer package).</param>
    /// <param name="trustDomain">The trust domain whose entries are accepted.</param>
    /// <exception cref="ArgumentException">The certificate has no ECDSA public key.</exception>
    public RevocationFeedVerifier(X509Certificate2 signerCertificate, TrustDomain trustDomain)
    {
        ArgumentNullException.ThrowIfNull(signerCertificate);
        if (trustDomain.IsEmpty)
        {
            throw new ArgumentException("The trust domain is empty.", nameof(trustDomain));
        }

        _key = signerCertificate.GetECDsaPublicKey()
            ?? throw new ArgumentException($"The feed-signer certificate '{signerCertificate.Subject}' has no ECDSA public key; revocation feeds are signed with ECDSA.", nameof(signerCertificate));
        SignerCertificate = X509CertificateLoader.LoadCertificate(signerCertificate.RawData);
        TrustDomain = trustDomain;
    }

    /// <summary>Gets the trust domain whose entries are accepted.</summary>
    public TrustDomain TrustDomain { get; }

    /// <summary>Gets the feed-signer certificate.</summary>
    public X509Certificate2 SignerCertificate { get; }

    /// <summary>
    /// Creates a verifier for a signer certificate that must chain to a root of <paramref name="bundle"/> (signature, validity,
    /// cA=true). Use it when the signer certificate comes from the network rather than from configuration.
    /// </summary>
    /// <param name="signerCertificate">The feed-signer (intermediate CA) certificate.</param>
    /// <param name="bundle">The trust bundle of the feed's trust domain.</param>
    /// <param name="now">The time to validate at.</param>
    /// <returns>The verifier.</returns>
    /// <exception cref="RevocationFeedException">The signer does not chain to the bundle or is not a CA; the message says why.</exception>
    public static RevocationFeedVerifier FromTrustBundle(X509Certificate2 signerCertificate, TrustBundle bundle, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(signerCertificate);
        ArgumentNullException.ThrowIfNull(bundle);
        if (signerCertificate.Extensions.OfType<X509BasicConstraintsExtension>().FirstOrDefault() is not { CertificateAuthority: true })
        {
            throw new RevocationFeedException($"The feed-signer certificate '{signerCertificate.Subject}' is not a CA certificate; only the CA that issues SVIDs may sign the revocation feed.");
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.DisableCertificateDownloads = true;
        chain.ChainPolicy.VerificationTime = now.UtcDateTime;
        foreach (var root in bundle.X509Authorities)
        {
            chain.ChainPolicy.CustomTrustStore.Add(root);
        }

        if (!chain.Build(signerCertificate))
        {
            var status = string.Join(", ", chain.ChainStatus.Select(s => s.Status));
            throw new RevocationFeedException($"The feed-signer certificate '{signerCertificate.Subject}' does not chain to the trust bundle of '{bundle.TrustDomain}' ({status}).");
        }

        return new RevocationFeedVerifier(signerCertificate, bundle.TrustDomain);
    }

    /// <summary>Parses and verifies one signed entry.</summary>
    /// <param name="encoded">The DER entry (<see cref="RevocationEntry.GetEncoded"/>).</param>
    /// <returns>The verified entry.</returns>
    /// <exception cref="RevocationFeedException">The entry is malformed, its signature does not verify with the signer's key, or it
    /// belongs to another trust domain.</exception>
    public RevocationEntry Verify(ReadOnlySpan<byte> encoded)
    {
        var entry = RevocationEntry.Decode(encoded, out var tbs, out var signature);
        bool valid;
        try
        {
            valid = _key.VerifyData(tbs, signature, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);
        }
        catch (CryptographicException)
        {
            valid = false;
        }

        if (!valid)
        {
            throw new RevocationFeedException($"Revocation entry #{entry.Sequence} ({entry.Kind} {entry.Subject}) has a signature that does not verify with the feed signer '{SignerCertificate.Subject}'; it is forged or altered and was rejected.");
        }

        if (entry.TrustDomain != TrustDomain)
        {
            throw new RevocationFeedException($"Revocation entry #{entry.Sequence} is for trust domain '{entry.TrustDomain}', but this feed serves '{TrustDomain}'.");
        }

        return entry;
    }

    /// <summary>Parses and verifies one entry from its base64url text form (as sent in the server-sent events feed).</summary>
    /// <param name="base64Url">The base64url DER.</param>
    /// <returns>The verified entry.</returns>
    /// <exception cref="RevocationFeedException">The text is not base64url, or see <see cref="Verify(ReadOnlySpan{byte})"/>.</exception>
    public RevocationEntry Verify(string base64Url)
    {
        ArgumentNullException.ThrowIfNull(base64Url);
        byte[] bytes;
        try
        {
            bytes = System.Buffers.Text.Base64Url.DecodeFromChars(base64Url);
        }
        catch (FormatException ex)
        {
            throw new RevocationFeedException("The revocation feed event data is not base64url.", ex);
        }

        return Verify(bytes);
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        _key.Dispose();
        SignerCertificate.Dispose();
    }
}
