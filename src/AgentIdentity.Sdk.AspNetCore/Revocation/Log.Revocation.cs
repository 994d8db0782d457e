using Microsoft.Extensions.Logging;

namespace AgentIdentity.AspNetCore;

/// <content>Revocation log messages (event IDs 3500–3599).</content>
internal static partial class Log
{
    [LoggerMessage(EventId = 3500, EventName = "RevocationFeedStale", Level = LogLevel.Error,
        Message = "The revocation feed {FeedUri} has been unreachable for more than {GracePeriod}; applying the {Policy} policy until it is back.")]
    public static partial void FeedStale(this ILogger logger, Uri feedUri, TimeSpan gracePeriod, RevocationFeedFailurePolicy policy);

    [LoggerMessage(EventId = 3501, EventName = "RevokedConnectionAborted", Level = LogLevel.Warning,
        Message = "Aborted connection {ConnectionId} of {SpiffeId} (serial {Serial}): its certificate is revoked by entry #{Sequence}.")]
    public static partial void ConnectionAborted(this ILogger logger, string connectionId, SpiffeId spiffeId, string serial, long sequence);

}
