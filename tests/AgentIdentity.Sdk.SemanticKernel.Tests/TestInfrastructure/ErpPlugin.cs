using Microsoft.SemanticKernel;

namespace AgentIdentity.SemanticKernel.Tests.TestInfrastructure;

/// <summary>The test plugin. Records what each invocation saw of the ambient agent context.</summary>
public sealed class ErpPlugin
{
    private int _deletes;

    public System.Collections.Concurrent.ConcurrentQueue<AgentCallContext?> Seen { get; } = new();

    public int Deletes => Volatile.Read(ref _deletes);

    [KernelFunction]
    public string GetInvoice(string id)
    {
        Seen.Enqueue(AgentCallContext.Current);
        return $"invoice {id}: 120.00 EUR";
    }

    [KernelFunction]
    public string DeleteInvoice(string id)
    {
        Interlocked.Increment(ref _deletes);
        return $"deleted {id}";
    }

    [KernelFunction]
    public string Fail() => throw new InvalidOperationException("the ERP is down");
}
