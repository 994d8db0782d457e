using AgentIdentity;
using AgentIdentity.Spiffe;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Plugs the SPIFFE Workload API into <c>AddAgentIdentity()</c>.</summary>
public static class SpiffeAgentIdentityBuilderExtensions
{
    /// <summary>
    /// Takes the process's default identity from the SPIFFE Workload API (SPIRE, tbot, or an orchestrator's
    /// <c>WorkloadApiServer</c> of the Spiffe.Server package): <see cref="IX509SvidSource"/> and <see cref="ITrustBundleSource"/> become a
    /// <see cref="WorkloadApiX509Source"/>, which the host waits for before it starts; <see cref="WorkloadApiClient"/> is
    /// registered for JWT-SVIDs.
    /// </summary>
    /// <param name="builder">The builder.</param>
    /// <param name="configure">Configures the client (address, hint, backoff); by default the address comes from <c>SPIFFE_ENDPOINT_SOCKET</c>.</param>
    /// <returns>The builder.</returns>
    /// <remarks>Safe to call more than once. Named agents added with <c>AddAgent</c> still need an issuer; the Workload API
    /// decides the identity of the process, not of each agent instance.</remarks>
    public static IAgentIdentityBuilder UseSpiffeWorkloadApi(this IAgentIdentityBuilder builder, Action<WorkloadApiOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        services.AddOptions<WorkloadApiOptions>();
        if (configure is not null)
        {
            services.Configure(configure);
        }

        services.TryAddSingleton(sp => WorkloadApiX509Source.Start(
            sp.GetRequiredService<IOptions<WorkloadApiOptions>>().Value,
            sp.GetRequiredService<TimeProvider>(),
            sp.GetService<ILoggerFactory>()));
        services.TryAddSingleton(sp => new WorkloadApiClient(sp.GetRequiredService<IOptions<WorkloadApiOptions>>().Value));
        services.Replace(ServiceDescriptor.Singleton<IX509SvidSource>(sp => sp.GetRequiredService<WorkloadApiX509Source>()));
        services.Replace(ServiceDescriptor.Singleton<ITrustBundleSource>(sp => sp.GetRequiredService<WorkloadApiX509Source>()));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, WorkloadApiStartupService>());
        return builder;
    }

    /// <summary>
    /// Takes the process's default identity from the SPIFFE Workload API, as <see cref="UseSpiffeWorkloadApi(IAgentIdentityBuilder, Action{WorkloadApiOptions}?)"/>,
    /// with the client's options bound from <paramref name="configuration"/> (keys <c>Address</c>, <c>Hint</c>, <c>BackoffStep</c>,
    /// <c>MaxBackoff</c>).
    /// </summary>
    /// <param name="builder">The builder.</param>
    /// <param name="configuration">The section, for example <c>AgentIdentity:WorkloadApi</c>.</param>
    /// <returns>The builder.</returns>
    /// <remarks>Binding is source-generated; an unknown key, a value that does not convert and a value that breaks a rule fail at
    /// start-up, naming the full configuration key.</remarks>
    public static IAgentIdentityBuilder UseSpiffeWorkloadApi(this IAgentIdentityBuilder builder, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configuration);
        var services = builder.Services;
        services.Configure<WorkloadApiOptions>(options => ConfigurationBinding.Run(configuration, () => configuration.Bind(options, ConfigurationBinding.Strict)));
        services.AddOptions<WorkloadApiOptions>().ValidateOnStart();
        services.AddSingleton(new ConfigurationSource<WorkloadApiOptions>(Options.Options.DefaultName, ConfigurationBinding.PathOf(configuration)));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<WorkloadApiOptions>, ConfigurationKeyValidator<WorkloadApiOptions>>(sp =>
            new(sp.GetServices<ConfigurationSource<WorkloadApiOptions>>(), [new WorkloadApiOptionsValidator(), WorkloadApiOptionsRules.Instance])));
        return UseSpiffeWorkloadApi(builder, configure: null);
    }
}

/// <summary>Waits for the first X.509-SVID from the Workload API before the application starts.</summary>
internal sealed class WorkloadApiStartupService(WorkloadApiX509Source source) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => source.WhenReadyAsync(cancellationToken);

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
