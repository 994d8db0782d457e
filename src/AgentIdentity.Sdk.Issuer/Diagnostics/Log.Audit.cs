using Microsoft.Extensions.Logging;

namespace AgentIdentity.Issuer;

/// <summary>Log messages of the issuer's own audit log (event IDs 5200–5209).</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 5200, EventName = "IssuerAuditDisabled", Level = LogLevel.Warning,
        Message = "The issuer's control-plane actions are not audited (AgentIdentityIssuerOptions.Audit.Enabled is false): nothing it issues, renews, delegates, revokes or refuses is recorded in a signed, tamper-evident log.")]
    public static partial void IssuerAuditDisabled(this ILogger logger);

    [LoggerMessage(EventId = 5201, EventName = "IssuerAuditOpened", Level = LogLevel.Information,
        Message = "The issuer audits its control-plane actions to '{Directory}' (origin '{Origin}', {TreeSize} entries so far).")]
    public static partial void IssuerAuditOpened(this ILogger logger, string directory, string origin, long treeSize);

    [LoggerMessage(EventId = 5202, EventName = "IssuerAuditAppendFailed", Level = LogLevel.Critical,
        Message = "A control-plane action ({Kind} {Action}) could not be written to the issuer's audit log; the action itself stands. Check the audit directory's disk.")]
    public static partial void IssuerAuditAppendFailed(this ILogger logger, string kind, string action, Exception exception);
}
