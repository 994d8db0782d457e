using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;

namespace AgentIdentity;

/// <content>Revocation log messages (event IDs 1500–1599).</content>
internal static partial class Log
{
    [LoggerMessage(EventId = 1501, EventName = "RevocationApplied", Level = LogLevel.Information,
        Message = "Applied revocation #{Sequence} from the feed: {Kind} {Subject}.")]
    public static partial void RevocationApplied(this ILogger logger, long sequence, RevocationKind kind, string subject);

    [LoggerMessage(EventId = 1502, EventName = "RevocationFeedEntryRejected", Level = LogLevel.Error,
        Message = "Rejected a revocation feed entry from {FeedUri}: {Reason} Reconnecting from sequence {LastSequence}.")]
    public static partial void FeedEntryRejected(this ILogger logger, Uri feedUri, string reason, long lastSequence);

    [LoggerMessage(EventId = 1503, EventName = "RevocationFeedGap", Level = LogLevel.Warning,
        Message = "The revocation feed {FeedUri} sent #{Sequence} after #{LastSequence}; reconnecting to fetch the missing entries.")]
    public static partial void FeedGap(this ILogger logger, Uri feedUri, long sequence, long lastSequence);

    [LoggerMessage(EventId = 1504, EventName = "RevocationFeedDisconnected", Level = LogLevel.Warning,
        Message = "The revocation feed {FeedUri} is unreachable or closed ({Reason}); reconnecting in {Delay} from sequence {LastSequence}.")]
    public static partial void FeedDisconnected(this ILogger logger, Uri feedUri, string reason, TimeSpan delay, long lastSequence);

    [LoggerMessage(EventId = 1505, EventName = "RevocationFeedConnected", Level = LogLevel.Information,
        Message = "Connected to the revocation feed {FeedUri} after sequence {LastSequence}.")]
    public static partial void FeedConnected(this ILogger logger, Uri feedUri, long lastSequence);

    [LoggerMessage(EventId = 1506, EventName = "KillSwitchTripped", Level = LogLevel.Critical,
        Message = "KILL SWITCH: the identity {SpiffeId} is revoked ({Revocation}); every tool call and outbound request of this agent is refused from now on.")]
    public static partial void KillSwitchTripped(this ILogger logger, SpiffeId spiffeId, RevocationEntry revocation);

    [LoggerMessage(EventId = 1507, EventName = "TaskIdentityRevoked", Level = LogLevel.Information,
        Message = "Revoked the task identity {SpiffeId} because it was disposed.")]
    public static partial void TaskIdentityRevoked(this ILogger logger, SpiffeId spiffeId);

    [LoggerMessage(EventId = 1508, EventName = "TaskIdentityRevocationFailed", Level = LogLevel.Error,
        Message = "Revoking the disposed task identity {SpiffeId} failed; it stays valid until it expires.")]
    public static partial void TaskIdentityRevocationFailed(this ILogger logger, SpiffeId spiffeId, Exception exception);

    [LoggerMessage(EventId = 1510, EventName = "RevocationFeedEpochChanged", Level = LogLevel.Error,
        Message = "The revocation feed {FeedUri} changed its log under this subscriber ({Why}): the issuer's registry was reset or restored; {Action}.")]
    public static partial void FeedEpochChanged(this ILogger logger, Uri feedUri, string why, string action);

    [LoggerMessage(EventId = 1511, EventName = "RevocationSubscriptionStarted", Level = LogLevel.Information,
        Message = "Subscribed the agents of this host ({CredentialCount} credential(s) so far) to the revocation feed {FeedUri}, signed by '{Signer}'.")]
    public static partial void RevocationSubscriptionStarted(this ILogger logger, Uri feedUri, string signer, int credentialCount);

    [LoggerMessage(EventId = 1512, EventName = "RevocationSubscriptionFailed", Level = LogLevel.Error,
        Message = "The revocation feed subscription cannot start, so revocations cannot reach the kill switch: {Reason}")]
    public static partial void RevocationSubscriptionFailed(this ILogger logger, string reason);
}
