using Microsoft.Extensions.Logging;

namespace AgentIdentity.AspNetCore;

/// <summary>Log messages of the ASP.NET Core package (event IDs 3000–3999). Tokens and private keys are never logged.</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 3000, EventName = "CallerAuthenticated", Level = LogLevel.Debug,
        Message = "Authenticated agent caller {SpiffeId} (serial {Serial}) from {RemoteAddress}; cached validation: {CacheHit}.")]
    public static partial void CallerAuthenticated(this ILogger logger, SpiffeId spiffeId, string serial, System.Net.IPAddress? remoteAddress, bool cacheHit);

    [LoggerMessage(EventId = 3001, EventName = "CertificateRejected", Level = LogLevel.Warning,
        Message = "Rejected the client certificate presented from {RemoteAddress} ({Error}): {Reason}")]
    public static partial void CertificateRejected(this ILogger logger, System.Net.IPAddress? remoteAddress, X509SvidValidationError error, string reason);

    [LoggerMessage(EventId = 3002, EventName = "CallerRevoked", Level = LogLevel.Warning,
        Message = "Rejected agent caller {SpiffeId} (serial {Serial}) from {RemoteAddress}: revoked ({Reason}).")]
    public static partial void CallerRevoked(this ILogger logger, SpiffeId spiffeId, string serial, System.Net.IPAddress? remoteAddress, string reason);

    [LoggerMessage(EventId = 3003, EventName = "AccessTokenRejected", Level = LogLevel.Warning,
        Message = "Rejected the access token of agent caller {SpiffeId} from {RemoteAddress}: {Reason}")]
    public static partial void AccessTokenRejected(this ILogger logger, SpiffeId spiffeId, System.Net.IPAddress? remoteAddress, string reason);

    [LoggerMessage(EventId = 3004, EventName = "NoClientCertificate", Level = LogLevel.Debug,
        Message = "No client certificate on the request from {RemoteAddress}; AgentIdentity authentication has no result.")]
    public static partial void NoClientCertificate(this ILogger logger, System.Net.IPAddress? remoteAddress);

    [LoggerMessage(EventId = 3005, EventName = "ForwardedCertificateFromUntrustedAddress", Level = LogLevel.Warning,
        Message = "Ignored the forwarded client certificate header '{Header}' from {RemoteAddress}: that address is not a configured trusted proxy.")]
    public static partial void ForwardedFromUntrusted(this ILogger logger, string header, System.Net.IPAddress? remoteAddress);

    [LoggerMessage(EventId = 3006, EventName = "ForwardedCertificateMalformed", Level = LogLevel.Warning,
        Message = "Rejected the forwarded client certificate header '{Header}' from proxy {RemoteAddress}: {Reason}")]
    public static partial void ForwardedMalformed(this ILogger logger, string header, System.Net.IPAddress? remoteAddress, string reason);

    [LoggerMessage(EventId = 3007, EventName = "AuthorizationDenied", Level = LogLevel.Information,
        Message = "Denied agent caller {SpiffeId}: {Reason}")]
    public static partial void AuthorizationDenied(this ILogger logger, string? spiffeId, string reason);

    [LoggerMessage(EventId = 3008, EventName = "AccessTokenMissing", Level = LogLevel.Warning,
        Message = "Rejected agent caller {SpiffeId} from {RemoteAddress}: an access token is required and none was sent.")]
    public static partial void AccessTokenMissing(this ILogger logger, SpiffeId spiffeId, System.Net.IPAddress? remoteAddress);

    [LoggerMessage(EventId = 3015, EventName = "DelegationChainRejected", Level = LogLevel.Warning,
        Message = "Rejected agent caller {SpiffeId} (serial {Serial}) from {RemoteAddress}: {Reason}")]
    public static partial void DelegationChainRejected(this ILogger logger, SpiffeId spiffeId, string serial, System.Net.IPAddress? remoteAddress, string reason);

    [LoggerMessage(EventId = 3016, EventName = "CallerPolicyComputed", Level = LogLevel.Debug,
        Message = "Computed the certificate policy of agent caller {SpiffeId} (serial {Serial}); delegation chain: {ChainError}.")]
    public static partial void CallerPolicyComputed(this ILogger logger, SpiffeId spiffeId, string serial, DelegationError chainError);

    [LoggerMessage(EventId = 3017, EventName = "ForeignPolicyIgnored", Level = LogLevel.Debug,
        Message = "Ignored the agent policy extensions of caller {SpiffeId}: trust domain '{TrustDomain}' is not one whose policies this service honours (AgentIdentityAuthenticationOptions.PolicyTrustDomains).")]
    public static partial void ForeignPolicyIgnored(this ILogger logger, SpiffeId spiffeId, TrustDomain trustDomain);

    [LoggerMessage(EventId = 3018, EventName = "TransportPeerUnknown", Level = LogLevel.Warning,
        Message = "Ignored the forwarded client certificate header '{Header}': the transport peer address of the connection is unknown (not a socket connection), so the proxy cannot be verified.")]
    public static partial void TransportPeerUnknown(this ILogger logger, string header);
}
