using System.Collections.Concurrent;
using System.Security.Cryptography.X509Certificates;

namespace AgentIdentity;

/// <summary>The policy-related content of one certificate: its policy, its delegation chain and the effective policy.</summary>
public sealed class CertificatePolicy
{
    /// <summary>Decodes the policy content of <paramref name="certificate"/> (uncached).</summary>
    /// <param name="certificate">The certificate.</param>
    /// <returns>The policy, chain and effective policy.</returns>
    /// <exception cref="PolicyFormatException">An extension is malformed.</exception>
    public static CertificatePolicy Read(X509Certificate2 certificate) =>
        new(AgentPolicyExtension.ReadPolicy(certificate), AgentPolicyExtension.ReadDelegationChain(certificate));

    internal CertificatePolicy(AgentPolicy? policy, DelegationChain? chain)
    {
        Policy = policy;
        DelegationChain = chain;
        EffectivePolicy = chain is not null && policy is not null ? chain.ComputeEffectivePolicy(policy) : policy;
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
/// <para>Thread-safe. When the content map reaches its capacity it is cleared (entries are cheap to rebuild).</para>
/// </remarks>
public sealed class CertificatePolicyCache
{
    private readonly ConcurrentDictionary<byte[], CertificatePolicy> _byContent = new(RawDataComparer.Instance);
    private readonly int _capacity;

    /// <summary>Initializes a new instance of the <see cref="CertificatePolicyCache"/> class.</summary>
    /// <param name="capacity">How many certificates to keep by content before the map is cleared.</param>
    public CertificatePolicyCache(int capacity = 4096)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _capacity = capacity;
    }

    /// <summary>Gets the policy content of <paramref name="certificate"/>, decoding it on first sight.</summary>
    /// <param name="certificate">A peer certificate.</param>
    /// <returns>The policy, chain and effective policy (all <see langword="null"/> for a certificate without policy).</returns>
    /// <exception cref="PolicyFormatException">An extension is malformed.</exception>
    public CertificatePolicy Get(X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        var raw = certificate.RawDataMemory.Span;
        var byContent = _byContent.GetAlternateLookup<ReadOnlySpan<byte>>();
        if (!byContent.TryGetValue(raw, out var entry))
        {
            entry = CertificatePolicy.Read(certificate);
            if (_byContent.Count >= _capacity)
            {
                _byContent.Clear();
            }

            byContent[raw] = entry;
        }

        return entry;
    }

    private sealed class RawDataComparer : IEqualityComparer<byte[]>, IAlternateEqualityComparer<ReadOnlySpan<byte>, byte[]>
    {
        public static readonly RawDataComparer Instance = new();

        public bool Equals(byte[]? x, byte[]? y) => x.AsSpan().SequenceEqual(y);

        public int GetHashCode(byte[] obj) => Hash(obj);

        public bool Equals(ReadOnlySpan<byte> alternate, byte[] other) => alternate.SequenceEqual(other);

        public int GetHashCode(ReadOnlySpan<byte> alternate) => Hash(alternate);

        public byte[] Create(ReadOnlySpan<byte> alternate) => alternate.ToArray();

        private static int Hash(ReadOnlySpan<byte> data)
        {
            var hash = default(HashCode); // randomly seeded per process
            hash.AddBytes(data);
            return hash.ToHashCode();
        }
    }
}
