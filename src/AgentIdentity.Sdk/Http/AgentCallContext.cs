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
