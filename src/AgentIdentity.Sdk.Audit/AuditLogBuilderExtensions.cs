using AgentIdentity;
using AgentIdentity.Audit;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the tamper-evident audit log.</summary>
public static class AuditLogBuilderExtensions
{
    /// <summary>
    /// Registers an <see cref="AuditLog"/> signed by the agent <paramref name="agentName"/> (declared with
    /// <see cref="AgentIdentityBuilderExtensions.AddAgent"/>, or else created with the default credential options) and an <see cref="IAuditSink"/> that writes to it and
    /// mirrors every event to <see cref="ILogger"/> and OpenTelemetry (<see cref="LoggingAuditSink"/>).
    /// </summary>
    /// <param name="builder">The builder.</param>
    /// <param name="agentName">The agent whose SVID signs the checkpoints.</param>
    /// <param name="configure">Configures the log; <see cref="AuditLogOptions.Directory"/> is required.</param>
    /// <returns>The builder.</returns>
    /// <remarks>The log opens when first resolved and is closed (with a final checkpoint) when the container is disposed.
    /// An <see cref="IAuditSink"/> registered before this call is kept.</remarks>
    public static IAgentIdentityBuilder AddAuditLog(this IAgentIdentityBuilder builder, string agentName, Action<AuditLogOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configure);
        builder.AddAgentReference(agentName);
        builder.Services.AddOptions<AuditLogOptions>().Configure(configure);
        builder.Services.TryAddSingleton(sp => AuditLog.Open(
            sp.GetRequiredService<IOptions<AuditLogOptions>>().Value,
            sp.GetRequiredKeyedService<IX509SvidSource>(agentName),
            sp.GetService<TimeProvider>(),
            sp.GetService<ILoggerFactory>()?.CreateLogger("AgentIdentity.Audit")));
        builder.Services.TryAddSingleton<IAuditSink>(sp => new CompositeAuditSink(
            sp.GetRequiredService<AuditLog>(),
            new LoggingAuditSink(sp.GetService<ILoggerFactory>()?.CreateLogger("AgentIdentity.Audit") ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance)));
        return builder;
    }
}
