using Microsoft.Extensions.Options;

namespace AgentIdentity;

/// <summary>How the client authenticates at the token endpoint with its certificate (RFC 8705 §2).</summary>
public enum TlsClientAuthenticationMethod
{
    /// <summary><c>tls_client_auth</c>: the authorization server verifies the certificate chain (PKI) and matches the SPIFFE ID (URI SAN).</summary>
    TlsClientAuth,

    /// <summary><c>self_signed_tls_client_auth</c>: the authorization server matches the certificate against the client's registered keys.</summary>
    SelfSignedTlsClientAuth,
}

/// <summary>Settings for RFC 8705 certificate-bound access tokens obtained with the client-credentials grant over mTLS.</summary>
public sealed class BoundTokenOptions
{
    /// <summary>Gets or sets the authorization server's issuer URI; its metadata (RFC 8414, then OpenID discovery) supplies the token
    /// endpoint, preferring the <c>mtls_endpoint_aliases</c> entry.</summary>
    public Uri? Authority { get; set; }

    /// <summary>Gets or sets the token endpoint directly, skipping metadata discovery.</summary>
    public Uri? TokenEndpoint { get; set; }

    /// <summary>Gets or sets the client identifier registered at the authorization server.</summary>
    public string? ClientId { get; set; }

    /// <summary>Gets or sets the space-separated scopes to request.</summary>
    public string? Scope { get; set; }

    /// <summary>Gets or sets the audience (RFC 8707 <c>resource</c>) to request the token for.</summary>
    public string? Audience { get; set; }

    /// <summary>Gets or sets the client authentication method; it must be advertised by the authorization server.</summary>
    /// <value>The default is <see cref="TlsClientAuthenticationMethod.TlsClientAuth"/>.</value>
    public TlsClientAuthenticationMethod AuthenticationMethod { get; set; } = TlsClientAuthenticationMethod.TlsClientAuth;

    /// <summary>Gets or sets the authorizer for the authorization server's certificate.</summary>
    /// <value>The default is <see langword="null"/>: <see cref="ServerId"/> when set, else any member of the agent's trust domain.</value>
    public PeerAuthorizer? ServerAuthorizer { get; set; }

    /// <summary>Gets or sets the authorization server's expected SPIFFE ID or <c>/*</c> pattern (ignored when <see cref="ServerAuthorizer"/> is set).</summary>
    public string? ServerId { get; set; }

    /// <summary>Gets or sets a value indicating whether the authorization server is authenticated by Web PKI instead of as an X.509-SVID.</summary>
    /// <value>The default is <see langword="false"/>.</value>
    public bool UseWebPkiServerValidation { get; set; }

    /// <summary>Gets or sets a value indicating whether a token whose binding cannot be checked locally (opaque or encrypted) is accepted
    /// when the authorization server advertises <c>tls_client_certificate_bound_access_tokens</c>.</summary>
    /// <value>The default is <see langword="true"/>. JWT access tokens are always checked: their <c>cnf.x5t#S256</c> must match the certificate.</value>
    public bool AcceptOpaqueTokensFromBindingServers { get; set; } = true;

    /// <summary>Gets or sets where the RFC 8693 subject token comes from. When set, tokens are obtained with the token-exchange grant
    /// instead of client credentials: the subject token (typically the parent agent's certificate-bound token, from
    /// <see cref="AgentAccessTokens.GetAccessTokenAsync(string, CancellationToken)"/>) is exchanged over mTLS with this client's certificate (a task identity), and
    /// the delegated token that comes back must be bound to that certificate.</summary>
    /// <value>The default is <see langword="null"/>: client credentials. The function is called for every new token (not for cache hits).</value>
    public Func<CancellationToken, ValueTask<string>>? SubjectTokenSource { get; set; }

    /// <summary>Gets or sets the RFC 8693 type of the token that <see cref="SubjectTokenSource"/> returns.</summary>
    /// <value>The default is <c>urn:ietf:params:oauth:token-type:access_token</c>.</value>
    public string SubjectTokenType { get; set; } = TokenExchangeRequest.AccessTokenType;

    /// <summary>Gets or sets how long before the first try to reach the authorization server gives up.</summary>
    /// <value>The default is 30 seconds.</value>
    [PositiveTimeSpan]
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(30);

    internal bool IsEnabled => Authority is not null || TokenEndpoint is not null;
}

/// <summary>The attribute rules of <see cref="BoundTokenOptions"/> (source-generated).</summary>
[OptionsValidator]
internal sealed partial class BoundTokenOptionsValidator : IValidateOptions<BoundTokenOptions>;

/// <summary>The rules of <see cref="BoundTokenOptions"/> that depend on whether tokens are enabled and relate several options.</summary>
internal sealed class BoundTokenOptionsRules : IValidateOptions<BoundTokenOptions>
{
    public static BoundTokenOptionsRules Instance { get; } = new();

    public ValidateOptionsResult Validate(string? name, BoundTokenOptions options)
    {
        var error = Check(options);
        return error is null ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail($"{OptionsValidation.DisplayName(name, nameof(BoundTokenOptions))}: {error}");
    }

    /// <summary>The problem with a configuration-friendly server pattern, used only when no authorizer is set.</summary>
    internal static string? ServerIdError(string? serverId, PeerAuthorizer? authorizer)
    {
        if (serverId is null || authorizer is not null)
        {
            return null;
        }

        try
        {
            _ = PeerAuthorizers.Pattern(serverId);
            return null;
        }
        catch (FormatException ex)
        {
            return ex.Message;
        }
    }

    private static string? Check(BoundTokenOptions options)
    {
        if (!options.IsEnabled)
        {
            return options.ClientId is not null || options.Scope is not null || options.Audience is not null
                ? "ClientId, Scope or Audience is set but neither Authority nor TokenEndpoint is; set one of them to use bound tokens."
                : null;
        }

        if (string.IsNullOrEmpty(options.ClientId))
        {
            return "ClientId is required when bound tokens are enabled.";
        }

        foreach (var uri in (Uri?[])[options.Authority, options.TokenEndpoint])
        {
            if (uri is not null && (!uri.IsAbsoluteUri || uri.Scheme != Uri.UriSchemeHttps))
            {
                return $"'{uri}' must be an absolute https URI (RFC 8705 needs mTLS).";
            }
        }

        if (ServerIdError(options.ServerId, options.ServerAuthorizer) is { } serverIdError)
        {
            return $"ServerId: {serverIdError}";
        }

        return options.SubjectTokenSource is not null && string.IsNullOrEmpty(options.SubjectTokenType)
            ? "SubjectTokenType is required with SubjectTokenSource, for example urn:ietf:params:oauth:token-type:access_token."
            : null;
    }
}
