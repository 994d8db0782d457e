using Microsoft.Extensions.Logging;

namespace AgentIdentity;

/// <summary>Log messages of the core package (event IDs 1000–1999). Private keys and tokens are never logged.</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 1000, EventName = "DevelopmentCertificateAuthorityInUse", Level = LogLevel.Warning,
        Message = "!!! DEVELOPMENT CERTIFICATE AUTHORITY IN USE for trust domain '{TrustDomain}'. Its keys live only in memory, it has no attestation or revocation, and it must not be used in production. Configure an issuer service or the SPIFFE Workload API instead. !!!")]
    public static partial void DevelopmentCaInUse(this ILogger logger, string trustDomain);

    [LoggerMessage(EventId = 1001, EventName = "SvidIssued", Level = LogLevel.Information,
        Message = "Issued X.509-SVID for {SpiffeId}: serial {Serial}, expires {NotAfter:O}, next renewal {RenewAt:O}.")]
    public static partial void SvidIssued(this ILogger logger, SpiffeId spiffeId, string serial, DateTimeOffset notAfter, DateTimeOffset renewAt);

    [LoggerMessage(EventId = 1002, EventName = "RotationFailed", Level = LogLevel.Warning,
        Message = "Renewing the X.509-SVID of {SpiffeId} failed (attempt {Attempt}); the current SVID stays in use until {NotAfter:O}. Retrying in {RetryDelay}.")]
    public static partial void RotationFailed(this ILogger logger, SpiffeId spiffeId, int attempt, DateTimeOffset notAfter, TimeSpan retryDelay, Exception exception);

    [LoggerMessage(EventId = 1003, EventName = "SvidExpired", Level = LogLevel.Error,
        Message = "The X.509-SVID of {SpiffeId} expired at {NotAfter:O} before it could be renewed; the agent has no identity until the issuer answers.")]
    public static partial void SvidExpired(this ILogger logger, SpiffeId spiffeId, DateTimeOffset notAfter);

    [LoggerMessage(EventId = 1004, EventName = "InitialIssuanceFailed", Level = LogLevel.Warning,
        Message = "Obtaining the first X.509-SVID of {SpiffeId} failed (attempt {Attempt}); retrying in {RetryDelay}.")]
    public static partial void InitialIssuanceFailed(this ILogger logger, SpiffeId spiffeId, int attempt, TimeSpan retryDelay, Exception exception);

    [LoggerMessage(EventId = 1005, EventName = "CredentialRecovered", Level = LogLevel.Information,
        Message = "The X.509-SVID of {SpiffeId} was re-issued after it had expired; the agent has an identity again.")]
    public static partial void CredentialRecovered(this ILogger logger, SpiffeId spiffeId);

    [LoggerMessage(EventId = 1006, EventName = "ChangeCallbackFailed", Level = LogLevel.Error,
        Message = "A rotation subscriber of {SpiffeId} threw; the rotation itself succeeded.")]
    public static partial void ChangeCallbackFailed(this ILogger logger, SpiffeId spiffeId, Exception exception);
}
