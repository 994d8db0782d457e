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

    [LoggerMessage(EventId = 6100, EventName = "ServerListening", Level = LogLevel.Information,
        Message = "Workload API server listening on unix://{SocketPath} with {RegistrationCount} registration entries.")]
    public static partial void ServerListening(this ILogger logger, string socketPath, int registrationCount);

    [LoggerMessage(EventId = 6101, EventName = "CallerDenied", Level = LogLevel.Warning,
        Message = "Workload API caller pid {Pid} (uid {Uid}, gid {Gid}, executable {ExecutablePath}) matches no registration entry; {Rpc} denied.")]
    public static partial void CallerDenied(this ILogger logger, int pid, int uid, int gid, string? executablePath, string rpc);

    [LoggerMessage(EventId = 6102, EventName = "SvidMinted", Level = LogLevel.Information,
        Message = "Workload API server minted X.509-SVID {SpiffeId} (serial {Serial}, expires {NotAfter:O}).")]
    public static partial void SvidMinted(this ILogger logger, SpiffeId spiffeId, string serial, DateTimeOffset notAfter);

    [LoggerMessage(EventId = 6103, EventName = "MissingSecurityHeader", Level = LogLevel.Warning,
        Message = "Workload API call {Rpc} without the 'workload.spiffe.io: true' header was rejected.")]
    public static partial void MissingSecurityHeader(this ILogger logger, string rpc);

    [LoggerMessage(EventId = 6104, EventName = "PeerCredentialsUnavailable", Level = LogLevel.Warning,
        Message = "Workload API server could not read the peer credentials (SO_PEERCRED) of a connection; its calls are denied.")]
    public static partial void PeerCredentialsUnavailable(this ILogger logger, Exception exception);

    [LoggerMessage(EventId = 6105, EventName = "RotationFailed", Level = LogLevel.Error,
        Message = "Workload API server could not mint a new X.509-SVID for {SpiffeId}; the current one stays in use.")]
    public static partial void RotationFailed(this ILogger logger, SpiffeId spiffeId, Exception exception);
}
