using AgentIdentity;
using AgentIdentity.Issuer;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the embedded AgentIdentity issuer service.</summary>
public static class AgentIdentityIssuerServiceCollectionExtensions
{
    /// <summary>Adds the issuer: the <see cref="AgentIdentityIssuer"/> singleton, its store, its revocation registry (an
    /// <see cref="IRevocationRegistry"/> kept in the store, unless one is registered before this call) with an <see cref="OcspResponder"/>,
    /// and a hosted service that loads or generates the CA before the server listens.</summary>
    /// <param name="services">The services.</param>
    /// <param name="configure">Configures the options; may be <see langword="null"/>.</param>
    /// <returns>A builder to choose the store: <see cref="AgentIdentityIssuerStoreExtensions.UseSqlite"/> (one issuer process,
    /// the default: the file <c>agent-identity-issuer.db</c> in the working directory when no store is chosen) or
    /// <see cref="AgentIdentityIssuerStoreExtensions.UsePostgreSql"/> (several replicas share one database).</returns>
    /// <remarks>Safe to call more than once: the services are registered once and every <paramref name="configure"/> is applied.
    /// The store is SQLite or PostgreSQL: revocation, replication and group commit are built on their schema, so the store
    /// interface is not public.</remarks>
    public static IAgentIdentityIssuerBuilder AddAgentIdentityIssuer(this IServiceCollection services, Action<AgentIdentityIssuerOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        if (!services.Contains(IssuerMarker.Descriptor))
        {
            services.Add(IssuerMarker.Descriptor);
            services.TryAddSingleton(TimeProvider.System);
            services.AddOptions<AgentIdentityIssuerOptions>();
            services.TryAddSingleton<IIssuerStore>(sp => IssuerStoreChoice.CreateStore(sp.GetServices<IssuerStoreChoice>()));
            services.TryAddSingleton(sp => new AgentIdentityIssuer(
                sp.GetRequiredService<IOptions<AgentIdentityIssuerOptions>>().Value,
                ResolveStore(sp),
                sp.GetRequiredService<TimeProvider>(),
                sp.GetRequiredService<ILoggerFactory>().CreateLogger("AgentIdentity.Issuer")));
            services.AddOptions<RevocationRegistryOptions>();
            services.TryAddSingleton(sp => new StoreRevocationRegistry(
                sp.GetRequiredService<AgentIdentityIssuer>(),
                sp.GetRequiredService<IOptions<RevocationRegistryOptions>>().Value,
                sp.GetRequiredService<ILoggerFactory>().CreateLogger("AgentIdentity.Issuer.Revocation")));
            services.TryAddSingleton<IRevocationRegistry>(sp => sp.GetRequiredService<StoreRevocationRegistry>());
            services.TryAddSingleton(sp => new OcspResponder(
                sp.GetRequiredService<IRevocationRegistry>(),
                () => sp.GetRequiredService<AgentIdentityIssuer>().State.RevocationSigner,
                null,
                sp.GetRequiredService<TimeProvider>()));
            services.TryAddSingleton(sp => new IssuerAudit(sp.GetRequiredService<AgentIdentityIssuer>(), sp.GetRequiredService<ILoggerFactory>().CreateLogger("AgentIdentity.Issuer.Audit")));
            services.TryAddSingleton(sp => new AdminAuthorization(sp.GetRequiredService<AgentIdentityIssuer>(), sp));
            services.TryAddSingleton(sp => new IssuerEndpoints(sp.GetRequiredService<AgentIdentityIssuer>(), sp.GetRequiredService<AdminAuthorization>(), ResolveRegistry(sp)));
            services.TryAddSingleton(sp => new AdminEndpoints(sp.GetRequiredService<AgentIdentityIssuer>(), sp.GetRequiredService<IssuerEndpoints>(), sp.GetRequiredService<AdminAuthorization>(), sp));
            services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, IssuerStartupService>());
            services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, IssuerAuditStartupService>());

            // Started by the start-up service once the CA is loaded: replicas follow each other's revocations and CA rotations through the store.
            services.TryAddSingleton(sp => new IssuerReplicaSync(
                sp.GetRequiredService<AgentIdentityIssuer>(),
                ResolveRegistry(sp) as StoreRevocationRegistry,
                sp.GetRequiredService<IOptions<RevocationRegistryOptions>>().Value,
                sp.GetRequiredService<TimeProvider>(),
                sp.GetRequiredService<ILoggerFactory>().CreateLogger("AgentIdentity.Issuer.Replicas")));
        }

        if (configure is not null)
        {
            services.Configure(configure);
        }

        return new AgentIdentityIssuerBuilder(services);
    }

    /// <summary>Adds the issuer as <see cref="AddAgentIdentityIssuer(IServiceCollection, Action{AgentIdentityIssuerOptions}?)"/> does, with
    /// its options bound from <paramref name="configuration"/>, for example the <c>AgentIdentityIssuer</c> section of appsettings.json:
    /// <c>{ "TrustDomain": "example.org", "OperatorIds": ["spiffe://example.org/agent/ops/*"], "Audit": { "Directory": "/var/lib/issuer/audit" } }</c>.</summary>
    /// <param name="services">The services.</param>
    /// <param name="configuration">The section to bind <see cref="AgentIdentityIssuerOptions"/> from (its nested <c>Audit</c> section too).</param>
    /// <returns>A builder to choose the store.</returns>
    /// <remarks>Binding is source-generated (AOT-safe). A list in configuration (<c>OperatorIds</c>, <c>ServerDnsNames</c>) replaces
    /// the list's default rather than adding to it. An unknown key, a value that does not convert and a value that breaks a rule fail
    /// at start-up, naming the full configuration key (see docs/configuration.md). Keep <c>KeyEncryptionKey</c> and
    /// <c>AdminApiKey</c> in a secret store or the environment, never in a committed file.</remarks>
    public static IAgentIdentityIssuerBuilder AddAgentIdentityIssuer(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        var builder = AddAgentIdentityIssuer(services, configure: null);
        services.AddOptions<AgentIdentityIssuerOptions>().ValidateOnStart().Configure(options =>
        {
            if (configuration.GetSection(nameof(AgentIdentityIssuerOptions.ServerDnsNames)).Exists())
            {
                options.ServerDnsNames.Clear();
            }

            if (configuration.GetSection(nameof(AgentIdentityIssuerOptions.OperatorIds)).Exists())
            {
                options.OperatorIds.Clear();
            }

            ConfigurationBinding.Run(configuration, () => configuration.Bind(options, ConfigurationBinding.Strict));
        });
        services.AddSingleton(new ConfigurationSource<AgentIdentityIssuerOptions>(Options.Options.DefaultName, ConfigurationBinding.PathOf(configuration)));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<AgentIdentityIssuerOptions>, ConfigurationKeyValidator<AgentIdentityIssuerOptions>>(sp =>
            new(sp.GetServices<ConfigurationSource<AgentIdentityIssuerOptions>>(), [new AgentIdentityIssuerOptionsValidator(), AgentIdentityIssuerOptionsRules.Instance])));
        return builder;
    }

    /// <summary>The registry the issuance endpoints enforce: the store-backed one on the built-in stores, or one the host registered;
    /// none for a custom store without a registry.</summary>
    internal static IRevocationRegistry? ResolveRegistry(IServiceProvider services)
    {
        var registry = services.GetRequiredService<IRevocationRegistry>();
        return registry is StoreRevocationRegistry { IsAvailable: false } ? null : registry;
    }

    private static IIssuerStore ResolveStore(IServiceProvider services)
    {
        var store = services.GetRequiredService<IIssuerStore>();
        if (store is not SqlIssuerStore && services.GetService<IssuerStoreChoice>() is { } choice)
        {
            throw new InvalidOperationException(
                $"The AgentIdentity issuer has a custom IIssuerStore ({store.GetType().Name}) registered and {choice.Method}() was called as well; an issuer uses one store: remove one of them.");
        }

        return store;
    }
}

/// <summary>Configures the AgentIdentity issuer after <c>AddAgentIdentityIssuer()</c>: chooses its store.</summary>
public interface IAgentIdentityIssuerBuilder
{
    /// <summary>Gets the service collection.</summary>
    IServiceCollection Services { get; }
}

internal sealed class AgentIdentityIssuerBuilder(IServiceCollection services) : IAgentIdentityIssuerBuilder
{
    public IServiceCollection Services { get; } = services;
}

/// <summary>Marks a service collection to which <c>AddAgentIdentityIssuer()</c> has added the issuer.</summary>
internal sealed class IssuerMarker
{
    public static readonly ServiceDescriptor Descriptor = ServiceDescriptor.Singleton(new IssuerMarker());
}

internal sealed class IssuerStartupService(AgentIdentityIssuer issuer, IssuerReplicaSync sync) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await issuer.StartAsync(cancellationToken).ConfigureAwait(false);
        await sync.StartAsync(cancellationToken).ConfigureAwait(false);
    }

    public Task StopAsync(CancellationToken cancellationToken) => sync.StopAsync(cancellationToken);
}
