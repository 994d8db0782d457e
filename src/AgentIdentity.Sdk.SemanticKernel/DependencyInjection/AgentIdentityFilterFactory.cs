using System.Text.Json;
using AgentIdentity.Audit;
using AgentIdentity.Tools;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AgentIdentity.SemanticKernel;

/// <summary>Builds filters from a service provider: options from the caller, then the registered audit sink, revocation seam and clock.</summary>
internal static class AgentIdentityFilterFactory
{
    public static AgentIdentityFilter Create(IServiceProvider? services, IX509SvidSource identity, Action<ToolCallGuardOptions>? configure)
    {
        var options = new ToolCallGuardOptions();
        configure?.Invoke(options);
        var loggerFactory = services?.GetService<ILoggerFactory>();
        options.AuditSink ??= services?.GetService<IAuditSink>()
            ?? (loggerFactory is null ? null : new LoggingAuditSink(loggerFactory.CreateLogger("AgentIdentity.Audit")));
        options.RevocationStatus ??= services?.GetService<IRevocationStatus>();
        options.ArgumentFormatter ??= FormatAsJson;
        var guard = new ToolCallGuard(identity, options, services?.GetService<TimeProvider>());
        return new AgentIdentityFilter(guard, loggerFactory?.CreateLogger<AgentIdentityFilter>());
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

    /// <summary>Serializes a structured argument with the Microsoft.Extensions.AI JSON defaults; falls back to <see cref="object.ToString"/>.</summary>
    internal static string? FormatAsJson(object value)
    {
        try
        {
            return JsonSerializer.Serialize(value, AIJsonUtilities.DefaultOptions.GetTypeInfo(value.GetType()));
        }
        catch (Exception ex) when (ex is NotSupportedException or InvalidOperationException or JsonException)
        {
            return value.ToString();
        }
    }
}
