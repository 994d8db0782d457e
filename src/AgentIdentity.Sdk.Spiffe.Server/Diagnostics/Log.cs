using Microsoft.Extensions.Logging;

namespace AgentIdentity.Spiffe;

/// <summary>Log messages of the Workload API server (event IDs 6100–6199). Private keys and tokens are never logged.</summary>
internal static partial class Log
{
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

    [LoggerMessage(EventId = 6106, EventName = "CallerAttested", Level = LogLevel.Debug,
        Message = "Workload API connection from pid {Pid} (uid {Uid}, gid {Gid}, executable {ExecutablePath}, {ExecutableFile}) attested.")]
    public static partial void CallerAttested(this ILogger logger, int pid, int uid, int gid, string? executablePath, string? executableFile);

    [LoggerMessage(EventId = 6107, EventName = "CallerChanged", Level = LogLevel.Warning,
        Message = "Workload API caller pid {Pid} (uid {Uid}) is no longer the process that connected: {Reason}; {Rpc} denied.")]
    public static partial void CallerChanged(this ILogger logger, int pid, int uid, string reason, string rpc);
}
