using System.Security.Cryptography.X509Certificates;

namespace AgentIdentity;

/// <summary>The policy-related content of one certificate: its policy, its delegation chain and the effective policy.</summary>
public sealed class CertificatePolicy
{
    /// <summary>Decodes the policy content of <paramref name="certificate"/> (uncached).</summary>
    /// <param name="certificate">The certificate.</param>
    /// <returns>The policy, chain and effective policy.</returns>
    /// <exception cref="PolicyFormatException">An extension is malformed, or the effective policy of the chain exceeds
    /// <see cref="AgentPolicy.MaxIntersectionLength"/> patterns in a list.</exception>
    public static CertificatePolicy Read(X509Certificate2 certificate) =>
        new(AgentPolicyExtension.ReadPolicy(certificate), AgentPolicyExtension.ReadDelegationChain(certificate));

    internal CertificatePolicy(AgentPolicy? policy, DelegationChain? chain)
    {
        Policy = policy;
        DelegationChain = chain;
        try
        {
            EffectivePolicy = chain is not null && policy is not null ? chain.ComputeEffectivePolicy(policy) : policy;
        }
        catch (InvalidOperationException ex)
        {
            throw new PolicyFormatException($"The effective policy of the delegation chain cannot be computed: {ex.Message}");
        }
    }

    /// <summary>Gets the certificate's own policy, or <see langword="null"/> when it has none.</summary>
    public AgentPolicy? Policy { get; }

    /// <summary>Gets the certificate's ancestors, or <see langword="null"/> for an agent's own SVID.</summary>
    public DelegationChain? DelegationChain { get; }

    /// <summary>Gets the intersection of the policy with every ancestor's, or <see langword="null"/> when there is no policy.</summary>
    public AgentPolicy? EffectivePolicy { get; }
}

/// <summary>
/// Caches the decoded policy of peer certificates so that per-request checks do not decode DER. Entries are keyed by the
/// certificate's DER bytes (hashed with a per-process random seed, then compared in full, so two certificates never share an
/// entry); no thumbprint needs computing per request.
/// </summary>
/// <remarks>
/// <para>It decodes only; validate the certificate (chain to the bundle, and <see cref="DelegationChainVerifier"/> for task
/// identities) before trusting what it returns. Malformed extensions are not cached: each lookup throws again.</para>
/// <para>Thread-safe. When it holds <c>capacity</c> certificates, adding one first drops a tenth of them (entries are cheap to rebuild).</para>
/// </remarks>
public sealed class CertificatePolicyCache
{
    private readonly CertificateKeyedCache<CertificatePolicy> _byContent;

    /// <summary>Initializes a new instance of the <see cref="CertificatePolicyCache"/> class.</summary>
    /// <param name="capacity">How many certificates to keep.</param>
    public CertificatePolicyCache(int capacity = 4096)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _byContent = new CertificateKeyedCache<CertificatePolicy>(capacity);
    }

    /// <summary>Gets the policy content of <paramref name="certificate"/>, decoding it on first sight.</summary>
    /// <param name="certificate">A peer certificate.</param>
    /// <returns>The policy, chain and effective policy (all <see langword="null"/> for a certificate without policy).</returns>
    /// <exception cref="PolicyFormatException">An extension is malformed.</exception>
    public CertificatePolicy Get(X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        var raw = certificate.RawDataMemory.Span;
        if (!_byContent.TryGetValue(raw, out var entry))
        {
            entry = CertificatePolicy.Read(certificate);
            _byContent.Set(raw, entry);
        }

        return entry;
    }
}
