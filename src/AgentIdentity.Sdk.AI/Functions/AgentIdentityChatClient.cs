using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;

namespace AgentIdentity.AI;

/// <summary>
/// A chat client that puts every <see cref="AIFunction"/> in <see cref="ChatOptions.Tools"/> under
/// <see cref="AgentIdentityFunctionMiddleware"/> before the request reaches the <see cref="FunctionInvokingChatClient"/> below it.
/// Added by <c>ChatClientBuilder.UseAgentIdentity()</c>, which must come before <c>UseFunctionInvocation()</c>.
/// </summary>
/// <remarks>Hosted tools (server-side MCP, code interpreter) are not <see cref="AIFunction"/>s and pass unguarded, as do
/// <see cref="FunctionInvokingChatClient.AdditionalTools"/>: give those tools to the request instead. Thread-safe.</remarks>
public sealed class AgentIdentityChatClient : DelegatingChatClient
{
    private readonly ConditionalWeakTable<AIFunction, AgentIdentityFunction> _wrapped = [];
    private int _placementChecked;

    /// <summary>Initializes a new instance of the <see cref="AgentIdentityChatClient"/> class.</summary>
    /// <param name="innerClient">The next client; a <see cref="FunctionInvokingChatClient"/> must be part of it.</param>
    /// <param name="middleware">The middleware bound to the agent's identity.</param>
    public AgentIdentityChatClient(IChatClient innerClient, AgentIdentityFunctionMiddleware middleware)
        : base(innerClient)
    {
        ArgumentNullException.ThrowIfNull(middleware);
        Middleware = middleware;
    }

    /// <summary>Gets the middleware the tools run under.</summary>
    public AgentIdentityFunctionMiddleware Middleware { get; }

    /// <inheritdoc/>
    public override Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
        base.GetResponseAsync(messages, Guard(options), cancellationToken);

    /// <inheritdoc/>
    public override IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
        base.GetStreamingResponseAsync(messages, Guard(options), cancellationToken);

    private ChatOptions? Guard(ChatOptions? options)
    {
        if (Volatile.Read(ref _placementChecked) == 0)
        {
            if (InnerClient.GetService(typeof(FunctionInvokingChatClient)) is null)
            {
                throw new InvalidOperationException(
                    "UseAgentIdentity() found no FunctionInvokingChatClient below it, so tool calls would run unguarded. Call UseAgentIdentity() before UseFunctionInvocation() on the ChatClientBuilder (the first call is the outermost client).");
            }

            Volatile.Write(ref _placementChecked, 1);
        }

        if (options?.Tools is not { Count: > 0 } tools)
        {
            return options;
        }

        var guarded = new List<AITool>(tools.Count);
        var changed = false;
        foreach (var tool in tools)
        {
            if (tool is AIFunction function and not AgentIdentityFunction)
            {
                guarded.Add(_wrapped.GetValue(function, f => new AgentIdentityFunction(f, Middleware)));
                changed = true;
            }
            else
            {
                guarded.Add(tool);
            }
        }

        if (!changed)
        {
            return options;
        }

        var copy = options.Clone();
        copy.Tools = guarded;
        return copy;
    }
}
