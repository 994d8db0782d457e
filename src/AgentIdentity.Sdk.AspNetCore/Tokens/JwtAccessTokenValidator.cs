using System.Security.Claims;
using System.Text.Json;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Protocols;
using Microsoft.IdentityModel.Protocols.OpenIdConnect;
using Microsoft.IdentityModel.Tokens;

namespace AgentIdentity.AspNetCore;

/// <summary>Options of <see cref="JwtAccessTokenValidator"/>.</summary>
public sealed class JwtAccessTokenValidatorOptions
{
    /// <summary>Gets or sets the authorization server metadata address (RFC 8414 <c>/.well-known/oauth-authorization-server</c>
    /// or OpenID Connect <c>/.well-known/openid-configuration</c>); the issuer and signing keys (<c>jwks_uri</c>) come from it
    /// and are refreshed periodically and when an unknown key id appears.</summary>
    public Uri? MetadataAddress { get; set; }

    /// <summary>Gets or sets the signing keys to use instead of metadata (both may be set).</summary>
    public IList<SecurityKey> SigningKeys { get; } = [];

    /// <summary>Gets or sets the expected issuer; with metadata, the metadata's <c>issuer</c> is also accepted.</summary>
    public string? Issuer { get; set; }

    /// <summary>Gets the accepted audiences; at least one is required (RFC 9068 §4: the resource server checks <c>aud</c>).</summary>
    public IList<string> Audiences { get; } = [];

    /// <summary>Gets or sets a value indicating whether the JWT <c>typ</c> must be <c>at+jwt</c> (RFC 9068).</summary>
    /// <value>The default value is <see langword="true"/>.</value>
    public bool RequireAccessTokenType { get; set; } = true;

    /// <summary>Gets or sets the clock skew for <c>exp</c> and <c>nbf</c>.</summary>
    /// <value>The default value is 30 seconds.</value>
    public TimeSpan ClockSkew { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Gets or sets the HTTP client that fetches metadata and keys.</summary>
    /// <value>The default value is <see langword="null"/>: a new client.</value>
    public HttpClient? Backchannel { get; set; }

    /// <summary>Gets or sets a value indicating whether the metadata address must use HTTPS.</summary>
    /// <value>The default value is <see langword="true"/>.</value>
    public bool RequireHttpsMetadata { get; set; } = true;
}

/// <summary>
/// Validates JWT access tokens (RFC 9068) with keys from authorization-server metadata or configured keys: signature, issuer,
/// audience, lifetime and <c>typ</c>. Extracts <c>scope</c>/<c>scp</c>, <c>sub</c>, <c>client_id</c> and <c>cnf.x5t#S256</c>.
/// Encrypted (JWE) tokens are not supported: configure the authorization server to sign only.
/// </summary>
/// <remarks>Thread-safe; create one per authorization server and reuse it.</remarks>
public sealed class JwtAccessTokenValidator : IAccessTokenValidator
{
    private readonly JsonWebTokenHandler _handler = new() { MapInboundClaims = false };
    private readonly TokenValidationParameters _parameters;

    /// <summary>Initializes a new instance of the <see cref="JwtAccessTokenValidator"/> class.</summary>
    /// <param name="options">The options.</param>
    /// <exception cref="ArgumentException">Neither metadata nor signing keys are configured, or no audience is.</exception>
    public JwtAccessTokenValidator(JwtAccessTokenValidatorOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.MetadataAddress is null && options.SigningKeys.Count == 0)
        {
            throw new ArgumentException("Set JwtAccessTokenValidatorOptions.MetadataAddress (authorization server metadata) or SigningKeys.", nameof(options));
        }

        if (options.Audiences.Count == 0)
        {
            throw new ArgumentException("Set at least one JwtAccessTokenValidatorOptions.Audiences entry: the identifier of this resource server.", nameof(options));
        }

        if (options.MetadataAddress is null && options.Issuer is null)
        {
            throw new ArgumentException("Set JwtAccessTokenValidatorOptions.Issuer when no metadata address is configured.", nameof(options));
        }

        _parameters = new TokenValidationParameters
        {
            ValidateIssuer = true,
            ValidIssuer = options.Issuer,
            ValidateAudience = true,
            ValidAudiences = [.. options.Audiences],
            ValidateLifetime = true,
            RequireExpirationTime = true,
            RequireSignedTokens = true,
            ValidateIssuerSigningKey = true,
            ClockSkew = options.ClockSkew,
            IssuerSigningKeys = [.. options.SigningKeys],
            ValidTypes = options.RequireAccessTokenType ? ["at+jwt", "application/at+jwt"] : null,
        };
        if (options.MetadataAddress is { } metadata)
        {
            var retriever = new HttpDocumentRetriever(options.Backchannel ?? new HttpClient()) { RequireHttps = options.RequireHttpsMetadata };
            _parameters.ConfigurationManager = new ConfigurationManager<OpenIdConnectConfiguration>(metadata.AbsoluteUri, new OpenIdConnectConfigurationRetriever(), retriever);
        }
    }

    /// <inheritdoc/>
    public async ValueTask<AccessTokenValidationResult> ValidateAsync(string token, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(token);
        if (token.Length > 16 * 1024)
        {
            return AccessTokenValidationResult.Failure("The access token is longer than 16 KiB.");
        }

        var result = await _handler.ValidateTokenAsync(token, _parameters).ConfigureAwait(false);
        if (!result.IsValid || result.SecurityToken is not JsonWebToken jwt)
        {
            return AccessTokenValidationResult.Failure(Describe(result.Exception));
        }

        return ReadClaims(Base64UrlEncoder.DecodeBytes(jwt.EncodedPayload));
    }

    internal static AccessTokenValidationResult ReadClaims(byte[] payload)
    {
        using var document = JsonDocument.Parse(payload);
        return ReadClaims(document.RootElement);
    }

    internal static AccessTokenValidationResult ReadClaims(JsonElement root)
    {
        var scopes = new List<string>();
        if (root.TryGetProperty("scope", out var scope) && scope.ValueKind == JsonValueKind.String)
        {
            scopes.AddRange(scope.GetString()!.Split(' ', StringSplitOptions.RemoveEmptyEntries));
        }
        else if (root.TryGetProperty("scp", out var scp))
        {
            if (scp.ValueKind == JsonValueKind.Array)
            {
                scopes.AddRange(scp.EnumerateArray().Where(e => e.ValueKind == JsonValueKind.String).Select(e => e.GetString()!));
            }
            else if (scp.ValueKind == JsonValueKind.String)
            {
                scopes.AddRange(scp.GetString()!.Split(' ', StringSplitOptions.RemoveEmptyEntries));
            }
        }

        if (!CertificateBinding.TryReadConfirmation(root, out var thumbprint))
        {
            return AccessTokenValidationResult.Failure("The access token's cnf claim has no x5t#S256 string; only RFC 8705 certificate binding is supported.");
        }

        var subject = root.TryGetProperty("sub", out var sub) && sub.ValueKind == JsonValueKind.String ? sub.GetString() : null;
        var clientId = root.TryGetProperty("client_id", out var cid) && cid.ValueKind == JsonValueKind.String ? cid.GetString()
            : root.TryGetProperty("azp", out var azp) && azp.ValueKind == JsonValueKind.String ? azp.GetString() : null;
        return AccessTokenValidationResult.Success(subject, clientId, scopes, thumbprint, Array.Empty<Claim>());
    }

    private static string Describe(Exception? exception) => exception switch
    {
        SecurityTokenExpiredException => "The access token has expired.",
        SecurityTokenNotYetValidException => "The access token is not yet valid.",
        SecurityTokenInvalidAudienceException => "The access token is not intended for this resource (audience mismatch).",
        SecurityTokenInvalidIssuerException => "The access token was issued by an untrusted issuer.",
        SecurityTokenInvalidTypeException => "The access token's typ is not at+jwt.",
        SecurityTokenSignatureKeyNotFoundException or SecurityTokenInvalidSignatureException => "The access token's signature is invalid.",
        SecurityTokenMalformedException or ArgumentException => "The access token is malformed.",
        _ => "The access token is invalid.",
    };
}
