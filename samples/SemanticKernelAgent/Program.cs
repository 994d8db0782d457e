// Semantic Kernel agent with its own identity, wired through DI: services.AddAgentIdentity() gives the agent an SVID with a
// policy, services.AddAgentIdentityFilters() guards every tool call of kernels built from these services, and the "erp"
// HttpClient presents the SVID over mTLS. Two plugins: Erp (calls an mTLS service) and Clock (local). The model is scripted.
// Run: dotnet run --project samples/SemanticKernelAgent
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using AgentIdentity;
using AgentIdentity.AspNetCore;
using AgentIdentity.Audit;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.SemanticKernel;

var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { EnvironmentName = Environments.Development, Args = args });
builder.Logging.SetMinimumLevel(LogLevel.Warning);
builder.Services
    .AddAgentIdentity(o =>
    {
        o.TrustDomain = "corp.example";
        o.AgentName = "assistant";
        o.Credential.Policy = new AgentPolicy(services: ["spiffe://corp.example/svc/*"], actions: ["invoices:read"], tools: ["Erp.GetInvoice", "Clock.*"]);
    })
    .UseDevelopmentCertificateAuthority();
builder.Services.AddSingleton<InMemoryAuditSink>();
builder.Services.AddSingleton<IAuditSink>(sp => sp.GetRequiredService<InMemoryAuditSink>());
builder.Services.AddHttpClient("erp", c => c.BaseAddress = ErpService.Address).AddAgentIdentity(o => o.ServerId = ErpService.IdIn("corp.example"));
builder.Services.AddAgentIdentityFilters(o => o.ToolActions["Erp.GetInvoice"] = "invoices:read");
builder.Services.AddKernel();
builder.Services.AddSingleton(sp => KernelPluginFactory.CreateFromObject(new ErpPlugin(sp.GetRequiredService<IHttpClientFactory>().CreateClient("erp")), "Erp"));
builder.Services.AddSingleton(KernelPluginFactory.CreateFromType<ClockPlugin>("Clock"));
builder.Services.AddSingleton<IChatClient>(sp => new ScriptedModel([
    new Microsoft.Extensions.AI.FunctionCallContent("call_1", "Erp_GetInvoice", new Dictionary<string, object?> { ["id"] = 42 }),
    new Microsoft.Extensions.AI.FunctionCallContent("call_2", "Clock_Now", null),
    new Microsoft.Extensions.AI.FunctionCallContent("call_3", "Erp_DeleteInvoice", new Dictionary<string, object?> { ["id"] = 42 }),
]).AsBuilder().UseKernelFunctionInvocation().Build(sp));

using var host = builder.Build();
await host.StartAsync();
var credential = host.Services.GetRequiredService<AgentCredential>();
await credential.WhenReadyAsync();
await using var erp = await ErpService.StartAsync(host.Services.GetRequiredService<DevelopmentCertificateAuthority>());

var kernel = host.Services.GetRequiredService<Kernel>();
var answer = await kernel.InvokePromptAsync("Show invoice 42, the time, then delete invoice 42.", new(new PromptExecutionSettings { FunctionChoiceBehavior = FunctionChoiceBehavior.Auto() }));
Console.WriteLine($"Agent {credential.Id}");
Console.WriteLine($"Model answered: {answer}");
Console.WriteLine();
Console.WriteLine("Audit trail:");
var audit = host.Services.GetRequiredService<InMemoryAuditSink>();
foreach (var e in audit.Events)
{
    Console.WriteLine($"  {e.Tool,-18} {e.RequestId,-7} {AuditEvent.OutcomeName(e.Outcome),-8} {e.Reason}");
}

Console.WriteLine("The ERP service saw:");
foreach (var seen in erp.Seen)
{
    Console.WriteLine($"  certificate {seen.CertificateId}, tool {seen.Tool}, tool call {seen.ToolCallId}");
}

await host.StopAsync();
return audit.Events.Count == 3 && erp.Seen.Count == 1 ? 0 : 1;

/// <summary>This sample's ERP plugin also offers a tool the agent's certificate does not allow.</summary>
internal sealed partial class ErpPlugin
{
    [KernelFunction, System.ComponentModel.Description("Deletes an invoice (the agent's certificate does not allow it).")]
    public static Task<string> DeleteInvoice(int id) => throw new InvalidOperationException($"Invoice {id} must not be deleted; the policy should have stopped this call.");
}
