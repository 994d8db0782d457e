namespace AgentIdentity.Tools;

/// <summary>One tool (function) call an agent is about to make, as the tool-call integrations describe it to <see cref="ToolCallGuard"/>.</summary>
/// <remarks>Immutable once created; thread-safe.</remarks>
public sealed class ToolCall
{
    /// <summary>Gets the tool name in policy form: <c>Plugin.Function</c>, or the bare function name without a plugin.
    /// It is matched against the tool patterns of the certificate's policy (for example <c>Erp.*</c>).</summary>
    public required string ToolName { get; init; }

    /// <summary>Gets the plugin (tool group), for example <c>Erp</c>; <see langword="null"/> when the tool has none.</summary>
    public string? PluginName { get; init; }

    /// <summary>Gets the function name without its plugin, for example <c>GetInvoice</c>.</summary>
    public required string FunctionName { get; init; }

    /// <summary>Gets the model's identifier of this call (for example <c>call_1</c>); <see langword="null"/> for direct invocations.</summary>
    public string? ToolCallId { get; init; }

    /// <summary>Gets the position of this call among the calls of one model response (0-based), when known.</summary>
    public int? Sequence { get; init; }

    /// <summary>Gets the round trip to the model that requested the call (0-based), when known.</summary>
    public int? Iteration { get; init; }

    /// <summary>Gets the action the tool performs (for example <c>invoices:read</c>), checked against the certificate's action
    /// patterns; <see langword="null"/> when the tool declares none (then only the tool allow-list applies).</summary>
    public string? Action { get; init; }

    /// <summary>Gets the conversation or session identifier, when known.</summary>
    public string? ConversationId { get; init; }

    /// <summary>Gets the call's arguments; they are hashed into the audit event (raw values only when opted in).</summary>
    public IEnumerable<KeyValuePair<string, object?>>? Arguments { get; init; }

    /// <summary>Builds the policy form of a tool name.</summary>
    /// <param name="pluginName">The plugin; <see langword="null"/> or empty for none.</param>
    /// <param name="functionName">The function.</param>
    /// <returns><c>Plugin.Function</c>, or <paramref name="functionName"/> alone.</returns>
    public static string GetToolName(string? pluginName, string functionName)
    {
        ArgumentException.ThrowIfNullOrEmpty(functionName);
        return string.IsNullOrEmpty(pluginName) ? functionName : string.Concat(pluginName, ".", functionName);
    }

    /// <inheritdoc/>
    public override string ToString() => ToolCallId is null ? ToolName : $"{ToolName} ({ToolCallId})";
}

/// <summary>An application's own rule for tool calls, intersected with the certificate's policy: both must allow a call.</summary>
/// <param name="svid">The SVID the agent acts with (already checked: unexpired, not revoked, allowed by its certificate policy).</param>
/// <param name="call">The call.</param>
/// <returns><see cref="AuthorizationDecision.Allowed"/>, or a denial whose reason the model and the audit log see.</returns>
/// <remarks>Runs before every call: keep it fast, pure and thread-safe. An exception it throws denies the call.</remarks>
public delegate AuthorizationDecision ToolCallAuthorizer(X509Svid svid, ToolCall call);

/// <summary>Why <see cref="ToolCallGuard"/> refused a call.</summary>
public enum ToolCallDenialKind
{
    /// <summary>The call was not refused.</summary>
    None = 0,

    /// <summary>Kill switch: the agent has no valid identity (not issued yet, expired, or its credential is disposed).</summary>
    IdentityUnavailable,

    /// <summary>Kill switch: the agent's SVID (or an identity it was delegated from) is revoked.</summary>
    IdentityRevoked,

    /// <summary>The certificate carries no policy, and <see cref="ToolCallGuardOptions.AllowWithoutCertificatePolicy"/> is off.</summary>
    NoCertificatePolicy,

    /// <summary>The tool is not in the certificate's (effective) tool allow-list.</summary>
    ToolNotAllowed,

    /// <summary>The tool's action is not in the certificate's (effective) action allow-list.</summary>
    ActionNotAllowed,

    /// <summary>The application's <see cref="ToolCallGuardOptions.LocalPolicy"/> refused the call.</summary>
    LocalPolicy,
}

/// <summary>What <see cref="ToolCallGuard.InvokeAsync{TState}"/> did with a call.</summary>
/// <remarks>A value, not an exception: a denial is an expected outcome that the integration turns into a function result.</remarks>
public readonly record struct ToolCallOutcome
{
    internal ToolCallOutcome(ToolCallDenialKind denial, string? reason, SpiffeId agent)
    {
        Denial = denial;
        Reason = reason;
        Agent = agent;
    }

    /// <summary>Gets a value indicating whether the tool ran.</summary>
    public bool WasInvoked => Denial == ToolCallDenialKind.None;

    /// <summary>Gets why the call was refused, or <see cref="ToolCallDenialKind.None"/>.</summary>
    public ToolCallDenialKind Denial { get; }

    /// <summary>Gets a value indicating whether the refusal is a kill switch (identity unavailable or revoked): the agent should stop.</summary>
    public bool IsKillSwitch => Denial is ToolCallDenialKind.IdentityUnavailable or ToolCallDenialKind.IdentityRevoked;

    /// <summary>Gets why the call was refused; <see langword="null"/> when it ran.</summary>
    public string? Reason { get; }

    /// <summary>Gets the SPIFFE ID of the agent, when its identity was available.</summary>
    public SpiffeId Agent { get; }

    /// <summary>Gets the text returned to the model instead of the tool's result when the call was refused.</summary>
    /// <returns>A message that says the call was refused, why, and whether to retry; <see langword="null"/> when it ran.</returns>
    public string? GetModelMessage() => Denial switch
    {
        ToolCallDenialKind.None => null,
        ToolCallDenialKind.IdentityUnavailable or ToolCallDenialKind.IdentityRevoked =>
            $"Tool call refused by AgentIdentity (kill switch): {Reason}. The agent must stop; do not retry this or any other tool.",
        _ => $"Tool call denied by AgentIdentity policy: {Reason}. The tool was not run; do not retry it, continue without it or tell the user it is not permitted.",
    };
}
