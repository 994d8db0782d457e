namespace AgentIdentity;

/// <summary>Revocation for the in-process <see cref="DevelopmentCertificateAuthority"/>: a signer for the feed, the CRL and OCSP.</summary>
public static class DevelopmentCertificateAuthorityRevocationExtensions
{
    /// <summary>
    /// Creates the revocation signer of a development CA: the intermediate that signs SVIDs also signs the revocation feed, the CRL
    /// and OCSP responses. Pass it to <see cref="InMemoryRevocationRegistry"/> and <see cref="OcspResponder"/>.
    /// </summary>
    /// <param name="authority">The development CA.</param>
    /// <returns>A signer that uses the CA's intermediate key; valid until the CA is disposed.</returns>
    public static RevocationSigner CreateRevocationSigner(this DevelopmentCertificateAuthority authority)
    {
        ArgumentNullException.ThrowIfNull(authority);
        return new RevocationSigner(authority.GetIssuingCertificate(), authority.TrustDomain);
    }
}
