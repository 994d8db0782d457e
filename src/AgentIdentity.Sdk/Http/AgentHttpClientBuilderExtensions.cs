using AgentIdentity;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Makes an <see cref="HttpClient"/> call out as an agent: mTLS with the agent's current X.509-SVID (rotation-safe), the server
/// authenticated by SPIFFE ID, attribution headers and optional RFC 8705 certificate-bound access tokens.</summary>
public static class AgentHttpClientBuilderExtensions
{
    /// <summary>Adds agent identity to the client with default options (the default agent; servers of the agent's own trust domain).</summary>
    /// <param name="builder">The HttpClient builder.</param>
    /// <returns>The same builder.</returns>
    /// <remarks>Safe to call more than once. Requires <c>services.AddAgentIdentity(...)</c>. It replaces the primary handler, so call it
    /// before (outside of) <c>AddStandardResilienceHandler()</c>; see docs/http-client.md.</remarks>
    public static IHttpClientBuilder AddAgentIdentity(this IHttpClientBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return AddCore(builder);
    }

    /// <summary>Adds agent identity to the client and configures its options (named after the client).</summary>
    /// <param name="builder">The HttpClient builder.</param>
    /// <param name="configure">Configures the options.</param>
    /// <returns>The same builder.</returns>
    /// <remarks>Safe to call more than once; configurations accumulate.</remarks>
    public static IHttpClientBuilder AddAgentIdentity(this IHttpClientBuilder builder, Action<AgentHttpClientOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configure);
        builder.Services.Configure(builder.Name, configure);
        return AddCore(builder);
    }

    /// <summary>Adds agent identity to the client, binding its options from configuration (source-generated binder, AOT-safe).</summary>
    /// <param name="builder">The HttpClient builder.</param>
    /// <param name="section">A section with keys such as <c>ServerId</c>, <c>AgentName</c>, <c>AllowTlsResume</c>, <c>Token:Authority</c>.</param>
    /// <returns>The same builder.</returns>
    /// <remarks>A key that is not an option, or a value that does not convert, fails when the options are first read; a value that
    /// breaks a rule fails options validation at start-up. Each message names the full configuration key (see docs/configuration.md).</remarks>
    public static IHttpClientBuilder AddAgentIdentity(this IHttpClientBuilder builder, IConfigurationSection section)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(section);
        builder.Services.Configure<AgentHttpClientOptions>(builder.Name, options => ConfigurationBinding.Run(section, () => section.Bind(options, ConfigurationBinding.Strict)));
        builder.Services.AddSingleton(new ConfigurationSource<AgentHttpClientOptions>(builder.Name, section.Path));
        return AddCore(builder);
    }

    private static IHttpClientBuilder AddCore(IHttpClientBuilder builder)
    {
        var services = builder.Services;
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<AgentHttpClientHandlers>();
        services.TryAddSingleton(sp => new AgentAccessTokens(sp.GetRequiredService<AgentHttpClientHandlers>()));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<AgentHttpClientOptions>, ConfigurationKeyValidator<AgentHttpClientOptions>>(sp =>
            new(sp.GetServices<ConfigurationSource<AgentHttpClientOptions>>(), [new AgentHttpClientOptionsValidator(), AgentHttpClientOptionsRules.Instance])));

        // A keyed marker per client name: the handlers are added once per client however often this is called.
        var name = builder.Name;
        var before = services.Count;
        services.TryAddKeyedSingleton(name, AgentHttpClientMarker.Instance);
        if (services.Count == before)
        {
            return builder;
        }

        services.AddOptions<AgentHttpClientOptions>(name).ValidateOnStart();
        builder.ConfigurePrimaryHttpMessageHandler(sp => new NonDisposingHandler(sp.GetRequiredService<AgentHttpClientHandlers>().Get(name).Generations));
        builder.AddHttpMessageHandler(sp => new BoundTokenHandler(sp.GetRequiredService<AgentHttpClientHandlers>().Get(name)));
        return builder;
    }
}

/// <summary>Marks an HttpClient name whose handlers <c>AddAgentIdentity</c> has added.</summary>
internal sealed class AgentHttpClientMarker
{
    public static AgentHttpClientMarker Instance { get; } = new();
}
