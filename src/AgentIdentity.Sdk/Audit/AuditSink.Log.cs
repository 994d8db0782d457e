using Microsoft.Extensions.Logging;

namespace AgentIdentity;

/// <content>Log messages of the audit sinks (event ID 7000; the audit log package has 7001–7999). Raw argument values are never logged.</content>
internal static partial class Log
{
    [LoggerMessage(EventId = 7000, EventName = "AuditEventRecorded", Level = LogLevel.Information,
        Message = "Audit {Kind} by {Agent}: {What} target '{Target}' outcome {Outcome} request '{RequestId}' serial '{Serial}'.")]
    public static partial void AuditEventRecorded(this ILogger logger, string kind, string agent, string what, string target, string outcome, string requestId, string serial);
}
