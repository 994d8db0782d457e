using Microsoft.Extensions.Logging;

namespace AgentIdentity.Issuer;

internal static partial class Log
{
    [LoggerMessage(EventId = 5100, EventName = "AdminActionAllowed", Level = LogLevel.Information,
        Message = "Admin {Endpoint}: allowed {Action} for {Caller}, granted by {Grant}.")]
    public static partial void AdminActionAllowed(this ILogger logger, string endpoint, string action, string caller, string grant);

    [LoggerMessage(EventId = 5101, EventName = "AdminActionRefused", Level = LogLevel.Warning,
        Message = "Admin {Endpoint}: refused {Action} for {Caller} ({Status}): {Reason}")]
    public static partial void AdminActionRefused(this ILogger logger, string endpoint, string action, string caller, int status, string reason);

    [LoggerMessage(EventId = 5102, EventName = "AdminRevoked", Level = LogLevel.Warning,
        Message = "Admin revoke by {Caller}: {Kind} {Subject}, reason {Reason}, feed sequence {Sequence}.")]
    public static partial void AdminRevoked(this ILogger logger, string caller, string kind, string subject, string reason, long sequence);
}
