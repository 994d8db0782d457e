using Microsoft.Extensions.Logging;

namespace AgentIdentity;

/// <summary>Log messages of the HttpClient integration (event IDs 2000–2999).</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 2000, EventName = "HttpGenerationStarted", Level = LogLevel.Information,
        Message = "HttpClient '{ClientName}' uses certificate generation {Generation} for {SpiffeId}: serial {Serial}, expires {NotAfter:O}.")]
    public static partial void GenerationStarted(this ILogger logger, string clientName, long generation, SpiffeId spiffeId, string serial, DateTimeOffset notAfter);

    [LoggerMessage(EventId = 2001, EventName = "HttpGenerationRetired", Level = LogLevel.Debug,
        Message = "HttpClient '{ClientName}' retired certificate generation {Generation}; {InFlight} request(s) or body(ies) still in flight drain before it is disposed.")]
    public static partial void GenerationRetired(this ILogger logger, string clientName, long generation, int inFlight);

    [LoggerMessage(EventId = 2002, EventName = "HttpServerRejected", Level = LogLevel.Warning,
        Message = "HttpClient '{ClientName}' rejected the server at {RequestUri}: {Reason}")]
    public static partial void ServerRejected(this ILogger logger, string clientName, Uri? requestUri, string reason);

    [LoggerMessage(EventId = 2010, EventName = "BoundTokenAcquired", Level = LogLevel.Information,
        Message = "HttpClient '{ClientName}' obtained a certificate-bound access token for certificate {Thumbprint}, expiring {ExpiresAt:O}.")]
    public static partial void BoundTokenAcquired(this ILogger logger, string clientName, string thumbprint, DateTimeOffset expiresAt);

    [LoggerMessage(EventId = 2011, EventName = "BoundTokenRefreshFailed", Level = LogLevel.Warning,
        Message = "HttpClient '{ClientName}' could not refresh its access token ahead of expiry; the cached token stays in use until {ExpiresAt:O}.")]
    public static partial void BoundTokenRefreshFailed(this ILogger logger, string clientName, DateTimeOffset expiresAt, Exception exception);

    [LoggerMessage(EventId = 2012, EventName = "BoundTokenRejected", Level = LogLevel.Information,
        Message = "HttpClient '{ClientName}': the resource server answered 401 invalid_token; obtaining a new token and retrying once.")]
    public static partial void BoundTokenRejected(this ILogger logger, string clientName);
}
