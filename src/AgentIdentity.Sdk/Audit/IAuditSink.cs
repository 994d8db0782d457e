using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;

namespace AgentIdentity.Audit;

/// <summary>Receives audit events. Writers (tool-call filters, HTTP handlers, the issuer) append through this one method.</summary>
/// <remarks>Implementations are thread-safe.</remarks>
public interface IAuditSink
{
    /// <summary>Records an event.</summary>
    /// <param name="auditEvent">The event.</param>
    /// <param name="cancellationToken">Cancels the append before it is written.</param>
    /// <returns>A task that completes once the sink has accepted the event (for a durable log: once it is in the log).</returns>
    ValueTask AppendAsync(AuditEvent auditEvent, CancellationToken cancellationToken = default);
}

/// <summary>Keeps audit events in memory, for tests and for short-lived tools.</summary>
/// <remarks>Thread-safe; unbounded, so not for long-running processes.</remarks>
public sealed class InMemoryAuditSink : IAuditSink
{
    private readonly ConcurrentQueue<AuditEvent> _events = new();

    /// <summary>Gets the events recorded so far, in append order.</summary>
    public IReadOnlyList<AuditEvent> Events => [.. _events];

    /// <inheritdoc/>
    public ValueTask AppendAsync(AuditEvent auditEvent, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(auditEvent);
        cancellationToken.ThrowIfCancellationRequested();
        _events.Enqueue(auditEvent);
        return ValueTask.CompletedTask;
    }
}

/// <summary>
/// Mirrors audit events to <see cref="ILogger"/> (event 7000, structured fields, never raw argument values) and to
/// OpenTelemetry: an activity event on the current <see cref="Activity"/> and the counter <c>agentidentity.audit.events</c>
/// of meter <see cref="AgentIdentityMetrics.MeterName"/>.
/// </summary>
/// <remarks>Thread-safe.</remarks>
public sealed class LoggingAuditSink : IAuditSink
{
    private readonly ILogger _logger;

    /// <summary>Initializes a new instance of the <see cref="LoggingAuditSink"/> class.</summary>
    /// <param name="logger">The logger that receives the events.</param>
    public LoggingAuditSink(ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(logger);
        _logger = logger;
    }

    /// <inheritdoc/>
    public ValueTask AppendAsync(AuditEvent auditEvent, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(auditEvent);
        AuditDiagnostics.Record(auditEvent);
        if (!_logger.IsEnabled(LogLevel.Information))
        {
            return ValueTask.CompletedTask;
        }

        _logger.AuditEventRecorded(
            AuditEvent.KindName(auditEvent.Kind),
            auditEvent.Agent.ToString(),
            auditEvent.Tool ?? auditEvent.Action ?? string.Empty,
            auditEvent.TargetService ?? string.Empty,
            AuditEvent.OutcomeName(auditEvent.Outcome),
            auditEvent.RequestId ?? string.Empty,
            auditEvent.SerialNumber ?? string.Empty);
        return ValueTask.CompletedTask;
    }
}

/// <summary>Writes every event to several sinks in order (for example the Merkle log and the logging mirror).</summary>
/// <remarks>Thread-safe when the inner sinks are.</remarks>
public sealed class CompositeAuditSink : IAuditSink
{
    private readonly IAuditSink[] _sinks;

    /// <summary>Initializes a new instance of the <see cref="CompositeAuditSink"/> class.</summary>
    /// <param name="sinks">The sinks, written in this order.</param>
    public CompositeAuditSink(params IEnumerable<IAuditSink> sinks)
    {
        ArgumentNullException.ThrowIfNull(sinks);
        _sinks = [.. sinks];
    }

    /// <inheritdoc/>
    public async ValueTask AppendAsync(AuditEvent auditEvent, CancellationToken cancellationToken = default)
    {
        foreach (var sink in _sinks)
        {
            await sink.AppendAsync(auditEvent, cancellationToken).ConfigureAwait(false);
        }
    }
}

/// <summary>The OpenTelemetry surface of the audit log: an event on the current span and the audit counter.</summary>
internal static class AuditDiagnostics
{
    private static readonly Meter Meter = new(AgentIdentityMetrics.MeterName);
    private static readonly Counter<long> Events = Meter.CreateCounter<long>("agentidentity.audit.events", "{event}", "Audit events recorded.");

    public static void Record(AuditEvent auditEvent)
    {
        var kind = AuditEvent.KindName(auditEvent.Kind);
        var outcome = AuditEvent.OutcomeName(auditEvent.Outcome);
        Events.Add(1, new KeyValuePair<string, object?>(TelemetryTags.AuditKind, kind), new KeyValuePair<string, object?>(TelemetryTags.AuditOutcome, outcome));
        if (Activity.Current is { } activity)
        {
            var tags = new ActivityTagsCollection
            {
                [TelemetryTags.AuditKind] = kind,
                [TelemetryTags.AuditOutcome] = outcome,
                [TelemetryTags.AgentId] = auditEvent.Agent.ToString(),
            };
            if (auditEvent.Tool is not null)
            {
                tags[TelemetryTags.AuditTool] = auditEvent.Tool;
            }

            if (auditEvent.TargetService is not null)
            {
                tags[TelemetryTags.AuditTarget] = auditEvent.TargetService;
            }

            activity.AddEvent(new ActivityEvent("agentidentity.audit", tags: tags));
        }
    }
}
