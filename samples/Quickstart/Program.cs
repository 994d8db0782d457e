// AgentIdentity quickstart: two agent instances, each with its own short-lived X.509-SVID that rotates itself; then each agent
// runs a Semantic Kernel conversation whose tool calls carry its identity to an mTLS service, are checked against the policy in
// its certificate, and are audited. By default everything runs offline: the model is scripted (no LLM key) and the exit code is 0
// when the trail is exactly the scripted one (one call denied, one call seen by the service).
// A real model when environment variables configure one (samples/Shared/ModelSelection.cs, docs/semantic-kernel.md "A real model"):
//   AGENTIDENTITY_MODEL=gpt-4o-mini AGENTIDENTITY_MODEL_API_KEY=sk-... dotnet run --project samples/Quickstart      (OpenAI)
//   AGENTIDENTITY_MODEL=llama3.1 AGENTIDENTITY_MODEL_ENDPOINT=http://localhost:11434/v1 dotnet run ...             (Ollama, no key)
// The model then decides which tools to call, so the exit code checks what must hold whatever it decides: both conversations
// completed, at least one tool call was made, every call was audited under the agent that made it, the researcher never got
// past the policy to the ERP, and every request the ERP saw matches an allowed, audited call of the same agent and tool-call id.
// A partial or bad configuration stops the sample at start with exit code 2 and a message naming the variable (never the key).
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

ModelSelection model;
try
{
    model = ModelSelection.FromEnvironment();
}
catch (ModelConfigurationException e)
{
    Console.Error.WriteLine($"Quickstart: {e.Message}");
    return 2;
}

Console.WriteLine(model.Description);
Console.WriteLine();

var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { EnvironmentName = Environments.Development, Args = args });
builder.Logging.SetMinimumLevel(LogLevel.Warning); // keep the screen for the identities; the dev-CA warning still shows

// Both agents are declared in DI, each with its own options. The policy travels inside each certificate: the planner may read
// invoices; the researcher may only read the clock. The host creates both credentials and waits for their first SVIDs at start.
builder.Services
    .AddAgentIdentity(options =>
    {
        options.TrustDomain = "quickstart.example";
        options.Credential.Lifetime = TimeSpan.FromSeconds(6); // short, so that rotation happens on screen (default: 1 hour)
    })
    .UseDevelopmentCertificateAuthority()
    .AddAgent("planner", o => o.Policy = new AgentPolicy(
        services: ["spiffe://quickstart.example/svc/*"], actions: ["invoices:read"], tools: ["Erp.GetInvoice", "Clock.*"]))
    .AddAgent("researcher", o => o.Policy = new AgentPolicy(tools: ["Clock.*"]));

// Each agent's HttpClient "erp-<agent>" presents that agent's SVID over mTLS and sends the tool-call attribution headers.
foreach (var agent in new[] { "planner", "researcher" })
{
    builder.Services.AddHttpClient($"erp-{agent}", c => c.BaseAddress = ErpService.Address)
        .AddAgentIdentity(o =>
        {
            o.AgentName = agent;
            o.ServerId = ErpService.IdIn("quickstart.example");
        });
}

using var host = builder.Build();
await host.StartAsync(); // returns once both agents hold their first SVID

var planner = host.Services.GetRequiredKeyedService<AgentCredential>("planner");
var researcher = host.Services.GetRequiredKeyedService<AgentCredential>("researcher");

const int RotationsToShow = 2;
var done = new[] { Watch(planner, "planner"), Watch(researcher, "researcher") };
await Task.WhenAll(done).WaitAsync(TimeSpan.FromSeconds(60));

Console.WriteLine();
Console.WriteLine($"Both agents rotated {RotationsToShow} times with no code of their own. Distinct identities: {planner.Id != researcher.Id}.");

// Part 2: tool calls carry identity. A real mTLS service authenticates callers by SVID (AgentIdentity.Sdk.AspNetCore).
Console.WriteLine();
Console.WriteLine($"Tool calls ({(model.IsScripted ? "scripted model" : $"model {model.ModelId}")}, Semantic Kernel with AgentIdentity filters):");
var ca = host.Services.GetRequiredService<DevelopmentCertificateAuthority>();
await using var erp = await ErpService.StartAsync(ca);
var audit = new InMemoryAuditSink();
var http = host.Services.GetRequiredService<IHttpClientFactory>();
// '&', not '&&': the researcher runs even if the planner's conversation failed.
var completed = await RunAgentAsync(model, planner, "planner", http.CreateClient("erp-planner"), audit, ("call_p1", "Erp_GetInvoice", 42), ("call_p2", "Clock_Now", null))
    & await RunAgentAsync(model, researcher, "researcher", http.CreateClient("erp-researcher"), audit, ("call_r1", "Clock_Now", null), ("call_r2", "Erp_GetInvoice", 42));

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

// The attribution invariants hold for any model; the scripted model must also produce exactly its scripted trail.
var problems = CheckTrail(audit.Events, [.. erp.Seen], planner.Id, researcher.Id);
if (!completed)
{
    problems.Insert(0, "a conversation did not complete (the model call failed; see above)");
}

if (model.IsScripted && (denied != 1 || erp.Seen.Count != 1))
{
    problems.Add("the scripted trail should have exactly one denied call and one call seen by the ERP service");
}

foreach (var problem in problems)
{
    Console.WriteLine($"  problem: {problem}");
}

if (!model.IsScripted)
{
    Console.WriteLine(problems.Count == 0 ? "Every tool call of the real model was checked, attributed and audited." : "The trail is incomplete (exit code 1).");
}

return problems.Count == 0 ? 0 : 1;

static async Task<bool> RunAgentAsync(ModelSelection selection, AgentCredential credential, string name, HttpClient erpClient, IAuditSink audit, params (string CallId, string Tool, int? Id)[] calls)
{
    var kernelBuilder = Kernel.CreateBuilder();
    kernelBuilder.Plugins.AddFromObject(new ErpPlugin(erpClient), "Erp");
    kernelBuilder.Plugins.AddFromObject(new ClockPlugin(), "Clock");
    var model = selection.CreateChatClient(() => new ScriptedModel([.. calls.Select(c => new Microsoft.Extensions.AI.FunctionCallContent(c.CallId, c.Tool, c.Id is { } id ? new Dictionary<string, object?> { ["id"] = id } : null))]));
    kernelBuilder.Services.AddSingleton<IChatClient>(sp => model.AsBuilder().UseKernelFunctionInvocation().Build(sp));
    kernelBuilder.AddAgentIdentityFilters(credential, o =>
    {
        o.AuditSink = audit;
        o.ToolActions["Erp.GetInvoice"] = "invoices:read";
    });
    var kernel = kernelBuilder.Build();
    try
    {
        var answer = await kernel.InvokePromptAsync("Look up invoice 42 and the time.", new(new PromptExecutionSettings { FunctionChoiceBehavior = FunctionChoiceBehavior.Auto() }));
        Console.WriteLine($"  [{name,-10}] model answered: {answer}");
        return true;
    }
    catch (Exception failure) when (!selection.IsScripted)
    {
        // A real endpoint can refuse (401, 404 model not found, 400 tools not supported) or be unreachable (the OpenAI client
        // retries, then throws an AggregateException of its attempts). Report it as an incomplete run; never show the key.
        var e = failure is AggregateException { InnerExceptions: [var first, ..] } ? first : failure;
        var message = selection.Redact(e.Message).ReplaceLineEndings(" ");
        var status = e is System.ClientModel.ClientResultException { Status: > 0 } c && !message.Contains($"HTTP {c.Status}", StringComparison.Ordinal) ? $"HTTP {c.Status}: " : string.Empty;
        Console.WriteLine($"  [{name,-10}] the model call to {selection.Endpoint} failed: {status}{message}");
        return false;
    }
}

static List<string> CheckTrail(IReadOnlyList<AuditEvent> events, IReadOnlyList<(string? CertificateId, string? Tool, string? ToolCallId)> seen, SpiffeId planner, SpiffeId researcher)
{
    var problems = new List<string>();
    if (events.Count == 0)
    {
        problems.Add("the model made no tool calls, so there is nothing to attribute (use a model with tool calling)");
    }

    problems.AddRange(events.Where(e => e.Agent != planner && e.Agent != researcher).Select(e => $"tool call {e.RequestId} audited under an unknown identity {e.Agent}"));
    problems.AddRange(events.Where(e => e.Agent == researcher && e.Tool?.StartsWith("Erp.", StringComparison.Ordinal) == true && e.Outcome != AuditOutcome.Denied)
        .Select(e => $"the researcher's {e.Tool} call {e.RequestId} was not denied, though its certificate only allows Clock.*"));
    foreach (var request in seen)
    {
        var matched = events.Any(e => e.Agent.ToString() == request.CertificateId && e.RequestId == request.ToolCallId
            && e.Tool == "Erp.GetInvoice" && e.Tool == request.Tool && e.Outcome != AuditOutcome.Denied);
        if (!matched)
        {
            problems.Add($"the ERP saw a request from {request.CertificateId} (tool call {request.ToolCallId}) that matches no allowed, audited tool call of that agent");
        }
    }

    return problems;
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
