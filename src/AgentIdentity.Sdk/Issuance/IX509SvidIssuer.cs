using System.Security.Cryptography.X509Certificates;

namespace AgentIdentity;

/// <summary>Issues X.509-SVIDs: a certificate signing request in, a certificate chain out.</summary>
/// <remarks>Implementations are thread-safe. The private key never reaches the issuer; only the CSR does.</remarks>
public interface IX509SvidIssuer
{
    /// <summary>Issues an X.509-SVID for <paramref name="request"/>.</summary>
    /// <param name="request">The SPIFFE ID, the PKCS#10 CSR and the requested lifetime.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns>The issued leaf (without private key), its intermediates and the trust bundle.</returns>
    /// <exception cref="CertificateIssuanceException">The issuer refused the request (the message says why) or is unreachable.</exception>
    ValueTask<X509SvidIssuance> IssueAsync(X509SvidRequest request, CancellationToken cancellationToken = default);
}

/// <summary>A request for an X.509-SVID.</summary>
public sealed class X509SvidRequest
{
    /// <summary>Initializes a new instance of the <see cref="X509SvidRequest"/> class.</summary>
    /// <param name="id">The SPIFFE ID to certify.</param>
    /// <param name="certificateSigningRequest">The DER PKCS#10 CSR, signed with the key to certify.</param>
    /// <param name="lifetime">The requested lifetime; the issuer may shorten it.</param>
    public X509SvidRequest(SpiffeId id, ReadOnlyMemory<byte> certificateSigningRequest, TimeSpan lifetime)
    {
        if (id.IsEmpty)
        {
            throw new ArgumentException("The SPIFFE ID is empty.", nameof(id));
        }

        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(lifetime, TimeSpan.Zero);
        Id = id;
        CertificateSigningRequest = certificateSigningRequest;
        Lifetime = lifetime;
    }

    /// <summary>Gets the SPIFFE ID to certify.</summary>
    public SpiffeId Id { get; }

    /// <summary>Gets the DER PKCS#10 certificate signing request.</summary>
    public ReadOnlyMemory<byte> CertificateSigningRequest { get; }

    /// <summary>Gets the requested lifetime.</summary>
    public TimeSpan Lifetime { get; }

    /// <summary>Gets the DNS names to add as SANs (for services that also serve non-SPIFFE clients, such as nginx).</summary>
    public IReadOnlyList<string> DnsNames { get; init; } = [];

    /// <summary>Gets the policy to embed in the certificate (extension <see cref="AgentPolicyExtension.PolicyOid"/>), if any.</summary>
    /// <remarks>For a delegated request the issuer checks it against the parent's policy; otherwise the issuer decides whether
    /// the requester may have it (the development CA trusts its in-process caller).</remarks>
    public AgentPolicy? Policy { get; init; }

    /// <summary>Gets the parent's proof, for a task identity issued by delegation; <see langword="null"/> for an agent's own SVID.</summary>
    /// <remarks>The issuer validates the parent SVID and its signature and refuses a child that is not
    /// <c>&lt;parent&gt;/task/&lt;task-id&gt;</c>, whose policy is not a subset of the parent's, whose delegation depth is not
    /// below the parent's, or that would outlive the parent.</remarks>
    public DelegationProof? Delegation { get; init; }

    /// <summary>Gets the SVID, with its private key, that a remote issuer may authenticate this request with over mTLS: the
    /// requester's current, unexpired SVID for a renewal, or the parent's for a delegated request; <see langword="null"/> when
    /// there is none (a first enrollment, or recovery after expiry).</summary>
    /// <remarks>Set by <see cref="AgentCredential"/>. In-process issuers ignore it. The issuer must not keep or dispose it.</remarks>
    public X509Svid? AuthenticatingSvid { get; init; }

    /// <summary>Gets the requester's own last SVID, with its private key, once it has expired (and it is not revoked): a remote
    /// issuer that allows renewal after expiry accepts a proof of possession of its key instead of a new join token
    /// (<see cref="IssuerClient"/>, <c>v1/renew-expired</c>). <see langword="null"/> otherwise.</summary>
    /// <remarks>Set by <see cref="AgentCredential"/>. The issuer must not keep or dispose it.</remarks>
    internal X509Svid? ExpiredSvid { get; init; }
}

/// <summary>The result of an issuance: the leaf, the intermediates to present with it, and the trust bundle.</summary>
public sealed class X509SvidIssuance
{
    /// <summary>Initializes a new instance of the <see cref="X509SvidIssuance"/> class.</summary>
    /// <param name="certificate">The issued leaf, without private key.</param>
    /// <param name="intermediates">The intermediates, leaf and root excluded.</param>
    /// <param name="bundle">The trust bundle of the issuer's trust domain.</param>
    public X509SvidIssuance(X509Certificate2 certificate, IReadOnlyList<X509Certificate2> intermediates, TrustBundle bundle)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        ArgumentNullException.ThrowIfNull(intermediates);
        ArgumentNullException.ThrowIfNull(bundle);
        Certificate = certificate;
        Intermediates = intermediates;
        Bundle = bundle;
    }

    /// <summary>Gets the issued leaf, without private key.</summary>
    public X509Certificate2 Certificate { get; }

    /// <summary>Gets the intermediates, leaf and root excluded.</summary>
    /// <remarks>Issuers share one instance of each intermediate between the issuances it signs (the development CA, and the issuer
    /// client while the issuer's chain is unchanged): do not dispose them.</remarks>
    public IReadOnlyList<X509Certificate2> Intermediates { get; }

    /// <summary>Gets the trust bundle of the issuer's trust domain.</summary>
    public TrustBundle Bundle { get; }
}
