using System.ComponentModel.DataAnnotations;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Options;

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
    [Required(ErrorMessage = "{0} is required: the absolute URI of the issuer's revocation feed.")]
    public Uri? FeedUri { get; set; }

    /// <summary>Gets or sets the feed-signer certificate (the issuing CA). Required.</summary>
    [Required(ErrorMessage = "{0} (the issuing CA certificate) is required to verify feed entries.")]
    public X509Certificate2? SignerCertificate { get; set; }

    /// <summary>Gets or sets the trust domain whose feed this is. Required.</summary>
    [Required(ErrorMessage = "{0} is required: the trust domain whose feed this is, for example 'example.org'.")]
    [TrustDomainName]
    public string? TrustDomain { get; set; }

    /// <summary>Gets or sets how long the feed may be unreachable before <see cref="FailurePolicy"/> applies.</summary>
    /// <value>The default value is 30 seconds. Must be positive.</value>
    [PositiveTimeSpan]
    public TimeSpan GracePeriod { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Gets or sets what happens after the grace period.</summary>
    /// <value>The default value is <see cref="RevocationFeedFailurePolicy.FailClosed"/>.</value>
    [EnumDataType(typeof(RevocationFeedFailurePolicy))]
    public RevocationFeedFailurePolicy FailurePolicy { get; set; } = RevocationFeedFailurePolicy.FailClosed;

    /// <summary>Gets the reconnect and idle-timeout settings of the subscriber.</summary>
    public RevocationFeedSubscriberOptions Subscriber { get; } = new();

    internal string? Validate() => OptionsValidation.Validate(null, this, new AgentRevocationFeedOptionsValidator(), AgentRevocationFeedOptionsRules.Instance);
}

/// <summary>The attribute rules of <see cref="AgentRevocationFeedOptions"/> (source-generated).</summary>
[OptionsValidator]
internal sealed partial class AgentRevocationFeedOptionsValidator : IValidateOptions<AgentRevocationFeedOptions>;

/// <summary>The rule of <see cref="AgentRevocationFeedOptions"/> beyond attributes: the feed URI is absolute.</summary>
internal sealed class AgentRevocationFeedOptionsRules : IValidateOptions<AgentRevocationFeedOptions>
{
    public static AgentRevocationFeedOptionsRules Instance { get; } = new();

    public ValidateOptionsResult Validate(string? name, AgentRevocationFeedOptions options) =>
        options.FeedUri is { IsAbsoluteUri: false } uri
            ? ValidateOptionsResult.Fail($"{OptionsValidation.DisplayName(name, nameof(AgentRevocationFeedOptions))}.FeedUri '{uri}' must be an absolute URI of the issuer's revocation feed.")
            : ValidateOptionsResult.Success;
}
