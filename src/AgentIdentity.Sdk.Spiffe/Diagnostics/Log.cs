using Microsoft.Extensions.Logging;

namespace AgentIdentity.Spiffe;

/// <summary>Log messages of the SPIFFE package (event IDs 6000–6999). Private keys and tokens are never logged.</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 6000, EventName = "X509ContextUpdated", Level = LogLevel.Information,
        Message = "Workload API X.509 update: using SVID {SpiffeId} (serial {Serial}, expires {NotAfter:O}); {BundleCount} trust bundle(s), {CrlCount} CRL(s).")]
    public static partial void X509ContextUpdated(this ILogger logger, SpiffeId spiffeId, string serial, DateTimeOffset notAfter, int bundleCount, int crlCount);

    [LoggerMessage(EventId = 6001, EventName = "X509ResponseRejected", Level = LogLevel.Error,
        Message = "Workload API sent an X.509-SVID response that was discarded (the previous state stays in use): {Reason}")]
    public static partial void X509ResponseRejected(this ILogger logger, string reason);

    [LoggerMessage(EventId = 6002, EventName = "StreamFailed", Level = LogLevel.Warning,
        Message = "Workload API stream {Rpc} at {Address} failed with {StatusCode} ({Detail}); reconnecting in {Delay} (attempt {Attempt}).")]
    public static partial void StreamFailed(this ILogger logger, string rpc, string address, string statusCode, string detail, TimeSpan delay, int attempt);

    [LoggerMessage(EventId = 6003, EventName = "StreamStopped", Level = LogLevel.Error,
        Message = "Workload API stream {Rpc} at {Address} stopped for good with {StatusCode} ({Detail}); it is not retried, as the spec prescribes.")]
    public static partial void StreamStopped(this ILogger logger, string rpc, string address, string statusCode, string detail);

    [LoggerMessage(EventId = 6004, EventName = "PermissionDenied", Level = LogLevel.Warning,
        Message = "Workload API at {Address} denied this workload an identity ({Detail}); previously received SVIDs are no longer used. Retrying in {Delay}.")]
    public static partial void PermissionDenied(this ILogger logger, string address, string detail, TimeSpan delay);

    [LoggerMessage(EventId = 6005, EventName = "StreamEnded", Level = LogLevel.Information,
        Message = "Workload API stream {Rpc} at {Address} was closed by the server; reconnecting.")]
    public static partial void StreamEnded(this ILogger logger, string rpc, string address);
}
