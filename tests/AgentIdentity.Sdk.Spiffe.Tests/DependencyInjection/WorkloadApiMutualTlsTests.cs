using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace AgentIdentity.Spiffe.Tests;

/// <summary>End to end: an SVID served over the Workload API is presented by the core mTLS HttpClient to a real Kestrel, and
/// a rotation pushed by the Workload API server reaches the next TLS connection.</summary>
public sealed class WorkloadApiMutualTlsTests : IDisposable
{
    private readonly SpiffeTestEnvironment _env = new();

    public void Dispose() => _env.Dispose();

    [Fact]
    public async Task HttpClient_UseSpiffeWorkloadApi_PresentsWorkloadApiSvidAndFollowsRotation()
    {
        var registration = SpiffeTestEnvironment.ForThisUser("/agent/client");
        await using var workloadApi = await WorkloadApiServer.StartAsync(_env.Ca, _env.ServerOptions("mtls.sock", registration), SpiffeTestEnvironment.ServerTime());
        var (serverCertificate, intermediates) = IssueServerCertificate("/svc");
        using var _ = serverCertificate;
        await using var service = await StartServiceAsync(serverCertificate, intermediates);
        var serviceUrl = service.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();

        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddAgentIdentity(o => o.TrustDomain = "example.org").UseSpiffeWorkloadApi(o => o.Address = workloadApi.Address.Value);
        builder.Services.AddHttpClient("svc", c => c.BaseAddress = new Uri(serviceUrl)).AddAgentIdentity(o => o.ServerId = "spiffe://example.org/svc");
        using var host = builder.Build();
        await host.StartAsync().Within30s();
        var source = host.Services.GetRequiredService<WorkloadApiX509Source>();
        var client = host.Services.GetRequiredService<IHttpClientFactory>().CreateClient("svc");

        var first = source.GetCurrent();
        Assert.Equal(first.SerialNumber, await client.GetStringAsync("/").Within30s());

        var rotated = first.ChangeToken.WhenChanged();
        await workloadApi.RotateAsync();
        await rotated.Within30s();
        var second = source.GetCurrent();
        Assert.NotEqual(first.SerialNumber, second.SerialNumber);
        Assert.Equal(second.SerialNumber, await client.GetStringAsync("/").Within30s());
        await host.StopAsync();
    }

    private (X509Certificate2 Certificate, IReadOnlyList<X509Certificate2> Intermediates) IssueServerCertificate(string path)
    {
        var id = SpiffeId.Parse("spiffe://example.org" + path);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName(string.Empty), key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddUri(id.ToUri());
        request.CertificateExtensions.Add(san.Build(true));
        var issuance = _env.Ca.Issue(new X509SvidRequest(id, request.CreateSigningRequest(), TimeSpan.FromHours(1)) { DnsNames = ["localhost"] });
        using var leaf = issuance.Certificate;
        return (leaf.CopyWithPrivateKey(key), issuance.Intermediates);
    }

    private static async Task<WebApplication> StartServiceAsync(X509Certificate2 certificate, IReadOnlyList<X509Certificate2> intermediates)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, l => l.UseHttps(https =>
        {
            https.ServerCertificate = certificate;
            https.ServerCertificateChain = [.. intermediates];
            https.ClientCertificateMode = ClientCertificateMode.RequireCertificate;
            https.AllowAnyClientCertificate();
        })));
        var app = builder.Build();
        app.MapGet("/", (HttpContext context) => context.Connection.ClientCertificate?.SerialNumber ?? "none");
        await app.StartAsync();
        return app;
    }
}
