using AgentIdentity;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Configuration methods of <see cref="IAgentIdentityBuilder"/>.</summary>
public static partial class AgentIdentityBuilderExtensions
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

    /// <summary>Declares a named agent: a keyed <see cref="AgentCredential"/> (and <see cref="IX509SvidSource"/>) with key
    /// <paramref name="agentName"/> for one new instance of that agent, with its own options (policy, lifetime, key type), whose first SVID
    /// the host waits for before the application starts.</summary>
    /// <param name="builder">The builder.</param>
    /// <param name="agentName">The agent's name: a SPIFFE path segment such as <c>researcher</c>.</param>
    /// <param name="configure">Adjusts this agent's options, which start from <see cref="AgentIdentityOptions.Credential"/>; for example
    /// <c>o =&gt; o.Policy = new AgentPolicy(tools: ["Clock.*"])</c>. May be <see langword="null"/>.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="FormatException">The name is not a valid path segment.</exception>
    /// <remarks>Resolve the credential with <c>GetRequiredKeyedService&lt;AgentCredential&gt;(agentName)</c> or
    /// <c>[FromKeyedServices(agentName)]</c>; <see cref="AgentHttpClientOptions.AgentName"/> selects it for an HttpClient. Declare each agent
    /// once: a second <c>AddAgent</c> with the same name fails options validation at start-up. The options are validated at start-up too.
    /// For agents created at run time use <see cref="IAgentCredentialFactory"/>.</remarks>
    public static IAgentIdentityBuilder AddAgent(this IAgentIdentityBuilder builder, string agentName, Action<AgentCredentialOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        AddAgentServices(builder.Services, agentName, isDeclaration: true);
        var options = builder.Services.AddOptions<AgentCredentialOptions>(agentName).ValidateOnStart();
        if (configure is not null)
        {
            options.Configure(configure);
        }

        return builder;
    }

    /// <summary>
    /// Makes the keyed credential of <paramref name="agentName"/> available to another component (the audit log's checkpoint signer,
    /// for example) without declaring the agent: an agent declared with <see cref="AddAgent"/> keeps its options, any other gets the
    /// default credential options. The host waits for its first SVID at start-up, as for a declared agent.
    /// </summary>
    /// <param name="builder">The builder.</param>
    /// <param name="agentName">The agent name (one SPIFFE path segment).</param>
    /// <returns>The builder.</returns>
    /// <exception cref="FormatException">The name is not a valid path segment.</exception>
    public static IAgentIdentityBuilder AddAgentReference(this IAgentIdentityBuilder builder, string agentName)
    {
        ArgumentNullException.ThrowIfNull(builder);
        AddAgentServices(builder.Services, agentName, isDeclaration: false);
        return builder;
    }

    /// <summary>Registers the keyed credential of <paramref name="agentName"/> and a marker that makes the host wait for it.</summary>
    /// <exception cref="FormatException">The name is not a valid path segment.</exception>
    internal static void AddAgentServices(IServiceCollection services, string agentName, bool isDeclaration)
    {
        ArgumentNullException.ThrowIfNull(agentName);
        if (SpiffeIdRules.ValidateSegment(agentName) is { } error)
        {
            throw new FormatException($"Agent name '{agentName}' is invalid: {error}.");
        }

        services.AddSingleton(new AgentRegistration(agentName, isDeclaration));
        services.TryAddKeyedSingleton(agentName, static (sp, key) => sp.GetRequiredService<AgentCredentialFactory>().GetOrCreateNamed((string)key!));
        services.TryAddKeyedSingleton<IX509SvidSource>(agentName, static (sp, key) => sp.GetRequiredKeyedService<AgentCredential>(key));
    }
}
