using System.Collections.Concurrent;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;

namespace AgentIdentity.IntegrationTests.Infrastructure;

/// <summary>Real Kestrel with TLS on 127.0.0.1:0 that requires a client X.509-SVID (verified against the test CA's bundle) and reports
/// which client certificate each request arrived with.</summary>
internal sealed class MtlsTestServer : IAsyncDisposable
{
    private TestHost _host = null!;

    public Uri BaseAddress => _host.Address;

    public ConcurrentQueue<string> ClientThumbprints { get; } = new();

    public int RequestCount => ClientThumbprints.Count;

    public IServiceProvider Services => _host.Services;

    public static async Task<MtlsTestServer> StartAsync(
        TestPki pki,
        string serverPath = "/svc/echo",
        Action<WebApplicationBuilder>? configureBuilder = null,
        Action<WebApplication>? configureApp = null,
        ClientCertificateMode mode = ClientCertificateMode.RequireCertificate,
        Func<X509Certificate2, X509Chain?, bool>? validateClient = null)
    {
        var (certificate, intermediates) = pki.IssueServer(serverPath);
        var builder = TestHost.CreateBuilder(listen => listen.UseHttps(new HttpsConnectionAdapterOptions
        {
            ServerCertificate = certificate,
            ServerCertificateChain = intermediates,
            ClientCertificateMode = mode,
            ClientCertificateValidation = (cert, chain, _) => validateClient?.Invoke(cert, chain)
                ?? X509SvidValidator.Validate(cert, chain?.ChainPolicy.ExtraStore, pki.Ca, pki.Time.GetUtcNow()).IsValid,
        }));
        configureBuilder?.Invoke(builder);
        var app = builder.Build();
        var server = new MtlsTestServer();
        app.Use(async (context, next) =>
        {
            var cert = context.Connection.ClientCertificate;
            server.ClientThumbprints.Enqueue(cert is null ? "none" : TestPki.Sha256Hex(cert));
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
        server._host = await TestHost.StartAsync(app);
        return server;
    }

    public ValueTask DisposeAsync() => _host.DisposeAsync();
}
