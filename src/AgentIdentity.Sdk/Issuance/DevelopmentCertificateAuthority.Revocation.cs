using System.Security.Cryptography.X509Certificates;

namespace AgentIdentity;

/// <content>Revocation: the signer for the feed, CRL and OCSP, and the CRL distribution point / OCSP URIs in issued SVIDs.</content>
public sealed partial class DevelopmentCertificateAuthority
{
    /// <summary>
    /// Creates the revocation signer of this CA: the intermediate that signs SVIDs also signs the revocation feed, the CRL and OCSP
    /// responses. Pass it to <see cref="InMemoryRevocationRegistry"/> and <see cref="OcspResponder"/>.
    /// </summary>
    /// <returns>A signer that uses this CA's intermediate key; valid until the CA is disposed.</returns>
    public RevocationSigner CreateRevocationSigner()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return new RevocationSigner(_intermediate, TrustDomain);
    }

    private static X509Extension[] BuildRevocationExtensions(DevelopmentCertificateAuthorityOptions options)
    {
        var extensions = new List<X509Extension>(2);
        if (options.CrlDistributionPoint is { } crl)
        {
            extensions.Add(CertificateRevocationListBuilder.BuildCrlDistributionPointExtension([Absolute(crl, nameof(options.CrlDistributionPoint)).AbsoluteUri]));
        }

        if (options.OcspResponder is { } ocsp)
        {
            extensions.Add(new X509AuthorityInformationAccessExtension([Absolute(ocsp, nameof(options.OcspResponder)).AbsoluteUri], null));
        }

        return [.. extensions];
    }

    private static Uri Absolute(Uri uri, string name) =>
        uri.IsAbsoluteUri && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps)
            ? uri
            : throw new ArgumentException($"DevelopmentCertificateAuthorityOptions.{name} must be an absolute http(s) URI; '{uri}' is not.", nameof(uri));
}
