using AgentIdentity.Tools;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AgentIdentity.SemanticKernel;

/// <summary>Builds filters from a service provider; the guard and its defaults come from <see cref="ToolCallGuard.Create"/>, shared with the other integrations.</summary>
internal static class AgentIdentityFilterFactory
{
    public static AgentIdentityFilter Create(IServiceProvider? services, IX509SvidSource identity, Action<ToolCallGuardOptions>? configure)
    {
        var guard = ToolCallGuard.Create(services, identity, configure, AIJsonUtilities.DefaultOptions);
        return new AgentIdentityFilter(guard, services?.GetService<ILoggerFactory>()?.CreateLogger<AgentIdentityFilter>());
    }

    public static IX509SvidSource ResolveIdentity(IServiceProvider services, string? agentName)
    {
        var identity = agentName is null
            ? services.GetService<IX509SvidSource>()
            : services.GetKeyedService<IX509SvidSource>(agentName);
        return identity ?? throw new InvalidOperationException(agentName is null
            ? "AddAgentIdentityFilters() found no IX509SvidSource: call services.AddAgentIdentity(...) in the same service collection, or pass the agent's identity (kernelBuilder.AddAgentIdentityFilters(credential))."
            : $"AddAgentIdentityFilters(\"{agentName}\") found no agent named '{agentName}': call services.AddAgentIdentity(...).AddAgent(\"{agentName}\") in the same service collection, or pass the agent's identity.");
    }
}
