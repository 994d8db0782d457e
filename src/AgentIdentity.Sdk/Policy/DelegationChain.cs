using System.Collections;
using System.Diagnostics.CodeAnalysis;

namespace AgentIdentity;

/// <summary>One ancestor in a delegation chain: its SPIFFE ID, the SHA-256 of its certificate, its expiry and its policy.</summary>
/// <remarks>Immutable and thread-safe.</remarks>
public sealed class DelegationLink
{
    private readonly byte[] _certificateHash;

    /// <summary>Initializes a new instance of the <see cref="DelegationLink"/> class.</summary>
    /// <param name="id">The ancestor's SPIFFE ID (with a path).</param>
    /// <param name="certificateHash">The SHA-256 hash of the ancestor's DER certificate (32 bytes).</param>
    /// <param name="notAfter">The ancestor certificate's expiry.</param>
    /// <param name="policy">The ancestor certificate's policy.</param>
    /// <exception cref="ArgumentException">The ID is empty or has no path, or the hash is not 32 bytes.</exception>
    public DelegationLink(SpiffeId id, ReadOnlySpan<byte> certificateHash, DateTimeOffset notAfter, AgentPolicy policy)
    {
        if (id.IsEmpty || id.IsTrustDomainId)
        {
            throw new ArgumentException($"A delegation link needs a workload SPIFFE ID with a path; '{id}' has none.", nameof(id));
        }

        if (certificateHash.Length != AgentPolicyCodec.CertificateHashLength)
        {
            throw new ArgumentException($"The certificate hash must be a 32-byte SHA-256 hash; it is {certificateHash.Length} bytes.", nameof(certificateHash));
        }

        ArgumentNullException.ThrowIfNull(policy);
        Id = id;
        _certificateHash = certificateHash.ToArray();
        NotAfter = new DateTimeOffset(notAfter.UtcTicks - (notAfter.UtcTicks % TimeSpan.TicksPerSecond), TimeSpan.Zero);
        Policy = policy;
    }

    /// <summary>Gets the ancestor's SPIFFE ID.</summary>
    public SpiffeId Id { get; }

    /// <summary>Gets the SHA-256 hash of the ancestor's DER certificate, as lowercase hex.</summary>
    public string CertificateThumbprint => Convert.ToHexStringLower(_certificateHash);

    /// <summary>Gets the ancestor certificate's expiry (whole seconds, UTC).</summary>
    public DateTimeOffset NotAfter { get; }

    /// <summary>Gets the ancestor certificate's policy.</summary>
    public AgentPolicy Policy { get; }

    internal ReadOnlySpan<byte> CertificateHashSpan => _certificateHash;

    /// <summary>Gets a copy of the SHA-256 hash of the ancestor's DER certificate.</summary>
    /// <returns>32 bytes.</returns>
    public byte[] GetCertificateHash() => (byte[])_certificateHash.Clone();

    /// <inheritdoc/>
    public override string ToString() => $"{Id} (sha256 {CertificateThumbprint}, until {NotAfter:O})";
}

/// <summary>
/// The ancestors of a task identity, carried in its certificate (extension <see cref="AgentPolicyExtension.DelegationChainOid"/>):
/// the first link is the root agent, the last is the direct parent. Immutable and thread-safe.
/// </summary>
public sealed class DelegationChain : IReadOnlyList<DelegationLink>
{
    private readonly DelegationLink[] _links;

    /// <summary>Initializes a new instance of the <see cref="DelegationChain"/> class.</summary>
    /// <param name="links">The ancestors, root first; 1 to 8 links.</param>
    /// <exception cref="ArgumentException">There are no links or more than 8.</exception>
    public DelegationChain(IEnumerable<DelegationLink> links)
    {
        ArgumentNullException.ThrowIfNull(links);
        _links = [.. links];
        if (_links.Length is 0 or > AgentPolicyCodec.MaxChainLinks)
        {
            throw new ArgumentException($"A delegation chain has 1 to {AgentPolicyCodec.MaxChainLinks} links; this one has {_links.Length}.", nameof(links));
        }

        foreach (var link in _links)
        {
            ArgumentNullException.ThrowIfNull(link, nameof(links));
        }
    }

    /// <summary>Gets the number of ancestors.</summary>
    public int Count => _links.Length;

    /// <summary>Gets the root agent: the first link.</summary>
    public DelegationLink Root => _links[0];

    /// <summary>Gets the direct parent: the last link.</summary>
    public DelegationLink Parent => _links[^1];

    /// <summary>Gets the ancestor at <paramref name="index"/> (0 = root).</summary>
    /// <param name="index">The index.</param>
    /// <returns>The link.</returns>
    public DelegationLink this[int index] => _links[index];

    /// <summary>Returns a chain with <paramref name="link"/> appended (the chain a child of <paramref name="link"/> carries).</summary>
    /// <param name="link">The new direct parent.</param>
    /// <returns>The longer chain.</returns>
    public DelegationChain Append(DelegationLink link) => new([.. _links, link]);

    /// <summary>Computes the effective policy of a certificate carrying this chain: the intersection of every ancestor's policy and
    /// <paramref name="leafPolicy"/>, with the leaf's task id.</summary>
    /// <param name="leafPolicy">The policy of the certificate itself.</param>
    /// <returns>The effective policy.</returns>
    /// <exception cref="InvalidOperationException">The intersection exceeds <see cref="AgentPolicy.MaxIntersectionLength"/> patterns
    /// in a list (a chain whose policies are not subsets of one another).</exception>
    public AgentPolicy ComputeEffectivePolicy(AgentPolicy leafPolicy)
    {
        ArgumentNullException.ThrowIfNull(leafPolicy);
        var effective = leafPolicy;
        for (var i = _links.Length - 1; i >= 0; i--)
        {
            effective = effective.Intersect(_links[i].Policy);
        }

        return effective.WithTaskId(leafPolicy.TaskId);
    }

    /// <summary>Encodes the chain as the DER value of the delegation-chain extension.</summary>
    /// <returns>The DER bytes.</returns>
    public byte[] ToDer() => AgentPolicyCodec.EncodeChain(_links);

    /// <summary>Decodes the DER value of a delegation-chain extension, strictly.</summary>
    /// <param name="der">The extension value.</param>
    /// <returns>The chain.</returns>
    /// <exception cref="PolicyFormatException">The bytes are not a valid v1 chain within the documented limits.</exception>
    public static DelegationChain FromDer(ReadOnlySpan<byte> der) => AgentPolicyCodec.DecodeChain(der);

    /// <summary>Tries to decode the DER value of a delegation-chain extension, strictly.</summary>
    /// <param name="der">The extension value.</param>
    /// <param name="chain">The chain, when valid.</param>
    /// <param name="error">What is wrong, when not.</param>
    /// <returns><see langword="true"/> when the bytes are a valid chain.</returns>
    public static bool TryFromDer(ReadOnlySpan<byte> der, [NotNullWhen(true)] out DelegationChain? chain, [NotNullWhen(false)] out string? error)
    {
        try
        {
            chain = AgentPolicyCodec.DecodeChain(der);
            error = null;
            return true;
        }
        catch (PolicyFormatException ex)
        {
            chain = null;
            error = ex.Message;
            return false;
        }
    }

    /// <inheritdoc/>
    public IEnumerator<DelegationLink> GetEnumerator() => ((IEnumerable<DelegationLink>)_links).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <inheritdoc/>
    public override string ToString() => string.Join(" -> ", _links.Select(l => l.Id.ToString()));
}
