using AgentIdentity;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers AgentIdentity: a distinct, self-rotating X.509-SVID for each agent instance.</summary>
public static class AgentIdentityServiceCollectionExtensions
{
    /// <summary>Adds the agent identity services: the credential factory, the default agent's credential (when
    /// <see cref="AgentIdentityOptions.AgentName"/> is set), metrics, and a hosted service that waits for every registered
    /// credential's first SVID before the application starts.</summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Configures the options; may be <see langword="null"/>.</param>
    /// <returns>A builder to choose the issuer and add agents.</returns>
    /// <remarks>Safe to call more than once: registrations are added once and every <paramref name="configure"/> is applied.
    /// An issuer must be chosen, for example with <see cref="AgentIdentityBuilderExtensions.UseDevelopmentCertificateAuthority"/>.</remarks>
    public static IAgentIdentityBuilder AddAgentIdentity(this IServiceCollection services, Action<AgentIdentityOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        if (configure is not null)
        {
            services.Configure(configure);
        }

        return AddCore(services);
    }

    /// <summary>Adds the agent identity services (see <see cref="AddAgentIdentity(IServiceCollection, Action{AgentIdentityOptions}?)"/>)
    /// with options bound from <paramref name="configuration"/>, for example the <c>AgentIdentity</c> section of appsettings.json:
    /// <c>{ "TrustDomain": "example.org", "AgentName": "planner", "Credential": { "Lifetime": "00:30:00" },
    /// "Agents": { "researcher": { "Policy": { "tools": ["Web.*"] } } } }</c>.</summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configuration">The configuration section to bind <see cref="AgentIdentityOptions"/> from.</param>
    /// <returns>A builder to choose the issuer and add agents.</returns>
    /// <remarks>
    /// <para>Each child of <c>Agents</c> declares a named agent, as <see cref="AgentIdentityBuilderExtensions.AddAgent"/> does: its
    /// <see cref="AgentCredentialOptions"/> start from <c>Credential</c> and are adjusted by its own keys; a later
    /// <c>AddAgent(name, configure)</c> in code adjusts them further. The agent names are read when this method is called. A
    /// <c>Policy</c> (under <c>Credential</c> or an agent) has the policy JSON shape of docs/schemas/agent-policy.schema.json.</para>
    /// <para>Binding is source-generated (AOT-safe). A key that is not an option, a value that does not convert, an invalid policy
    /// pattern, and a value that breaks a rule fail when the options are first read, at the latest at start-up; each message names
    /// the full configuration key (see docs/configuration.md). Safe to call more than once; configurations accumulate in call order.</para>
    /// </remarks>
    /// <exception cref="FormatException">An agent name under <c>Agents</c> is not a valid path segment; the message names the key.</exception>
    public static IAgentIdentityBuilder AddAgentIdentity(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        services.Configure<AgentIdentityOptions>(options => BindAgentIdentity(configuration, options));
        var builder = AddCore(services);
        services.AddSingleton(new ConfigurationSource<AgentIdentityOptions>(Options.Options.DefaultName, ConfigurationBinding.PathOf(configuration)));
        foreach (var agent in configuration.GetSection(AgentsSection).GetChildren())
        {
            try
            {
                AgentIdentityBuilderExtensions.AddAgentServices(services, agent.Key, isDeclaration: false);
            }
            catch (FormatException ex)
            {
                throw new FormatException($"Configuration key '{agent.Path}': {ex.Message}", ex);
            }

            services.AddOptions<AgentCredentialOptions>(agent.Key).ValidateOnStart().Configure(options => BindCredential(agent, options));
            services.AddSingleton(new ConfigurationSource<AgentCredentialOptions>(agent.Key, agent.Path));
        }

        return builder;
    }

    /// <summary>The key of the named agents in the <c>AgentIdentity</c> section.</summary>
    internal const string AgentsSection = "Agents";

    /// <summary>Binds <see cref="AgentIdentityOptions"/>: the binder for the options, the policy reader for <c>Credential:Policy</c>;
    /// <c>Agents</c> is bound per agent by <see cref="BindCredential"/>.</summary>
    internal static void BindAgentIdentity(IConfiguration configuration, AgentIdentityOptions options)
    {
        var policyKey = ConfigurationPath.Combine(nameof(AgentIdentityOptions.Credential), AgentPolicyConfiguration.SectionName);
        var view = ConfigurationBinding.Without(configuration, AgentsSection, policyKey);
        ConfigurationBinding.Run(view, () => view.Bind(options, ConfigurationBinding.Strict));
        if (AgentPolicyConfiguration.Read(configuration.GetSection(nameof(AgentIdentityOptions.Credential))) is { } policy)
        {
            options.Credential.Policy = policy;
        }
    }

    /// <summary>Binds one agent's <see cref="AgentCredentialOptions"/> over the defaults it starts from; its <c>Policy</c> replaces theirs.</summary>
    internal static void BindCredential(IConfiguration agent, AgentCredentialOptions options)
    {
        var view = ConfigurationBinding.Without(agent, AgentPolicyConfiguration.SectionName);
        ConfigurationBinding.Run(view, () => view.Bind(options, ConfigurationBinding.Strict));
        if (AgentPolicyConfiguration.Read(agent) is { } policy)
        {
            options.Policy = policy;
        }
    }

    private static AgentIdentityBuilder AddCore(IServiceCollection services)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.AddOptions<AgentIdentityOptions>().ValidateOnStart();
        // Each options type's validators run inside one ConfigurationKeyValidator, which adds the configuration key to the failures of
        // options bound from configuration.
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<AgentIdentityOptions>, ConfigurationKeyValidator<AgentIdentityOptions>>(sp =>
            new(sp.GetServices<ConfigurationSource<AgentIdentityOptions>>(), [new AgentIdentityOptionsValidator(), new AgentIdentityOptionsRules(sp.GetServices<AgentRegistration>())])));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IConfigureOptions<AgentCredentialOptions>, AgentCredentialDefaults>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<AgentCredentialOptions>, ConfigurationKeyValidator<AgentCredentialOptions>>(sp =>
            new(sp.GetServices<ConfigurationSource<AgentCredentialOptions>>(), [AgentCredentialOptionsValidator.Instance, AgentCredentialOptionsRules.Instance])));
        services.TryAddSingleton(sp => new AgentIdentityMetrics(sp.GetService<System.Diagnostics.Metrics.IMeterFactory>(), sp.GetRequiredService<TimeProvider>()));
        services.TryAddSingleton<AgentCredentialFactory>(sp => new AgentCredentialFactory(
            sp.GetService<IX509SvidIssuer>() ?? throw new InvalidOperationException(
                "AgentIdentity has no issuer. Call services.AddAgentIdentity().UseDevelopmentCertificateAuthority() for development, or configure an issuer service or the SPIFFE Workload API."),
            sp.GetRequiredService<IOptions<AgentIdentityOptions>>(),
            sp.GetRequiredService<IOptionsMonitor<AgentCredentialOptions>>(),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<AgentCredential>>(),
            sp.GetRequiredService<AgentIdentityMetrics>()));
        services.TryAddSingleton<IAgentCredentialFactory>(sp => sp.GetRequiredService<AgentCredentialFactory>());
        services.TryAddSingleton(sp =>
        {
            var name = sp.GetRequiredService<IOptions<AgentIdentityOptions>>().Value.AgentName
                ?? throw new InvalidOperationException("No default agent is configured: set AgentIdentityOptions.AgentName, or resolve a keyed AgentCredential declared with AddAgent(name).");
            return sp.GetRequiredService<AgentCredentialFactory>().GetOrCreateNamed(name);
        });
        services.TryAddSingleton<IX509SvidSource>(sp => sp.GetRequiredService<AgentCredential>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, AgentIdentityStartupService>());
        services.TryAddSingleton<AgentIdentityHealthCheck>();
        return new AgentIdentityBuilder(services);
    }
}

/// <summary>Configures AgentIdentity after <c>AddAgentIdentity()</c>.</summary>
public interface IAgentIdentityBuilder
{
    /// <summary>Gets the service collection.</summary>
    IServiceCollection Services { get; }
}

internal sealed class AgentIdentityBuilder(IServiceCollection services) : IAgentIdentityBuilder
{
    public IServiceCollection Services { get; } = services;
}

/// <summary>A marker service for an agent whose keyed credential the host creates and waits for at start-up: one per
/// <c>AddAgent(name)</c> call (a declaration), or a reference from another registration (<c>AddAuditLog</c>) that needs the agent.
/// Declaring one name twice fails options validation.</summary>
internal sealed class AgentRegistration(string agentName, bool isDeclaration)
{
    public string AgentName { get; } = agentName;

    public bool IsDeclaration { get; } = isDeclaration;
}

/// <summary>Every agent's credential options start from <see cref="AgentIdentityOptions.Credential"/>; <c>AddAgent(name, configure)</c>
/// then adjusts the agent's named options.</summary>
internal sealed class AgentCredentialDefaults(IOptions<AgentIdentityOptions> identity) : IConfigureNamedOptions<AgentCredentialOptions>
{
    public void Configure(string? name, AgentCredentialOptions options) => identity.Value.Credential.CopyTo(options);

    public void Configure(AgentCredentialOptions options) => Configure(Microsoft.Extensions.Options.Options.DefaultName, options);
}

internal sealed class AgentIdentityStartupService(IServiceProvider services, IOptions<AgentIdentityOptions> options, IEnumerable<AgentRegistration> registrations) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        // Every credential was started when it was created (no blocking); the host waits here, asynchronously, for each first SVID.
        var pending = new List<Task>();
        if (options.Value.AgentName is not null)
        {
            pending.Add(services.GetRequiredService<AgentCredential>().WhenReadyAsync(cancellationToken));
        }

        foreach (var name in registrations.Select(r => r.AgentName).Distinct(StringComparer.Ordinal))
        {
            pending.Add(services.GetRequiredKeyedService<AgentCredential>(name).WhenReadyAsync(cancellationToken));
        }

        await Task.WhenAll(pending).ConfigureAwait(false);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
