using System.Numerics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace AgentIdentity;

public sealed partial class DevelopmentCertificateAuthority
{
    private long _crlNumber;

    /// <summary>
    /// Builds a CRL (RFC 5280 §5), signed by the intermediate that issues SVIDs, listing <paramref name="revokedSerialNumbers"/>;
    /// for standard TLS stacks such as nginx (<c>ssl_crl</c>).
    /// </summary>
    /// <param name="revokedSerialNumbers">Serial numbers of revoked SVIDs, as hex (the format of <see cref="X509Certificate2.SerialNumber"/>).</param>
    /// <param name="validity">How long the CRL is valid (<c>nextUpdate</c>); <see langword="null"/> for one day.</param>
    /// <returns>The DER-encoded CRL. Its CRL number increases with every call.</returns>
    /// <exception cref="FormatException">A serial number is not hex.</exception>
    /// <remarks>OpenSSL peers that check CRLs for the whole chain (nginx does) also need <see cref="BuildRootCrl"/>.</remarks>
    public byte[] BuildCrl(IEnumerable<string> revokedSerialNumbers, TimeSpan? validity = null)
    {
        ArgumentNullException.ThrowIfNull(revokedSerialNumbers);
        ObjectDisposedException.ThrowIf(_disposed, this);
        var builder = new CertificateRevocationListBuilder();
        var now = _time.GetUtcNow();
        foreach (var serial in revokedSerialNumbers)
        {
            ArgumentNullException.ThrowIfNull(serial, nameof(revokedSerialNumbers));
            byte[] bytes;
            try
            {
                bytes = Convert.FromHexString(serial);
            }
            catch (FormatException ex)
            {
                throw new FormatException($"Serial number '{serial}' is not hex; pass X509Certificate2.SerialNumber or X509Svid.SerialNumber.", ex);
            }

            builder.AddEntry(bytes, now);
        }

        return builder.Build(_intermediate, NextCrlNumber(), now + (validity ?? TimeSpan.FromDays(1)), HashAlgorithmName.SHA256, thisUpdate: now - _options.NotBeforeBackdate);
    }

    /// <summary>Builds an empty CRL signed by the root: the intermediate is not revoked. OpenSSL peers configured to check
    /// the whole chain (nginx <c>ssl_crl</c> sets <c>X509_V_FLAG_CRL_CHECK_ALL</c>) need it next to <see cref="BuildCrl"/>.</summary>
    /// <param name="validity">How long the CRL is valid; <see langword="null"/> for one day.</param>
    /// <returns>The DER-encoded CRL.</returns>
    public byte[] BuildRootCrl(TimeSpan? validity = null)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var now = _time.GetUtcNow();
        return new CertificateRevocationListBuilder().Build(_root, NextCrlNumber(), now + (validity ?? TimeSpan.FromDays(1)), HashAlgorithmName.SHA256, thisUpdate: now - _options.NotBeforeBackdate);
    }

    private BigInteger NextCrlNumber() => new(Interlocked.Increment(ref _crlNumber));

    /// <summary>
    /// Gets the intermediate certificate that signs SVIDs, <b>with its private key</b>, for in-process components that sign with the
    /// CA's key: the Issuer package's revocation signer (<c>CreateRevocationSigner()</c>) builds on it. Development only; the key
    /// stays in this process and is disposed with the CA.
    /// </summary>
    /// <returns>The CA's own intermediate certificate instance (do not dispose it).</returns>
    public X509Certificate2 GetIssuingCertificate()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return _intermediate;
    }

    /// <summary>The revocation pointers of every issued SVID; the URIs are already validated (absolute http(s)).</summary>
    private static X509Extension[] BuildRevocationExtensions(DevelopmentCertificateAuthorityOptions options)
    {
        var extensions = new List<X509Extension>(2);
        if (options.CrlDistributionPoint is { } crl)
        {
            extensions.Add(CertificateRevocationListBuilder.BuildCrlDistributionPointExtension([crl.AbsoluteUri]));
        }

        if (options.OcspResponder is { } ocsp)
        {
            extensions.Add(new X509AuthorityInformationAccessExtension([ocsp.AbsoluteUri], null));
        }

        return [.. extensions];
    }
}
