using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
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
        var (serverCertificate, intermediates) = _env.Pki.IssueServer("/svc", TimeSpan.FromHours(1));
        using var _ = serverCertificate;
        await using var service = await StartServiceAsync(serverCertificate, intermediates);

        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddAgentIdentity(o => o.TrustDomain = "example.org").UseSpiffeWorkloadApi(o => o.Address = workloadApi.Address.Value);
        builder.Services.AddHttpClient("svc", c => c.BaseAddress = service.Address).AddAgentIdentity(o => o.ServerId = "spiffe://example.org/svc");
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

    private static async Task<TestHost> StartServiceAsync(X509Certificate2 certificate, X509Certificate2Collection intermediates)
    {
        var app = TestHost.CreateBuilder(l => l.UseHttps(https =>
        {
            https.ServerCertificate = certificate;
            https.ServerCertificateChain = intermediates;
            https.ClientCertificateMode = ClientCertificateMode.RequireCertificate;
            https.AllowAnyClientCertificate();
        })).Build();
        app.MapGet("/", (HttpContext context) => context.Connection.ClientCertificate?.SerialNumber ?? "none");
        return await TestHost.StartAsync(app);
    }
}
