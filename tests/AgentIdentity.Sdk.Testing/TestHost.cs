using System.Net;
using AgentIdentity.AspNetCore;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace AgentIdentity.Testing;

/// <summary>
/// The one way the tests stand up a real Kestrel server: a slim <see cref="WebApplicationBuilder"/> with no log providers that listens on
/// 127.0.0.1 (port 0 unless told: the kernel picks a free one) or on a Unix socket, and, once the test has mapped its endpoints, a started
/// host that knows its address and stops and disposes the application.
/// </summary>
public sealed class TestHost : IAsyncDisposable
{
    private int _stopped;

    private TestHost(WebApplication app)
    {
        App = app;
        BoundAddress = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
    }

    public WebApplication App { get; }

    public IServiceProvider Services => App.Services;

    /// <summary>The address as Kestrel reports it, e.g. https://127.0.0.1:41234 or http://unix:/tmp/agent.sock.</summary>
    public string BoundAddress { get; }

    /// <summary>The TCP address Kestrel bound, e.g. https://127.0.0.1:41234/.</summary>
    public Uri Address => new(BoundAddress);

    public int Port => Address.Port;

    /// <summary>The address with the host name localhost, which is what the DNS SAN of a test server certificate names.</summary>
    public Uri LocalhostAddress => new(Address.ToString().Replace("127.0.0.1", "localhost", StringComparison.Ordinal));

    /// <summary>A builder listening on 127.0.0.1:<paramref name="port"/>.</summary>
    /// <param name="listen">Configures the endpoint (e.g. TLS); plain HTTP when null.</param>
    /// <param name="development">Runs in the Development environment (scope validation on build) rather than Production.</param>
    /// <param name="port">The port; 0 lets the kernel pick a free one.</param>
    public static WebApplicationBuilder CreateBuilder(Action<ListenOptions>? listen = null, bool development = false, int port = 0)
    {
        var builder = CreateSlimBuilder(development);
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, port, endpoint => listen?.Invoke(endpoint)));
        return builder;
    }

    /// <summary>
    /// A builder for a service that authenticates agents: TLS with <paramref name="serverSvid"/> (SPIFFE client-certificate validation
    /// by <c>UseAgentIdentityHttps</c>, unless <paramref name="listen"/> configures the endpoint), the agent trust bundles from
    /// <paramref name="trust"/> (read when first needed), the AgentIdentity authentication handler and authorization. Development environment.
    /// </summary>
    public static WebApplicationBuilder CreateAgentServiceBuilder(
        X509Svid serverSvid,
        Func<ITrustBundleSource> trust,
        Action<AgentIdentityAuthenticationOptions>? configure = null,
        Action<ListenOptions>? listen = null)
    {
        var builder = CreateBuilder(listen ?? (endpoint => endpoint.UseAgentIdentityHttps(serverSvid)), development: true);
        builder.Services.AddSingleton(_ => trust());
        builder.Services.AddAuthentication(AgentIdentityAuthenticationDefaults.AuthenticationScheme).AddAgentIdentity(configure);
        builder.Services.AddAuthorization();
        return builder;
    }

    /// <summary>A builder listening on the Unix socket <paramref name="socketPath"/>.</summary>
    public static WebApplicationBuilder CreateUnixSocketBuilder(string socketPath, Action<ListenOptions>? listen = null, bool development = false)
    {
        var builder = CreateSlimBuilder(development);
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.ListenUnixSocket(socketPath, endpoint => listen?.Invoke(endpoint)));
        return builder;
    }

    /// <summary>Starts <paramref name="app"/> and returns its host.</summary>
    public static async Task<TestHost> StartAsync(WebApplication app)
    {
        await app.StartAsync();
        return new TestHost(app);
    }

    /// <summary>Stops the server (connections are refused from now on); the second call does nothing.</summary>
    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        if (Interlocked.Exchange(ref _stopped, 1) == 0)
        {
            await App.StopAsync(cancellationToken);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        await App.DisposeAsync();
    }

    private static WebApplicationBuilder CreateSlimBuilder(bool development)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { EnvironmentName = development ? Environments.Development : null });
        builder.Logging.ClearProviders();
        return builder;
    }
}
