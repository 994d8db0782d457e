using System.Net.Http;

namespace AgentIdentity;

/// <summary>The outer handler of an agent's HttpClient: attribution headers from <see cref="AgentCallContext"/> and, when configured,
/// the RFC 8705 certificate-bound access token for the exact certificate the request will present.</summary>
internal sealed class AgentIdentityHttpHandler : DelegatingHandler
{
    internal const string AgentIdHeader = "X-Agent-Id";
    internal const string ToolNameHeader = "X-Agent-Tool";
    internal const string ToolCallIdHeader = "X-Agent-Tool-Call-Id";
    internal const string TaskIdHeader = "X-Agent-Task-Id";
    internal const string ConversationIdHeader = "X-Agent-Conversation-Id";

    private readonly bool _ownsState;

    /// <summary>The handler IHttpClientFactory builds around its primary handler; the state is owned by <see cref="AgentHttpClientHandlers"/>.</summary>
    public AgentIdentityHttpHandler(AgentHttpClientHandlers.ClientState state)
    {
        State = state;
        Name = string.Empty;
    }

    /// <summary>A stand-alone handler (<see cref="AgentHttpClient.CreateHandler"/>) over the state's rotating handler; disposing it disposes the state when owned.</summary>
    public AgentIdentityHttpHandler(AgentHttpClientHandlers.ClientState state, string name, bool ownsState)
        : base(new NonDisposingHandler(state.Handler))
    {
        State = state;
        Name = name;
        _ownsState = ownsState;
    }

    internal AgentHttpClientHandlers.ClientState State { get; }

    internal string Name { get; }

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (State.Options.SendAttributionHeaders && AgentCallContext.Current is { } context)
        {
            AddAttribution(request, context);
        }

        return State.Tokens is { } tokens
            ? tokens.SendWithTokenAsync(request, base.SendAsync, State.Handler, cancellationToken)
            : base.SendAsync(request, cancellationToken);
    }

    protected override HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken) =>
        throw new NotSupportedException("The agent HttpClient supports only asynchronous sends; use SendAsync.");

    protected override void Dispose(bool disposing)
    {
        if (disposing && _ownsState)
        {
            State.Dispose();
        }

        base.Dispose(disposing);
    }

    private static void AddAttribution(HttpRequestMessage request, AgentCallContext context)
    {
        Set(request, AgentIdHeader, context.AgentId.IsEmpty ? null : context.AgentId.ToString());
        Set(request, ToolNameHeader, context.ToolName);
        Set(request, ToolCallIdHeader, context.ToolCallId);
        Set(request, TaskIdHeader, context.TaskId);
        Set(request, ConversationIdHeader, context.ConversationId);
    }

    private static void Set(HttpRequestMessage request, string name, string? value)
    {
        if (string.IsNullOrEmpty(value) || request.Headers.Contains(name))
        {
            return;
        }

        // Header values must be visible ASCII; anything else (including CR/LF) is percent-encoded, so no header injection is possible.
        foreach (var c in value)
        {
            if (c is < (char)0x21 or > (char)0x7E or '%')
            {
                value = Uri.EscapeDataString(value);
                break;
            }
        }

        request.Headers.TryAddWithoutValidation(name, value);
    }
}
