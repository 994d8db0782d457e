using AgentIdentity;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Subscribes the host's agents to their own revocation status: the kill switch without hand wiring.</summary>
public static partial class AgentIdentityBuilderExtensions
{
    /// <summary>
    /// Subscribes every agent credential of the host (declared agents, the default agent, credentials made by
    /// <see cref="IAgentCredentialFactory"/>, and their task identities) to the issuer's signed revocation feed at
    /// <paramref name="feedUri"/>: when an entry revokes a credential's certificate or identity, its kill switch trips
    /// (<see cref="AgentCredential.GetCurrent"/> throws <see cref="IdentityRevokedException"/>) and the <c>agent-identity</c> health check
    /// reports Unhealthy. See <see cref="AgentRevocationSubscription"/>.
    /// </summary>
    /// <param name="builder">The builder.</param>
    /// <param name="feedUri">The feed, for example <c>https://issuer.example/revocation/feed</c>.</param>
    /// <param name="configure">Adjusts the subscription (signer, expected server ID, grace period); may be <see langword="null"/>.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentException"><paramref name="feedUri"/> is not an absolute https:// URI.</exception>
    /// <remarks>Safe to call more than once: the subscription is registered once, and each call's settings apply in order.</remarks>
    public static IAgentIdentityBuilder UseRevocationFeed(this IAgentIdentityBuilder builder, Uri feedUri, Action<AgentRevocationSubscriptionOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(feedUri);
        if (!feedUri.IsAbsoluteUri || feedUri.Scheme != Uri.UriSchemeHttps)
        {
            throw new ArgumentException($"The revocation feed URI '{feedUri}' must be an absolute https:// URI: the feed client authenticates the issuer's server certificate.", nameof(feedUri));
        }

        builder.Services.Configure<AgentRevocationSubscriptionOptions>(o => o.FeedUri = feedUri);
        return UseRevocationFeed(builder, configure);
    }

    /// <summary>
    /// Subscribes every agent credential of the host to the revocation feed, as <see cref="UseRevocationFeed(IAgentIdentityBuilder, Action{AgentRevocationSubscriptionOptions}?)"/>,
    /// with the options bound from <paramref name="configuration"/> (keys <c>FeedUri</c>, <c>ServerId</c>, <c>GracePeriod</c>,
    /// <c>Subscriber:ReconnectDelay</c>, <c>Subscriber:MaxReconnectDelay</c>, <c>Subscriber:IdleTimeout</c>, <c>Subscriber:EpochChange</c>;
    /// the signer certificate and the HTTP client callback are code-only).
    /// </summary>
    /// <param name="builder">The builder.</param>
    /// <param name="configuration">The section, for example <c>AgentIdentity:Revocation</c>.</param>
    /// <returns>The builder.</returns>
    /// <remarks>Binding is source-generated; an unknown key, a value that does not convert and a value that breaks a rule fail at
    /// start-up, naming the full configuration key.</remarks>
    public static IAgentIdentityBuilder UseRevocationFeed(this IAgentIdentityBuilder builder, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configuration);
        var services = builder.Services;
        services.Configure<AgentRevocationSubscriptionOptions>(options => AgentRevocationSubscriptionConfiguration.Bind(configuration, options));
        services.AddOptions<AgentRevocationSubscriptionOptions>().ValidateOnStart();
        services.AddSingleton(new ConfigurationSource<AgentRevocationSubscriptionOptions>(Options.Options.DefaultName, ConfigurationBinding.PathOf(configuration)));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<AgentRevocationSubscriptionOptions>, ConfigurationKeyValidator<AgentRevocationSubscriptionOptions>>(sp =>
            new(sp.GetServices<ConfigurationSource<AgentRevocationSubscriptionOptions>>(), [AgentRevocationSubscriptionOptionsRules.Instance])));
        return UseRevocationFeed(builder, configure: null);
    }

    /// <summary>
    /// Subscribes every agent credential of the host to the revocation feed of the issuer configured with
    /// <c>UseIssuer(address, ...)</c>: <see cref="AgentRevocationSubscriptionOptions.DefaultIssuerFeedPath"/> (<c>/revocation/feed</c>)
    /// on the issuer's scheme, host and port, where <c>app.MapAgentIdentityRevocation()</c> maps it by default; the issuer's server ID
    /// is expected of the feed server too. Otherwise as <see cref="UseRevocationFeed(IAgentIdentityBuilder, Uri, Action{AgentRevocationSubscriptionOptions}?)"/>.
    /// </summary>
    /// <param name="builder">The builder.</param>
    /// <param name="configure">Adjusts the subscription; may be <see langword="null"/>.</param>
    /// <returns>The builder.</returns>
    /// <remarks>Without <c>UseIssuer</c> and without <see cref="AgentRevocationSubscriptionOptions.FeedUri"/> the host fails to start,
    /// saying so. Safe to call more than once.</remarks>
    public static IAgentIdentityBuilder UseRevocationFeed(this IAgentIdentityBuilder builder, Action<AgentRevocationSubscriptionOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        if (configure is not null)
        {
            services.Configure(configure);
        }

        if (services.Any(d => d.ServiceType == typeof(AgentRevocationSubscriptionMarker)))
        {
            return builder;
        }

        services.AddSingleton<AgentRevocationSubscriptionMarker>();
        services.AddOptions<AgentRevocationSubscriptionOptions>();
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton(sp => new AgentRevocationSubscription(
            sp.GetRequiredService<IOptions<AgentRevocationSubscriptionOptions>>(),
            sp,
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILoggerFactory>()));

        // After AddAgentIdentity's start-up service, so the agents' first SVIDs exist when it starts.
        services.AddSingleton<IHostedService>(sp => sp.GetRequiredService<AgentRevocationSubscription>());
        services.TryAddSingleton<IRevocationStatus>(sp => sp.GetRequiredService<AgentRevocationSubscription>().Set);
        return builder;
    }
}

/// <summary>Marks that <c>UseRevocationFeed</c> registered the subscription, so a second call registers nothing twice.</summary>
internal sealed class AgentRevocationSubscriptionMarker;
