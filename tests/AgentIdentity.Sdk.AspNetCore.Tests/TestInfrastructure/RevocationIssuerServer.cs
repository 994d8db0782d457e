using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace AgentIdentity.AspNetCore.Tests.TestInfrastructure;

/// <summary>A real Kestrel on 127.0.0.1:0 (plain HTTP, as CRL and OCSP usually are) publishing a registry's feed, CRL and OCSP.</summary>
internal sealed class RevocationIssuerServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private RevocationIssuerServer(WebApplication app, Uri baseAddress, InMemoryRevocationRegistry registry, RevocationSigner signer)
    {
        _app = app;
        BaseAddress = baseAddress;
        Registry = registry;
        Signer = signer;
    }

    public Uri BaseAddress { get; }

    public Uri FeedUri => new(BaseAddress, "/revocation/feed");

    public InMemoryRevocationRegistry Registry { get; }

    public RevocationSigner Signer { get; }

    public static async Task<RevocationIssuerServer> StartAsync(DevelopmentCertificateAuthority ca, int port = 0, TimeSpan? heartbeat = null)
    {
        var signer = ca.CreateRevocationSigner();
        var registry = new InMemoryRevocationRegistry(signer);
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { EnvironmentName = Environments.Development });
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, port));
        builder.WebHost.UseShutdownTimeout(TimeSpan.FromSeconds(1)); // open feed streams end at shutdown instead of holding it for 30 s
        builder.Services.AddSingleton<IRevocationRegistry>(registry);
        builder.Services.AddSingleton(new OcspResponder(registry, signer));
        var app = builder.Build();
        app.MapAgentIdentityRevocation(configure: o => o.HeartbeatInterval = heartbeat ?? TimeSpan.FromSeconds(5));
        await app.StartAsync();
        return new RevocationIssuerServer(app, new Uri(app.Urls.Single()), registry, signer);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
