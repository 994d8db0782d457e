// Shared by samples/Quickstart and samples/SemanticKernelAgent: the mTLS ERP service, two plugins and a scripted model.
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using AgentIdentity;
using AgentIdentity.AspNetCore;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.SemanticKernel;

/// <summary>A plugin whose tool calls the ERP service with the agent's mTLS HttpClient.</summary>
internal sealed partial class ErpPlugin(HttpClient erp)
{
    [KernelFunction, System.ComponentModel.Description("Gets an invoice by id.")]
    public Task<string> GetInvoice(int id) => erp.GetStringAsync(new Uri($"/invoices/{id}", UriKind.Relative));
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

    private static int _port;
    private readonly WebApplication _app;

    private ErpService(WebApplication app) => _app = app;

    /// <summary>Gets the SPIFFE ID the service presents in <paramref name="trustDomain"/>.</summary>
    public static string IdIn(string trustDomain) => $"spiffe://{trustDomain}/svc/erp";

    /// <summary>Gets the service's address (the port is chosen when it starts; clients read it lazily).</summary>
    public static Uri Address => new($"https://localhost:{Volatile.Read(ref _port)}/");

    public System.Collections.Concurrent.ConcurrentQueue<(string? CertificateId, string? Tool, string? ToolCallId)> Seen { get; } = new();

    public static async Task<ErpService> StartAsync(DevelopmentCertificateAuthority ca)
    {
        var svid = IssueServerSvid(ca, IdIn(ca.TrustDomain.Name));
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

    private static X509Svid IssueServerSvid(DevelopmentCertificateAuthority ca, string id)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName(string.Empty), key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddUri(new Uri(id));
        request.CertificateExtensions.Add(san.Build(critical: true));
        var issuance = ca.Issue(new X509SvidRequest(SpiffeId.Parse(id), request.CreateSigningRequest(), TimeSpan.FromHours(1)) { DnsNames = ["localhost"] });
        return new X509Svid(issuance.Certificate.CopyWithPrivateKey(key), issuance.Intermediates);
    }
}
