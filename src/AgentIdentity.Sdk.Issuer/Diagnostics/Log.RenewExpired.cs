using Microsoft.Extensions.Logging;

namespace AgentIdentity.Issuer;

internal static partial class Log
{
    [LoggerMessage(EventId = 5009, EventName = "RenewedAfterExpiry", Level = LogLevel.Warning,
        Message = "Renewed {SpiffeId} after its SVID (serial {ExpiredSerial}) expired {Overdue} ago, by proof of possession of the expired key (grace {Grace}).")]
    public static partial void RenewedAfterExpiry(this ILogger logger, string spiffeId, string expiredSerial, TimeSpan overdue, TimeSpan grace);
}
