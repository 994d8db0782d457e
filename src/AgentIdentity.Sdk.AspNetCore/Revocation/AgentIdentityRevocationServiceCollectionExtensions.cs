using AgentIdentity;
using AgentIdentity.AspNetCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Hosting;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the service-side revocation feed subscription.</summary>
public static class AgentIdentityRevocationServiceCollectionExtensions
{
    /// <summary>
    /// Subscribes the service to the issuer's signed revocation feed: a hosted <see cref="AgentRevocationFeedService"/> keeps a
    /// <see cref="RevocationSet"/> current and serves as the AgentIdentity handler's <see cref="IAgentRevocationChecker"/>, and an
    /// <see cref="AgentRevocationConnectionTracker"/> aborts open connections of revoked certificates (install it on endpoints with
    /// <c>ListenOptions.UseAgentIdentityRevocation()</c>). Safe to call twice.
    /// </summary>
    /// <param name="services">The services.</param>
    /// <param name="configure">Sets the feed URI, the feed-signer certificate, the trust domain, the grace period and failure policy.</param>
    /// <returns>The HTTP client builder of the feed client, to configure TLS trust of the issuer.</returns>
    public static IHttpClientBuilder AddAgentIdentityRevocationFeed(this IServiceCollection services, Action<AgentRevocationFeedOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        services.Configure(configure);
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<RevocationSet>();
        services.TryAddSingleton<AgentRevocationFeedService>();
        services.TryAddSingleton<AgentRevocationConnectionTracker>();
        services.TryAddSingleton<IAgentRevocationChecker>(sp => sp.GetRequiredService<AgentRevocationFeedService>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, AgentRevocationFeedService>(sp => sp.GetRequiredService<AgentRevocationFeedService>()));
        return services.AddHttpClient(AgentRevocationFeedOptions.HttpClientName, client => client.Timeout = Timeout.InfiniteTimeSpan);
    }

    /// <summary>
    /// Subscribes the service to the issuer's signed revocation feed, as
    /// <see cref="AddAgentIdentityRevocationFeed(IServiceCollection, Action{AgentRevocationFeedOptions})"/>, with the options bound from
    /// <paramref name="configuration"/> (keys <c>FeedUri</c>, <c>SignerCertificatePath</c> — the feed-signing certificate, PEM or DER —,
    /// <c>TrustDomain</c>, <c>GracePeriod</c>, <c>FailurePolicy</c>, and <c>Subscriber:ReconnectDelay</c>, <c>Subscriber:MaxReconnectDelay</c>,
    /// <c>Subscriber:IdleTimeout</c>, <c>Subscriber:EpochChange</c>).
    /// </summary>
    /// <param name="services">The services.</param>
    /// <param name="configuration">The section, for example <c>AgentIdentity:RevocationFeed</c>.</param>
    /// <returns>The HTTP client builder of the feed client, to configure TLS trust of the issuer.</returns>
    /// <remarks>Binding is source-generated; an unknown key, a value that does not convert, an unreadable certificate file and a
    /// value that breaks a rule fail at start-up, naming the full configuration key.</remarks>
    public static IHttpClientBuilder AddAgentIdentityRevocationFeed(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        services.AddOptions<AgentRevocationFeedOptions>().ValidateOnStart();
        services.AddSingleton(new ConfigurationSource<AgentRevocationFeedOptions>(Options.Options.DefaultName, ConfigurationBinding.PathOf(configuration)));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<AgentRevocationFeedOptions>, ConfigurationKeyValidator<AgentRevocationFeedOptions>>(sp =>
            new(sp.GetServices<ConfigurationSource<AgentRevocationFeedOptions>>(), [new AgentRevocationFeedOptionsValidator(), AgentRevocationFeedOptionsRules.Instance])));
        return services.AddAgentIdentityRevocationFeed(options => AgentRevocationFeedConfiguration.Bind(configuration, options));
    }
}
