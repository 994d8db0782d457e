using System.ComponentModel.DataAnnotations;
using System.Diagnostics.CodeAnalysis;
using System.Net;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace AgentIdentity.AspNetCore;

/// <summary>Options of the AgentIdentity authentication scheme.</summary>
public sealed class AgentIdentityAuthenticationOptions : AuthenticationSchemeOptions
{
    /// <summary>Gets or sets how far certificate validity windows are stretched on both ends to absorb clock differences.</summary>
    /// <value>The default value is 30 seconds. Must be between zero and 10 minutes.</value>
    [UnconditionalSuppressMessage("Trimming", "IL2026", Justification = OptionsValidation.TimeSpanRangeJustification)]
    [Range(typeof(TimeSpan), "00:00:00", "00:10:00")]
    public TimeSpan ClockSkew { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Gets or sets the trust bundles callers are validated against.</summary>
    /// <value>The default value is <see langword="null"/>: the <see cref="ITrustBundleSource"/> registered in DI
    /// (for example by <c>UseDevelopmentCertificateAuthority()</c>).</value>
    [Required(ErrorMessage = "AgentIdentity authentication has no trust bundle: set {0}, or register an ITrustBundleSource " +
        "(for example services.AddAgentIdentity(...).UseDevelopmentCertificateAuthority()).")]
    public ITrustBundleSource? TrustBundleSource { get; set; }

    /// <summary>Gets or sets the revocation hook asked on every request.</summary>
    /// <value>The default value is <see langword="null"/>: the <see cref="IAgentRevocationChecker"/> registered in DI, if any.</value>
    public IAgentRevocationChecker? RevocationChecker { get; set; }

    /// <summary>Gets or sets the evaluator of certificate policies used by <c>RequireAction</c>.</summary>
    /// <value>The default value is <see langword="null"/>: the <see cref="IAgentCertificatePolicyEvaluator"/> registered in DI,
    /// or <see cref="AgentCertificatePolicyEvaluator"/>, which enforces the effective policy of the delegation chain and denies undecodable policies.</value>
    public IAgentCertificatePolicyEvaluator? CertificatePolicyEvaluator { get; set; }

    /// <summary>Gets or sets how many validated certificates are cached (keyed by the leaf's DER) so that repeated connections
    /// cost no chain build. Entries expire with the certificate and are dropped when the trust bundle changes.</summary>
    /// <value>The default value is 10 000. Zero disables the cache.</value>
    [AtLeast(0)]
    public int ValidationCacheSize { get; set; } = 10_000;

    /// <summary>Gets the options for RFC 8705 certificate-bound access tokens.</summary>
    public AgentAccessTokenOptions AccessTokens { get; } = new();

    /// <summary>Gets the trust domains whose agent policy and delegation-chain extensions the service honours. A caller of another
    /// trusted trust domain (a federated partner) is authenticated, but its extensions are ignored: its CA cannot grant actions or
    /// services here, and <c>RequireAction</c> then needs a token scope.</summary>
    /// <value>The default is empty: the service's own trust domain, which is <c>AgentIdentityOptions.TrustDomain</c> when
    /// <c>services.AddAgentIdentity(...)</c> set one, else the only trust domain of a <see cref="TrustBundleSet"/> that holds one. When
    /// neither tells, no trust domain's policies are honoured (fail-closed): set this list.</value>
    public IList<TrustDomain> PolicyTrustDomains { get; } = [];

    /// <summary>Gets the options for client certificates forwarded by a TLS-terminating proxy (off by default).</summary>
    public AgentCertificateForwardingOptions CertificateForwarding { get; } = new();

    internal AgentCallerCache? Cache { get; set; }

    internal AgentCallerPolicyCache? PolicyCache { get; set; }

    /// <summary>The trust domains whose policies are honoured, resolved once from <see cref="PolicyTrustDomains"/> and DI.</summary>
    internal TrustDomain[] HonouredPolicyTrustDomains { get; set; } = [];

    internal bool HonoursPolicyOf(TrustDomain trustDomain) => Array.IndexOf(HonouredPolicyTrustDomains, trustDomain) >= 0;

    internal IAgentCertificatePolicyEvaluator ResolvedPolicyEvaluator => CertificatePolicyEvaluator ?? AgentCertificatePolicyEvaluatorDefault.Instance;

    /// <summary>Checks the options; it runs when the host starts (and when the scheme is first used). The rules are
    /// <see cref="IValidateOptions{TOptions}"/> classes: a source-generated one for the attributes and one for the rules that
    /// relate several options.</summary>
    /// <exception cref="InvalidOperationException">An option is invalid; the message names it and says how to fix it.</exception>
    public override void Validate()
    {
        base.Validate();
        if (OptionsValidation.Validate(null, this, new AgentIdentityAuthenticationOptionsValidator(), AgentIdentityAuthenticationOptionsRules.Instance) is { } error)
        {
            throw new InvalidOperationException(error);
        }
    }
}

/// <summary>The attribute rules of <see cref="AgentIdentityAuthenticationOptions"/> (source-generated).</summary>
[OptionsValidator]
internal sealed partial class AgentIdentityAuthenticationOptionsValidator : IValidateOptions<AgentIdentityAuthenticationOptions>;

/// <summary>The rules of <see cref="AgentIdentityAuthenticationOptions"/> that relate several options: a token mode needs a
/// validator, and certificate forwarding needs a trusted proxy and a header name.</summary>
internal sealed class AgentIdentityAuthenticationOptionsRules : IValidateOptions<AgentIdentityAuthenticationOptions>
{
    public static AgentIdentityAuthenticationOptionsRules Instance { get; } = new();

    public ValidateOptionsResult Validate(string? name, AgentIdentityAuthenticationOptions options)
    {
        var failures = new List<string>();
        if (options.AccessTokens.Mode != AgentAccessTokenMode.Ignore && options.AccessTokens.Validator is null)
        {
            failures.Add(
                $"AgentIdentity access tokens are '{options.AccessTokens.Mode}' but no validator is set: set AccessTokens.Validator to a JwtAccessTokenValidator or " +
                "IntrospectionAccessTokenValidator, or register an IAccessTokenValidator.");
        }

        var forwarding = options.CertificateForwarding;
        if (forwarding.Enabled && forwarding.KnownProxies.Count == 0 && forwarding.KnownNetworks.Count == 0)
        {
            failures.Add("AgentIdentity certificate forwarding is enabled but no trusted proxy is configured: add the proxy's address to CertificateForwarding.KnownProxies or KnownNetworks.");
        }

        if (forwarding.Enabled && string.IsNullOrWhiteSpace(forwarding.HeaderName))
        {
            failures.Add("AgentIdentity certificate forwarding is enabled but CertificateForwarding.HeaderName is empty.");
        }

        if (forwarding.Enabled && (options.AccessTokens.Mode != AgentAccessTokenMode.Required || !options.AccessTokens.RequireCertificateBinding))
        {
            failures.Add(
                "AgentIdentity certificate forwarding is enabled but certificate-bound access tokens are not required: a forwarded certificate " +
                "comes with no proof that the caller holds its key, so set AccessTokens.Mode = Required (with a validator) and keep " +
                "AccessTokens.RequireCertificateBinding = true, so that every request proves possession through its RFC 8705 bound token.");
        }

        return OptionsValidation.Result(failures);
    }
}

/// <summary>Whether the AgentIdentity handler reads <c>Authorization: Bearer</c> access tokens.</summary>
public enum AgentAccessTokenMode
{
    /// <summary>Access tokens are not read; another scheme may handle them.</summary>
    Ignore = 0,

    /// <summary>A token, when present, is validated and must be bound to the connection's certificate; requests without one are accepted.</summary>
    Optional,

    /// <summary>Every request must carry a valid token bound to the connection's certificate.</summary>
    Required,
}

/// <summary>Options for RFC 8705 certificate-bound access tokens.</summary>
public sealed class AgentAccessTokenOptions
{
    /// <summary>Gets or sets whether tokens are read.</summary>
    /// <value>The default value is <see cref="AgentAccessTokenMode.Ignore"/>.</value>
    public AgentAccessTokenMode Mode { get; set; }

    /// <summary>Gets or sets the token validator (signature, issuer, audience, lifetime).</summary>
    /// <value>The default value is <see langword="null"/>: the <see cref="IAccessTokenValidator"/> registered in DI, if any.</value>
    public IAccessTokenValidator? Validator { get; set; }

    /// <summary>Gets or sets a value indicating whether a token must carry <c>cnf.x5t#S256</c>.</summary>
    /// <value>The default value is <see langword="true"/>: an unbound (plain bearer) token is rejected with <c>invalid_token</c>.</value>
    public bool RequireCertificateBinding { get; set; } = true;
}

/// <summary>
/// Options for accepting a client certificate forwarded in a header by a TLS-terminating proxy. Off by default; when on, the
/// header is read only from the configured proxies and ignored (with a warning) from anyone else. The proxy is recognised by the
/// transport peer address of the connection (the socket's remote end), never by <c>HttpContext.Connection.RemoteIpAddress</c>,
/// which <c>UseForwardedHeaders</c> rewrites from <c>X-Forwarded-For</c>. Forwarding requires RFC 8705 certificate-bound access tokens
/// (<see cref="AgentAccessTokenMode.Required"/>): the scheme refuses to start otherwise.
/// </summary>
public sealed class AgentCertificateForwardingOptions
{
    /// <summary>Gets or sets a value indicating whether forwarded certificates are accepted.</summary>
    /// <value>The default value is <see langword="false"/>.</value>
    public bool Enabled { get; set; }

    /// <summary>Gets or sets the header that carries the client certificate chain: URL-escaped PEM (nginx
    /// <c>$ssl_client_escaped_cert</c>), plain PEM, or base64 DER; several PEM certificates are leaf first, then intermediates.</summary>
    /// <value>The default value is <c>X-Client-Cert</c>.</value>
    public string HeaderName { get; set; } = "X-Client-Cert";

    /// <summary>Gets or sets an optional header with the intermediates (PEM, URL-escaped or not).</summary>
    /// <value>The default value is <see langword="null"/>.</value>
    public string? IntermediatesHeaderName { get; set; }

    /// <summary>Gets the addresses of trusted proxies, compared with the transport peer address of the connection.</summary>
    public IList<IPAddress> KnownProxies { get; } = [];

    /// <summary>Gets the networks of trusted proxies.</summary>
    public IList<System.Net.IPNetwork> KnownNetworks { get; } = [];

    internal bool IsTrusted(IPAddress? address)
    {
        if (address is null)
        {
            return false;
        }

        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        foreach (var proxy in KnownProxies)
        {
            if (proxy.Equals(address) || (proxy.IsIPv4MappedToIPv6 && proxy.MapToIPv4().Equals(address)))
            {
                return true;
            }
        }

        foreach (var network in KnownNetworks)
        {
            if (network.Contains(address))
            {
                return true;
            }
        }

        return false;
    }
}
