namespace AgentIdentity;

/// <summary>What an agent is doing right now (which agent, which tool call, which task), flowing with the async control flow.</summary>
/// <remarks>
/// Set by the tool-call integrations (Semantic Kernel filters, Microsoft.Extensions.AI middleware) or by application code with
/// <see cref="Begin"/>; read by the <see cref="HttpClient"/> integration, which sends it as attribution headers
/// (see docs/http-client.md). Instances are immutable and thread-safe. The values are informational: a service must take the caller's
/// identity from its certificate, never from these headers.
/// </remarks>
public sealed class AgentCallContext
{
    private static readonly AsyncLocal<AgentCallContext?> CurrentContext = new();

    /// <summary>Gets the context of the current asynchronous flow, or <see langword="null"/> when none is set.</summary>
    public static AgentCallContext? Current => CurrentContext.Value;

    /// <summary>Gets the SPIFFE ID of the acting agent (informational; the certificate is authoritative).</summary>
    public SpiffeId AgentId { get; init; }

    /// <summary>Gets the name of the tool (function) being executed, for example <c>Erp-GetInvoice</c>.</summary>
    public string? ToolName { get; init; }

    /// <summary>Gets the model's identifier of the tool call, for example <c>call_1</c>.</summary>
    public string? ToolCallId { get; init; }

    /// <summary>Gets the task identifier, for delegated or task-scoped work.</summary>
    public string? TaskId { get; init; }

    /// <summary>Gets the conversation or session identifier.</summary>
    public string? ConversationId { get; init; }

    /// <summary>Gets the X.509-SVID the agent acts with for this call, when a tool-call integration set it.</summary>
    /// <remarks>Informational for code inside the tool (for example to log the certificate serial); outbound mTLS uses the
    /// agent's own credential source, not this value.</remarks>
    public X509Svid? Svid { get; init; }

    /// <summary>Gets the plugin (tool group) of the function being executed, for example <c>Erp</c>.</summary>
    public string? PluginName { get; init; }

    /// <summary>Gets the function being executed, without its plugin, for example <c>GetInvoice</c>.</summary>
    public string? FunctionName { get; init; }

    /// <summary>Gets the position of this tool call among the calls the model requested in one response (0-based), when known.</summary>
    public int? ToolCallSequence { get; init; }

    /// <summary>Gets the delegation chain of the acting identity (outermost first), or <see langword="null"/> for an agent's own identity.</summary>
    public DelegationChain? DelegationChain { get; init; }

    /// <summary>Makes <paramref name="context"/> current until the returned scope is disposed, then restores the previous context.</summary>
    /// <param name="context">The context to set.</param>
    /// <returns>A scope; dispose it on the same flow to restore the previous context.</returns>
    public static IDisposable Begin(AgentCallContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var previous = CurrentContext.Value;
        CurrentContext.Value = context;
        return new Scope(previous);
    }

    private sealed class Scope(AgentCallContext? previous) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                CurrentContext.Value = previous;
            }
        }
    }
}
