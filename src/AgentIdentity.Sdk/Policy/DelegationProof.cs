using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace AgentIdentity;

/// <summary>
/// The parent's half of a delegated issuance: the parent SVID's certificate chain and its signature over the child's SPIFFE ID
/// and certificate signing request, which proves that the holder of the parent key asked for this child key.
/// </summary>
/// <remarks>Immutable. Contains no private key.</remarks>
public sealed class DelegationProof
{
    private const string Context = "AgentIdentity delegation v1\n";
    private readonly X509Certificate2[] _parentIntermediates;
    private readonly byte[] _signature;

    /// <summary>Initializes a new instance of the <see cref="DelegationProof"/> class from its parts (for example, received over the wire).</summary>
    /// <param name="parentCertificate">The parent's leaf certificate (public part).</param>
    /// <param name="parentIntermediates">The parent's intermediates.</param>
    /// <param name="signature">The parent's signature over the proof content (see <see cref="Create"/>).</param>
    public DelegationProof(X509Certificate2 parentCertificate, IEnumerable<X509Certificate2>? parentIntermediates, ReadOnlySpan<byte> signature)
    {
        ArgumentNullException.ThrowIfNull(parentCertificate);
        ParentCertificate = parentCertificate;
        _parentIntermediates = parentIntermediates is null ? [] : [.. parentIntermediates];
        _signature = signature.ToArray();
    }

    /// <summary>Gets the parent's leaf certificate (public part).</summary>
    public X509Certificate2 ParentCertificate { get; }

    /// <summary>Gets the parent's intermediates.</summary>
    public IReadOnlyList<X509Certificate2> ParentIntermediates => _parentIntermediates;

    /// <summary>Gets a copy of the parent's signature.</summary>
    /// <returns>The signature bytes (IEEE P1363 for ECDSA, PKCS#1 v1.5 for RSA, SHA-256 in both cases).</returns>
    public byte[] GetSignature() => (byte[])_signature.Clone();

    /// <summary>
    /// Signs a delegation request with the parent's key. The signed content is the UTF-8 string
    /// <c>"AgentIdentity delegation v1\n" + childId + "\n"</c> followed by the SHA-256 of the DER CSR.
    /// </summary>
    /// <param name="parent">The parent SVID, with its private key.</param>
    /// <param name="childId">The SPIFFE ID the child will get.</param>
    /// <param name="certificateSigningRequest">The child's DER PKCS#10 CSR.</param>
    /// <returns>The proof.</returns>
    /// <exception cref="ArgumentException">The parent's key is neither ECDSA nor RSA.</exception>
    public static DelegationProof Create(X509Svid parent, SpiffeId childId, ReadOnlySpan<byte> certificateSigningRequest)
    {
        ArgumentNullException.ThrowIfNull(parent);
        var content = BuildContent(childId, certificateSigningRequest);
        var signature = CertificateKeySignature.Sign(parent.Certificate, content)
            ?? throw new ArgumentException($"The key of '{parent.Id}' is neither ECDSA nor RSA; it cannot sign a delegation.", nameof(parent));
        return new DelegationProof(X509CertificateLoader.LoadCertificate(parent.Certificate.RawData), parent.Intermediates, signature);
    }

    /// <summary>Verifies the proof's signature with the parent certificate's public key, over the child's SPIFFE ID and the
    /// CSR it was made for: what an <see cref="IX509SvidIssuer"/> checks before it issues a task identity.</summary>
    /// <param name="childId">The SPIFFE ID requested for the task identity.</param>
    /// <param name="certificateSigningRequest">The DER PKCS#10 CSR of the request.</param>
    /// <returns><see langword="true"/> when the parent's key signed exactly this ID and CSR; <see langword="false"/> otherwise
    /// (another ID or CSR, another key, or a malformed signature).</returns>
    public bool VerifySignature(SpiffeId childId, ReadOnlySpan<byte> certificateSigningRequest) =>
        CertificateKeySignature.Verify(ParentCertificate, BuildContent(childId, certificateSigningRequest), _signature);

    private static byte[] BuildContent(SpiffeId childId, ReadOnlySpan<byte> csr)
    {
        var prefix = Encoding.UTF8.GetBytes(Context + childId.ToString() + "\n");
        var content = new byte[prefix.Length + 32];
        prefix.CopyTo(content, 0);
        SHA256.HashData(csr, content.AsSpan(prefix.Length));
        return content;
    }
}
