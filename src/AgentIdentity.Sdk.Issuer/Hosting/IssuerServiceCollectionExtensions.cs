using System.Net.Security;
using AgentIdentity.Issuer;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers and maps the embedded AgentIdentity issuer service.</summary>
public static class AgentIdentityIssuerExtensions
{
    /// <summary>Adds the issuer: the <see cref="AgentIdentityIssuer"/> singleton, its store (SQLite file by default, PostgreSQL
    /// when <see cref="AgentIdentityIssuerOptions.PostgreSqlConnectionString"/> is set) and a hosted service that loads or
    /// generates the CA before the server listens.</summary>
    /// <param name="services">The services.</param>
    /// <param name="configure">Configures the options.</param>
    /// <returns>The services.</returns>
    /// <remarks>Safe to call more than once.</remarks>
    public static IServiceCollection AddAgentIdentityIssuer(this IServiceCollection services, Action<AgentIdentityIssuerOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.TryAddSingleton(TimeProvider.System);
        services.AddOptions<AgentIdentityIssuerOptions>();
        if (configure is not null)
        {
            services.Configure(configure);
        }

        services.TryAddSingleton<IIssuerStore>(sp =>
        {
            var options = sp.GetRequiredService<IOptions<AgentIdentityIssuerOptions>>().Value;
            return options.PostgreSqlConnectionString is { } connectionString
                ? new PostgreSqlIssuerStore(connectionString)
                : new SqliteIssuerStore(options.SqlitePath);
        });
        services.TryAddSingleton(sp => new AgentIdentityIssuer(
            sp.GetRequiredService<IOptions<AgentIdentityIssuerOptions>>().Value,
            sp.GetRequiredService<IIssuerStore>(),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILoggerFactory>().CreateLogger("AgentIdentity.Issuer")));
        services.TryAddSingleton(sp => new IssuerEndpoints(sp.GetRequiredService<AgentIdentityIssuer>()));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, IssuerStartupService>());
        return services;
    }

    /// <summary>Maps the issuer endpoints under <paramref name="prefix"/>: <c>POST v1/issue</c> (CSR + join token),
    /// <c>POST v1/renew</c> (mTLS with the current SVID), <c>POST v1/delegate</c> (mTLS with the parent SVID + child policy),
    /// <c>GET v1/bundle</c> (SPIFFE bundle) and <c>POST v1/join-tokens</c> (admin API key).</summary>
    /// <param name="endpoints">The endpoint builder (the app).</param>
    /// <param name="prefix">The path prefix.</param>
    /// <returns>A convention builder for all issuer endpoints.</returns>
    /// <remarks>Serve them over HTTPS that asks for (but does not require) a client certificate, for example with
    /// <see cref="UseAgentIdentityIssuerHttps"/>.</remarks>
    public static IEndpointConventionBuilder MapAgentIdentityIssuer(this IEndpointRouteBuilder endpoints, string prefix = "/agent-identity")
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentNullException.ThrowIfNull(prefix);
        var handlers = endpoints.ServiceProvider.GetRequiredService<IssuerEndpoints>();
        var group = endpoints.MapGroup(prefix);
        group.MapPost("/v1/issue", handlers.IssueAsync);
        group.MapPost("/v1/renew", handlers.RenewAsync);
        group.MapPost("/v1/delegate", handlers.DelegateAsync);
        group.MapGet("/v1/bundle", handlers.BundleAsync);
        group.MapPost("/v1/join-tokens", handlers.CreateJoinTokenAsync);
        return group;
    }

    /// <summary>Serves HTTPS with the issuer's own server SVID (<see cref="AgentIdentityIssuer.ServerId"/>, renewed at half-life,
    /// intermediates included) and asks clients for a certificate without requiring one: renewal and delegation authenticate
    /// with it, enrollment and the bundle endpoint do not.</summary>
    /// <param name="listenOptions">The Kestrel listen options.</param>
    /// <returns>The listen options.</returns>
    public static ListenOptions UseAgentIdentityIssuerHttps(this ListenOptions listenOptions)
    {
        ArgumentNullException.ThrowIfNull(listenOptions);
        return listenOptions.UseHttps(new TlsHandshakeCallbackOptions
        {
            OnConnection = context =>
            {
                var issuer = listenOptions.ApplicationServices.GetRequiredService<AgentIdentityIssuer>();
                return ValueTask.FromResult(new SslServerAuthenticationOptions
                {
                    ServerCertificateContext = issuer.GetServerCertificateContext(),
                    ClientCertificateRequired = true,
#pragma warning disable CA5359 // This is the server asking for an optional client certificate; each endpoint validates it against the issuer's own bundle.
                    RemoteCertificateValidationCallback = static (_, _, _, _) => true,
#pragma warning restore CA5359
                    AllowTlsResume = false,
                });
            },
        });
    }
}

internal sealed class IssuerStartupService(AgentIdentityIssuer issuer) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => issuer.StartAsync(cancellationToken);

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
