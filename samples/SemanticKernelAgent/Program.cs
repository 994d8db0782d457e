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
builder.Services.AddHttpClient("erp", c => c.BaseAddress = ErpService.Address).AddAgentIdentity(o => o.ServerId = ErpService.Id);
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

/// <summary>A plugin whose tool calls the ERP service with the agent's mTLS HttpClient.</summary>
internal sealed class ErpPlugin(HttpClient erp)
{
    [KernelFunction, System.ComponentModel.Description("Gets an invoice by id.")]
    public Task<string> GetInvoice(int id) => erp.GetStringAsync(new Uri($"/invoices/{id}", UriKind.Relative));

    [KernelFunction, System.ComponentModel.Description("Deletes an invoice (the agent's certificate does not allow it).")]
    public static Task<string> DeleteInvoice(int id) => throw new InvalidOperationException($"Invoice {id} must not be deleted; the policy should have stopped this call.");
}

/// <summary>A plugin without network access.</summary>
internal sealed class ClockPlugin
{
    [KernelFunction, System.ComponentModel.Description("Gets the current UTC time.")]
    public static string Now() => TimeProvider.System.GetUtcNow().ToString("HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>A scripted model: first it asks for the given tool calls, then it summarizes the tool results it got back.</summary>
internal sealed class ScriptedModel(Microsoft.Extensions.AI.FunctionCallContent[] calls) : IChatClient
{
    public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        var results = messages.SelectMany(m => m.Contents).OfType<Microsoft.Extensions.AI.FunctionResultContent>().ToList();
        return Task.FromResult(results.Count == 0
            ? new ChatResponse(new ChatMessage(ChatRole.Assistant, [.. calls]))
            : new ChatResponse(new ChatMessage(ChatRole.Assistant, string.Join(" | ", results.Select(r => Shorten(r.Result?.ToString()))))));
    }

    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        foreach (var update in (await GetResponseAsync(messages, options, cancellationToken)).ToChatResponseUpdates())
        {
            yield return update;
        }
    }

    public object? GetService(Type serviceType, object? serviceKey = null) =>
        serviceType == typeof(ChatClientMetadata) ? new ChatClientMetadata("scripted") : null;

    public void Dispose()
    {
    }

    private static string Shorten(string? text) => text is null ? "(null)" : text.Length <= 90 ? text : string.Concat(text.AsSpan(0, 90), "…");
}

/// <summary>The ERP service: Kestrel with mTLS on 127.0.0.1, its own SVID, agents authenticated by AgentIdentity.Sdk.AspNetCore.</summary>
internal sealed class ErpService : IAsyncDisposable
{
    public const string Id = "spiffe://corp.example/svc/erp";

    private static int _port;
    private readonly WebApplication _app;

    private ErpService(WebApplication app) => _app = app;

    /// <summary>Gets the service's address (the port is chosen when it starts; clients read it lazily).</summary>
    public static Uri Address => new($"https://localhost:{Volatile.Read(ref _port)}/");

    public System.Collections.Concurrent.ConcurrentQueue<(string? CertificateId, string? Tool, string? ToolCallId)> Seen { get; } = new();

    public static async Task<ErpService> StartAsync(DevelopmentCertificateAuthority ca)
    {
        var svid = IssueServerSvid(ca);
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { EnvironmentName = Environments.Development });
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, lo => lo.UseAgentIdentityHttps(svid)));
        builder.Services.AddSingleton<ITrustBundleSource>(ca);
        builder.Services.AddAuthentication(AgentIdentityAuthenticationDefaults.AuthenticationScheme).AddAgentIdentity();
        builder.Services.AddAuthorization();
        var app = builder.Build();
        var service = new ErpService(app);
        app.UseAuthentication();
        app.UseAuthorization();
        app.MapGet("/invoices/{id}", (string id, HttpContext context) =>
        {
            var caller = context.User.FindFirst(AgentIdentityClaimTypes.SpiffeId)?.Value;
            service.Seen.Enqueue((caller, context.Request.Headers["X-Agent-Tool"].ToString(), context.Request.Headers["X-Agent-Tool-Call-Id"].ToString()));
            return $"invoice {id}: 120.00 EUR (served to {caller})";
        }).RequireAuthorization(p => p.RequireAgentCaller());
        await app.StartAsync();
        Volatile.Write(ref _port, new Uri(app.Urls.Single()).Port);
        return service;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private static X509Svid IssueServerSvid(DevelopmentCertificateAuthority ca)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName(string.Empty), key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddUri(new Uri(Id));
        request.CertificateExtensions.Add(san.Build(critical: true));
        var issuance = ca.Issue(new X509SvidRequest(SpiffeId.Parse(Id), request.CreateSigningRequest(), TimeSpan.FromHours(1)) { DnsNames = ["localhost"] });
        return new X509Svid(issuance.Certificate.CopyWithPrivateKey(key), issuance.Intermediates);
    }
}
