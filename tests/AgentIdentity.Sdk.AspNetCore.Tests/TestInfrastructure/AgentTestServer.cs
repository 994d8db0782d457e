using System.Net.Security;
using System.Security.Claims;
using System.Security.Cryptography.X509Certificates;
using AgentIdentity;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;

namespace AgentIdentity.AspNetCore.Tests.TestInfrastructure;

/// <summary>A real Kestrel server on 127.0.0.1:0 with TLS, serving its own SVID and authenticating agents with AgentIdentity.</summary>
internal sealed class AgentTestServer : IAsyncDisposable
{
    public const string ServerId = "spiffe://corp.example/svc/erp";

    private readonly TestHost _host;

    private AgentTestServer(TestHost host, X509Svid serverSvid)
    {
        _host = host;
        ServerSvid = serverSvid;
    }

    public Uri BaseAddress => _host.LocalhostAddress;

    public X509Svid ServerSvid { get; }

    public IServiceProvider Services => _host.Services;

    public FakeLogCollector Logs => _host.Services.GetFakeLogCollector();

    public static async Task<AgentTestServer> StartAsync(
        TestPki pki,
        Action<AgentIdentityAuthenticationOptions>? configure = null,
        Action<IServiceCollection>? services = null,
        Action<WebApplication>? endpoints = null,
        Action<Microsoft.AspNetCore.Server.Kestrel.Core.ListenOptions, X509Svid>? listen = null,
        Action<WebApplication>? beforeAuthentication = null)
    {
        var serverSvid = pki.IssueSvid(pki.Ca, ServerId, dnsNames: ["localhost"]);
        var builder = TestHost.CreateAgentServiceBuilder(serverSvid, () => pki.Bundles, configure, listen is null ? null : lo => listen(lo, serverSvid));
        builder.Logging.SetMinimumLevel(LogLevel.Debug);
        builder.Logging.AddFakeLogging();
        builder.Services.AddAuthorization(o =>
        {
            o.AddAgentPolicy("Planners", p => p.RequireAgent("spiffe://corp.example/agent/planner/*"));
            o.AddAgentPolicy("InvoiceReaders", p => p.RequireAction("invoices:read"));
        });
        services?.Invoke(builder.Services);
        var app = builder.Build();
        beforeAuthentication?.Invoke(app);
        app.UseAuthentication();
        app.UseAuthorization();
        app.MapGet("/whoami", (HttpContext context) =>
        {
            var user = context.User;
            string? Claim(string type) => user.FindFirst(type)?.Value;
            return Results.Json(new Dictionary<string, string?>
            {
                ["spiffe_id"] = Claim(AgentIdentityClaimTypes.SpiffeId),
                ["agent_name"] = Claim(AgentIdentityClaimTypes.AgentName),
                ["agent_instance"] = Claim(AgentIdentityClaimTypes.AgentInstance),
                ["trust_domain"] = Claim(AgentIdentityClaimTypes.TrustDomain),
                ["serial"] = Claim(AgentIdentityClaimTypes.CertificateSerialNumber),
                ["thumbprint"] = Claim(AgentIdentityClaimTypes.CertificateThumbprint),
                ["policy"] = Claim(AgentIdentityClaimTypes.AgentPolicy),
                ["delegation"] = Claim(AgentIdentityClaimTypes.DelegationChain),
                ["name"] = user.Identity?.Name,
                ["scopes"] = string.Join(' ', user.FindAll(AgentIdentityClaimTypes.Scope).Select(c => c.Value)),
                ["caller"] = context.GetAgentCaller()?.Id.ToString(),
            });
        }).RequireAuthorization(p => p.RequireAgentCaller());
        app.MapGet("/planners", [Authorize(Policy = "Planners")] () => "planner ok");
        app.MapGet("/corp", () => "corp ok").RequireAuthorization(p => p.RequireTrustDomain("corp.example"));
        app.MapGet("/invoices", () => "invoices").RequireAuthorization(p => p.RequireAction("invoices:read"));
        app.MapGet("/invoices-attr", [Authorize(Policy = "InvoiceReaders")] () => "invoices");
        endpoints?.Invoke(app);
        return new AgentTestServer(await TestHost.StartAsync(app), serverSvid);
    }

    /// <summary>An HttpClient presenting <paramref name="certificate"/> (with key) and <paramref name="intermediates"/>,
    /// which validates the server's SVID with <see cref="X509SvidValidator"/>.</summary>
    public HttpClient CreateClient(X509Certificate2? certificate, IEnumerable<X509Certificate2>? intermediates, ITrustBundleSource serverTrust)
    {
        var handler = new SocketsHttpHandler
        {
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            SslOptions = new SslClientAuthenticationOptions
            {
                ClientCertificateContext = certificate is null ? null : SslStreamCertificateContext.Create(certificate, [.. intermediates ?? []], offline: true),
                RemoteCertificateValidationCallback = (_, cert, chain, _) =>
                {
                    if (cert is not X509Certificate2 leaf)
                    {
                        return false;
                    }

                    var presented = chain?.ChainPolicy.ExtraStore.Cast<X509Certificate2>().ToArray() ?? [];
                    var result = X509SvidValidator.Validate(leaf, presented, serverTrust, TimeProvider.System.GetUtcNow());
                    return result.IsValid && result.Id.ToString() == ServerId;
                },
                AllowTlsResume = false,
            },
        };
        return new HttpClient(handler) { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
    }

    public HttpClient CreateClient(X509Svid svid, ITrustBundleSource serverTrust) => CreateClient(svid.Certificate, svid.Intermediates, serverTrust);

    public ValueTask DisposeAsync() => _host.DisposeAsync();
}
