using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;

namespace AgentIdentity.SemanticKernel.Tests.TestInfrastructure;

/// <summary>
/// A model stand-in: each request gets the next scripted response (a tool call or text). It records every request so that tests
/// can read the function results the model was sent back. Thread-safe enough for one conversation at a time.
/// </summary>
internal sealed class ScriptedChatClient(params Func<IReadOnlyList<ChatMessage>, ChatResponse>[] turns) : IChatClient
{
    private readonly List<IReadOnlyList<ChatMessage>> _requests = [];

    public IReadOnlyList<IReadOnlyList<ChatMessage>> Requests
    {
        get
        {
            lock (_requests)
            {
                return [.. _requests];
            }
        }
    }

    public IReadOnlyList<string> LastToolNames { get; private set; } = [];

    public static ChatResponse ToolCalls(params (string CallId, string Name, Dictionary<string, object?> Arguments)[] calls) =>
        new(new ChatMessage(ChatRole.Assistant, [.. calls.Select(c => (AIContent)new FunctionCallContent(c.CallId, c.Name, c.Arguments))]));

    public static ChatResponse Text(string text) => new(new ChatMessage(ChatRole.Assistant, text));

    /// <summary>The function results the model received in request <paramref name="index"/>.</summary>
    public IReadOnlyList<FunctionResultContent> ResultsIn(int index) =>
        [.. Requests[index].SelectMany(m => m.Contents).OfType<FunctionResultContent>()];

    public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        IReadOnlyList<ChatMessage> list = [.. messages];
        int index;
        lock (_requests)
        {
            LastToolNames = options?.Tools?.Select(t => t.Name).ToArray() ?? [];
            _requests.Add(list);
            index = _requests.Count - 1;
        }

        if (index >= turns.Length)
        {
            throw new InvalidOperationException($"The script has {turns.Length} turns; request {index + 1} was not expected.");
        }

        return Task.FromResult(turns[index](list));
    }

    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var response = await GetResponseAsync(messages, options, cancellationToken);
        foreach (var update in response.ToChatResponseUpdates())
        {
            yield return update;
        }
    }

    public object? GetService(Type serviceType, object? serviceKey = null) =>
        serviceKey is not null ? null
        : serviceType == typeof(ChatClientMetadata) ? new ChatClientMetadata("scripted", defaultModelId: "scripted-model")
        : serviceType.IsInstanceOfType(this) ? this : null;

    public void Dispose()
    {
    }
}
