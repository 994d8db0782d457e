using Microsoft.Extensions.Logging;

namespace AgentIdentity.Issuer;

internal static partial class Log
{
    [LoggerMessage(EventId = 5000, EventName = "CertificateAuthorityCreated", Level = LogLevel.Warning,
        Message = "Generated a new CA for trust domain {TrustDomain} (id {CaId}); its keys are stored encrypted. Distribute the new bundle.")]
    public static partial void CertificateAuthorityCreated(this ILogger logger, string trustDomain, string caId);

    [LoggerMessage(EventId = 5001, EventName = "CertificateAuthorityLoaded", Level = LogLevel.Information,
        Message = "Loaded CA {CaId} for trust domain {TrustDomain}; it expires {NotAfter}.")]
    public static partial void CertificateAuthorityLoaded(this ILogger logger, string caId, string trustDomain, DateTimeOffset notAfter);

    [LoggerMessage(EventId = 5002, EventName = "SvidIssued", Level = LogLevel.Information,
        Message = "Issued {Kind} SVID for {SpiffeId}, serial {Serial}, expires {NotAfter}.")]
    public static partial void SvidIssued(this ILogger logger, string kind, string spiffeId, string serial, DateTimeOffset notAfter);

    [LoggerMessage(EventId = 5003, EventName = "RequestRefused", Level = LogLevel.Warning,
        Message = "Refused {Endpoint} request from {Caller} ({Status}): {Reason}")]
    public static partial void RequestRefused(this ILogger logger, string endpoint, string caller, int status, string reason);

    [LoggerMessage(EventId = 5004, EventName = "JoinTokenCreated", Level = LogLevel.Information,
        Message = "Created a join token for agent {AgentName}, expires {ExpiresAt}.")]
    public static partial void JoinTokenCreated(this ILogger logger, string agentName, DateTimeOffset expiresAt);

    [LoggerMessage(EventId = 5005, EventName = "StoreUnavailable", Level = LogLevel.Error,
        Message = "The issuer store failed during {Endpoint}; answered 503.")]
    public static partial void StoreUnavailable(this ILogger logger, string endpoint, Exception exception);

    [LoggerMessage(EventId = 5006, EventName = "RateLimited", Level = LogLevel.Warning,
        Message = "Rate-limited {Caller} on {Endpoint}.")]
    public static partial void RateLimited(this ILogger logger, string caller, string endpoint);

    [LoggerMessage(EventId = 5007, EventName = "CertificateAuthorityRotation", Level = LogLevel.Warning,
        Message = "CA rotation: {Action} CA {CaId}.")]
    public static partial void CertificateAuthorityRotation(this ILogger logger, string action, string caId);

    [LoggerMessage(EventId = 5008, EventName = "SupersededRenewal", Level = LogLevel.Critical,
        Message = "LIKELY KEY THEFT: a renewal of {SpiffeId} presented the superseded certificate {PresentedSerial} (current {CurrentSerial}); {Action}. Revoke the identity.")]
    public static partial void SupersededRenewal(this ILogger logger, string spiffeId, string presentedSerial, string currentSerial, string action);
}
