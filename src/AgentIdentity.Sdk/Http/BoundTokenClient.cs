using System.Buffers.Text;
using System.Net;
using System.Net.Http;
using System.Net.Http.Headers;
using System.Text.Json;

namespace AgentIdentity;

/// <summary>The token request of one agent HttpClient: RFC 8705 client credentials (or, with a subject token, the RFC 8693 exchange) over
/// mTLS to the authorization server, presenting exactly the certificate the token is for, and the checks of the answer: a Bearer JWT whose
/// <c>cnf.x5t#S256</c> is that certificate's. Discovers the token endpoint from RFC 8414 metadata once. Keeps no tokens
/// (<see cref="BoundTokenCache"/> does) and never retries (<see cref="TokenRequestBackoff"/> decides when to ask again).</summary>
internal sealed class BoundTokenClient : IDisposable
{
    private static readonly TimeSpan DefaultExpiresIn = TimeSpan.FromMinutes(5);

    private readonly string _name;
    private readonly BoundTokenOptions _options;
    private readonly HttpMessageInvoker _http;
    private readonly TimeProvider _time;
    private ServerMetadata? _metadata;

    /// <summary>Initializes a new instance of the <see cref="BoundTokenClient"/> class.</summary>
    /// <param name="name">The HttpClient's name, for messages.</param>
    /// <param name="options">The token options.</param>
    /// <param name="authorizationServer">The inner handler towards the authorization server (a <see cref="GenerationHandler"/>, or an
    /// in-memory stand-in in tests); owned and disposed by this client.</param>
    /// <param name="time">The clock.</param>
    public BoundTokenClient(string name, BoundTokenOptions options, HttpMessageHandler authorizationServer, TimeProvider time)
    {
        _name = name;
        _options = options;
        _http = new HttpMessageInvoker(authorizationServer, disposeHandler: true);
        _time = time;
    }

    /// <summary>Gets the HttpClient's name.</summary>
    public string Name => _name;

    /// <summary>Gets the token options.</summary>
    public BoundTokenOptions Options => _options;

    /// <summary>Requests a token bound to <paramref name="svid"/>, sending with exactly that certificate.</summary>
    /// <exception cref="BoundTokenException">The server refused, or its answer is not a token bound to <paramref name="svid"/>.</exception>
    /// <exception cref="SvidChangedException">The certificate rotated before the request was sent.</exception>
    public async Task<IssuedToken> RequestAsync(X509Svid svid, CancellationToken cancellationToken)
    {
        var metadata = await GetMetadataAsync(svid, cancellationToken).ConfigureAwait(false);
        var exchange = _options.SubjectTokenSource is not null;
        var form = exchange ? await TokenExchangeForm.CreateAsync(_name, _options, cancellationToken).ConfigureAwait(false) : CreateClientCredentialsForm();
        using var request = new HttpRequestMessage(HttpMethod.Post, metadata.TokenEndpoint) { Content = new FormUrlEncodedContent(form) };
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        AgentRequestState.Of(request).BoundTo = svid;
        var requestedAt = _time.GetUtcNow();
        using var response = await _http.SendAsync(request, cancellationToken).ConfigureAwait(false);
        var body = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            throw new BoundTokenException(
                $"The authorization server at {metadata.TokenEndpoint} refused the {(exchange ? "token-exchange" : "client-credentials")} request of client '{_options.ClientId}' " +
                $"for HttpClient '{_name}' with HTTP {(int)response.StatusCode}: {DescribeError(body)}. Check the client registration (token_endpoint_auth_method " +
                $"{MethodName(_options.AuthenticationMethod)}, certificate '{svid.Id}') and the requested scope/audience" +
                (exchange ? ", and that the subject token belongs to this task identity's parent." : "."));
        }

        var (accessToken, expiresIn) = ParseTokenResponse(body, metadata.TokenEndpoint, exchange);
        CheckBinding(accessToken, svid, metadata);
        return new IssuedToken(accessToken, requestedAt + expiresIn, expiresIn);
    }

    private List<KeyValuePair<string, string>> CreateClientCredentialsForm()
    {
        var form = new List<KeyValuePair<string, string>>
        {
            new("grant_type", "client_credentials"),
            new("client_id", _options.ClientId!),
        };
        if (!string.IsNullOrEmpty(_options.Scope))
        {
            form.Add(new("scope", _options.Scope));
        }

        if (!string.IsNullOrEmpty(_options.Audience))
        {
            form.Add(new("resource", _options.Audience));
        }

        return form;
    }

    private async Task<ServerMetadata> GetMetadataAsync(X509Svid svid, CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _metadata) is { } known)
        {
            return known;
        }

        ServerMetadata metadata;
        if (_options.Authority is null)
        {
            metadata = new ServerMetadata(_options.TokenEndpoint!, BoundTokensAdvertised: false);
        }
        else
        {
            var authority = _options.Authority;
            var path = authority.AbsolutePath.TrimEnd('/');
            Uri[] candidates =
            [
                new(authority, "/.well-known/oauth-authorization-server" + path),
                new(authority, path + "/.well-known/openid-configuration"),
            ];
            byte[]? document = null;
            Uri? from = null;
            foreach (var candidate in candidates)
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, candidate);
                AgentRequestState.Of(request).BoundTo = svid;
                using var response = await _http.SendAsync(request, cancellationToken).ConfigureAwait(false);
                if (response.StatusCode == HttpStatusCode.NotFound)
                {
                    continue;
                }

                if (!response.IsSuccessStatusCode)
                {
                    throw new BoundTokenException($"Authorization server metadata at {candidate} answered HTTP {(int)response.StatusCode}.");
                }

                document = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
                from = candidate;
                break;
            }

            if (document is null)
            {
                throw new BoundTokenException($"No authorization server metadata found at {candidates[0]} or {candidates[1]}; set BoundTokenOptions.TokenEndpoint instead of Authority.");
            }

            metadata = ParseMetadata(document, from!, authority);
        }

        if (_options.TokenEndpoint is { } explicitEndpoint)
        {
            metadata = metadata with { TokenEndpoint = explicitEndpoint };
        }

        Volatile.Write(ref _metadata, metadata);
        return metadata;
    }

    private ServerMetadata ParseMetadata(byte[] json, Uri from, Uri authority)
    {
        try
        {
            using var document = JsonDocument.Parse(json);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new BoundTokenException($"Authorization server metadata at {from} is not a JSON object.");
            }

            if (root.TryGetProperty("issuer", out var issuer) && issuer.ValueKind == JsonValueKind.String &&
                !string.Equals(issuer.GetString()!.TrimEnd('/'), authority.ToString().TrimEnd('/'), StringComparison.Ordinal))
            {
                throw new BoundTokenException($"Authorization server metadata at {from} names issuer '{DisplayText.Truncate(issuer.GetString())}', not the configured authority '{authority}' (RFC 8414 §3.3); refusing it.");
            }

            var method = MethodName(_options.AuthenticationMethod);
            if (root.TryGetProperty("token_endpoint_auth_methods_supported", out var methods) && methods.ValueKind == JsonValueKind.Array &&
                !methods.EnumerateArray().Any(m => m.ValueKind == JsonValueKind.String && m.GetString() == method))
            {
                throw new BoundTokenException($"The authorization server {authority} does not advertise token_endpoint_auth_method '{method}'; enable it there or choose the other AuthenticationMethod.");
            }

            if (_options.SubjectTokenSource is not null && root.TryGetProperty("grant_types_supported", out var grants) && grants.ValueKind == JsonValueKind.Array &&
                !grants.EnumerateArray().Any(g => g.ValueKind == JsonValueKind.String && g.GetString() == TokenExchangeRequest.GrantType))
            {
                throw new BoundTokenException($"The authorization server {authority} does not advertise the token-exchange grant ({TokenExchangeRequest.GrantType}) that BoundTokenOptions.SubjectTokenSource needs; enable it there (for OpenIddict: AllowTokenExchangeFlow()).");
            }

            string? endpoint = null;
            if (root.TryGetProperty("mtls_endpoint_aliases", out var aliases) && aliases.ValueKind == JsonValueKind.Object &&
                aliases.TryGetProperty("token_endpoint", out var alias) && alias.ValueKind == JsonValueKind.String)
            {
                endpoint = alias.GetString();
            }

            if (endpoint is null && root.TryGetProperty("token_endpoint", out var plain) && plain.ValueKind == JsonValueKind.String)
            {
                endpoint = plain.GetString();
            }

            if (endpoint is null || !Uri.TryCreate(endpoint, UriKind.Absolute, out var tokenEndpoint) || tokenEndpoint.Scheme != Uri.UriSchemeHttps)
            {
                throw new BoundTokenException($"Authorization server metadata at {from} has no https token_endpoint (or mtls_endpoint_aliases.token_endpoint).");
            }

            var bound = root.TryGetProperty("tls_client_certificate_bound_access_tokens", out var b) && b.ValueKind == JsonValueKind.True;
            return new ServerMetadata(tokenEndpoint, bound);
        }
        catch (JsonException ex)
        {
            throw new BoundTokenException($"Authorization server metadata at {from} is not valid JSON: {ex.Message}", ex);
        }
    }

    private static (string AccessToken, TimeSpan ExpiresIn) ParseTokenResponse(byte[] json, Uri endpoint, bool exchange)
    {
        try
        {
            using var document = JsonDocument.Parse(json);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object ||
                !root.TryGetProperty("access_token", out var at) || at.ValueKind != JsonValueKind.String || string.IsNullOrEmpty(at.GetString()))
            {
                throw new BoundTokenException($"The token response from {endpoint} has no access_token.");
            }

            if (!root.TryGetProperty("token_type", out var type) || type.ValueKind != JsonValueKind.String ||
                !string.Equals(type.GetString(), "Bearer", StringComparison.OrdinalIgnoreCase))
            {
                throw new BoundTokenException($"The token response from {endpoint} has token_type '{(type.ValueKind == JsonValueKind.String ? type.GetString() : "(missing)")}'; RFC 8705 bound tokens are of type Bearer.");
            }

            if (exchange && root.TryGetProperty("issued_token_type", out var issued) &&
                (issued.ValueKind != JsonValueKind.String || issued.GetString() is not (TokenExchangeRequest.AccessTokenType or TokenExchangeRequest.JwtTokenType)))
            {
                throw new BoundTokenException($"The token-exchange response from {endpoint} has issued_token_type '{DisplayText.Truncate(issued.ToString())}', not an access token (RFC 8693 §2.2.1).");
            }

            var expiresIn = DefaultExpiresIn;
            if (root.TryGetProperty("expires_in", out var exp))
            {
                expiresIn = exp.ValueKind == JsonValueKind.Number && exp.TryGetInt64(out var seconds) && seconds > 0 && seconds < int.MaxValue
                    ? TimeSpan.FromSeconds(seconds)
                    : throw new BoundTokenException($"The token response from {endpoint} has an invalid expires_in.");
            }

            return (at.GetString()!, expiresIn);
        }
        catch (JsonException ex)
        {
            throw new BoundTokenException($"The token response from {endpoint} is not valid JSON: {ex.Message}", ex);
        }
    }

    /// <summary>RFC 8705 §3.1: the token's <c>cnf.x5t#S256</c> must be the SHA-256 of the certificate it travels with.</summary>
    private void CheckBinding(string accessToken, X509Svid svid, ServerMetadata metadata)
    {
        var parts = accessToken.Split('.');
        if (parts.Length != 3)
        {
            if (metadata.BoundTokensAdvertised && _options.AcceptOpaqueTokensFromBindingServers)
            {
                return;
            }

            throw new BoundTokenException(
                $"HttpClient '{_name}' received an opaque or encrypted access token whose certificate binding cannot be checked, and the authorization server does not advertise " +
                "tls_client_certificate_bound_access_tokens. Issue JWT access tokens (for OpenIddict: DisableAccessTokenEncryption()) or configure Authority so that metadata is read.");
        }

        string? thumbprint = null;
        try
        {
            var payload = Base64Url.DecodeFromChars(parts[1]);
            using var document = JsonDocument.Parse(payload);
            CertificateBinding.TryGetThumbprint(document.RootElement, out thumbprint);
        }
        catch (Exception ex) when (ex is FormatException or JsonException)
        {
            throw new BoundTokenException($"HttpClient '{_name}' received an access token whose JWT payload cannot be read: {ex.Message}", ex);
        }

        if (thumbprint is null)
        {
            throw new BoundTokenException(
                $"HttpClient '{_name}' received an access token without cnf.x5t#S256: it is not bound to the certificate. Enable certificate-bound access tokens at the authorization server " +
                "(for OpenIddict: UseClientCertificateBoundAccessTokens()).");
        }

        if (!CertificateBinding.Matches(thumbprint, svid.GetCertificateHash()))
        {
            throw new BoundTokenException(
                $"HttpClient '{_name}' received an access token bound to another certificate (cnf.x5t#S256 does not match the SHA-256 of '{svid.Id}', serial {svid.SerialNumber}); refusing to use it.");
        }
    }

    private static string DescribeError(byte[] body)
    {
        try
        {
            using var document = JsonDocument.Parse(body);
            var root = document.RootElement;
            if (root.ValueKind == JsonValueKind.Object && root.TryGetProperty("error", out var error) && error.ValueKind == JsonValueKind.String)
            {
                var description = root.TryGetProperty("error_description", out var d) && d.ValueKind == JsonValueKind.String ? $" ({d.GetString()})" : string.Empty;
                return error.GetString() + description;
            }
        }
        catch (JsonException)
        {
        }

        return "no OAuth error in the response";
    }

    private static string MethodName(TlsClientAuthenticationMethod method) =>
        method == TlsClientAuthenticationMethod.SelfSignedTlsClientAuth ? "self_signed_tls_client_auth" : "tls_client_auth";

    public void Dispose() => _http.Dispose();

    internal sealed record ServerMetadata(Uri TokenEndpoint, bool BoundTokensAdvertised);
}

/// <summary>A token the authorization server issued, checked to be bound to the certificate it was requested with.</summary>
/// <param name="AccessToken">The access token.</param>
/// <param name="ExpiresAt">When it expires (the request time plus <c>expires_in</c>).</param>
/// <param name="ExpiresIn">Its lifetime (<c>expires_in</c>; 5 minutes when the server names none).</param>
internal readonly record struct IssuedToken(string AccessToken, DateTimeOffset ExpiresAt, TimeSpan ExpiresIn);
