using AgentIdentity.Audit;
using AgentIdentity.SemanticKernel.Tests.TestInfrastructure;
using AgentIdentity.Tools;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.SemanticKernel;
using ModelContextProtocol.Client;

namespace AgentIdentity.SemanticKernel.Tests.Filters;

/// <summary>
/// End to end with real MCP tools: an MCP server (ModelContextProtocol.AspNetCore) on Kestrel mTLS, an <see cref="McpClient"/> over
/// Streamable HTTP whose HttpClient is the agent's mTLS client, and the MCP tools imported into a Kernel guarded by the AgentIdentity filters.
/// </summary>
public sealed class McpToolsTests : IAsyncLifetime
{
    /// <summary>May read invoices through MCP; may not delete them.</summary>
    private static readonly AgentPolicy McpReaderPolicy = new(
        services: [McpInvoiceServer.ServerId],
        actions: ["invoices:read"],
        tools: ["Mcp.get_invoice"]);

    private readonly TestAgents _agents = new();
    private readonly InMemoryAuditSink _audit = new();
    private readonly List<McpClient> _clients = [];
    private McpInvoiceServer _server = null!;
    private AgentCredential _planner = null!;

    public async Task InitializeAsync()
    {
        _server = await McpInvoiceServer.StartAsync(_agents);
        _planner = await _agents.CreateAsync("planner", McpReaderPolicy);
    }

    public async Task DisposeAsync()
    {
        foreach (var client in _clients)
        {
            await client.DisposeAsync();
        }

        await _server.DisposeAsync();
        await _agents.DisposeAsync();
    }

    [Fact]
    public async Task InvokeAsync_AllowedMcpTool_RunsOnServerUnderAgentCertificateAndAuditsSuccess()
    {
        var tools = await ConnectAsync(_planner);
        var kernel = BuildKernel(_planner, tools);

        var result = await kernel.InvokeAsync("Mcp", "get_invoice", new() { ["id"] = "42" });

        Assert.Equal(["delete_invoice", "get_invoice"], tools.Select(t => t.Name).Order());
        Assert.Contains("invoice 42: 120.00 EUR", result.ToString(), StringComparison.Ordinal);
        var execution = Assert.Single(_server.Executions);
        Assert.Equal("get_invoice", execution.Tool);
        Assert.Equal("42", execution.InvoiceId);
        Assert.Equal(_planner.Id.ToString(), execution.CallerId);
        Assert.Equal(Convert.ToHexStringLower(_planner.GetCurrent().GetCertificateHash()), execution.ClientCertificateSha256);
        Assert.Equal("Mcp.get_invoice", execution.ToolHeader);
        var audit = TestAgents.Single(_audit, "Mcp.get_invoice");
        Assert.Equal(AuditEventKind.ToolCall, audit.Kind);
        Assert.Equal(AuditOutcome.Success, audit.Outcome);
        Assert.Equal(_planner.Id, audit.Agent);
        Assert.Equal("invoices:read", audit.Action);
        var argument = Assert.Single(audit.Arguments);
        Assert.Equal("id", argument.Name);
        Assert.Equal(TestAgents.Sha256Hex("42"), argument.Sha256);
    }

    [Fact]
    public async Task AutoInvocation_AllowedMcpTool_ServerSeesAgentAndToolCallId()
    {
        var model = new ScriptedChatClient(
            _ => ScriptedChatClient.ToolCalls(("call_1", "Mcp_get_invoice", new() { ["id"] = "7" })),
            _ => ScriptedChatClient.Text("Invoice 7 costs 120 EUR."));
        var kernel = BuildKernel(_planner, await ConnectAsync(_planner), model);

        var answer = await AgentIdentityFilterTests.ChatAsync(kernel);

        Assert.Equal("Invoice 7 costs 120 EUR.", answer.ToString());
        var execution = Assert.Single(_server.Executions);
        Assert.Equal(("get_invoice", "7"), (execution.Tool, execution.InvoiceId));
        Assert.Equal(_planner.Id.ToString(), execution.CallerId);
        Assert.Equal("call_1", execution.ToolCallIdHeader);
        var sentBack = Assert.Single(model.ResultsIn(1));
        Assert.Equal("call_1", sentBack.CallId);
        Assert.Contains("invoice 7: 120.00 EUR", sentBack.Result?.ToString(), StringComparison.Ordinal);
        var audit = TestAgents.Single(_audit, "Mcp.get_invoice");
        Assert.Equal(AuditOutcome.Success, audit.Outcome);
        Assert.Equal("call_1", audit.RequestId);
        Assert.Equal(TestAgents.Sha256Hex("7"), Assert.Single(audit.Arguments).Sha256);
    }

    [Fact]
    public async Task InvokeAsync_McpToolNotInPolicy_NeverRunsOnServerAndDenialAudited()
    {
        var kernel = BuildKernel(_planner, await ConnectAsync(_planner));

        var result = await kernel.InvokeAsync("Mcp", "delete_invoice", new() { ["id"] = "42" });

        Assert.Empty(_server.Executions);
        var message = result.GetValue<string>();
        Assert.Contains("denied by AgentIdentity policy", message, StringComparison.Ordinal);
        Assert.Contains("'Mcp.delete_invoice'", message, StringComparison.Ordinal);
        Assert.Equal(nameof(ToolCallDenialKind.ToolNotAllowed), result.Metadata![AgentIdentityFilter.DenialMetadataKey]);
        var audit = TestAgents.Single(_audit, "Mcp.delete_invoice");
        Assert.Equal(AuditEventKind.PolicyDenial, audit.Kind);
        Assert.Equal(AuditOutcome.Denied, audit.Outcome);
        Assert.Equal("tool_not_allowed", audit.Attributes!["denial"]);
    }

    [Fact]
    public async Task AutoInvocation_DeniedMcpTool_ModelGetsDenialAndServerNeverRunsIt()
    {
        var model = new ScriptedChatClient(
            _ => ScriptedChatClient.ToolCalls(("call_7", "Mcp_delete_invoice", new() { ["id"] = "42" }), ("call_8", "Mcp_get_invoice", new() { ["id"] = "42" })),
            _ => ScriptedChatClient.Text("I can read invoice 42 but not delete it."));
        var kernel = BuildKernel(_planner, await ConnectAsync(_planner), model);

        var answer = await AgentIdentityFilterTests.ChatAsync(kernel);

        Assert.Equal("I can read invoice 42 but not delete it.", answer.ToString());
        Assert.Contains("Mcp_delete_invoice", model.LastToolNames);
        var execution = Assert.Single(_server.Executions);
        Assert.Equal(("get_invoice", "call_8"), (execution.Tool, execution.ToolCallIdHeader));
        var sentBack = model.ResultsIn(1);
        Assert.Equal(["call_7", "call_8"], sentBack.Select(r => r.CallId));
        Assert.Contains("denied by AgentIdentity policy", sentBack[0].Result?.ToString(), StringComparison.Ordinal);
        Assert.Contains("invoice 42: 120.00 EUR", sentBack[1].Result?.ToString(), StringComparison.Ordinal);
        var denied = TestAgents.Single(_audit, "Mcp.delete_invoice");
        Assert.Equal(AuditOutcome.Denied, denied.Outcome);
        Assert.Equal("call_7", denied.RequestId);
        Assert.Equal(AuditOutcome.Success, TestAgents.Single(_audit, "Mcp.get_invoice").Outcome);
    }

    [Fact]
    public async Task InvokeAsync_TwoAgentInstances_ServerAttributesEachCallToItsCertificate()
    {
        var auditor = await _agents.CreateAsync("auditor", McpReaderPolicy);
        var plannerKernel = BuildKernel(_planner, await ConnectAsync(_planner));
        var auditorKernel = BuildKernel(auditor, await ConnectAsync(auditor));

        await plannerKernel.InvokeAsync("Mcp", "get_invoice", new() { ["id"] = "1" });
        await auditorKernel.InvokeAsync("Mcp", "get_invoice", new() { ["id"] = "2" });

        Assert.Equal(
            [("1", _planner.Id.ToString()), ("2", auditor.Id.ToString())],
            _server.Executions.Select(e => (e.InvoiceId, e.CallerId)));
        Assert.Equal(
            [Convert.ToHexStringLower(_planner.GetCurrent().GetCertificateHash()), Convert.ToHexStringLower(auditor.GetCurrent().GetCertificateHash())],
            _server.Executions.Select(e => e.ClientCertificateSha256));
        Assert.Equal([_planner.Id, auditor.Id], _audit.Events.Select(e => e.Agent));
    }

    [Fact]
    public async Task InvokeAsync_RevokedIdentity_NoMcpToolExecution()
    {
        var revocations = new InMemoryRevocationList();
        var kernel = BuildKernel(_planner, await ConnectAsync(_planner), configure: o => o.RevocationStatus = revocations);
        await kernel.InvokeAsync("Mcp", "get_invoice", new() { ["id"] = "1" });

        revocations.RevokeIdentity(_planner.Id, "compromised host");
        var result = await kernel.InvokeAsync("Mcp", "get_invoice", new() { ["id"] = "2" });

        Assert.Equal(["1"], _server.Executions.Select(e => e.InvoiceId));
        Assert.Contains("kill switch", result.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal(nameof(ToolCallDenialKind.IdentityRevoked), result.Metadata![AgentIdentityFilter.DenialMetadataKey]);
        Assert.Equal("identity_revoked", _audit.Events[^1].Attributes!["denial"]);
    }

    [Fact]
    public async Task InvokeAsync_DisposedCredential_NoMcpToolExecution()
    {
        var doomed = await _agents.CreateAsync("doomed", McpReaderPolicy);
        var kernel = BuildKernel(doomed, await ConnectAsync(doomed));
        await kernel.InvokeAsync("Mcp", "get_invoice", new() { ["id"] = "1" });

        await doomed.DisposeAsync();
        var result = await kernel.InvokeAsync("Mcp", "get_invoice", new() { ["id"] = "2" });

        Assert.Equal(["1"], _server.Executions.Select(e => e.InvoiceId));
        Assert.Contains("disposed", result.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal(nameof(ToolCallDenialKind.IdentityUnavailable), result.Metadata![AgentIdentityFilter.DenialMetadataKey]);
        Assert.Equal(doomed.Id, _audit.Events[^1].Agent);
        Assert.Equal(AuditOutcome.Denied, _audit.Events[^1].Outcome);
    }

    [Fact]
    public async Task CreateAsync_ClientWithoutAgentCertificate_ServerRefusesConnection()
    {
        // The same server certificate is accepted, but no client certificate is presented: the MCP endpoint must not be reachable.
        using var handler = new SocketsHttpHandler();
        handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, _, _) => certificate is not null;
        using var http = new HttpClient(handler);
        var transport = new HttpClientTransport(
            new HttpClientTransportOptions { Endpoint = _server.Endpoint, TransportMode = HttpTransportMode.StreamableHttp },
            http);

        // Kestrel requires a client certificate in the TLS handshake and closes the connection without one.
        await Assert.ThrowsAsync<HttpRequestException>(() => McpClient.CreateAsync(transport).WaitAsync(TimeSpan.FromSeconds(30)));

        Assert.Empty(_server.Executions);
    }

    /// <summary>Connects an MCP client over Streamable HTTP with the agent's mTLS HttpClient and lists the server's tools.</summary>
    private async Task<IList<McpClientTool>> ConnectAsync(AgentCredential credential)
    {
        var http = new HttpClient(AgentHttpClient.CreateHandler(credential, o => o.ServerId = McpInvoiceServer.ServerId));
        var transport = new HttpClientTransport(
            new HttpClientTransportOptions { Endpoint = _server.Endpoint, TransportMode = HttpTransportMode.StreamableHttp },
            http,
            ownsHttpClient: true);
        var client = await McpClient.CreateAsync(transport).WaitAsync(TimeSpan.FromSeconds(30));
        _clients.Add(client);
        return await client.ListToolsAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(30));
    }

    private Kernel BuildKernel(IX509SvidSource identity, IEnumerable<McpClientTool> tools, ScriptedChatClient? model = null, Action<ToolCallGuardOptions>? configure = null)
    {
        var builder = Kernel.CreateBuilder();
        builder.Plugins.AddFromFunctions("Mcp", tools.Select(t => t.AsKernelFunction()));
        if (model is not null)
        {
            builder.Services.AddSingleton<IChatClient>(sp => model.AsBuilder().UseKernelFunctionInvocation().Build(sp));
        }

        builder.AddAgentIdentityFilters(identity, o =>
        {
            o.AuditSink = _audit;
            o.ToolActions["Mcp.get_invoice"] = "invoices:read";
            o.ToolActions["Mcp.delete_invoice"] = "invoices:delete";
            configure?.Invoke(o);
        });
        return builder.Build();
    }
}
