using System.Security.Cryptography.X509Certificates;

namespace AgentIdentity;

/// <summary>The X.509-SVID certificate profile checks (SPECS.md §2.1), shared by parsing and peer validation.</summary>
internal static class SvidProfile
{
    /// <summary>Checks the leaf's identity and usage; returns the error, or <see cref="X509SvidValidationError.None"/> with its ID.</summary>
    public static X509SvidValidationError CheckLeaf(X509Certificate2 leaf, out SpiffeId id, out string reason)
    {
        id = default;
        reason = string.Empty;
        var uris = CertificateExtensions.ReadUriSans(leaf, out var sanCritical);
        if (uris is null)
        {
            reason = "its subject alternative name extension cannot be decoded";
            return X509SvidValidationError.Malformed;
        }

        if (uris.Count == 0)
        {
            reason = "it has no URI SAN, so it carries no SPIFFE ID";
            return X509SvidValidationError.MissingUriSan;
        }

        if (uris.Count > 1)
        {
            reason = $"it has {uris.Count} URI SANs; an X.509-SVID must have exactly one";
            return X509SvidValidationError.MultipleUriSans;
        }

        if (!SpiffeId.TryParse(uris[0], out id, out var idError))
        {
            reason = $"its URI SAN '{DisplayText.Truncate(uris[0])}' is not a valid SPIFFE ID: {idError}";
            return X509SvidValidationError.InvalidSpiffeId;
        }

        if (id.IsTrustDomainId)
        {
            reason = $"its SPIFFE ID '{id}' has no path; only a CA certificate may name a trust domain";
            return X509SvidValidationError.MissingIdPath;
        }

        if (leaf.SubjectName.RawData.Length <= 2 && !sanCritical)
        {
            reason = "its subject is empty but its SAN extension is not critical (RFC 5280 §4.1.2.6)";
            return X509SvidValidationError.SanNotCritical;
        }

        if (CertificateExtensions.Find(leaf, Oids.BasicConstraints) is X509BasicConstraintsExtension { CertificateAuthority: true })
        {
            reason = "it is a CA certificate (basic constraints cA=true) presented as a leaf";
            return X509SvidValidationError.LeafIsCertificateAuthority;
        }

        if (CertificateExtensions.Find(leaf, Oids.KeyUsage) is not X509KeyUsageExtension keyUsage)
        {
            reason = "it has no key usage extension; an X.509-SVID must have a critical one with digitalSignature";
            return X509SvidValidationError.InvalidKeyUsage;
        }

        if (!keyUsage.Critical)
        {
            reason = "its key usage extension is not critical";
            return X509SvidValidationError.InvalidKeyUsage;
        }

        if ((keyUsage.KeyUsages & X509KeyUsageFlags.DigitalSignature) == 0)
        {
            reason = "its key usage lacks digitalSignature";
            return X509SvidValidationError.InvalidKeyUsage;
        }

        if ((keyUsage.KeyUsages & (X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign)) != 0)
        {
            reason = "its key usage sets keyCertSign or cRLSign, which a leaf must not";
            return X509SvidValidationError.InvalidKeyUsage;
        }

        if (CertificateExtensions.Find(leaf, Oids.ExtendedKeyUsage) is X509EnhancedKeyUsageExtension eku)
        {
            bool server = false, client = false;
            foreach (var oid in eku.EnhancedKeyUsages)
            {
                server |= oid.Value == Oids.ServerAuth;
                client |= oid.Value == Oids.ClientAuth;
            }

            if (!server || !client)
            {
                reason = "its extended key usage must include both serverAuth and clientAuth";
                return X509SvidValidationError.InvalidExtendedKeyUsage;
            }
        }

        return X509SvidValidationError.None;
    }

    /// <summary>Checks that a certificate is a signing certificate: cA=true and keyCertSign.</summary>
    public static bool IsSigningCertificate(X509Certificate2 certificate) =>
        CertificateExtensions.Find(certificate, Oids.BasicConstraints) is X509BasicConstraintsExtension { CertificateAuthority: true } &&
        (CertificateExtensions.Find(certificate, Oids.KeyUsage) is not X509KeyUsageExtension usage ||
         (usage.KeyUsages & X509KeyUsageFlags.KeyCertSign) != 0);
}
