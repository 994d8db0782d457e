using System.Net;
using System.Net.Http;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using AgentIdentity;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AgentIdentity.Benchmarks.Http;

/// <summary>Kestrel mTLS on 127.0.0.1 with a development CA; the same server for the agent client and the plain baseline.</summary>
internal sealed class LoopbackMtlsServer : IAsyncDisposable
{
    public const string ServerId = "spiffe://bench.example/svc/echo";

    private readonly WebApplication _app;

    private LoopbackMtlsServer(WebApplication app, DevelopmentCertificateAuthority ca, Uri address)
    {
        _app = app;
        Ca = ca;
        Address = address;
    }

    public DevelopmentCertificateAuthority Ca { get; }

    public Uri Address { get; }

    public static async Task<LoopbackMtlsServer> StartAsync()
    {
        var ca = DevelopmentCertificateAuthority.Create(TrustDomain.Parse("bench.example"));
        var id = SpiffeId.Parse(ServerId);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(string.Empty, key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddUri(id.ToUri());
        request.CertificateExtensions.Add(san.Build(critical: true));
        var issuance = ca.Issue(new X509SvidRequest(id, request.CreateSigningRequest(), TimeSpan.FromHours(12)));
        var certificate = issuance.Certificate.CopyWithPrivateKey(key);

        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, l => l.UseHttps(new HttpsConnectionAdapterOptions
        {
            ServerCertificate = certificate,
            ServerCertificateChain = [.. issuance.Intermediates],
            ClientCertificateMode = ClientCertificateMode.RequireCertificate,
            ClientCertificateValidation = (c, chain, _) => X509SvidValidator.Validate(c, chain?.ChainPolicy.ExtraStore, ca, DateTimeOffset.UtcNow).IsValid,
        })));
        var app = builder.Build();
        app.MapGet("/ping", () => "pong");
        await app.StartAsync();
        var address = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        return new LoopbackMtlsServer(app, ca, address);
    }

    /// <summary>The baseline: a plain SocketsHttpHandler with one static client certificate, validating the server the same way.</summary>
    public HttpClient CreatePlainClient(X509Svid svid, bool allowTlsResume, bool newConnectionPerRequest) =>
        new(CreatePlainHandler(svid, allowTlsResume, newConnectionPerRequest)) { BaseAddress = Address };

    /// <summary>The same static-certificate handler behind IHttpClientFactory (its logging handlers included), to separate the factory's
    /// share of the agent client's overhead from the SDK's.</summary>
    public (ServiceProvider Services, HttpClient Client) CreatePlainFactoryClient(X509Svid svid)
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddHttpClient("plain", c => c.BaseAddress = Address)
            .ConfigurePrimaryHttpMessageHandler(() => CreatePlainHandler(svid, allowTlsResume: false, newConnectionPerRequest: false));
        var provider = services.BuildServiceProvider();
        return (provider, provider.GetRequiredService<IHttpClientFactory>().CreateClient("plain"));
    }

    private SocketsHttpHandler CreatePlainHandler(X509Svid svid, bool allowTlsResume, bool newConnectionPerRequest)
    {
        return new SocketsHttpHandler
        {
            PooledConnectionLifetime = newConnectionPerRequest ? TimeSpan.Zero : TimeSpan.FromMinutes(5),
            UseCookies = false,
            SslOptions = new SslClientAuthenticationOptions
            {
                ClientCertificateContext = SslStreamCertificateContext.Create(svid.Certificate, [.. svid.Intermediates], offline: true),
                AllowTlsResume = allowTlsResume,
                RemoteCertificateValidationCallback = (_, cert, chain, _) =>
                    cert is X509Certificate2 leaf &&
                    X509SvidValidator.Validate(leaf, chain?.ChainPolicy.ExtraStore, Ca, DateTimeOffset.UtcNow) is { IsValid: true } result &&
                    result.Id.ToString() == ServerId,
            },
        };
    }

    /// <summary>The agent client through IHttpClientFactory and AddAgentIdentity().</summary>
    /// <param name="removeFactoryLoggers">Removes IHttpClientFactory's logging handlers (<c>RemoveAllLoggers()</c>), leaving the SDK's own cost.</param>
    public (ServiceProvider Services, HttpClient Client, AgentCredential Credential) CreateAgentClient(bool allowTlsResume, bool newConnectionPerRequest, bool removeFactoryLoggers = false)
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton<IX509SvidIssuer>(Ca);
        services.AddSingleton<ITrustBundleSource>(Ca);
        services.AddAgentIdentity(o =>
        {
            o.TrustDomain = "bench.example";
            o.AgentName = "bench";
        });
        var client = services.AddHttpClient("bench", c => c.BaseAddress = Address);
        if (removeFactoryLoggers)
        {
            client.RemoveAllLoggers();
        }

        client.AddAgentIdentity(o =>
        {
            o.ServerId = ServerId;
            o.AllowTlsResume = allowTlsResume;
            if (newConnectionPerRequest)
            {
                o.ConfigureHandler = h => h.PooledConnectionLifetime = TimeSpan.Zero;
            }
        });
        var provider = services.BuildServiceProvider();
        var credential = provider.GetRequiredService<AgentCredential>();
        credential.WhenReadyAsync().GetAwaiter().GetResult();
        return (provider, provider.GetRequiredService<IHttpClientFactory>().CreateClient("bench"), credential);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        Ca.Dispose();
    }
}
