using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace AgentIdentity;

/// <summary>The outcome of <see cref="DelegationChainVerifier.Verify"/>.</summary>
public sealed class DelegationVerificationResult
{
    private DelegationVerificationResult(DelegationError error, string? reason, SpiffeId id, AgentPolicy? policy, DelegationChain? chain, AgentPolicy? effectivePolicy)
    {
        Error = error;
        Reason = reason;
        Id = id;
        Policy = policy;
        Chain = chain;
        EffectivePolicy = effectivePolicy;
    }

    /// <summary>Gets a value indicating whether the certificate and its whole delegation chain are valid.</summary>
    public bool IsValid => Error == DelegationError.None;

    /// <summary>Gets the rule broken, or <see cref="DelegationError.None"/>.</summary>
    public DelegationError Error { get; }

    /// <summary>Gets a sentence naming the certificate, the link and the rule, when invalid.</summary>
    public string? Reason { get; }

    /// <summary>Gets the SPIFFE ID of the certificate (empty when it could not be read).</summary>
    public SpiffeId Id { get; }

    /// <summary>Gets the certificate's own policy, if any.</summary>
    public AgentPolicy? Policy { get; }

    /// <summary>Gets the certificate's ancestors, or <see langword="null"/> for an agent's own SVID.</summary>
    public DelegationChain? Chain { get; }

    /// <summary>Gets the effective policy (the intersection along the chain), when valid.</summary>
    public AgentPolicy? EffectivePolicy { get; }

    internal static DelegationVerificationResult Success(SpiffeId id, AgentPolicy? policy, DelegationChain? chain, AgentPolicy? effective) =>
        new(DelegationError.None, null, id, policy, chain, effective);

    internal static DelegationVerificationResult Failure(DelegationError error, string reason, SpiffeId id, AgentPolicy? policy = null, DelegationChain? chain = null) =>
        new(error, reason, id, policy, chain, null);
}

/// <summary>
/// Verifies a certificate and its delegation chain offline, from the certificate's extensions and the trust bundle: the leaf is
/// a valid SVID, and every step root → … → parent → leaf follows the delegation rules (task ID below the parent, target
/// allowed, policy a subset, depth decreasing, lifetime within the parent's). When the ancestors' certificates are at hand
/// (for example in an audit), they are checked against their links too.
/// </summary>
/// <remarks>Thread-safe and stateless.</remarks>
public static class DelegationChainVerifier
{
    /// <summary>Verifies <paramref name="leaf"/> and its delegation chain.</summary>
    /// <param name="leaf">The presented leaf.</param>
    /// <param name="intermediates">The presented intermediates; may be empty.</param>
    /// <param name="bundles">The trust bundles.</param>
    /// <param name="now">The time to validate the leaf at.</param>
    /// <param name="ancestorCertificates">Optional ancestor certificates to match against the links (any order, any subset).</param>
    /// <param name="options">X.509-SVID validation options; <see langword="null"/> for the defaults.</param>
    /// <returns>The result, with the effective policy when valid.</returns>
    public static DelegationVerificationResult Verify(
        X509Certificate2 leaf,
        IEnumerable<X509Certificate2>? intermediates,
        ITrustBundleSource bundles,
        DateTimeOffset now,
        IEnumerable<X509Certificate2>? ancestorCertificates = null,
        X509SvidValidationOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(leaf);
        ArgumentNullException.ThrowIfNull(bundles);
        var intermediateList = intermediates?.ToList() ?? [];
        var validation = X509SvidValidator.Validate(leaf, intermediateList, bundles, now, options);
        if (!validation.IsValid)
        {
            return DelegationVerificationResult.Failure(DelegationError.InvalidCertificate, validation.Reason ?? "invalid certificate", validation.Id);
        }

        var id = validation.Id;
        AgentPolicy? policy;
        DelegationChain? chain;
        try
        {
            policy = AgentPolicyExtension.ReadPolicy(leaf);
            chain = AgentPolicyExtension.ReadDelegationChain(leaf);
        }
        catch (PolicyFormatException ex)
        {
            return DelegationVerificationResult.Failure(DelegationError.MalformedExtension, $"Certificate '{id}': {ex.Message}", id);
        }

        if (chain is null)
        {
            return DelegationVerificationResult.Success(id, policy, null, policy);
        }

        var chainError = DelegationRules.CheckChain(id, policy, new DateTimeOffset(leaf.NotAfter.ToUniversalTime()), chain, out var chainReason);
        if (chainError != DelegationError.None)
        {
            return DelegationVerificationResult.Failure(chainError, chainReason, id, policy, chain);
        }

        if (ancestorCertificates is not null)
        {
            var verificationTime = new DateTimeOffset(leaf.NotBefore.ToUniversalTime());
            foreach (var ancestor in ancestorCertificates)
            {
                if (CheckAncestor(ancestor, chain, intermediateList, bundles, verificationTime) is { } mismatch)
                {
                    return DelegationVerificationResult.Failure(DelegationError.AncestorMismatch, $"Certificate '{id}': {mismatch}.", id, policy, chain);
                }
            }
        }

        return DelegationVerificationResult.Success(id, policy, chain, chain.ComputeEffectivePolicy(policy!));
    }

    private static string? CheckAncestor(X509Certificate2 ancestor, DelegationChain chain, List<X509Certificate2> intermediates, ITrustBundleSource bundles, DateTimeOffset at)
    {
        var hash = ancestor.GetCertHash(HashAlgorithmName.SHA256);
        var index = -1;
        for (var i = 0; i < chain.Count; i++)
        {
            if (CryptographicOperations.FixedTimeEquals(hash, chain[i].CertificateHashSpan))
            {
                index = i;
                break;
            }
        }

        if (index < 0)
        {
            return $"ancestor certificate with serial {ancestor.SerialNumber} (sha256 {Convert.ToHexStringLower(hash)}) is not listed in the delegation chain";
        }

        var link = chain[index];
        var validation = X509SvidValidator.Validate(ancestor, intermediates, bundles, at);
        if (!validation.IsValid)
        {
            return $"the certificate of chain link {index} '{link.Id}' was not a valid SVID when the leaf was issued: {validation.Reason}";
        }

        if (validation.Id != link.Id)
        {
            return $"chain link {index} names '{link.Id}' but its certificate is for '{validation.Id}'";
        }

        AgentPolicy? policy;
        DelegationChain? ancestorChain;
        try
        {
            policy = AgentPolicyExtension.ReadPolicy(ancestor);
            ancestorChain = AgentPolicyExtension.ReadDelegationChain(ancestor);
        }
        catch (PolicyFormatException ex)
        {
            return $"the certificate of chain link {index} '{link.Id}' has a malformed extension: {ex.Message}";
        }

        if (policy is null || !policy.Equals(link.Policy))
        {
            return $"chain link {index} '{link.Id}' lists a policy that differs from its certificate's";
        }

        if ((ancestorChain?.Count ?? 0) != index)
        {
            return $"the certificate of chain link {index} '{link.Id}' has {ancestorChain?.Count ?? 0} ancestors, not {index}";
        }

        for (var i = 0; i < index; i++)
        {
            if (!ancestorChain![i].CertificateHashSpan.SequenceEqual(chain[i].CertificateHashSpan))
            {
                return $"the certificate of chain link {index} '{link.Id}' lists a different ancestor at position {i}";
            }
        }

        return new DateTimeOffset(ancestor.NotAfter.ToUniversalTime()) == link.NotAfter
            ? null
            : $"chain link {index} '{link.Id}' lists expiry {link.NotAfter:O} but its certificate expires at {ancestor.NotAfter.ToUniversalTime():O}";
    }
}
