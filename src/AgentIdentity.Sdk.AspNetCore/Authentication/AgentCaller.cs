using System.Security.Cryptography.X509Certificates;

namespace AgentIdentity.AspNetCore;

/// <summary>
/// An agent caller whose X.509-SVID the AgentIdentity handler validated: its SPIFFE ID, leaf certificate, verified chain and
/// the raw AgentIdentity extensions. One instance is cached per certificate and shared by every request that presents it.
/// </summary>
/// <remarks>Immutable and thread-safe. Read it with <see cref="AgentCallerHttpContextExtensions.GetAgentCaller"/>.</remarks>
public sealed class AgentCaller
{
    private readonly byte[] _certificateHash;
    private readonly byte[] _leafDer;
    private readonly X509Certificate2[] _authorities;
    private X509Certificate2? _certificate;
    private X509Certificate2[]? _verifiedChain;
    private string? _thumbprintHex;
    private string[]? _delegationChainIds;

    /// <param name="id">The validated SPIFFE ID.</param>
    /// <param name="certificate">The presented leaf; read now, never kept (the connection may dispose it).</param>
    /// <param name="verifiedChain">The verified chain, leaf first.</param>
    /// <param name="certificateHash">SHA-256 of the leaf's DER.</param>
    /// <param name="bundle">The bundle the chain was validated against.</param>
    /// <param name="policy">The caller's certificate policy as enforced (its delegation chain verified).</param>
    /// <param name="honoursPolicy"><see langword="false"/> when the service ignores the policy extensions of the caller's trust domain.</param>
    internal AgentCaller(SpiffeId id, X509Certificate2 certificate, IReadOnlyList<X509Certificate2> verifiedChain, byte[] certificateHash, TrustBundle bundle, AgentCallerPolicy? policy = null, bool honoursPolicy = true)
    {
        Policy = policy ?? AgentCallerPolicy.None;
        PolicyHonoured = honoursPolicy;
        Id = id;
        _leafDer = certificate.RawData;
        _authorities = verifiedChain.Count > 1 ? [.. verifiedChain.Skip(1)] : [];
        _certificateHash = certificateHash;
        Bundle = bundle;
        Thumbprint = System.Buffers.Text.Base64Url.EncodeToString(certificateHash);
        SerialNumber = certificate.SerialNumber;
        var notBefore = DateTimeOffset.MinValue;
        var notAfter = DateTimeOffset.MaxValue;
        foreach (var element in verifiedChain.Count == 0 ? [certificate] : verifiedChain)
        {
            var start = new DateTimeOffset(element.NotBefore.ToUniversalTime());
            var end = new DateTimeOffset(element.NotAfter.ToUniversalTime());
            notBefore = start > notBefore ? start : notBefore;
            notAfter = end < notAfter ? end : notAfter;
        }

        NotBefore = notBefore;
        NotAfter = notAfter;
        PolicyExtension = ReadExtension(certificate, AgentPolicyExtension.PolicyOid);
        DelegationChainExtension = ReadExtension(certificate, AgentPolicyExtension.DelegationChainOid);
        if (id.TryGetAgent(out var agentName, out var instanceId))
        {
            AgentName = agentName;
            InstanceId = instanceId;
        }
    }

    /// <summary>Gets the caller's SPIFFE ID.</summary>
    public SpiffeId Id { get; }

    /// <summary>Gets the caller's trust domain.</summary>
    public TrustDomain TrustDomain => Id.TrustDomain;

    /// <summary>Gets the agent name when the SPIFFE ID has the shape <c>/agent/&lt;name&gt;/&lt;instance&gt;</c>; otherwise <see langword="null"/>.</summary>
    public string? AgentName { get; }

    /// <summary>Gets the agent instance id when the SPIFFE ID has the agent shape; otherwise <see langword="null"/>.</summary>
    public string? InstanceId { get; }

    /// <summary>Gets the DER of the caller's leaf certificate (the key of <see cref="AgentCallerCache"/>).</summary>
    internal ReadOnlySpan<byte> RawData => _leafDer;

    /// <summary>Gets the caller's leaf certificate (public part).</summary>
    /// <remarks>Decoded on first access from the DER kept with the validation; the hot path never needs it.</remarks>
    public X509Certificate2 Certificate =>
        LazyInitializer.EnsureInitialized(ref _certificate, () => X509CertificateLoader.LoadCertificate(_leafDer));

    /// <summary>Gets the verified chain, leaf first, ending at the trust bundle's root.</summary>
    public IReadOnlyList<X509Certificate2> VerifiedChain =>
        LazyInitializer.EnsureInitialized(ref _verifiedChain, () => [Certificate, .. _authorities]);

    /// <summary>Gets the leaf's serial number, uppercase hex.</summary>
    public string SerialNumber { get; }

    /// <summary>Gets the base64url SHA-256 thumbprint of the leaf's DER: the RFC 8705 <c>x5t#S256</c> value.</summary>
    public string Thumbprint { get; }

    /// <summary>Gets the latest <c>NotBefore</c> of the verified chain.</summary>
    public DateTimeOffset NotBefore { get; }

    /// <summary>Gets the earliest <c>NotAfter</c> of the verified chain: the validation expires then.</summary>
    public DateTimeOffset NotAfter { get; }

    /// <summary>Gets the DER value of the agent policy extension, or <see langword="null"/> when the certificate has none.</summary>
    /// <remarks>Raw bytes, present even when the service does not honour the policies of the caller's trust domain
    /// (<see cref="AgentIdentityAuthenticationOptions.PolicyTrustDomains"/>); the built-in requirements then ignore them.</remarks>
    public ReadOnlyMemory<byte>? PolicyExtension { get; }

    /// <summary>Gets the DER value of the delegation chain extension, or <see langword="null"/> when the certificate has none.</summary>
    /// <remarks>When the caller's trust domain is honoured, the chain's delegation rules were verified at authentication.</remarks>
    public ReadOnlyMemory<byte>? DelegationChainExtension { get; }

    /// <summary>Gets a value indicating whether the service honours the policy extensions of the caller's trust domain.</summary>
    internal bool PolicyHonoured { get; }

    /// <summary>Gets the caller's certificate policy as the service enforces it (delegation chain verified, effective policy computed once).</summary>
    internal AgentCallerPolicy Policy { get; }

    internal TrustBundle Bundle { get; }

    /// <summary>Gets the SHA-256 thumbprint as lowercase hex, as the agent side's spans carry it (computed once per certificate).</summary>
    internal string ThumbprintHex => LazyInitializer.EnsureInitialized(ref _thumbprintHex, () => Convert.ToHexStringLower(_certificateHash));

    /// <summary>Gets the SPIFFE IDs of the delegation chain, root first, for span attributes; <see langword="null"/> for none or unreadable.</summary>
    internal string[]? DelegationChainIds
    {
        get
        {
            if (DelegationChainExtension is not { } der)
            {
                return null;
            }

            return LazyInitializer.EnsureInitialized(ref _delegationChainIds, () =>
                DelegationChain.TryFromDer(der.Span, out var chain, out _) ? [.. chain.Select(link => link.Id.ToString())] : []) is { Length: > 0 } ids ? ids : null;
        }
    }

    /// <summary>The revocation checker's last verdict for this certificate and the feed sequence it was computed at (a cache:
    /// the verdict can only change when a new entry arrives).</summary>
    internal object? RevocationVerdict { get; set; }

    /// <summary>Gets the SHA-256 hash of the leaf's DER.</summary>
    /// <returns>The 32-byte hash, read-only.</returns>
    public ReadOnlySpan<byte> GetCertificateHash() => _certificateHash;

    private static ReadOnlyMemory<byte>? ReadExtension(X509Certificate2 certificate, string oid)
    {
        foreach (var extension in certificate.Extensions)
        {
            if (extension.Oid?.Value == oid)
            {
                return extension.RawData;
            }
        }

        return null;
    }

    /// <inheritdoc/>
    public override string ToString() => $"{Id} (serial {SerialNumber})";
}
