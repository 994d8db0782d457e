using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AgentIdentity.IntegrationTests.Infrastructure;

/// <summary>Real Kestrel with TLS on 127.0.0.1:0 that requires a client X.509-SVID (verified against the test CA's bundle) and reports
/// which client certificate each request arrived with.</summary>
internal sealed class MtlsTestServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private MtlsTestServer(WebApplication app, Uri baseAddress)
    {
        _app = app;
        BaseAddress = baseAddress;
    }

    public Uri BaseAddress { get; }

    public ConcurrentQueue<string> ClientThumbprints { get; } = new();

    public int RequestCount => ClientThumbprints.Count;

    public IServiceProvider Services => _app.Services;

    public static async Task<MtlsTestServer> StartAsync(
        TestPki pki,
        string serverPath = "/svc/echo",
        Action<WebApplicationBuilder>? configureBuilder = null,
        Action<WebApplication>? configureApp = null,
        ClientCertificateMode mode = ClientCertificateMode.RequireCertificate,
        Func<X509Certificate2, X509Chain?, bool>? validateClient = null)
    {
        var (certificate, intermediates) = pki.IssueServer(serverPath);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0, listen => listen.UseHttps(new HttpsConnectionAdapterOptions
        {
            ServerCertificate = certificate,
            ServerCertificateChain = intermediates,
            ClientCertificateMode = mode,
            ClientCertificateValidation = (cert, chain, _) => validateClient?.Invoke(cert, chain)
                ?? X509SvidValidator.Validate(cert, chain?.ChainPolicy.ExtraStore, pki.Ca, pki.Time.GetUtcNow()).IsValid,
        })));
        configureBuilder?.Invoke(builder);
        var app = builder.Build();
        MtlsTestServer? server = null;
        app.Use(async (context, next) =>
        {
            var cert = context.Connection.ClientCertificate;
            server!.ClientThumbprints.Enqueue(cert is null ? "none" : TestPki.Sha256Hex(cert));
            await next(context);
        });
        app.MapGet("/conn", (HttpContext context) => context.Connection.Id);
        app.MapGet("/whoami", (HttpContext context) =>
            context.Connection.ClientCertificate is { } cert ? TestPki.Sha256Hex(cert) : "none");
        app.MapPost("/echo", async (HttpContext context) =>
        {
            using var reader = new StreamReader(context.Request.Body);
            return await reader.ReadToEndAsync();
        });
        app.MapGet("/headers", (HttpContext context) => string.Join('\n', context.Request.Headers
            .Where(h => h.Key.StartsWith("X-Agent-", StringComparison.OrdinalIgnoreCase) || h.Key == "traceparent")
            .OrderBy(h => h.Key, StringComparer.Ordinal)
            .Select(h => $"{h.Key}: {h.Value}")));
        configureApp?.Invoke(app);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        server = new MtlsTestServer(app, new Uri(address));
        return server;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
