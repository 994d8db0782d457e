using System.Collections.Concurrent;

namespace AgentIdentity.SemanticKernel.Tests.TestInfrastructure;

/// <summary>A tool that calls the ERP service with the agent's HttpClient; optionally meets the other agents' calls at a barrier first.</summary>
public sealed class ErpHttpPlugin(HttpClient http, RoundBarrier? barrier = null)
{
    public ConcurrentQueue<(SpiffeId Before, SpiffeId After, string? ToolCallId)> Seen { get; } = new();

    [Microsoft.SemanticKernel.KernelFunction]
    public async Task<string> GetInvoice(int id)
    {
        var before = AgentCallContext.Current;
        if (barrier is not null)
        {
            await barrier.SignalAndWaitAsync(id);
        }

        var body = await http.GetStringAsync(new Uri($"/invoices/{id}", UriKind.Relative));
        Seen.Enqueue((before?.AgentId ?? default, AgentCallContext.Current?.AgentId ?? default, AgentCallContext.Current?.ToolCallId));
        return body;
    }
}
