using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;

namespace AgentIdentity.AspNetCore;

/// <summary>
/// The certificate policy of a caller as the service enforces it: the effective policy of a verified delegation chain, a reason
/// why the policy cannot be enforced (fail-closed), or a broken delegation rule (the caller is not authenticated).
/// Computed once per certificate by <see cref="AgentCallerPolicyCache"/>.
/// </summary>
internal sealed class AgentCallerPolicy
{
    private AgentCallerPolicy(AgentPolicy? effective, string? unreadable, DelegationError chainError, string? chainReason)
    {
        Effective = effective;
        UnreadableReason = unreadable;
        ChainError = chainError;
        ChainReason = chainReason;
    }

    /// <summary>Gets the outcome for a certificate without AgentIdentity extensions, or whose extensions are not honoured.</summary>
    public static AgentCallerPolicy None { get; } = new(null, null, DelegationError.None, null);

    /// <summary>Gets the effective policy (the intersection along the verified chain), or <see langword="null"/>.</summary>
    public AgentPolicy? Effective { get; }

    /// <summary>Gets why the certificate's policy cannot be enforced (malformed extension, a chain without a policy, an intersection
    /// over the limit); everything it would govern is denied.</summary>
    public string? UnreadableReason { get; }

    /// <summary>Gets the delegation rule the chain breaks, or <see cref="DelegationError.None"/>.</summary>
    public DelegationError ChainError { get; }

    /// <summary>Gets the sentence naming the link and the rule, when <see cref="ChainError"/> is set.</summary>
    public string? ChainReason { get; }

    /// <summary>Gets a value indicating whether the certificate carries a policy the service honours (readable or not).</summary>
    public bool HasPolicy => Effective is not null || UnreadableReason is not null;

    /// <summary>Does <paramref name="certificate"/> carry a policy or delegation-chain extension?</summary>
    public static bool HasExtensions(X509Certificate2 certificate)
    {
        foreach (var extension in certificate.Extensions)
        {
            if (extension.Oid?.Value is AgentPolicyExtension.PolicyOid or AgentPolicyExtension.DelegationChainOid)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Decodes both extensions strictly, checks the delegation chain's rules (links in the caller's trust domain, task IDs
    /// below their parents, targets allowed, subsets, decreasing depth, lifetimes within the parents'), and only then intersects.</summary>
    public static AgentCallerPolicy Compute(SpiffeId id, X509Certificate2 certificate)
    {
        AgentPolicy? policy;
        DelegationChain? chain;
        try
        {
            policy = AgentPolicyExtension.ReadPolicy(certificate);
            chain = AgentPolicyExtension.ReadDelegationChain(certificate);
        }
        catch (PolicyFormatException ex)
        {
            return new(null, $"the agent policy of '{id}' cannot be decoded ({ex.Message})", DelegationError.None, null);
        }

        if (chain is null)
        {
            return policy is null ? None : new(policy, null, DelegationError.None, null);
        }

        var error = DelegationRules.CheckChain(id, policy, new DateTimeOffset(certificate.NotAfter.ToUniversalTime()), chain, out var reason);
        if (error != DelegationError.None)
        {
            return new(null, null, error, $"The delegation chain of the client certificate is invalid ({error}): {reason}");
        }

        try
        {
            return new(chain.ComputeEffectivePolicy(policy!), null, DelegationError.None, null);
        }
        catch (InvalidOperationException ex)
        {
            return new(null, $"the effective policy of '{id}' cannot be computed ({ex.Message})", DelegationError.None, null);
        }
    }
}

/// <summary>
/// The callers' policies keyed by their leaf certificate, computed at most once per certificate even when many requests present
/// it at the same time (single flight): the first computes, the others wait for its result. Bounded like
/// <see cref="CertificateKeyedCache{TValue}"/>; the outcome depends only on the certificate's bytes.
/// </summary>
internal sealed class AgentCallerPolicyCache(int capacity)
{
    private readonly CertificateKeyedCache<Lazy<AgentCallerPolicy>> _entries = new(capacity);
    private readonly Lock _gate = new();

    public AgentCallerPolicy Get(X509Certificate2 certificate, SpiffeId id, ILogger logger)
    {
        var raw = certificate.RawDataMemory.Span;
        if (!_entries.TryGetValue(raw, out var entry))
        {
            lock (_gate)
            {
                if (!_entries.TryGetValue(raw, out entry))
                {
                    entry = new Lazy<AgentCallerPolicy>(
                        () =>
                        {
                            var outcome = AgentCallerPolicy.Compute(id, certificate);
                            logger.CallerPolicyComputed(id, certificate.SerialNumber, outcome.ChainError);
                            return outcome;
                        },
                        LazyThreadSafetyMode.ExecutionAndPublication);
                    _entries.Set(raw, entry);
                }
            }
        }

        return entry.Value;
    }
}
