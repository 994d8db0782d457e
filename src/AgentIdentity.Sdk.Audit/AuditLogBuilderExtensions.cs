using AgentIdentity;
using AgentIdentity.Audit;
using Microsoft.Extensions.Configuration;
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
    /// An <see cref="IAuditSink"/> registered before this call is kept. It also registers the <see cref="AuditArgumentKey"/> that the
    /// tool-call guard hashes argument values with: <see cref="AuditLogOptions.ArgumentKeyFile"/>, else a per-process random key.</remarks>
    public static IAgentIdentityBuilder AddAuditLog(this IAgentIdentityBuilder builder, string agentName, Action<AuditLogOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configure);
        builder.AddAgentReference(agentName);
        builder.Services.AddOptions<AuditLogOptions>().Configure(configure);
        return AddCore(builder, agentName);
    }

    /// <summary>
    /// Registers the audit log as <see cref="AddAuditLog(IAgentIdentityBuilder, string, Action{AuditLogOptions})"/> does, with its options
    /// bound from <paramref name="configuration"/> (keys <c>Directory</c>, <c>Origin</c>, <c>CheckpointInterval</c>,
    /// <c>CheckpointEveryEntries</c>, <c>FlushMode</c>, <c>MaxSegmentBytes</c>, <c>ArgumentKeyFile</c>) and validated at start-up.
    /// </summary>
    /// <param name="builder">The builder.</param>
    /// <param name="agentName">The agent whose SVID signs the checkpoints.</param>
    /// <param name="configuration">The section, for example <c>AgentIdentity:Audit</c>; <c>Directory</c> is required.</param>
    /// <returns>The builder.</returns>
    /// <remarks>Binding is source-generated (AOT-safe). An unknown key, a value that does not convert and a value that breaks a rule
    /// fail at start-up, naming the full configuration key (see docs/configuration.md).</remarks>
    public static IAgentIdentityBuilder AddAuditLog(this IAgentIdentityBuilder builder, string agentName, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configuration);
        builder.AddAgentReference(agentName);
        var services = builder.Services;
        services.AddOptions<AuditLogOptions>().ValidateOnStart()
            .Configure(options => ConfigurationBinding.Run(configuration, () => configuration.Bind(options, ConfigurationBinding.Strict)));
        services.AddSingleton(new ConfigurationSource<AuditLogOptions>(Options.Options.DefaultName, ConfigurationBinding.PathOf(configuration)));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<AuditLogOptions>, ConfigurationKeyValidator<AuditLogOptions>>(sp =>
            new(sp.GetServices<ConfigurationSource<AuditLogOptions>>(), [new AuditLogOptionsValidator(), AuditLogOptionsRules.Instance])));
        return AddCore(builder, agentName);
    }

    private static IAgentIdentityBuilder AddCore(IAgentIdentityBuilder builder, string agentName)
    {
        builder.Services.TryAddSingleton(sp => AuditLog.Open(
            sp.GetRequiredService<IOptions<AuditLogOptions>>().Value,
            sp.GetRequiredKeyedService<IX509SvidSource>(agentName),
            sp.GetService<TimeProvider>(),
            sp.GetService<ILoggerFactory>()?.CreateLogger("AgentIdentity.Audit")));
        builder.Services.TryAddSingleton(sp =>
        {
            // The key of the argument hashes (issue 18): the tool-call guard takes it from the container.
            var options = sp.GetRequiredService<IOptions<AuditLogOptions>>().Value;
            if (options.ArgumentKeyFile is { Length: > 0 } keyFile)
            {
                return AuditArgumentKey.FromFile(keyFile);
            }

            (sp.GetService<ILoggerFactory>()?.CreateLogger("AgentIdentity.Audit") ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance)
                .AuditArgumentKeyEphemeral(options.Directory);
            return AuditArgumentKey.CreateEphemeral();
        });
        builder.Services.TryAddSingleton<IAuditSink>(sp => new CompositeAuditSink(
            sp.GetRequiredService<AuditLog>(),
            new LoggingAuditSink(sp.GetService<ILoggerFactory>()?.CreateLogger("AgentIdentity.Audit") ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance)));
        return builder;
    }
}
