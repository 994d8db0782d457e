using System.Security.Cryptography.X509Certificates;
using AgentIdentity.Audit;
using AgentIdentity.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.IdentityModel.Tokens;
using Microsoft.SemanticKernel;
using OpenIddict.Abstractions;

namespace AgentIdentity.Docs.Tests;

/// <summary>
/// What a snippet that is a part of a program (not a whole one) uses without declaring it, as the prose around it says:
/// <c>builder</c>, <c>services</c>, an agent <c>credential</c>, the issuer's <c>joinToken</c>, ... Snippets see these members
/// through a <c>global using static</c> of this class (nothing else is added to what they are compiled with); a snippet that
/// declares a name itself uses its own. Real objects: agents of the test PKI's development CA (corp.example) and of a started
/// host's (for <c>factory</c>); builders, sinks and directories are fresh for each snippet (<see cref="ResetAsync"/>), so the
/// snippets run one at a time. Members that only compile-only snippets use throw when read.
/// </summary>
public static class SnippetContext
{
    private static readonly SemaphoreSlim Gate = new(1, 1);
    private static TestPki _pki = null!;
    private static IHost _host = null!;
    private static WebApplication? _app;

    public static WebApplicationBuilder builder { get; private set; } = null!;

    public static IServiceCollection services { get; private set; } = null!;

    public static IKernelBuilder kb { get; private set; } = null!;

    /// <summary>A built (not started) web application.</summary>
    public static WebApplication app => _app ??= WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = Environments.Development }).Build();

    public static InMemoryAuditSink auditSink { get; private set; } = null!;

    public static string auditDirectory { get; private set; } = null!;

    public static TrustDomain td => TestPki.Corp;

    public static TrustDomain trustDomain => TestPki.Corp;

    public static SpiffeId id => SpiffeId.NewAgentInstance(TestPki.Corp, "planner");

    /// <summary>The development CA of corp.example.</summary>
    public static IX509SvidIssuer issuer => _pki.Ca;

    public static TimeProvider timeProvider => _pki.Time;

    public static TimeProvider time => _pki.Time;

    public static ILoggerFactory loggerFactory { get; } = LoggerFactory.Create(_ => { });

    public static ILogger logger { get; } = loggerFactory.CreateLogger("snippet");

    public static string callId => "call_7f3a";

    public static AgentPolicy plannerPolicy { get; } = new(
        services: ["spiffe://corp.example/svc/*"],
        actions: ["invoices:*", "orders:read"],
        tools: ["Erp.*", "Clock.*", "Mcp.*"],
        maxDelegationDepth: 2,
        delegationTargets: ["spiffe://corp.example/agent/planner/*"]);

    public static AgentPolicy taskPolicy { get; } = new(services: ["spiffe://corp.example/svc/erp"], actions: ["invoices:read"], tools: ["Erp.GetInvoice"]);

    /// <summary>An agent of the development CA whose policy allows the ERP tools and delegation.</summary>
    public static AgentCredential planner { get; private set; } = null!;

    public static AgentCredential credential => planner;

    public static IX509SvidSource serviceCredential => planner;

    /// <summary>An agent whose policy allows only <c>Clock.*</c>.</summary>
    public static AgentCredential researcher { get; private set; } = null!;

    /// <summary>The factory of a started host (development CA).</summary>
    public static IAgentCredentialFactory factory => _host.Services.GetRequiredService<IAgentCredentialFactory>();

    /// <summary>The started host's services: the default agent and an <see cref="IAuditSink"/>.</summary>
    public static IServiceProvider serviceProvider => _host.Services;

    public static X509Certificate2 leaf => planner.GetCurrent().Certificate;

    public static IReadOnlyList<X509Certificate2> intermediates => planner.GetCurrent().Intermediates;

    public static ITrustBundleSource bundles => _pki.Ca;

    public static TrustBundle bundle => _pki.Ca.Bundle;

    public static TrustBundle bootstrapBundle => _pki.Ca.Bundle;

    public static X509Certificate2 issuingCaCertificate => _pki.Ca.IntermediateCertificate;

    public static X509Certificate2 signerCertificate => _pki.Ca.IntermediateCertificate;

    public static IRevocationRegistry registry { get; private set; } = null!;

    public static HttpClient http { get; } = new();

    public static Uri feedUri => new("https://issuer.corp.example/revocation/feed");

    public static Uri issuerAddress => new("https://issuer.corp.example:8443/agent-identity/");

    public static string joinToken => "join-token-from-the-orchestrator";

    public static SpiffeId issuerId => SpiffeId.Parse("spiffe://corp.example/agent-identity/issuer");

    public static string connectionString => "Host=db.corp.example;Database=issuer;Username=issuer";

    public static IChatClient innerClient { get; } = new TextChatClient();

    public static IChatClient chatClient => innerClient;

    public static AIFunction getInvoice { get; } = AIFunctionFactory.Create((string id) => $"invoice {id}", "GetInvoice");

    public static AIFunction deleteInvoice { get; } = AIFunctionFactory.Create((string id) => $"deleted {id}", "DeleteInvoice");

    public static string key => "sk-not-a-real-key";

    public static Uri endpoint => new("http://127.0.0.1:11434/v1");

    public static string model => "llama3.1";

    public static string incoming => throw CompileOnly();

    public static TrustBundle partnerBundle => throw CompileOnly();

    public static IOpenIddictApplicationManager manager => throw CompileOnly();

    public static JsonWebKey keyWithX5c => throw CompileOnly();

    public static ValueTask<string?> AskOrchestratorForTokenAsync(SpiffeId agent, CancellationToken cancellationToken) =>
        ValueTask.FromResult<string?>(null);

    /// <summary>Creates the agents and the host once.</summary>
    public static async Task InitializeAsync()
    {
        await Gate.WaitAsync();
        try
        {
            if (_host is not null)
            {
                return;
            }

            _pki = TestPki.ForCorp();
            planner = await AgentCredential.CreateAsync(SpiffeId.NewAgentInstance(TestPki.Corp, "planner"), _pki.Ca, new AgentCredentialOptions { Policy = plannerPolicy }, _pki.Time);
            researcher = await AgentCredential.CreateAsync(SpiffeId.NewAgentInstance(TestPki.Corp, "researcher"), _pki.Ca, new AgentCredentialOptions { Policy = new AgentPolicy(tools: ["Clock.*"]) }, _pki.Time);
            registry = new InMemoryRevocationRegistry(_pki.Ca.CreateRevocationSigner());
            var hostBuilder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { EnvironmentName = Environments.Development });
            hostBuilder.Logging.ClearProviders();
            hostBuilder.Services.AddSingleton<IAuditSink, InMemoryAuditSink>();
            hostBuilder.Services.AddAgentIdentity(o => { o.TrustDomain = "corp.example"; o.AgentName = "planner"; o.Credential.Policy = plannerPolicy; })
                .UseDevelopmentCertificateAuthority();
            _host = hostBuilder.Build();
            await _host.StartAsync();
        }
        finally
        {
            Gate.Release();
        }
    }

    /// <summary>Makes fresh builders, sink and directory for the next snippet.</summary>
    public static async Task ResetAsync()
    {
        await InitializeAsync();
        builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = Environments.Development });
        services = new ServiceCollection().AddLogging();
        kb = Kernel.CreateBuilder();
        auditSink = new InMemoryAuditSink();
        auditDirectory = Directory.CreateTempSubdirectory("snippet-audit-").FullName;
        if (_app is not null)
        {
            await _app.DisposeAsync();
            _app = null;
        }
    }

    private static NotSupportedException CompileOnly() => new("only compile-only snippets use this member");

    /// <summary>The ERP plugin of the docs' examples.</summary>
    public sealed class ErpPlugin
    {
        [KernelFunction]
        public string GetInvoice(string id) => $"invoice {id}: 120.00 EUR";

        [KernelFunction]
        public string DeleteInvoice(string id) => $"deleted {id}";
    }

    /// <summary>A model that answers every request with one text.</summary>
    private sealed class TextChatClient : IChatClient
    {
        public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
            Task.FromResult(new ChatResponse(new ChatMessage(ChatRole.Assistant, "ok")));

        public IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
            throw new NotSupportedException();

        public object? GetService(Type serviceType, object? serviceKey = null) => null;

        public void Dispose()
        {
        }
    }
}
