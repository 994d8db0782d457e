using System.Net;
using Microsoft.AspNetCore.Authentication;

namespace AgentIdentity.AspNetCore;

/// <summary>Options of the AgentIdentity authentication scheme.</summary>
public sealed class AgentIdentityAuthenticationOptions : AuthenticationSchemeOptions
{
    /// <summary>Gets or sets how far certificate validity windows are stretched on both ends to absorb clock differences.</summary>
    /// <value>The default value is 30 seconds. Must be between zero and 10 minutes.</value>
    public TimeSpan ClockSkew { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Gets or sets the trust bundles callers are validated against.</summary>
    /// <value>The default value is <see langword="null"/>: the <see cref="ITrustBundleSource"/> registered in DI
    /// (for example by <c>UseDevelopmentCertificateAuthority()</c>).</value>
    public ITrustBundleSource? TrustBundleSource { get; set; }

    /// <summary>Gets or sets the revocation hook asked on every request.</summary>
    /// <value>The default value is <see langword="null"/>: the <see cref="IAgentRevocationChecker"/> registered in DI, if any.</value>
    public IAgentRevocationChecker? RevocationChecker { get; set; }

    /// <summary>Gets or sets the evaluator of certificate policies used by <c>RequireAction</c>.</summary>
    /// <value>The default value is <see langword="null"/>: the <see cref="IAgentCertificatePolicyEvaluator"/> registered in DI,
    /// or <see cref="AgentCertificatePolicyEvaluator"/>, which enforces the effective policy of the delegation chain and denies undecodable policies.</value>
    public IAgentCertificatePolicyEvaluator? CertificatePolicyEvaluator { get; set; }

    /// <summary>Gets or sets how many validated certificates are cached (per SHA-256 thumbprint) so that repeated connections
    /// cost no chain build. Entries expire with the certificate and are dropped when the trust bundle changes.</summary>
    /// <value>The default value is 10 000. Zero disables the cache.</value>
    public int ValidationCacheSize { get; set; } = 10_000;

    /// <summary>Gets the options for RFC 8705 certificate-bound access tokens.</summary>
    public AgentAccessTokenOptions AccessTokens { get; } = new();

    /// <summary>Gets the options for client certificates forwarded by a TLS-terminating proxy (off by default).</summary>
    public AgentCertificateForwardingOptions CertificateForwarding { get; } = new();

    internal AgentCallerCache? Cache { get; set; }

    internal IAgentCertificatePolicyEvaluator ResolvedPolicyEvaluator => CertificatePolicyEvaluator ?? AgentCertificatePolicyEvaluatorDefault.Instance;

    /// <inheritdoc/>
    public override void Validate()
    {
        base.Validate();
        if (ClockSkew < TimeSpan.Zero || ClockSkew > TimeSpan.FromMinutes(10))
        {
            throw new InvalidOperationException($"AgentIdentityAuthenticationOptions.ClockSkew is {ClockSkew}; it must be between zero and 10 minutes.");
        }

        if (ValidationCacheSize < 0)
        {
            throw new InvalidOperationException($"AgentIdentityAuthenticationOptions.ValidationCacheSize is {ValidationCacheSize}; it must be zero (no cache) or positive.");
        }

        if (TrustBundleSource is null)
        {
            throw new InvalidOperationException(
                "AgentIdentity authentication has no trust bundle: set AgentIdentityAuthenticationOptions.TrustBundleSource, or register an ITrustBundleSource " +
                "(for example services.AddAgentIdentity(...).UseDevelopmentCertificateAuthority()).");
        }

        if (AccessTokens.Mode != AgentAccessTokenMode.Ignore && AccessTokens.Validator is null)
        {
            throw new InvalidOperationException(
                $"AgentIdentity access tokens are '{AccessTokens.Mode}' but no validator is set: set AccessTokens.Validator to a JwtAccessTokenValidator or " +
                "IntrospectionAccessTokenValidator, or register an IAccessTokenValidator.");
        }

        if (CertificateForwarding.Enabled && CertificateForwarding.KnownProxies.Count == 0 && CertificateForwarding.KnownNetworks.Count == 0)
        {
            throw new InvalidOperationException(
                "AgentIdentity certificate forwarding is enabled but no trusted proxy is configured: add the proxy's address to CertificateForwarding.KnownProxies or KnownNetworks.");
        }

        if (CertificateForwarding.Enabled && string.IsNullOrWhiteSpace(CertificateForwarding.HeaderName))
        {
            throw new InvalidOperationException("AgentIdentity certificate forwarding is enabled but CertificateForwarding.HeaderName is empty.");
        }
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
/// header is read only from the configured proxies and ignored (with a warning) from anyone else.
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

    /// <summary>Gets the addresses of trusted proxies.</summary>
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
