using System.ComponentModel.DataAnnotations;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Configuration;
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

/// <summary>The configuration shape of <see cref="AgentRevocationFeedOptions"/>: the feed signer is a certificate file
/// (<c>SignerCertificatePath</c>, PEM or DER), not an object the binder could build.</summary>
internal sealed class AgentRevocationFeedConfiguration
{
    private const string SubscriberKey = nameof(AgentRevocationFeedOptions.Subscriber);

    public Uri? FeedUri { get; set; }

    public string? SignerCertificatePath { get; set; }

    public string? TrustDomain { get; set; }

    public TimeSpan? GracePeriod { get; set; }

    public RevocationFeedFailurePolicy? FailurePolicy { get; set; }

    /// <summary>Binds <paramref name="configuration"/> onto <paramref name="options"/>; only the keys present change them.</summary>
    /// <exception cref="InvalidOperationException">An unknown key, a value that does not convert, or a signer certificate file that
    /// cannot be read; the message names the configuration key.</exception>
    public static void Bind(IConfiguration configuration, AgentRevocationFeedOptions options)
    {
        var shape = new AgentRevocationFeedConfiguration();
        var view = ConfigurationBinding.Without(configuration, SubscriberKey);
        ConfigurationBinding.Run(view, () => view.Bind(shape, ConfigurationBinding.Strict));
        options.FeedUri = shape.FeedUri ?? options.FeedUri;
        options.TrustDomain = shape.TrustDomain ?? options.TrustDomain;
        options.GracePeriod = shape.GracePeriod ?? options.GracePeriod;
        options.FailurePolicy = shape.FailurePolicy ?? options.FailurePolicy;
        if (shape.SignerCertificatePath is { } path)
        {
            options.SignerCertificate = LoadCertificate(path, ConfigurationBinding.PathOf(configuration, nameof(SignerCertificatePath)));
        }

        var subscriber = configuration.GetSection(SubscriberKey);
        ConfigurationBinding.Run(subscriber, () => subscriber.Bind(options.Subscriber, ConfigurationBinding.Strict));
    }

    private static X509Certificate2 LoadCertificate(string path, string key)
    {
        try
        {
            var bytes = File.ReadAllBytes(path);
            var text = System.Text.Encoding.ASCII.GetString(bytes);
            return text.Contains("-----BEGIN CERTIFICATE-----", StringComparison.Ordinal)
                ? X509Certificate2.CreateFromPem(text)
                : X509CertificateLoader.LoadCertificate(bytes);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException or ArgumentException)
        {
            throw new InvalidOperationException(
                $"The feed signer certificate '{path}' (configuration key '{key}') cannot be read: {ex.Message} Give the path of the issuer's feed-signing certificate, PEM or DER.", ex);
        }
    }
}
