using System.Security.Cryptography.X509Certificates;

namespace AgentIdentity.AspNetCore;

/// <summary>What a service does when the revocation feed has been unreachable for longer than the grace period.</summary>
public enum RevocationFeedFailurePolicy
{
    /// <summary>Refuse every agent caller until the feed is back (the default): a revocation that cannot arrive must not be ignored.</summary>
    FailClosed,

    /// <summary>Keep accepting callers that are not known to be revoked, and log a warning on each refusal that would have happened.</summary>
    FailOpen,
}

/// <summary>Options for the service-side revocation feed subscription (<c>AddAgentIdentityRevocationFeed</c>).</summary>
public sealed class AgentRevocationFeedOptions
{
    /// <summary>The name of the <see cref="System.Net.Http.HttpClient"/> used to reach the feed (configure TLS trust on it with <c>AddHttpClient(name)</c>).</summary>
    public const string HttpClientName = "AgentIdentity.RevocationFeed";

    /// <summary>Gets or sets the feed URI, for example <c>https://issuer.example/revocation/feed</c>. Required.</summary>
    public Uri? FeedUri { get; set; }

    /// <summary>Gets or sets the feed-signer certificate (the issuing CA). Required.</summary>
    public X509Certificate2? SignerCertificate { get; set; }

    /// <summary>Gets or sets the trust domain whose feed this is. Required.</summary>
    public string? TrustDomain { get; set; }

    /// <summary>Gets or sets how long the feed may be unreachable before <see cref="FailurePolicy"/> applies.</summary>
    /// <value>The default value is 30 seconds.</value>
    public TimeSpan GracePeriod { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Gets or sets what happens after the grace period.</summary>
    /// <value>The default value is <see cref="RevocationFeedFailurePolicy.FailClosed"/>.</value>
    public RevocationFeedFailurePolicy FailurePolicy { get; set; } = RevocationFeedFailurePolicy.FailClosed;

    /// <summary>Gets the reconnect and idle-timeout settings of the subscriber.</summary>
    public RevocationFeedSubscriberOptions Subscriber { get; } = new();

    internal string? Validate() =>
        FeedUri is not { IsAbsoluteUri: true } ? "FeedUri must be an absolute URI of the issuer's revocation feed"
        : SignerCertificate is null ? "SignerCertificate (the issuing CA certificate) is required to verify feed entries"
        : !AgentIdentity.TrustDomain.TryParse(TrustDomain, out _) ? $"TrustDomain '{TrustDomain}' is not a valid trust domain name"
        : GracePeriod <= TimeSpan.Zero ? "GracePeriod must be positive"
        : null;
}
