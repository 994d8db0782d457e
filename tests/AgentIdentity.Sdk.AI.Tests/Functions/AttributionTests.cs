using AgentIdentity.Audit;
using AgentIdentity.SemanticKernel.Tests.TestInfrastructure;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;

namespace AgentIdentity.AI.Tests.Functions;

/// <summary>Over real sockets: a FunctionInvokingChatClient tool calls a Kestrel mTLS service with the agent's HttpClient.</summary>
public sealed class AttributionTests : IAsyncLifetime
{
    private readonly TestAgents _agents = new();
    private readonly InMemoryAuditSink _audit = new();
    private ErpService _erp = null!;

    public async Task InitializeAsync() => _erp = await ErpService.StartAsync(_agents);

    public async Task DisposeAsync()
    {
        await _erp.DisposeAsync();
        await _agents.DisposeAsync();
    }

    [Fact]
    public async Task UseAgentIdentity_ToolCallsMtlsService_ServiceSeesAgentCertificateAndToolCallId()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton<IX509SvidIssuer>(_agents.Ca);
        services.AddSingleton<ITrustBundleSource>(_agents.Ca);
        services.AddSingleton<IAuditSink>(_audit);
        services.AddAgentIdentity(o =>
        {
            o.TrustDomain = "corp.example";
            o.AgentName = "planner";
            o.Credential.Policy = new AgentPolicy(services: ["spiffe://corp.example/svc/*"], tools: ["GetInvoice"]);
        });
        services.AddHttpClient("erp", c => c.BaseAddress = _erp.BaseAddress).AddAgentIdentity(o => o.ServerId = ErpService.ServerId);
        await using var provider = services.BuildServiceProvider();
        var credential = provider.GetRequiredService<AgentCredential>();
        await credential.WhenReadyAsync().WaitAsync(TimeSpan.FromSeconds(30));
        var http = provider.GetRequiredService<IHttpClientFactory>().CreateClient("erp");
        var tool = AIFunctionFactory.Create((int id) => http.GetStringAsync(new Uri($"/invoices/{id}", UriKind.Relative)), "GetInvoice");
        var model = new ScriptedChatClient(
            _ => ScriptedChatClient.ToolCalls(("call_xyz", "GetInvoice", new() { ["id"] = 5 })),
            _ => ScriptedChatClient.Text("done"));
        using var client = model.AsBuilder().UseAgentIdentity().UseFunctionInvocation().Build(provider);

        var response = await client.GetResponseAsync("invoice 5?", new ChatOptions { Tools = [tool] }).WaitAsync(TimeSpan.FromSeconds(60));

        Assert.Equal("done", response.Text);
        var seen = Assert.Single(_erp.Seen);
        Assert.Equal(credential.Id.ToString(), seen.CertificateId);
        Assert.Equal(credential.Id.ToString(), seen.AgentHeader);
        Assert.Equal("GetInvoice", seen.Tool);
        Assert.Equal("call_xyz", seen.ToolCallId);
        Assert.Equal("call_xyz", TestAgents.Single(_audit, "GetInvoice").RequestId);
    }
}
