namespace AgentIdentity;

/// <summary>The SPIFFE X.509-SVID rule a certificate chain breaks (SPECS.md §2).</summary>
public enum X509SvidValidationError
{
    /// <summary>The chain is valid.</summary>
    None = 0,

    /// <summary>The leaf has no URI SAN.</summary>
    MissingUriSan,

    /// <summary>The leaf has more than one URI SAN.</summary>
    MultipleUriSans,

    /// <summary>The leaf's URI SAN is not a valid SPIFFE ID.</summary>
    InvalidSpiffeId,

    /// <summary>The leaf's SPIFFE ID has no path (it names a trust domain, which only a CA may do).</summary>
    MissingIdPath,

    /// <summary>The leaf has an empty subject but its SAN extension is not critical (RFC 5280 §4.1.2.6).</summary>
    SanNotCritical,

    /// <summary>The leaf is a CA certificate (basic constraints <c>cA=true</c>).</summary>
    LeafIsCertificateAuthority,

    /// <summary>The leaf's key usage is missing, not critical, lacks digitalSignature, or sets keyCertSign or cRLSign.</summary>
    InvalidKeyUsage,

    /// <summary>The leaf's extended key usage is present but lacks serverAuth or clientAuth.</summary>
    InvalidExtendedKeyUsage,

    /// <summary>No trust bundle is known for the leaf's trust domain.</summary>
    UnknownTrustDomain,

    /// <summary>The leaf's trust domain is not the one expected by the caller.</summary>
    WrongTrustDomain,

    /// <summary>The chain does not lead to an X.509 authority of the trust domain's bundle.</summary>
    UntrustedChain,

    /// <summary>An intermediate is not a CA or lacks keyCertSign.</summary>
    InvalidIntermediate,

    /// <summary>A CA in the chain has URI name constraints that the leaf's SPIFFE ID violates.</summary>
    NameConstraintViolation,

    /// <summary>A certificate in the chain has expired.</summary>
    Expired,

    /// <summary>A certificate in the chain is not yet valid, beyond the allowed clock skew.</summary>
    NotYetValid,

    /// <summary>A certificate could not be decoded.</summary>
    Malformed,

    /// <summary>The certificate has been revoked.</summary>
    Revoked,
}
