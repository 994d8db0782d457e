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
    /// <returns>Whether the certificate policy allows the action (a denial when it does not, or cannot be read); <see langword="null"/>
    /// when the certificate carries no policy, which neither grants nor denies: something else (a token scope) must grant.</returns>
    AuthorizationDecision? Evaluate(AgentCaller caller, string action);
}
