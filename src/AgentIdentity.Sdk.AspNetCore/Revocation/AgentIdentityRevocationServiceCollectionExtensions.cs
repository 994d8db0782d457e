using AgentIdentity;
using AgentIdentity.AspNetCore;
using Microsoft.Extensions.DependencyInjection.Extensions;
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
}
