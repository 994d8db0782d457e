namespace AgentIdentity;

/// <summary>
/// The one allow/deny result of the SDK's authorization seams: a <see cref="PeerAuthorizer"/> (may this peer be talked to?),
/// a <see cref="Tools.ToolCallAuthorizer"/> (may this tool call run?) and the service side's certificate policy evaluator (may
/// this caller perform this action?). An expected outcome, not an exception.
/// </summary>
/// <param name="IsAllowed">Whether the peer, call or action is allowed.</param>
/// <param name="Reason">Why it was denied; <see langword="null"/> when allowed.</param>
public readonly record struct AuthorizationDecision(bool IsAllowed, string? Reason)
{
    /// <summary>Gets the decision that allows.</summary>
    public static AuthorizationDecision Allowed { get; } = new(true, null);

    /// <summary>Creates a denial.</summary>
    /// <param name="reason">Why; it names what was denied and is shown in errors, logs and (for tool calls) to the model and the audit log.</param>
    /// <returns>The denial.</returns>
    /// <exception cref="ArgumentException"><paramref name="reason"/> is empty.</exception>
    public static AuthorizationDecision Denied(string reason)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(reason);
        return new(false, reason);
    }
}
