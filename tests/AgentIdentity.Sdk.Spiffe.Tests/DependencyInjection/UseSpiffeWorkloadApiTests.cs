using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace AgentIdentity.Spiffe.Tests;

public sealed class UseSpiffeWorkloadApiTests : IDisposable
{
    private readonly SpiffeTestEnvironment _env = new();

    public void Dispose() => _env.Dispose();

    [Fact]
    public async Task UseSpiffeWorkloadApi_HostStarts_DefaultCredentialComesFromWorkloadApi()
    {
        var registration = SpiffeTestEnvironment.ForThisUser("/agent/planner");
        await using var server = await WorkloadApiServer.StartAsync(_env.Ca, _env.ServerOptions("di.sock", registration), SpiffeTestEnvironment.ServerTime());
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddAgentIdentity(o => o.TrustDomain = "example.org")
            .UseSpiffeWorkloadApi(o => o.Address = server.Address.Value)
            .UseSpiffeWorkloadApi();
        using var host = builder.Build();
        await host.StartAsync().Within30s();

        var source = host.Services.GetRequiredService<IX509SvidSource>();
        Assert.IsType<WorkloadApiX509Source>(source);
        Assert.Equal(registration.Id, source.GetCurrent().Id);
        Assert.True(host.Services.GetRequiredService<ITrustBundleSource>().TryGetBundle(TrustDomain.Parse("example.org"), out _));
        var jwt = await host.Services.GetRequiredService<WorkloadApiClient>().FetchJwtSvidAsync("svc").Within30s();
        Assert.Equal(registration.Id, jwt.Id);
        await host.StopAsync();
    }
}
