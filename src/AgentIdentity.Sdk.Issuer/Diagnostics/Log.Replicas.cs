using Microsoft.Extensions.Logging;

namespace AgentIdentity.Issuer;

/// <content>Log messages of the replica synchronisation: PostgreSQL's change notifications and the catch-up.</content>
internal static partial class Log
{
    [LoggerMessage(EventId = 5300, EventName = "ChangeListenerConnected", Level = LogLevel.Information,
        Message = "Listening for the other replicas' changes (PostgreSQL LISTEN, connection {Connections}); caught up with the store.")]
    public static partial void ChangeListenerConnected(this ILogger logger, long connections);

    [LoggerMessage(EventId = 5301, EventName = "ChangeListenerDisconnected", Level = LogLevel.Warning,
        Message = "The PostgreSQL change listener lost its connection ({Reason}); reconnecting, then catching up from the last sequence.")]
    public static partial void ChangeListenerDisconnected(this ILogger logger, string reason);

    [LoggerMessage(EventId = 5302, EventName = "ChangeListenerRetrying", Level = LogLevel.Warning,
        Message = "The PostgreSQL change listener cannot connect (attempt {Attempt}: {Reason}); retrying in {Delay}. Revocations and CA changes of other replicas arrive by the periodic catch-up meanwhile.")]
    public static partial void ChangeListenerRetrying(this ILogger logger, int attempt, TimeSpan delay, string reason);

    [LoggerMessage(EventId = 5303, EventName = "CatchUpFailed", Level = LogLevel.Warning,
        Message = "Catching up with the issuer store failed ({Reason}); retried on the next notification or periodic catch-up.")]
    public static partial void CatchUpFailed(this ILogger logger, string reason, Exception exception);

    [LoggerMessage(EventId = 5304, EventName = "CertificateAuthorityAdopted", Level = LogLevel.Warning,
        Message = "Adopted the CA change another replica made: CA {CaId} signs now; the bundle has {Roots} root(s).")]
    public static partial void CertificateAuthorityAdopted(this ILogger logger, string caId, int roots);
}
