using System.Diagnostics;
using AgentIdentity.AspNetCore;
using AgentIdentity.SemanticKernel.Tests.TestInfrastructure;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using OpenTelemetry;
using OpenTelemetry.Trace;

namespace AgentIdentity.AI.Tests.Diagnostics;

/// <summary>
/// OpenTelemetry over real sockets: a Microsoft.Extensions.AI tool calls a Kestrel mTLS service with the agent's HttpClient, and the
/// OpenTelemetry SDK (in-memory exporter, HttpClient and ASP.NET Core instrumentation) records both sides in one trace.
/// </summary>
[Collection(ActivityListenerTests.Name)]
public sealed class TracingTests(Xunit.Abstractions.ITestOutputHelper output) : IAsyncLifetime
{
    private const string ServiceSourceName = "AgentIdentity.Tests.InvoiceService";
    private static readonly ActivitySource ServiceSource = new(ServiceSourceName);

    private readonly TestAgents _agents = new();
    private readonly List<Activity> _exported = [];
    private TracerProvider _tracing = null!;
    private X509SvidOwner _serverSvid = null!;
    private TestHost _service = null!;

    public async Task InitializeAsync()
    {
        _tracing = Sdk.CreateTracerProviderBuilder()
            .AddSource(AgentIdentityMetrics.ActivitySourceName, ServiceSourceName)
            .AddHttpClientInstrumentation()
            .AddAspNetCoreInstrumentation()
            .AddInMemoryExporter(_exported)
            .Build()!;
        _serverSvid = _agents.IssueOwnedSvid(ErpService.ServerId, TimeSpan.FromHours(1), dnsNames: ["localhost"]);
        var app = TestHost.CreateAgentServiceBuilder(_serverSvid.Svid, () => _agents.Ca).Build();
        app.UseAuthentication();
        app.UseAuthorization();
        app.MapGet("/invoices/{id}", (string id, HttpContext context) =>
        {
            // The service's own work: a span of its own source, which must land in the agent's trace.
            using var lookup = ServiceSource.StartActivity("invoice.lookup");
            lookup?.SetTag("invoice.id", id);
            return Results.Json(new { id, caller = context.GetAgentCaller()?.Id.ToString() });
        }).RequireAuthorization(p => p.RequireAgentCaller());
        _service = await TestHost.StartAsync(app);
    }

    public async Task DisposeAsync()
    {
        _tracing.Dispose();
        await _service.DisposeAsync();
        _serverSvid.Dispose();
        await _agents.DisposeAsync();
    }

    [Fact]
    public async Task ToolCall_HttpCallToMtlsService_OneTraceHoldsToolAgentRequestAndServiceSpans()
    {
        await using var provider = BuildAgent(out var http);
        var credential = provider.GetRequiredService<AgentCredential>();
        await credential.WhenReadyAsync().WaitAsync(TimeSpan.FromSeconds(30));
        var svid = credential.GetCurrent();
        var tool = AIFunctionFactory.Create((int id) => http.GetStringAsync(new Uri($"/invoices/{id}", UriKind.Relative)), "GetInvoice");
        var model = new ScriptedChatClient(
            _ => ScriptedChatClient.ToolCalls(("call_trace", "GetInvoice", new() { ["id"] = 5 })),
            _ => ScriptedChatClient.Text("done"));
        using var client = model.AsBuilder().UseAgentIdentity().UseFunctionInvocation().Build(provider);

        var response = await client.GetResponseAsync("invoice 5?", new ChatOptions { Tools = [tool] }).WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal("done", response.Text);
        _tracing.ForceFlush();

        var toolSpan = Assert.Single(Snapshot(), a => a.DisplayName == "execute_tool GetInvoice");
        var trace = Snapshot().Where(a => a.TraceId == toolSpan.TraceId).ToList();

        // The tool call: GenAI names where they exist, the project's for identity and policy.
        Assert.Equal(ActivityKind.Internal, toolSpan.Kind);
        Assert.Equal("execute_tool", toolSpan.GetTagItem("gen_ai.operation.name"));
        Assert.Equal("GetInvoice", toolSpan.GetTagItem("gen_ai.tool.name"));
        Assert.Equal("call_trace", toolSpan.GetTagItem("gen_ai.tool.call.id"));
        Assert.Equal(credential.Id.ToString(), toolSpan.GetTagItem("agentidentity.agent.id"));
        Assert.Equal(svid.SerialNumber, toolSpan.GetTagItem("agentidentity.svid.serial"));
        Assert.Equal(svid.Thumbprint, toolSpan.GetTagItem("agentidentity.svid.thumbprint"));
        Assert.Equal("allowed", toolSpan.GetTagItem("agentidentity.policy.decision"));
        Assert.Equal("allowed", toolSpan.GetTagItem("agentidentity.tool.outcome"));
        Assert.NotEqual(ActivityStatusCode.Error, toolSpan.Status);

        // agent request -> HTTP client span -> service request span -> the service's own span, parent by parent.
        var agentRequest = Assert.Single(trace, a => a.OperationName == "agentidentity.http.request");
        Assert.Equal(toolSpan.SpanId, agentRequest.ParentSpanId);
        Assert.Equal("erp", agentRequest.GetTagItem("agentidentity.http_client.name"));
        Assert.Equal("GET", agentRequest.GetTagItem("http.request.method"));
        Assert.Equal(200, agentRequest.GetTagItem("http.response.status_code"));
        Assert.Equal(svid.SerialNumber, agentRequest.GetTagItem("agentidentity.svid.serial"));
        var httpClient = Assert.Single(trace, a => a.Kind == ActivityKind.Client && a.ParentSpanId == agentRequest.SpanId);
        var server = Assert.Single(trace, a => a.Kind == ActivityKind.Server);
        Assert.Equal(httpClient.SpanId, server.ParentSpanId);
        var own = Assert.Single(trace, a => a.Source.Name == ServiceSourceName);
        Assert.Equal(server.SpanId, own.ParentSpanId);
        Assert.Equal("5", own.GetTagItem("invoice.id"));

        // The service side names the caller it authenticated by certificate, as the agent side does.
        Assert.Equal("success", server.GetTagItem("agentidentity.authentication.result"));
        Assert.Equal(credential.Id.ToString(), server.GetTagItem("agentidentity.agent.id"));
        Assert.Equal(svid.SerialNumber, server.GetTagItem("agentidentity.svid.serial"));
        Assert.Equal(svid.Thumbprint, server.GetTagItem("agentidentity.svid.thumbprint"));
        Assert.Equal("GetInvoice", server.GetTagItem("agentidentity.caller.tool.name"));
        Assert.Equal("call_trace", server.GetTagItem("agentidentity.caller.tool.call_id"));
        output.WriteLine(Render(trace)); // the text rendering of docs/observability.md
    }

    /// <summary>The trace as an indented tree of spans with their attributes (the test output; docs/observability.md shows one).</summary>
    private static string Render(List<Activity> trace)
    {
        var text = new System.Text.StringBuilder();
        text.AppendLine(System.Globalization.CultureInfo.InvariantCulture, $"trace {trace[0].TraceId}");
        void Write(Activity span, int depth)
        {
            var indent = new string(' ', depth * 2);
            text.AppendLine(System.Globalization.CultureInfo.InvariantCulture, $"{indent}- {span.DisplayName} [{span.Kind}, {span.Source.Name}] span {span.SpanId} parent {span.ParentSpanId}");
            foreach (var tag in span.TagObjects.Where(t => t.Key.StartsWith("agentidentity.", StringComparison.Ordinal) || t.Key.StartsWith("gen_ai.", StringComparison.Ordinal) || t.Key.StartsWith("http.", StringComparison.Ordinal) || t.Key == "invoice.id"))
            {
                var value = tag.Value is string[] items ? "[" + string.Join(", ", items) + "]" : Convert.ToString(tag.Value, System.Globalization.CultureInfo.InvariantCulture);
                text.AppendLine(System.Globalization.CultureInfo.InvariantCulture, $"{indent}    {tag.Key} = {value}");
            }

            foreach (var child in trace.Where(c => c.ParentSpanId == span.SpanId).OrderBy(c => c.StartTimeUtc))
            {
                Write(child, depth + 1);
            }
        }

        foreach (var root in trace.Where(a => !trace.Any(p => p.SpanId == a.ParentSpanId)))
        {
            Write(root, 0);
        }

        return text.ToString();
    }

    [Fact]
    public async Task DeniedToolCall_SpanSaysDeniedWithKindAndReason_AndNothingIsSent()
    {
        await using var provider = BuildAgent(out var http);
        await provider.GetRequiredService<AgentCredential>().WhenReadyAsync().WaitAsync(TimeSpan.FromSeconds(30));
        var ran = false;
        var tool = AIFunctionFactory.Create(
            (int id) =>
            {
                ran = true;
                return http.GetStringAsync(new Uri($"/invoices/{id}", UriKind.Relative));
            },
            "DeleteInvoice");
        var model = new ScriptedChatClient(
            _ => ScriptedChatClient.ToolCalls(("call_denied", "DeleteInvoice", new() { ["id"] = 7 })),
            _ => ScriptedChatClient.Text("ok"));
        using var client = model.AsBuilder().UseAgentIdentity().UseFunctionInvocation().Build(provider);

        await client.GetResponseAsync("delete 7", new ChatOptions { Tools = [tool] }).WaitAsync(TimeSpan.FromSeconds(60));
        _tracing.ForceFlush();

        Assert.False(ran);
        var span = Assert.Single(Snapshot(), a => a.DisplayName == "execute_tool DeleteInvoice");
        Assert.Equal("denied", span.GetTagItem("agentidentity.policy.decision"));
        Assert.Equal("denied", span.GetTagItem("agentidentity.tool.outcome"));
        Assert.Equal("tool_not_allowed", span.GetTagItem("agentidentity.denial.kind"));
        Assert.Contains("may not call tool 'DeleteInvoice'", (string)span.GetTagItem("agentidentity.denial.reason")!, StringComparison.Ordinal);
        Assert.Equal("call_denied", span.GetTagItem("gen_ai.tool.call.id"));
        Assert.Equal(ActivityStatusCode.Error, span.Status);
        Assert.DoesNotContain(Snapshot(), a => a.TraceId == span.TraceId && a.SpanId != span.SpanId);
    }

    private ServiceProvider BuildAgent(out HttpClient http)
    {
        var services = new ServiceCollection();
        services.AddLogging(l => l.AddProvider(new FakeLoggerProvider()));   // logging that records: the default LoggingAuditSink
        services.AddSingleton<IX509SvidIssuer>(_agents.Ca);
        services.AddSingleton<ITrustBundleSource>(_agents.Ca);
        services.AddAgentIdentity(o =>
        {
            o.TrustDomain = "corp.example";
            o.AgentName = "planner";
            o.Credential.Policy = new AgentPolicy(services: ["spiffe://corp.example/svc/*"], tools: ["GetInvoice"]);
        });
        services.AddHttpClient("erp", c => c.BaseAddress = _service.LocalhostAddress).AddAgentIdentity(o => o.ServerId = ErpService.ServerId);
        var provider = services.BuildServiceProvider();
        http = provider.GetRequiredService<IHttpClientFactory>().CreateClient("erp");
        return provider;
    }

    private List<Activity> Snapshot()
    {
        lock (_exported)
        {
            return [.. _exported];
        }
    }
}

/// <summary>Tests that listen to the process-wide "AgentIdentity" ActivitySource run alone: spans of tests running in parallel would
/// land in their exporters.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ActivityListenerTests
{
    /// <summary>The collection's name.</summary>
    public const string Name = "ActivityListener";
}
