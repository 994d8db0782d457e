using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AgentIdentity;

/// <summary>Configuration methods of <see cref="IAgentIdentityBuilder"/>.</summary>
public static class AgentIdentityBuilderExtensions
{
    /// <summary>
    /// Uses an in-process <see cref="DevelopmentCertificateAuthority"/> as the issuer. For development and tests only: it logs
    /// a warning when created and refuses to start in a host whose environment is Production unless
    /// <see cref="DevelopmentCertificateAuthorityOptions.AllowInProduction"/> is set.
    /// </summary>
    /// <param name="builder">The builder.</param>
    /// <param name="configure">Configures the CA; may be <see langword="null"/>.</param>
    /// <returns>The builder.</returns>
    public static IAgentIdentityBuilder UseDevelopmentCertificateAuthority(this IAgentIdentityBuilder builder, Action<DevelopmentCertificateAuthorityOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        services.AddOptions<DevelopmentCertificateAuthorityOptions>();
        if (configure is not null)
        {
            services.Configure(configure);
        }

        services.TryAddSingleton(sp =>
        {
            var caOptions = sp.GetRequiredService<IOptions<DevelopmentCertificateAuthorityOptions>>().Value;
            var environment = sp.GetService<IHostEnvironment>();
            if (environment is not null && environment.IsProduction() && !caOptions.AllowInProduction)
            {
                throw new InvalidOperationException(
                    "UseDevelopmentCertificateAuthority() refuses to run in the Production environment: its keys live only in memory and it has no attestation. " +
                    "Configure a real issuer, or set DevelopmentCertificateAuthorityOptions.AllowInProduction for a deliberate exception.");
            }

            var trustDomain = TrustDomain.Parse(sp.GetRequiredService<IOptions<AgentIdentityOptions>>().Value.TrustDomain ?? string.Empty);
            return DevelopmentCertificateAuthority.Create(trustDomain, caOptions, sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILoggerFactory>().CreateLogger<DevelopmentCertificateAuthority>());
        });
        services.TryAddSingleton<IX509SvidIssuer>(sp => sp.GetRequiredService<DevelopmentCertificateAuthority>());
        services.TryAddSingleton<ITrustBundleSource>(sp => sp.GetRequiredService<DevelopmentCertificateAuthority>());
        return builder;
    }

    /// <summary>Registers a named agent: a keyed <see cref="AgentCredential"/> (and <see cref="IX509SvidSource"/>) with key
    /// <paramref name="agentName"/>, for one new instance of that agent, ready before the host starts.</summary>
    /// <param name="builder">The builder.</param>
    /// <param name="agentName">The agent's name: a SPIFFE path segment such as <c>researcher</c>.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="FormatException">The name is not a valid path segment.</exception>
    /// <remarks>Safe to call more than once with the same name.</remarks>
    public static IAgentIdentityBuilder AddAgent(this IAgentIdentityBuilder builder, string agentName)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(agentName);
        if (SpiffeIdRules.ValidateSegment(agentName) is { } error)
        {
            throw new FormatException($"Agent name '{agentName}' is invalid: {error}.");
        }

        var registrations = (AgentIdentityRegistrations?)builder.Services
            .FirstOrDefault(d => d.ServiceType == typeof(AgentIdentityRegistrations) && d.ImplementationInstance is not null)?.ImplementationInstance;
        if (registrations is null)
        {
            registrations = new AgentIdentityRegistrations();
            builder.Services.RemoveAll<AgentIdentityRegistrations>();
            builder.Services.AddSingleton(registrations);
        }

        if (registrations.KeyedAgents.Add(agentName))
        {
            builder.Services.AddKeyedSingleton(agentName, static (sp, key) => sp.GetRequiredService<AgentCredentialFactory>().GetOrCreateNamed((string)key!));
            builder.Services.AddKeyedSingleton<IX509SvidSource>(agentName, static (sp, key) => sp.GetRequiredKeyedService<AgentCredential>(key));
        }

        return builder;
    }
}
