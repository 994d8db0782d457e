using AgentIdentity;
using AgentIdentity.SemanticKernel;
using AgentIdentity.Tools;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Microsoft.SemanticKernel;

/// <summary>Registers <see cref="AgentIdentityFilter"/> on a kernel builder or an existing <see cref="Kernel"/>.</summary>
public static class AgentIdentityKernelExtensions
{
    /// <summary>Adds the identity filters for the default agent (<see cref="IX509SvidSource"/> from <c>services.AddAgentIdentity()</c>).</summary>
    /// <param name="builder">The kernel builder.</param>
    /// <param name="configure">Configures the guard (local policy, tool actions, audit); may be <see langword="null"/>.</param>
    /// <returns>The builder.</returns>
    /// <remarks>Safe to call more than once. The audit sink and revocation seam come from the builder's services when the options leave them unset.</remarks>
    public static IKernelBuilder AddAgentIdentityFilters(this IKernelBuilder builder, Action<ToolCallGuardOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddAgentIdentityFilters(configure);
        return builder;
    }

    /// <summary>Adds the identity filters for a named agent (the keyed identity registered with <c>.AddAgent(agentName)</c>).</summary>
    /// <param name="builder">The kernel builder.</param>
    /// <param name="agentName">The agent's name.</param>
    /// <param name="configure">Configures the guard; may be <see langword="null"/>.</param>
    /// <returns>The builder.</returns>
    /// <remarks>Safe to call more than once with the same name.</remarks>
    public static IKernelBuilder AddAgentIdentityFilters(this IKernelBuilder builder, string agentName, Action<ToolCallGuardOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddAgentIdentityFilters(agentName, configure);
        return builder;
    }

    /// <summary>Adds the identity filters bound to an explicit identity, for example an <see cref="AgentCredential"/> created for this kernel.</summary>
    /// <param name="builder">The kernel builder.</param>
    /// <param name="identity">The agent's identity.</param>
    /// <param name="configure">Configures the guard; may be <see langword="null"/>.</param>
    /// <returns>The builder.</returns>
    /// <remarks>Safe to call more than once with the same identity.</remarks>
    public static IKernelBuilder AddAgentIdentityFilters(this IKernelBuilder builder, IX509SvidSource identity, Action<ToolCallGuardOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(identity);
        AgentIdentityFilterRegistration.Add(builder.Services, identity, _ => identity, configure);
        return builder;
    }

    /// <summary>
    /// Binds an existing kernel to an agent identity: adds an <see cref="AgentIdentityFilter"/> as the outermost function and
    /// auto-function invocation filter. To give each agent of one process its own identity, build one shared kernel that is bound
    /// to no agent and bind a <see cref="Kernel.Clone"/> of it per agent (a clone of a bound kernel keeps the binding).
    /// </summary>
    /// <param name="kernel">The kernel.</param>
    /// <param name="identity">The agent's identity.</param>
    /// <param name="configure">Configures the guard; the audit sink and revocation seam default to the kernel's services.</param>
    /// <returns>The filter that was added.</returns>
    /// <exception cref="InvalidOperationException">The kernel already has an <see cref="AgentIdentityFilter"/>: one kernel acts as one agent.</exception>
    public static AgentIdentityFilter UseAgentIdentity(this Kernel kernel, IX509SvidSource identity, Action<ToolCallGuardOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(kernel);
        ArgumentNullException.ThrowIfNull(identity);
        if (kernel.FunctionInvocationFilters.OfType<AgentIdentityFilter>().FirstOrDefault() is { } existing)
        {
            throw new InvalidOperationException(
                $"This kernel is already bound to agent identity '{existing.Guard.Identity}', and one kernel acts as one agent. A clone of a bound kernel "
                + "keeps its binding, so do not clone this one: build the shared kernel without AddAgentIdentityFilters (plugins and chat client only), "
                + "then bind one clone of it per agent (var kernel = shared.Clone(); kernel.UseAgentIdentity(credential)).");
        }

        var filter = AgentIdentityFilterFactory.Create(kernel.Services, identity, configure);
        kernel.FunctionInvocationFilters.Insert(0, filter);
        kernel.AutoFunctionInvocationFilters.Insert(0, filter);
        return filter;
    }
}
