using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace AgentIdentity.AspNetCore;

/// <summary>Options of <see cref="IntrospectionAccessTokenValidator"/>.</summary>
public sealed class IntrospectionAccessTokenValidatorOptions
{
    /// <summary>Gets or sets the RFC 7662 introspection endpoint.</summary>
    public Uri? Endpoint { get; set; }

    /// <summary>Gets or sets the resource server's client id at the authorization server (HTTP Basic authentication).</summary>
    /// <value>The default value is <see langword="null"/>: no Basic authentication (use an mTLS <see cref="Backchannel"/> instead).</value>
    public string? ClientId { get; set; }

    /// <summary>Gets or sets the resource server's client secret. Never logged.</summary>
    public string? ClientSecret { get; set; }

    /// <summary>Gets or sets the audience the token must name in <c>aud</c>; <see langword="null"/> to skip the check.</summary>
    public string? Audience { get; set; }

    /// <summary>Gets or sets the HTTP client to call the endpoint with (for example one presenting the service's SVID).</summary>
    public HttpClient? Backchannel { get; set; }
}

/// <summary>Validates access tokens by RFC 7662 introspection and reads the RFC 8705 <c>cnf</c> member of the response.</summary>
/// <remarks>Thread-safe. Every call makes one HTTP request; put a cache in front for hot paths.</remarks>
public sealed class IntrospectionAccessTokenValidator : IAccessTokenValidator
{
    private readonly IntrospectionAccessTokenValidatorOptions _options;
    private readonly HttpClient _client;

    /// <summary>Initializes a new instance of the <see cref="IntrospectionAccessTokenValidator"/> class.</summary>
    /// <param name="options">The options.</param>
    /// <exception cref="ArgumentException">The endpoint is missing or not HTTPS.</exception>
    public IntrospectionAccessTokenValidator(IntrospectionAccessTokenValidatorOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Endpoint is not { IsAbsoluteUri: true } endpoint || endpoint.Scheme != Uri.UriSchemeHttps)
        {
            throw new ArgumentException("Set IntrospectionAccessTokenValidatorOptions.Endpoint to the absolute https:// introspection endpoint.", nameof(options));
        }

        _options = options;
        _client = options.Backchannel ?? new HttpClient { MaxResponseContentBufferSize = 1024 * 1024 };
    }

    /// <inheritdoc/>
    public async ValueTask<AccessTokenValidationResult> ValidateAsync(string token, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(token);
        using var request = new HttpRequestMessage(HttpMethod.Post, _options.Endpoint)
        {
            Content = new FormUrlEncodedContent([new("token", token), new("token_type_hint", "access_token")]),
        };
        if (_options.ClientId is { } clientId)
        {
            var credentials = Uri.EscapeDataString(clientId) + ":" + Uri.EscapeDataString(_options.ClientSecret ?? string.Empty);
            request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(credentials)));
        }

        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        using var response = await _client.SendAsync(request, cancellationToken).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            throw new HttpRequestException($"The introspection endpoint {_options.Endpoint} answered {(int)response.StatusCode}.", null, response.StatusCode);
        }

        var body = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
        using var document = JsonDocument.Parse(body);
        var root = document.RootElement;
        if (!root.TryGetProperty("active", out var active) || active.ValueKind != JsonValueKind.True)
        {
            return AccessTokenValidationResult.Failure("The access token is not active.");
        }

        if (_options.Audience is { } audience && !HasAudience(root, audience))
        {
            return AccessTokenValidationResult.Failure("The access token is not intended for this resource (audience mismatch).");
        }

        return JwtAccessTokenValidator.ReadClaims(root);
    }

    private static bool HasAudience(JsonElement root, string audience)
    {
        if (!root.TryGetProperty("aud", out var aud))
        {
            return false;
        }

        return aud.ValueKind switch
        {
            JsonValueKind.String => aud.GetString() == audience,
            JsonValueKind.Array => aud.EnumerateArray().Any(a => a.ValueKind == JsonValueKind.String && a.GetString() == audience),
            _ => false,
        };
    }
}
