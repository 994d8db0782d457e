using System.Collections.Concurrent;
using AgentIdentity.AspNetCore;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace AgentIdentity.SemanticKernel.Tests.TestInfrastructure;

/// <summary>What the service saw of one request: the caller's SPIFFE ID from its verified client certificate, and the attribution headers.</summary>
internal sealed record SeenRequest(string? CertificateId, string? AgentHeader, string? Tool, string? ToolCallId, string InvoiceId);

/// <summary>
/// A real Kestrel mTLS service on 127.0.0.1:0 (server SVID spiffe://corp.example/svc/erp from the test CA) that authenticates agents
/// with the AgentIdentity handler of AgentIdentity.Sdk.AspNetCore and records who called.
/// </summary>
internal sealed class ErpService : IAsyncDisposable
{
    public const string ServerId = "spiffe://corp.example/svc/erp";

    private readonly TestHost _host;
    private readonly X509SvidOwner _svid;

    private ErpService(TestHost host, X509SvidOwner svid, Uri baseAddress)
    {
        _host = host;
        _svid = svid;
        BaseAddress = baseAddress;
    }

    public Uri BaseAddress { get; }

    public ConcurrentQueue<SeenRequest> Seen { get; } = new();

    public static async Task<ErpService> StartAsync(TestAgents agents)
    {
        var svid = agents.IssueOwnedSvid(ServerId, TimeSpan.FromHours(1), dnsNames: ["localhost"]);
        var builder = TestHost.CreateAgentServiceBuilder(svid.Svid, () => agents.Ca);
        var app = builder.Build();
        ErpService? service = null;
        app.UseAuthentication();
        app.UseAuthorization();
        app.MapGet("/invoices/{id}", (string id, HttpContext context) =>
        {
            var seen = new SeenRequest(
                context.User.FindFirst(AgentIdentityClaimTypes.SpiffeId)?.Value,
                context.Request.Headers[AttributionHeaders.AgentId].ToString(),
                context.Request.Headers[AttributionHeaders.ToolName].ToString(),
                context.Request.Headers[AttributionHeaders.ToolCallId].ToString(),
                id);
            service!.Seen.Enqueue(seen);
            return Results.Json(seen);
        }).RequireAuthorization(p => p.RequireAgentCaller());
        var host = await TestHost.StartAsync(app);
        service = new ErpService(host, svid, host.LocalhostAddress);
        return service;
    }

    public async ValueTask DisposeAsync()
    {
        await _host.DisposeAsync();
        _svid.Dispose();
    }
}

/// <summary>Lets the calls of one round proceed only when all participants have arrived, so that they overlap in time.</summary>
public sealed class RoundBarrier(int participants)
{
    private readonly ConcurrentDictionary<int, Round> _rounds = new();

    public async Task SignalAndWaitAsync(int round)
    {
        var state = _rounds.GetOrAdd(round, _ => new Round());
        if (Interlocked.Increment(ref state.Arrived) == participants)
        {
            state.AllArrived.TrySetResult();
        }

        await state.AllArrived.Task.WaitAsync(TimeSpan.FromSeconds(60));
    }

    private sealed class Round
    {
        public int Arrived;

        public TaskCompletionSource AllArrived { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
