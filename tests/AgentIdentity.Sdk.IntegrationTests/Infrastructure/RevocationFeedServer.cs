using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AgentIdentity.IntegrationTests.Infrastructure;

/// <summary>The issuer side of revocation on a real Kestrel with TLS on 127.0.0.1:0: <c>MapAgentIdentityRevocation()</c> over an
/// <see cref="InMemoryRevocationRegistry"/>, with a server SVID from the test CA, requiring a client SVID of the test CA.</summary>
internal sealed class RevocationFeedServer : IAsyncDisposable
{
    public const string ServerPath = "/agent-identity/issuer";

    private readonly WebApplication _app;
    private int _feedRequests;

    private RevocationFeedServer(WebApplication app, InMemoryRevocationRegistry registry)
    {
        _app = app;
        Registry = registry;
    }

    public Uri BaseAddress { get; private set; } = null!;

    public Uri FeedUri => new(BaseAddress, "/revocation/feed");

    public InMemoryRevocationRegistry Registry { get; }

    /// <summary>Gets the number of feed requests (subscriber connections) received.</summary>
    public int FeedRequests => Volatile.Read(ref _feedRequests);

    /// <param name="pki">The CA of the server certificate and of the clients.</param>
    /// <param name="feedSigner">The CA whose key signs the feed entries: <paramref name="pki"/>'s by default, another to forge them.</param>
    public static async Task<RevocationFeedServer> StartAsync(TestPki pki, DevelopmentCertificateAuthority? feedSigner = null)
    {
        var registry = new InMemoryRevocationRegistry((feedSigner ?? pki.Ca).CreateRevocationSigner(), timeProvider: pki.Time);
        var (certificate, intermediates) = pki.IssueServer(ServerPath);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0, listen => listen.UseHttps(new HttpsConnectionAdapterOptions
        {
            ServerCertificate = certificate,
            ServerCertificateChain = intermediates,
            ClientCertificateMode = ClientCertificateMode.RequireCertificate,
            ClientCertificateValidation = (cert, chain, _) => X509SvidValidator.Validate(cert, chain?.ChainPolicy.ExtraStore, pki.Ca, pki.Time.GetUtcNow()).IsValid,
        })));
        builder.Services.AddSingleton<IRevocationRegistry>(registry);
        var app = builder.Build();
        var server = new RevocationFeedServer(app, registry);
        app.Use(async (context, next) =>
        {
            if (context.Request.Path == "/revocation/feed")
            {
                Interlocked.Increment(ref server._feedRequests);
            }

            await next(context);
        });
        app.MapAgentIdentityRevocation(configure: o => o.HeartbeatInterval = TimeSpan.FromSeconds(1));
        await app.StartAsync();
        server.BaseAddress = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        return server;
    }

    /// <summary>Stops at once, aborting the open feed streams (a crash, as the subscribers see it).</summary>
    public Task StopNowAsync() => _app.StopAsync(new CancellationToken(canceled: true));

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync(new CancellationToken(canceled: true));
        await _app.DisposeAsync();
    }
}
