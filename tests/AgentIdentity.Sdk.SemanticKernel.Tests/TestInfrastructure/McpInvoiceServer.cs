using System.Collections.Concurrent;
using System.ComponentModel;
using System.Security.Cryptography;
using AgentIdentity.AspNetCore;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using ModelContextProtocol.Server;

namespace AgentIdentity.SemanticKernel.Tests.TestInfrastructure;

/// <summary>
/// One MCP tool execution as the server saw it: the tool, its argument, the caller's SPIFFE ID (from the AgentIdentity authentication of
/// the verified client certificate), the SHA-256 of the client certificate on the TLS connection, and the attribution headers.
/// </summary>
internal sealed record McpToolExecution(string Tool, string InvoiceId, string? CallerId, string? ClientCertificateSha256, string? ToolHeader, string? ToolCallIdHeader);

/// <summary>
/// A real MCP server (ModelContextProtocol.AspNetCore, Streamable HTTP) on Kestrel with mTLS on 127.0.0.1:0, server SVID
/// spiffe://corp.example/svc/mcp from the test CA. <c>/mcp</c> requires an agent client certificate; the tools <c>get_invoice</c> and
/// <c>delete_invoice</c> record every execution with the identity of the calling certificate.
/// </summary>
internal sealed class McpInvoiceServer : IAsyncDisposable
{
    public const string ServerId = "spiffe://corp.example/svc/mcp";

    private readonly TestHost _host;
    private readonly X509SvidOwner _svid;

    private McpInvoiceServer(TestHost host, X509SvidOwner svid, Uri endpoint, InvoiceTools tools)
    {
        _host = host;
        _svid = svid;
        Endpoint = endpoint;
        Executions = tools.Executions;
    }

    /// <summary>The MCP endpoint, https://localhost:{port}/mcp.</summary>
    public Uri Endpoint { get; }

    /// <summary>Every tool that actually ran on the server, in order.</summary>
    public ConcurrentQueue<McpToolExecution> Executions { get; }

    public static async Task<McpInvoiceServer> StartAsync(TestAgents agents)
    {
        var svid = agents.IssueOwnedSvid(ServerId, TimeSpan.FromHours(1), dnsNames: ["localhost"]);
        var builder = TestHost.CreateAgentServiceBuilder(svid.Svid, () => agents.Ca);
        var accessor = new HttpContextAccessor();
        builder.Services.AddSingleton<IHttpContextAccessor>(accessor);
        var tools = new InvoiceTools(accessor);
        builder.Services.AddMcpServer().WithHttpTransport(o => o.Stateless = true).WithTools(tools);
        var app = builder.Build();
        app.UseAuthentication();
        app.UseAuthorization();
        app.MapMcp("/mcp").RequireAuthorization(p => p.RequireAgentCaller());
        var host = await TestHost.StartAsync(app);
        return new McpInvoiceServer(host, svid, new Uri(host.LocalhostAddress, "/mcp"), tools);
    }

    public async ValueTask DisposeAsync()
    {
        await _host.DisposeAsync();
        _svid.Dispose();
    }

    /// <summary>The MCP tools. Each records the execution before it returns, so an absent record means the tool never ran.</summary>
    [McpServerToolType]
    internal sealed class InvoiceTools(IHttpContextAccessor accessor)
    {
        public ConcurrentQueue<McpToolExecution> Executions { get; } = new();

        [McpServerTool(Name = "get_invoice"), Description("Reads one invoice by its id.")]
        public string GetInvoice([Description("The invoice id.")] string id)
        {
            Record("get_invoice", id);
            return $"invoice {id}: 120.00 EUR";
        }

        [McpServerTool(Name = "delete_invoice", Destructive = true), Description("Deletes one invoice by its id.")]
        public string DeleteInvoice([Description("The invoice id.")] string id)
        {
            Record("delete_invoice", id);
            return $"invoice {id} deleted";
        }

        private void Record(string tool, string id)
        {
            var context = accessor.HttpContext ?? throw new InvalidOperationException("The MCP tool ran outside of an HTTP request.");
            var certificate = context.Connection.ClientCertificate;
            Executions.Enqueue(new McpToolExecution(
                tool,
                id,
                context.User.FindFirst(AgentIdentityClaimTypes.SpiffeId)?.Value,
                certificate is null ? null : Convert.ToHexStringLower(SHA256.HashData(certificate.RawData)),
                context.Request.Headers[AttributionHeaders.ToolName].ToString(),
                context.Request.Headers[AttributionHeaders.ToolCallId].ToString()));
        }
    }
}
