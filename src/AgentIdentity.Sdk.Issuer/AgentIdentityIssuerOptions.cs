using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace AgentIdentity.Issuer;

/// <summary>Options of the embedded issuer service (<c>services.AddAgentIdentityIssuer(o => ...)</c>). The store is chosen on the
/// builder that call returns (<c>.UseSqlite(path)</c>, <c>.UsePostgreSql(connectionString)</c>), not here.</summary>
public sealed class AgentIdentityIssuerOptions
{
    /// <summary>The environment variable read when <see cref="KeyEncryptionKey"/> is not set.</summary>
    public const string KeyEncryptionKeyEnvironmentVariable = "AGENTIDENTITY_ISSUER_KEK";

    /// <summary>Gets or sets the trust domain the CA is constrained to, for example <c>example.org</c>. Required.</summary>
    [Required(ErrorMessage = "{0} is required: the trust domain the CA is constrained to, for example 'example.org'.")]
    [TrustDomainName]
    public string? TrustDomain { get; set; }

    /// <summary>Gets or sets the key-encryption key: the secret that encrypts the CA keys at rest (PKCS#8 PBES2 with
    /// AES-256-CBC and PBKDF2-HMAC-SHA256). When <see langword="null"/> it is read from the environment variable
    /// <see cref="KeyEncryptionKeyEnvironmentVariable"/>. At least 16 characters. Bind it from a secret store, never commit it.</summary>
    public string? KeyEncryptionKey { get; set; }

    /// <summary>Gets or sets the PBKDF2 iteration count for new encrypted keys.</summary>
    /// <value>The default value is 600 000 (the OWASP 2023 figure for PBKDF2-HMAC-SHA256); at least 100 000.</value>
    [AtLeast(100_000)]
    public int KeyEncryptionIterations { get; set; } = 600_000;

    /// <summary>Gets or sets the lifetime of a generated CA (root and intermediate).</summary>
    /// <value>The default value is 365 days. Must be longer than <see cref="MaxSvidLifetime"/>.</value>
    public TimeSpan CertificateAuthorityLifetime { get; set; } = TimeSpan.FromDays(365);

    /// <summary>Gets or sets the longest SVID lifetime granted; longer requests are shortened.</summary>
    /// <value>The default value is 1 hour. Must be positive.</value>
    [PositiveTimeSpan]
    public TimeSpan MaxSvidLifetime { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Gets or sets the longest join-token lifetime an administrator may ask for.</summary>
    /// <value>The default value is 1 hour. Must be positive.</value>
    [PositiveTimeSpan]
    public TimeSpan MaxJoinTokenLifetime { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Gets or sets the static admin API key, an opt-in <b>for bootstrap only</b>: it lets <c>POST v1/join-tokens</c>
    /// (and nothing else) be called without a client certificate, with the header <c>Authorization: Bearer &lt;key&gt;</c>
    /// (compared in constant time), to mint the first operator's join token. Administration is otherwise authorized by the
    /// operator's SVID (see <see cref="IssuerAdminActions"/> and <see cref="OperatorIds"/>); remove the key once an operator
    /// is enrolled. At least 32 characters.</summary>
    /// <value>The default value is <see langword="null"/>: no static key is accepted.</value>
    public string? AdminApiKey { get; set; }

    /// <summary>Gets the SPIFFE ID patterns of the operators (an exact ID, or an ID followed by <c>/*</c> for every ID below
    /// it), in the issuer's trust domain: an agent identity that matches may use every admin action even when its certificate
    /// policy does not grant it. Task identities never match: they need an effective policy that grants the action.</summary>
    /// <value>The default value is empty: only certificate policies grant admin actions.</value>
    public IList<string> OperatorIds { get; } = [];

    /// <summary>Gets or sets how many requests one caller may make per <see cref="RateLimitWindow"/>. A caller is the SPIFFE ID of
    /// a client certificate that validates against the issuer's own bundle; any other caller (no certificate, an expired or
    /// foreign one, a self-signed one) is its remote address prefix (<see cref="RateLimitIPv4PrefixLength"/>, <see cref="RateLimitIPv6PrefixLength"/>).</summary>
    /// <value>The default value is 60. At least 1.</value>
    [AtLeast(1)]
    public int RateLimitPermits { get; set; } = 60;

    /// <summary>Gets or sets the rate-limit window (fixed windows on the issuer's <see cref="TimeProvider"/>).</summary>
    /// <value>The default value is 1 minute. Must be positive.</value>
    [PositiveTimeSpan]
    public TimeSpan RateLimitWindow { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Gets or sets the prefix length that groups IPv4 callers without a valid SVID into one rate-limit caller: 32 limits each
    /// address; 24 limits each /24 network (one attacker with many addresses of a subnet, but also every agent behind it).</summary>
    /// <value>The default value is 32; from 8 to 32.</value>
    public int RateLimitIPv4PrefixLength { get; set; } = 32;

    /// <summary>Gets or sets the prefix length that groups IPv6 callers without a valid SVID into one rate-limit caller. A host usually
    /// holds a whole /64, so a longer prefix lets one host take as many limits as it has addresses.</summary>
    /// <value>The default value is 64; from 16 to 128.</value>
    public int RateLimitIPv6PrefixLength { get; set; } = 64;

    /// <summary>Gets or sets how many requests all callers together may make per <see cref="RateLimitWindow"/> to the anonymous
    /// endpoints: <c>v1/issue</c> (enrollment), <c>v1/renew-expired</c>, <c>v1/bundle</c>, and the revocation feed, CRL and OCSP. It bounds the load that
    /// many addresses together put on the issuer (every join-token guess is a database read); counted per replica.</summary>
    /// <value>The default value is 1000. At least 1.</value>
    [AtLeast(1)]
    public int AnonymousRateLimitPermits { get; set; } = 1000;

    /// <summary>Gets or sets how long after its expiry an agent's SVID may still be renewed, by proof of possession of its key
    /// (<c>POST v1/renew-expired</c>), without a new join token: for an agent whose host slept or whose issuer was down past its
    /// SVID's expiry (step-ca's <c>allowRenewalAfterExpiry</c>). The expired certificate must be one this issuer issued, the
    /// identity's current one, and neither it, its identity nor a delegation ancestor revoked. Task identities are not renewed
    /// this way (their parent delegates again).</summary>
    /// <value>The default value is <see cref="TimeSpan.Zero"/>: off, an expired SVID needs a new join token.</value>
    public TimeSpan RenewalAfterExpiryGrace { get; set; } = TimeSpan.Zero;

    /// <summary>Gets or sets what <c>v1/renew</c> does with a certificate that a renewal already superseded (the identity's current
    /// certificate is another one): two holders of the key are renewing, likely a stolen key. Either way it is logged as critical.</summary>
    /// <value>The default value is <see cref="SupersededRenewalPolicy.Refuse"/>.</value>
    public SupersededRenewalPolicy SupersededRenewal { get; set; } = SupersededRenewalPolicy.Refuse;

    /// <summary>Gets or sets the DNS names in the issuer's own server SVID (<c>spiffe://&lt;td&gt;/agent-identity/issuer</c>).</summary>
    /// <value>The default value is <c>localhost</c>.</value>
    public IList<string> ServerDnsNames { get; } = ["localhost"];

    /// <summary>Gets the options of the issuer's own audit log of control-plane actions (on by default; see <see cref="IssuerAuditOptions"/>).</summary>
    public IssuerAuditOptions Audit { get; } = new();

    internal string? Validate() => OptionsValidation.Validate(null, this, new AgentIdentityIssuerOptionsValidator(), AgentIdentityIssuerOptionsRules.Instance);
}

/// <summary>The attribute rules of <see cref="AgentIdentityIssuerOptions"/> (source-generated).</summary>
[OptionsValidator]
internal sealed partial class AgentIdentityIssuerOptionsValidator : IValidateOptions<AgentIdentityIssuerOptions>;

/// <summary>The rules of <see cref="AgentIdentityIssuerOptions"/> beyond attributes: the admin key's length (never its value
/// in a message), and a CA that outlives the SVIDs it signs.</summary>
internal sealed class AgentIdentityIssuerOptionsRules : IValidateOptions<AgentIdentityIssuerOptions>
{
    public static AgentIdentityIssuerOptionsRules Instance { get; } = new();

    public ValidateOptionsResult Validate(string? name, AgentIdentityIssuerOptions options)
    {
        var prefix = OptionsValidation.DisplayName(name, nameof(AgentIdentityIssuerOptions));
        var failures = new List<string>();
        if (options.AdminApiKey is { Length: < 32 })
        {
            failures.Add($"{prefix}.AdminApiKey must be at least 32 characters.");
        }

        if (options.CertificateAuthorityLifetime <= options.MaxSvidLifetime)
        {
            failures.Add($"{prefix}.CertificateAuthorityLifetime ({options.CertificateAuthorityLifetime}) must be longer than MaxSvidLifetime ({options.MaxSvidLifetime}).");
        }

        if (options.TrustDomain is { Length: > 0 } td && AgentIdentity.TrustDomain.TryParse(td, out var trustDomain, out _) &&
            AdminAuthorization.ValidateOperatorIds(options, trustDomain) is { } operatorError)
        {
            failures.Add(operatorError);
        }

        if (options.Audit.Validate() is { } auditError)
        {
            failures.Add(auditError);
        }

        if (options.RenewalAfterExpiryGrace < TimeSpan.Zero || options.RenewalAfterExpiryGrace > options.CertificateAuthorityLifetime)
        {
            failures.Add($"{prefix}.RenewalAfterExpiryGrace ({options.RenewalAfterExpiryGrace}) must be zero (off) or positive, and at most CertificateAuthorityLifetime.");
        }

        if (options.RateLimitIPv4PrefixLength is < 8 or > 32 || options.RateLimitIPv6PrefixLength is < 16 or > 128)
        {
            failures.Add($"{prefix}.RateLimitIPv4PrefixLength ({options.RateLimitIPv4PrefixLength}) must be from 8 to 32 and RateLimitIPv6PrefixLength ({options.RateLimitIPv6PrefixLength}) from 16 to 128.");
        }

        return OptionsValidation.Result(failures);
    }
}

/// <summary>What the issuer does with a renewal that presents a superseded certificate (see <see cref="AgentIdentityIssuerOptions.SupersededRenewal"/>).</summary>
public enum SupersededRenewalPolicy
{
    /// <summary>Refuse with 403 and alert (log critical): only the identity's current certificate renews.</summary>
    Refuse = 0,

    /// <summary>Renew and alert: for agents that may retry a renewal whose answer they lost.</summary>
    AllowAndAlert = 1,
}
