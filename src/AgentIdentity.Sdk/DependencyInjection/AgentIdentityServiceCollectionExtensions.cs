using AgentIdentity;
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
        services.TryAddSingleton(TimeProvider.System);
        services.AddOptions<AgentIdentityOptions>().ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<AgentIdentityOptions>, AgentIdentityOptionsValidator>());
        if (configure is not null)
        {
            services.Configure(configure);
        }

        services.TryAddSingleton(sp => new AgentIdentityMetrics(sp.GetService<System.Diagnostics.Metrics.IMeterFactory>(), sp.GetRequiredService<TimeProvider>()));
        services.TryAddSingleton<AgentCredentialFactory>(sp => new AgentCredentialFactory(
            sp.GetService<IX509SvidIssuer>() ?? throw new InvalidOperationException(
                "AgentIdentity has no issuer. Call services.AddAgentIdentity().UseDevelopmentCertificateAuthority() for development, or configure an issuer service or the SPIFFE Workload API."),
            sp.GetRequiredService<IOptions<AgentIdentityOptions>>(),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<AgentCredential>>(),
            sp.GetRequiredService<AgentIdentityMetrics>()));
        services.TryAddSingleton<IAgentCredentialFactory>(sp => sp.GetRequiredService<AgentCredentialFactory>());
        services.TryAddSingleton(sp =>
        {
            var name = sp.GetRequiredService<IOptions<AgentIdentityOptions>>().Value.AgentName
                ?? throw new InvalidOperationException("No default agent is configured: set AgentIdentityOptions.AgentName, or resolve a keyed AgentCredential registered with AddAgent(name).");
            return sp.GetRequiredService<AgentCredentialFactory>().GetOrCreateNamed(name);
        });
        services.TryAddSingleton<IX509SvidSource>(sp => sp.GetRequiredService<AgentCredential>());
        services.TryAddSingleton<AgentIdentityRegistrations>();
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

/// <summary>Names of agents registered with <see cref="AgentIdentityBuilderExtensions.AddAgent"/>.</summary>
internal sealed class AgentIdentityRegistrations
{
    public HashSet<string> KeyedAgents { get; } = new(StringComparer.Ordinal);
}

internal sealed class AgentIdentityOptionsValidator : IValidateOptions<AgentIdentityOptions>
{
    public ValidateOptionsResult Validate(string? name, AgentIdentityOptions options)
    {
        var failures = new List<string>();
        if (string.IsNullOrEmpty(options.TrustDomain))
        {
            failures.Add("AgentIdentity:TrustDomain is required, for example 'example.org'.");
        }
        else if (!TrustDomain.TryParse(options.TrustDomain, out _, out var error))
        {
            failures.Add($"AgentIdentity:TrustDomain '{options.TrustDomain}' is invalid: {error}.");
        }

        if (options.AgentName is not null && SpiffeIdRules.ValidateSegment(options.AgentName) is { } nameError)
        {
            failures.Add($"AgentIdentity:AgentName '{options.AgentName}' is invalid: {nameError}.");
        }

        if (options.Credential.Validate() is { } credentialError)
        {
            failures.Add($"AgentIdentity:Credential: {credentialError}");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}

internal sealed class AgentIdentityStartupService(IServiceProvider services, IOptions<AgentIdentityOptions> options, AgentIdentityRegistrations registrations) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var pending = new List<Task>();
        if (options.Value.AgentName is not null)
        {
            pending.Add(services.GetRequiredService<AgentCredential>().WhenReadyAsync(cancellationToken));
        }

        foreach (var name in registrations.KeyedAgents)
        {
            pending.Add(services.GetRequiredKeyedService<AgentCredential>(name).WhenReadyAsync(cancellationToken));
        }

        await Task.WhenAll(pending).ConfigureAwait(false);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
