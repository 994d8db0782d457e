namespace AgentIdentity.Issuer;

/// <summary>Options of the embedded issuer service (<c>services.AddAgentIdentityIssuer(o => ...)</c>). The store is chosen on the
/// builder that call returns (<c>.UseSqlite(path)</c>, <c>.UsePostgreSql(connectionString)</c>), not here.</summary>
public sealed class AgentIdentityIssuerOptions
{
    /// <summary>The environment variable read when <see cref="KeyEncryptionKey"/> is not set.</summary>
    public const string KeyEncryptionKeyEnvironmentVariable = "AGENTIDENTITY_ISSUER_KEK";

    /// <summary>Gets or sets the trust domain the CA is constrained to, for example <c>example.org</c>. Required.</summary>
    public string? TrustDomain { get; set; }

    /// <summary>Gets or sets the key-encryption key: the secret that encrypts the CA keys at rest (PKCS#8 PBES2 with
    /// AES-256-CBC and PBKDF2-HMAC-SHA256). When <see langword="null"/> it is read from the environment variable
    /// <see cref="KeyEncryptionKeyEnvironmentVariable"/>. At least 16 characters. Bind it from a secret store, never commit it.</summary>
    public string? KeyEncryptionKey { get; set; }

    /// <summary>Gets or sets the PBKDF2 iteration count for new encrypted keys.</summary>
    /// <value>The default value is 600 000 (the OWASP 2023 figure for PBKDF2-HMAC-SHA256); at least 100 000.</value>
    public int KeyEncryptionIterations { get; set; } = 600_000;

    /// <summary>Gets or sets the lifetime of a generated CA (root and intermediate).</summary>
    /// <value>The default value is 365 days.</value>
    public TimeSpan CertificateAuthorityLifetime { get; set; } = TimeSpan.FromDays(365);

    /// <summary>Gets or sets the longest SVID lifetime granted; longer requests are shortened.</summary>
    /// <value>The default value is 1 hour.</value>
    public TimeSpan MaxSvidLifetime { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Gets or sets the longest join-token lifetime an administrator may ask for.</summary>
    /// <value>The default value is 1 hour.</value>
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

    /// <summary>Gets or sets how many requests one caller (SPIFFE ID of its client certificate, else remote IP address) may make per <see cref="RateLimitWindow"/>.</summary>
    /// <value>The default value is 60.</value>
    public int RateLimitPermits { get; set; } = 60;

    /// <summary>Gets or sets the rate-limit window.</summary>
    /// <value>The default value is 1 minute.</value>
    public TimeSpan RateLimitWindow { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Gets or sets what <c>v1/renew</c> does with a certificate that a renewal already superseded (the identity's current
    /// certificate is another one): two holders of the key are renewing, likely a stolen key. Either way it is logged as critical.</summary>
    /// <value>The default value is <see cref="SupersededRenewalPolicy.Refuse"/>.</value>
    public SupersededRenewalPolicy SupersededRenewal { get; set; } = SupersededRenewalPolicy.Refuse;

    /// <summary>Gets or sets the DNS names in the issuer's own server SVID (<c>spiffe://&lt;td&gt;/agent-identity/issuer</c>).</summary>
    /// <value>The default value is <c>localhost</c>.</value>
    public IList<string> ServerDnsNames { get; } = ["localhost"];

    /// <summary>Gets the options of the issuer's own audit log of control-plane actions (off until <see cref="IssuerAuditOptions.Directory"/> is set).</summary>
    public IssuerAuditOptions Audit { get; } = new();

    internal string? Validate()
    {
        if (string.IsNullOrEmpty(TrustDomain) || !AgentIdentity.TrustDomain.TryParse(TrustDomain, out _, out _))
        {
            return $"AgentIdentityIssuerOptions.TrustDomain '{TrustDomain}' is missing or invalid; set it, for example 'example.org'.";
        }

        if (KeyEncryptionIterations < 100_000)
        {
            return "AgentIdentityIssuerOptions.KeyEncryptionIterations must be at least 100000.";
        }

        if (AdminAuthorization.ValidateOperatorIds(this, AgentIdentity.TrustDomain.Parse(TrustDomain)) is { } operatorError)
        {
            return operatorError;
        }

        if (Audit.Validate() is { } auditError)
        {
            return auditError;
        }

        if (AdminApiKey is { Length: < 32 })
        {
            return "AgentIdentityIssuerOptions.AdminApiKey must be at least 32 characters.";
        }

        if (MaxSvidLifetime <= TimeSpan.Zero || MaxJoinTokenLifetime <= TimeSpan.Zero || CertificateAuthorityLifetime <= MaxSvidLifetime)
        {
            return "AgentIdentityIssuerOptions lifetimes must be positive, and CertificateAuthorityLifetime longer than MaxSvidLifetime.";
        }

        return RateLimitPermits < 1 || RateLimitWindow <= TimeSpan.Zero
            ? "AgentIdentityIssuerOptions.RateLimitPermits must be at least 1 and RateLimitWindow positive."
            : null;
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
