namespace AgentIdentity.AspNetCore;

/// <summary>
/// The default <see cref="IAgentCertificatePolicyEvaluator"/>: decodes the caller's agent policy and delegation chain extensions
/// (cached per certificate) and allows an action only when the <em>effective</em> policy — the intersection of the policies along
/// the delegation chain — allows it. A certificate without a policy extension neither grants nor denies; one whose extensions
/// cannot be decoded is denied (fail-closed).
/// </summary>
/// <remarks>Thread-safe.</remarks>
internal sealed class AgentCertificatePolicyEvaluator : IAgentCertificatePolicyEvaluator
{
    private readonly CertificatePolicyCache _cache;

    /// <summary>Initializes a new instance of the <see cref="AgentCertificatePolicyEvaluator"/> class.</summary>
    /// <param name="cache">The decoded-policy cache; <see langword="null"/> for a new one.</param>
    public AgentCertificatePolicyEvaluator(CertificatePolicyCache? cache = null) => _cache = cache ?? new CertificatePolicyCache();

    /// <inheritdoc/>
    public AuthorizationDecision? Evaluate(AgentCaller caller, string action)
    {
        ArgumentNullException.ThrowIfNull(caller);
        ArgumentNullException.ThrowIfNull(action);
        if (caller.PolicyExtension is null && caller.DelegationChainExtension is null)
        {
            return null;
        }

        CertificatePolicy content;
        try
        {
            content = _cache.Get(caller.Certificate);
        }
        catch (PolicyFormatException ex)
        {
            return AuthorizationDecision.Denied($"the agent policy of '{caller.Id}' cannot be decoded ({ex.Message}); denying '{action}' (fail-closed)");
        }

        if (content.EffectivePolicy is not { } effective)
        {
            return AuthorizationDecision.Denied($"the certificate of '{caller.Id}' carries a delegation chain without a policy; denying '{action}' (fail-closed)");
        }

        return effective.AllowsAction(action)
            ? AuthorizationDecision.Allowed
            : AuthorizationDecision.Denied($"the effective policy of '{caller.Id}' does not allow action '{action}'");
    }
}

internal static class AgentCertificatePolicyEvaluatorDefault
{
    public static AgentCertificatePolicyEvaluator Instance { get; } = new();
}
