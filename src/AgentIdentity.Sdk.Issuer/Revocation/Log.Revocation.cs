using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;

namespace AgentIdentity;

/// <content>Log messages of the issuer-side revocation registry and endpoints (event IDs kept from before they moved here).</content>
internal static partial class RevocationLog
{
    [LoggerMessage(EventId = 1500, EventName = "RevocationRecorded", Level = LogLevel.Warning,
        Message = "Revocation #{Sequence} recorded: {Kind} {Subject} ({Reason}).")]
    public static partial void RevocationRecorded(this ILogger logger, long sequence, RevocationKind kind, string subject, X509RevocationReason reason);

    [LoggerMessage(EventId = 1509, EventName = "IssuanceRefusedRevoked", Level = LogLevel.Warning,
        Message = "Refused to issue a certificate for {SpiffeId}: the identity is revoked ({Revocation}).")]
    public static partial void IssuanceRefusedRevoked(this ILogger logger, SpiffeId spiffeId, RevocationEntry revocation);

    [LoggerMessage(EventId = 3502, EventName = "RevocationFeedSubscriberConnected", Level = LogLevel.Debug,
        Message = "A revocation feed subscriber connected from {RemoteAddress}, resuming after sequence {After}.")]
    public static partial void FeedSubscriberConnected(this ILogger logger, System.Net.IPAddress? remoteAddress, long after);
}
