using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;

namespace AgentIdentity.SemanticKernel.Tests.TestInfrastructure;

/// <summary>A stateless model stand-in: the response is a function of the conversation so far, so many conversations may run at once.</summary>
internal sealed class ReactiveChatClient(Func<IReadOnlyList<ChatMessage>, ChatResponse> respond) : IChatClient
{
    public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
        Task.FromResult(respond([.. messages]));

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
        : serviceType == typeof(ChatClientMetadata) ? new ChatClientMetadata("reactive", defaultModelId: "reactive-model")
        : serviceType.IsInstanceOfType(this) ? this : null;

    public void Dispose()
    {
    }
}
