// AgentIdentity quickstart: two agent instances, each with its own short-lived X.509-SVID that rotates itself; then each agent
// runs a Semantic Kernel conversation whose tool calls carry its identity to an mTLS service, are checked against the policy in
// its certificate, and are audited. Everything runs offline: the model is scripted (no LLM key). To use a real model, register an
// IChatClient for it instead of ScriptedModel (see docs/semantic-kernel.md, "A real model").
// Run: dotnet run --project samples/Quickstart
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
using Microsoft.Extensions.Primitives;
using Microsoft.SemanticKernel;

var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { EnvironmentName = Environments.Development, Args = args });
builder.Logging.SetMinimumLevel(LogLevel.Warning); // keep the screen for the identities; the dev-CA warning still shows

builder.Services
    .AddAgentIdentity(options =>
    {
        options.TrustDomain = "quickstart.example";
        options.Credential.Lifetime = TimeSpan.FromSeconds(6); // short, so that rotation happens on screen (default: 1 hour)
    })
    .UseDevelopmentCertificateAuthority();

// Each agent's HttpClient "erp-<agent>" presents that agent's SVID over mTLS and sends the tool-call attribution headers.
var identities = new System.Collections.Concurrent.ConcurrentDictionary<string, IX509SvidSource>();
foreach (var agent in new[] { "planner", "researcher" })
{
    builder.Services.AddKeyedSingleton<IX509SvidSource>(agent, (_, key) => identities[(string)key!]);
    builder.Services.AddHttpClient($"erp-{agent}", c => c.BaseAddress = ErpService.Address)
        .AddAgentIdentity(o =>
        {
            o.AgentName = agent;
            o.ServerId = ErpService.IdIn("quickstart.example");
        });
}

using var host = builder.Build();
await host.StartAsync();

var factory = host.Services.GetRequiredService<IAgentCredentialFactory>();
// The policy travels inside each certificate: the planner may read invoices; the researcher may only read the clock.
await using var planner = await factory.CreateAsync("planner", o => o.Policy = new AgentPolicy(
    services: ["spiffe://quickstart.example/svc/*"], actions: ["invoices:read"], tools: ["Erp.GetInvoice", "Clock.*"]));
await using var researcher = await factory.CreateAsync("researcher", o => o.Policy = new AgentPolicy(tools: ["Clock.*"]));
identities["planner"] = planner;
identities["researcher"] = researcher;

const int RotationsToShow = 2;
var done = new[] { Watch(planner, "planner"), Watch(researcher, "researcher") };
await Task.WhenAll(done).WaitAsync(TimeSpan.FromSeconds(60));

Console.WriteLine();
Console.WriteLine($"Both agents rotated {RotationsToShow} times with no code of their own. Distinct identities: {planner.Id != researcher.Id}.");

// Part 2: tool calls carry identity. A real mTLS service authenticates callers by SVID (AgentIdentity.Sdk.AspNetCore).
Console.WriteLine();
Console.WriteLine("Tool calls (scripted model, Semantic Kernel with AgentIdentity filters):");
var ca = host.Services.GetRequiredService<DevelopmentCertificateAuthority>();
await using var erp = await ErpService.StartAsync(ca);
var audit = new InMemoryAuditSink();
var http = host.Services.GetRequiredService<IHttpClientFactory>();
await RunAgentAsync(planner, "planner", http.CreateClient("erp-planner"), audit, ("call_p1", "Erp_GetInvoice", 42), ("call_p2", "Clock_Now", null));
await RunAgentAsync(researcher, "researcher", http.CreateClient("erp-researcher"), audit, ("call_r1", "Clock_Now", null), ("call_r2", "Erp_GetInvoice", 42));

Console.WriteLine();
Console.WriteLine("Audit trail (which agent instance called which tool):");
foreach (var e in audit.Events)
{
    Console.WriteLine($"  {e.Timestamp:HH:mm:ss.fff}Z {e.Agent}  {e.Tool,-15} {e.RequestId,-8} {AuditEvent.OutcomeName(e.Outcome),-8} {e.Reason}");
}

Console.WriteLine();
Console.WriteLine("What the ERP service saw (from the client certificate, plus attribution headers):");
foreach (var seen in erp.Seen)
{
    Console.WriteLine($"  certificate {seen.CertificateId}  tool {seen.Tool}  tool call {seen.ToolCallId}");
}

var denied = audit.Events.Count(e => e.Outcome == AuditOutcome.Denied);
Console.WriteLine();
Console.WriteLine($"{audit.Events.Count} tool calls audited, {denied} denied by policy; the service saw {erp.Seen.Count} authenticated call(s).");
await host.StopAsync();
return denied == 1 && erp.Seen.Count == 1 ? 0 : 1;

static async Task RunAgentAsync(AgentCredential credential, string name, HttpClient erpClient, IAuditSink audit, params (string CallId, string Tool, int? Id)[] calls)
{
    var kernelBuilder = Kernel.CreateBuilder();
    kernelBuilder.Plugins.AddFromObject(new ErpPlugin(erpClient), "Erp");
    kernelBuilder.Plugins.AddFromObject(new ClockPlugin(), "Clock");
    var model = new ScriptedModel([.. calls.Select(c => new Microsoft.Extensions.AI.FunctionCallContent(c.CallId, c.Tool, c.Id is { } id ? new Dictionary<string, object?> { ["id"] = id } : null))]);
    kernelBuilder.Services.AddSingleton<IChatClient>(sp => model.AsBuilder().UseKernelFunctionInvocation().Build(sp));
    kernelBuilder.AddAgentIdentityFilters(credential, o =>
    {
        o.AuditSink = audit;
        o.ToolActions["Erp.GetInvoice"] = "invoices:read";
    });
    var kernel = kernelBuilder.Build();
    var answer = await kernel.InvokePromptAsync("Look up invoice 42 and the time.", new(new PromptExecutionSettings { FunctionChoiceBehavior = FunctionChoiceBehavior.Auto() }));
    Console.WriteLine($"  [{name,-10}] model answered: {answer}");
}

static Task Watch(AgentCredential credential, string label)
{
    var finished = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
    var rotations = 0;
    Print(credential.GetCurrent(), label, "issued ");
    ChangeToken.OnChange(credential.GetChangeToken, () =>
    {
        Print(credential.GetCurrent(), label, "rotated");
        if (++rotations == RotationsToShow)
        {
            finished.TrySetResult();
        }
    });
    return finished.Task;
}

static void Print(X509Svid svid, string label, string what) =>
    Console.WriteLine($"[{label,-10}] {what} {svid.Id}  serial {svid.SerialNumber[..12]}…  expires {svid.NotAfter:HH:mm:ss}Z");
