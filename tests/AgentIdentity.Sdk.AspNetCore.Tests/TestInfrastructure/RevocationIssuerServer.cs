using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace AgentIdentity.AspNetCore.Tests.TestInfrastructure;

/// <summary>A real Kestrel on 127.0.0.1:0 (plain HTTP, as CRL and OCSP usually are) publishing a registry's feed, CRL and OCSP.</summary>
internal sealed class RevocationIssuerServer : IAsyncDisposable
{
    private readonly TestHost _host;

    private RevocationIssuerServer(TestHost host, InMemoryRevocationRegistry registry, RevocationSigner signer)
    {
        _host = host;
        Registry = registry;
        Signer = signer;
    }

    public Uri BaseAddress => _host.Address;

    public Uri FeedUri => new(BaseAddress, "/revocation/feed");

    public InMemoryRevocationRegistry Registry { get; }

    public RevocationSigner Signer { get; }

    public static async Task<RevocationIssuerServer> StartAsync(DevelopmentCertificateAuthority ca, int port = 0, TimeSpan? heartbeat = null)
    {
        var signer = ca.CreateRevocationSigner();
        var registry = new InMemoryRevocationRegistry(signer);
        var builder = TestHost.CreateBuilder(development: true, port: port);
        builder.WebHost.UseShutdownTimeout(TimeSpan.FromSeconds(1)); // open feed streams end at shutdown instead of holding it for 30 s
        builder.Services.AddSingleton<IRevocationRegistry>(registry);
        builder.Services.AddSingleton(new OcspResponder(registry, signer));
        var app = builder.Build();
        app.MapAgentIdentityRevocation(configure: o => o.HeartbeatInterval = heartbeat ?? TimeSpan.FromSeconds(5));
        return new RevocationIssuerServer(await TestHost.StartAsync(app), registry, signer);
    }

    public async ValueTask DisposeAsync()
    {
        // Open feed streams end at shutdown instead of holding it: a stop whose token is already cancelled aborts them at once.
        using (var now = new CancellationTokenSource())
        {
            await now.CancelAsync();
            await _host.StopAsync(now.Token);
        }

        await _host.DisposeAsync();
    }
}
