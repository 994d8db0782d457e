using Microsoft.Extensions.Logging;

namespace AgentIdentity;

/// <summary>Log messages of the audit log (event IDs 7000–7999). Raw argument values are never logged.</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 7001, EventName = "AuditCheckpointSigned", Level = LogLevel.Debug,
        Message = "Signed audit checkpoint for '{Origin}' at tree size {TreeSize} with certificate serial {Serial}.")]
    public static partial void AuditCheckpointSigned(this ILogger logger, string origin, long treeSize, string serial);

    [LoggerMessage(EventId = 7002, EventName = "AuditTornTailTruncated", Level = LogLevel.Warning,
        Message = "Audit log segment '{Segment}' ended in an incomplete record at offset {Offset} (a crash mid-write); truncated it to the last complete entry ({TreeSize} entries, {Dropped} bytes dropped).")]
    public static partial void AuditTornTailTruncated(this ILogger logger, string segment, long offset, long treeSize, long dropped);

    [LoggerMessage(EventId = 7003, EventName = "AuditLogOpened", Level = LogLevel.Information,
        Message = "Opened audit log '{Directory}' for '{Origin}': {TreeSize} entries, last checkpoint at size {CheckpointSize}.")]
    public static partial void AuditLogOpened(this ILogger logger, string directory, string origin, long treeSize, long checkpointSize);

    [LoggerMessage(EventId = 7004, EventName = "AuditCheckpointFailed", Level = LogLevel.Error,
        Message = "Signing the periodic audit checkpoint for '{Origin}' failed; entries since the last checkpoint stay unsigned until the next attempt.")]
    public static partial void AuditCheckpointFailed(this ILogger logger, string origin, Exception exception);

    [LoggerMessage(EventId = 7005, EventName = "AuditArgumentKeyEphemeral", Level = LogLevel.Warning,
        Message = "The audit log in '{Directory}' has no ArgumentKeyFile: argument values are hashed (HMAC-SHA256) under a random key of this process only, so no one can check a value against them later. Set AuditLogOptions.ArgumentKeyFile to a key kept apart from the log.")]
    public static partial void AuditArgumentKeyEphemeral(this ILogger logger, string? directory);
}
