namespace AgentIdentity.AspNetCore;

/// <summary>
/// The default <see cref="IAgentCertificatePolicyEvaluator"/>: reads the caller's policy as the authentication handler verified it
/// (delegation chain rules checked, effective policy computed once per certificate) and allows an action only when the <em>effective</em> policy — the intersection of the policies along
/// the delegation chain — allows it. A certificate without a policy extension neither grants nor denies; one whose extensions
/// cannot be decoded is denied (fail-closed).
/// </summary>
/// <remarks>Thread-safe.</remarks>
internal sealed class AgentCertificatePolicyEvaluator : IAgentCertificatePolicyEvaluator
{
    /// <inheritdoc/>
    public AuthorizationDecision? Evaluate(AgentCaller caller, string action)
    {
        ArgumentNullException.ThrowIfNull(caller);
        ArgumentNullException.ThrowIfNull(action);
        var policy = caller.Policy;
        if (!caller.PolicyHonoured)
        {
            return null; // a trust domain whose CA may not grant rights here: its extensions neither grant nor deny
        }

        if (!policy.HasPolicy)
        {
            return caller.DelegationChainExtension is null
                ? null
                : AuthorizationDecision.Denied($"the certificate of '{caller.Id}' carries a delegation chain without a policy; denying '{action}' (fail-closed)");
        }

        if (policy.Effective is not { } effective)
        {
            return AuthorizationDecision.Denied($"{policy.UnreadableReason}; denying '{action}' (fail-closed)");
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
