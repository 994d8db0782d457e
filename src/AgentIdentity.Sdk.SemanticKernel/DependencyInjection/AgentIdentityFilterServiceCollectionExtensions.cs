using AgentIdentity;
using AgentIdentity.SemanticKernel;
using AgentIdentity.Tools;
using Microsoft.SemanticKernel;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers <see cref="AgentIdentityFilter"/> as a Semantic Kernel function and auto-function invocation filter.</summary>
public static class AgentIdentityFilterServiceCollectionExtensions
{
    /// <summary>Registers the identity filters for the default agent (the <see cref="IX509SvidSource"/> of <c>services.AddAgentIdentity()</c>).
    /// Kernels built from these services (for example through <c>services.AddKernel()</c>) pick them up.</summary>
    /// <param name="services">The services.</param>
    /// <param name="configure">Configures the guard (local policy, tool actions, audit); may be <see langword="null"/>.</param>
    /// <returns>The services.</returns>
    /// <remarks>Safe to call more than once (later calls are ignored). The audit sink defaults to the registered <c>IAuditSink</c>,
    /// else a logging sink; the revocation seam to the registered <see cref="IRevocationStatus"/>, if any.</remarks>
    public static IServiceCollection AddAgentIdentityFilters(this IServiceCollection services, Action<ToolCallGuardOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        AgentIdentityFilterRegistration.Add(services, AgentIdentityFilterRegistration.DefaultAgentKey, static sp => AgentIdentityFilterFactory.ResolveIdentity(sp, null), configure);
        return services;
    }

    /// <summary>Registers the identity filters for a named agent (the keyed identity of <c>.AddAgent(agentName)</c>).</summary>
    /// <param name="services">The services.</param>
    /// <param name="agentName">The agent's name.</param>
    /// <param name="configure">Configures the guard; may be <see langword="null"/>.</param>
    /// <returns>The services.</returns>
    /// <remarks>Safe to call more than once with the same name. Register different agents in different kernels' services
    /// (or use <c>kernel.UseAgentIdentity(...)</c>): a kernel whose services hold two agents' filters would check both.</remarks>
    public static IServiceCollection AddAgentIdentityFilters(this IServiceCollection services, string agentName, Action<ToolCallGuardOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentException.ThrowIfNullOrEmpty(agentName);
        AgentIdentityFilterRegistration.Add(services, agentName, sp => AgentIdentityFilterFactory.ResolveIdentity(sp, agentName), configure);
        return services;
    }
}

/// <summary>Marks one registration (per agent key) so that repeated calls do not stack filters.</summary>
internal sealed class AgentIdentityFilterRegistration(object key)
{
    public static readonly object DefaultAgentKey = new();

    public object Key { get; } = key;

    public static void Add(IServiceCollection services, object key, Func<IServiceProvider, IX509SvidSource> identity, Action<ToolCallGuardOptions>? configure)
    {
        foreach (var descriptor in services)
        {
            if (descriptor.ServiceType == typeof(AgentIdentityFilterRegistration)
                && !descriptor.IsKeyedService
                && descriptor.ImplementationInstance is AgentIdentityFilterRegistration existing
                && Equals(existing.Key, key))
            {
                return;
            }
        }

        var registration = new AgentIdentityFilterRegistration(key);
        services.AddSingleton(registration);
        services.AddKeyedSingleton(registration, (sp, _) => AgentIdentityFilterFactory.Create(sp, identity(sp), configure));
        services.AddSingleton<IFunctionInvocationFilter>(sp => sp.GetRequiredKeyedService<AgentIdentityFilter>(registration));
        services.AddSingleton<IAutoFunctionInvocationFilter>(sp => sp.GetRequiredKeyedService<AgentIdentityFilter>(registration));
    }
}
