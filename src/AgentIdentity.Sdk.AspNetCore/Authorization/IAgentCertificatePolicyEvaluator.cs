namespace AgentIdentity.AspNetCore;

/// <summary>
/// Decides whether the agent policy carried in a caller's certificate (extension
/// <see cref="AgentPolicyExtension.PolicyOid"/>) allows an action such as <c>invoices:read</c>.
/// </summary>
/// <remarks>
/// <para>Register one in DI to let <c>RequireAction</c> read certificate policies. Without one, the built-in evaluator fails
/// closed: a certificate that carries a policy extension is denied every action (the policy cannot be read, so nothing it
/// allows can be proven), and a certificate without one grants nothing by itself.</para>
/// <para>Implementations must be thread-safe and should cache the decoded policy per certificate
/// (<see cref="AgentCaller"/> instances are cached and shared across requests).</para>
/// </remarks>
public interface IAgentCertificatePolicyEvaluator
{
    /// <summary>Evaluates the certificate policy of <paramref name="caller"/> for <paramref name="action"/>.</summary>
    /// <param name="caller">The validated caller; <see cref="AgentCaller.PolicyExtension"/> holds the raw policy.</param>
    /// <param name="action">The action, e.g. <c>invoices:read</c>.</param>
    /// <returns>The decision.</returns>
    AgentPolicyDecision Evaluate(AgentCaller caller, string action);
}

/// <summary>The kind of an <see cref="AgentPolicyDecision"/>.</summary>
public enum AgentPolicyDecisionKind
{
    /// <summary>The certificate carries no policy: it neither grants nor denies; something else (a token scope) must grant.</summary>
    NoPolicy = 0,

    /// <summary>The certificate policy allows the action.</summary>
    Allowed,

    /// <summary>The certificate policy denies the action, or cannot be read.</summary>
    Denied,
}

/// <summary>The decision of an <see cref="IAgentCertificatePolicyEvaluator"/>: an expected outcome, not an exception.</summary>
/// <param name="Kind">The kind of decision.</param>
/// <param name="Reason">Why the action was denied; logged, never sent to the client.</param>
public readonly record struct AgentPolicyDecision(AgentPolicyDecisionKind Kind, string? Reason)
{
    /// <summary>Gets the decision for a certificate that carries no policy.</summary>
    public static AgentPolicyDecision NoPolicy { get; } = new(AgentPolicyDecisionKind.NoPolicy, null);

    /// <summary>Gets the decision that allows the action.</summary>
    public static AgentPolicyDecision Allowed { get; } = new(AgentPolicyDecisionKind.Allowed, null);

    /// <summary>Creates a decision that denies the action.</summary>
    /// <param name="reason">Why.</param>
    /// <returns>The decision.</returns>
    public static AgentPolicyDecision Denied(string reason) => new(AgentPolicyDecisionKind.Denied, reason);
}
