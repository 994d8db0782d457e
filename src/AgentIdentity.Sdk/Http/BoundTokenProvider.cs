using System.Buffers.Text;
using System.Diagnostics.CodeAnalysis;
using System.Net;
using System.Net.Http;
using System.Net.Http.Headers;
using System.Text.Json;
using Microsoft.Extensions.Logging;

namespace AgentIdentity;

/// <summary>Obtains and caches RFC 8705 certificate-bound access tokens (client credentials over mTLS) for one named HttpClient.
/// One token per certificate: the cache is keyed by the SVID (thumbprint) for this client's fixed audience and scope, cleared on rotation,
/// refreshed single-flight ahead of expiry, and every token's <c>cnf.x5t#S256</c> is checked against the certificate it will travel with.</summary>
internal sealed class BoundTokenProvider : IDisposable
{
    private static readonly TimeSpan MaxRefreshLead = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan DefaultExpiresIn = TimeSpan.FromMinutes(5);
    private static readonly TimeSpan FirstRetryDelay = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan MaxRetryDelay = TimeSpan.FromSeconds(30);

    private readonly string _name;
    private readonly BoundTokenOptions _options;
    private readonly HttpMessageInvoker _asClient;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private readonly CancellationTokenSource _stop = new();
    private CachedToken? _cached;
    private Task<CachedToken>? _pending;
    private X509Svid? _pendingSvid;
    private ServerMetadata? _metadata;
    private Failure? _failure;

    public BoundTokenProvider(string name, BoundTokenOptions options, RotatingClientCertificateHandler asHandler, TimeProvider time, ILogger logger)
    {
        _name = name;
        _options = options;
        _asClient = new HttpMessageInvoker(asHandler, disposeHandler: true);
        _time = time;
        _logger = logger;
    }

    public async Task<HttpResponseMessage> SendWithTokenAsync(
        HttpRequestMessage request,
        Func<HttpRequestMessage, CancellationToken, Task<HttpResponseMessage>> send,
        RotatingClientCertificateHandler handler,
        CancellationToken cancellationToken)
    {
        var rotations = 0;
        var retriedInvalidToken = false;
        while (true)
        {
            var svid = handler.GetCurrentSvid();
            CachedToken token;
            try
            {
                token = await GetTokenAsync(svid, cancellationToken).ConfigureAwait(false);
            }
            catch (SvidChangedException) when (++rotations < 4)
            {
                continue;
            }

            request.Options.Set(RotatingClientCertificateHandler.PinnedSvidKey, svid);
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token.AccessToken);
            HttpResponseMessage response;
            try
            {
                response = await send(request, cancellationToken).ConfigureAwait(false);
            }
            catch (SvidChangedException) when (++rotations < 4)
            {
                continue; // Rotated between choosing the token and sending; nothing was sent, so any method may be retried.
            }

            if (response.StatusCode == HttpStatusCode.Unauthorized && !retriedInvalidToken && IsInvalidToken(response) && IsReplayable(request))
            {
                retriedInvalidToken = true;
                _logger.BoundTokenRejected(_name);
                Invalidate(token);
                response.Dispose();
                ((IDictionary<string, object?>)request.Options).Remove(RotatingClientCertificateHandler.UnsafeAttemptKey.Key); // a deliberate, single retry: the server refused the token, not the call
                continue;
            }

            return response;
        }
    }

    /// <summary>Returns the token for <paramref name="svid"/>: from the cache when fresh (no allocation), else single-flight from the server.</summary>
    public ValueTask<CachedToken> GetTokenAsync(X509Svid svid, CancellationToken cancellationToken = default)
    {
        var cached = Volatile.Read(ref _cached);
        var now = _time.GetUtcNow().UtcTicks;
        if (cached is not null && ReferenceEquals(cached.Svid, svid))
        {
            if (now < cached.RefreshAtTicks)
            {
                return new ValueTask<CachedToken>(cached);
            }

            if (now < cached.ExpiresAtTicks)
            {
                if (!InBackOff(svid, now, out _))
                {
                    RefreshInBackground(svid, cached);
                }

                return new ValueTask<CachedToken>(cached);
            }
        }

        if (InBackOff(svid, now, out var failure))
        {
            // The last attempt for this very certificate failed moments ago: fail fast instead of hammering the server.
            return ValueTask.FromException<CachedToken>(new BoundTokenException(
                $"HttpClient '{_name}' has no usable certificate-bound access token for client '{_options.ClientId}': the last attempt failed " +
                $"({failure.Error.Message}); after {failure.Count} consecutive failure(s) the next attempt is made after " +
                $"{new DateTimeOffset(failure.RetryAtTicks, TimeSpan.Zero):O}.{Expired(svid, cached)} No request was sent to the resource.",
                failure.Error));
        }

        return new ValueTask<CachedToken>(AwaitRefreshAsync(svid, cached, cancellationToken));
    }

    /// <summary>Puts a token into the cache as if the server had issued it (benchmarks and tests).</summary>
    internal void Prime(X509Svid svid, string accessToken, TimeSpan lifetime)
    {
        var expiresAt = _time.GetUtcNow() + lifetime;
        Volatile.Write(ref _cached, new CachedToken(svid, accessToken, (expiresAt - MaxRefreshLead).UtcTicks, expiresAt.UtcTicks));
    }

    private async Task<CachedToken> AwaitRefreshAsync(X509Svid svid, CachedToken? previous, CancellationToken cancellationToken)
    {
        try
        {
            return await GetOrStartFetch(svid).WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not (OperationCanceledException or SvidChangedException or BoundTokenException or IdentityUnavailableException))
        {
            throw new BoundTokenException(
                $"HttpClient '{_name}' could not obtain a certificate-bound access token for client '{_options.ClientId}' from {_options.TokenEndpoint?.ToString() ?? _options.Authority?.ToString()}: {ex.Message}{Expired(svid, previous)} No request was sent to the resource.",
                ex);
        }
    }

    private static string Expired(X509Svid svid, CachedToken? previous) =>
        previous is not null && ReferenceEquals(previous.Svid, svid)
            ? $" The cached token expired at {new DateTimeOffset(previous.ExpiresAtTicks, TimeSpan.Zero):O}."
            : string.Empty;

    /// <summary>Whether the last token request for <paramref name="svid"/> failed and its back-off has not elapsed. A new certificate is
    /// never held back: it may be the fix (for example a certificate just registered for self_signed_tls_client_auth).</summary>
    private bool InBackOff(X509Svid svid, long nowTicks, [NotNullWhen(true)] out Failure? failure)
    {
        failure = Volatile.Read(ref _failure);
        return failure is not null && ReferenceEquals(failure.Svid, svid) && nowTicks < failure.RetryAtTicks;
    }

    /// <summary>Records a failed token request: exponential back-off from 1 s to 30 s, ±20 % jitter, per certificate.</summary>
    private void RecordFailure(X509Svid svid, Exception error)
    {
        var previous = Volatile.Read(ref _failure);
        var count = previous is not null && ReferenceEquals(previous.Svid, svid) ? previous.Count + 1 : 1;
        var delay = FirstRetryDelay * Math.Pow(2, Math.Min(count - 1, 10));
        if (delay > MaxRetryDelay)
        {
            delay = MaxRetryDelay;
        }

        delay *= 0.8 + (0.4 * Random.Shared.NextDouble());
        Volatile.Write(ref _failure, new Failure(svid, count, (_time.GetUtcNow() + delay).UtcTicks, error));
    }

    private void RefreshInBackground(X509Svid svid, CachedToken cached)
    {
        var task = GetOrStartFetch(svid);
        if (!task.IsCompleted)
        {
            _ = ObserveAsync(task, cached);
        }
    }

    private async Task ObserveAsync(Task<CachedToken> task, CachedToken cached)
    {
        try
        {
            await task.ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            _logger.BoundTokenRefreshFailed(_name, new DateTimeOffset(cached.ExpiresAtTicks, TimeSpan.Zero), ex);
        }
    }

    private Task<CachedToken> GetOrStartFetch(X509Svid svid)
    {
        lock (_lock)
        {
            if (_pending is { } pending && ReferenceEquals(_pendingSvid, svid))
            {
                return pending;
            }

            _pendingSvid = svid;
            var task = FetchAsync(svid);
            _pending = task;
            _ = task.ContinueWith(
                static (t, state) => ((BoundTokenProvider)state!).ClearPending(t),
                this,
                CancellationToken.None,
                TaskContinuationOptions.ExecuteSynchronously,
                TaskScheduler.Default);
            return task;
        }
    }

    private void ClearPending(Task<CachedToken> task)
    {
        lock (_lock)
        {
            if (ReferenceEquals(_pending, task))
            {
                _pending = null;
                _pendingSvid = null;
            }
        }
    }

    private void Invalidate(CachedToken token) => Interlocked.CompareExchange(ref _cached, null, token);

    private async Task<CachedToken> FetchAsync(X509Svid svid)
    {
        await Task.Yield();
        try
        {
            var token = await FetchCoreAsync(svid).ConfigureAwait(false);
            Volatile.Write(ref _failure, null);
            return token;
        }
        catch (Exception ex) when (ex is not SvidChangedException && !_stop.IsCancellationRequested)
        {
            // Recorded before the task completes, so that no request can start another attempt in between.
            RecordFailure(svid, ex);
            throw;
        }
    }

    private async Task<CachedToken> FetchCoreAsync(X509Svid svid)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
        timeout.CancelAfter(_options.RequestTimeout);
        var cancellationToken = timeout.Token;
        var metadata = await GetMetadataAsync(svid, cancellationToken).ConfigureAwait(false);

        var exchange = _options.SubjectTokenSource is not null;
        var form = exchange ? await CreateExchangeFormAsync(cancellationToken).ConfigureAwait(false) : CreateClientCredentialsForm();
        using var request = new HttpRequestMessage(HttpMethod.Post, metadata.TokenEndpoint) { Content = new FormUrlEncodedContent(form) };
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        request.Options.Set(RotatingClientCertificateHandler.PinnedSvidKey, svid);
        var requestedAt = _time.GetUtcNow();
        using var response = await _asClient.SendAsync(request, cancellationToken).ConfigureAwait(false);
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
        var expiresAt = requestedAt + expiresIn;
        var lead = expiresIn / 10 < MaxRefreshLead ? expiresIn / 10 : MaxRefreshLead;
        var token = new CachedToken(svid, accessToken, (expiresAt - lead).UtcTicks, expiresAt.UtcTicks);
        Volatile.Write(ref _cached, token);
        svid.ChangeToken.RegisterChangeCallback(static state => ((BoundTokenProvider)((object[])state!)[0]).Invalidate((CachedToken)((object[])state!)[1]), new object[] { this, token });
        _logger.BoundTokenAcquired(_name, svid.Thumbprint, expiresAt);
        return token;
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

    /// <summary>RFC 8693 §2.1: the subject token (the parent's bound token) is exchanged by this client, authenticated by its own certificate.</summary>
    private async Task<List<KeyValuePair<string, string>>> CreateExchangeFormAsync(CancellationToken cancellationToken)
    {
        string subjectToken;
        try
        {
            subjectToken = await _options.SubjectTokenSource!(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            throw new BoundTokenException($"HttpClient '{_name}' could not obtain the subject token to exchange (BoundTokenOptions.SubjectTokenSource): {ex.Message}", ex);
        }

        if (string.IsNullOrEmpty(subjectToken))
        {
            throw new BoundTokenException($"HttpClient '{_name}': BoundTokenOptions.SubjectTokenSource returned an empty subject token.");
        }

        var audience = _options.Audience;
        var isResource = audience is not null && TokenExchangeRequest.IsWrittenAbsoluteUri(audience, out _);
        var request = new TokenExchangeRequest
        {
            SubjectToken = subjectToken,
            SubjectTokenType = _options.SubjectTokenType,
            RequestedTokenType = TokenExchangeRequest.AccessTokenType,
            Scopes = _options.Scope?.Split(' ', StringSplitOptions.RemoveEmptyEntries) ?? [],
            Resources = isResource ? [audience!] : [],
            Audiences = audience is not null && !isResource ? [audience] : [],
        };
        try
        {
            return [.. request.ToParameters(), new("client_id", _options.ClientId!)];
        }
        catch (ArgumentException ex)
        {
            throw new BoundTokenException($"HttpClient '{_name}' cannot build the token-exchange request: {ex.Message}", ex);
        }
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
                request.Options.Set(RotatingClientCertificateHandler.PinnedSvidKey, svid);
                using var response = await _asClient.SendAsync(request, cancellationToken).ConfigureAwait(false);
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
                throw new BoundTokenException($"Authorization server metadata at {from} names issuer '{issuer.GetString()}', not the configured authority '{authority}' (RFC 8414 §3.3); refusing it.");
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
                throw new BoundTokenException($"The token-exchange response from {endpoint} has issued_token_type '{issued}', not an access token (RFC 8693 §2.2.1).");
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

    private static bool IsInvalidToken(HttpResponseMessage response)
    {
        foreach (var challenge in response.Headers.WwwAuthenticate)
        {
            if (string.Equals(challenge.Scheme, "Bearer", StringComparison.OrdinalIgnoreCase) &&
                challenge.Parameter is { } parameter &&
                parameter.Contains("error=\"invalid_token\"", StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }

    private static bool IsReplayable(HttpRequestMessage request) =>
        request.Content is null or ByteArrayContent or ReadOnlyMemoryContent;

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

    public void Dispose()
    {
        _stop.Cancel();
        _asClient.Dispose();
        _stop.Dispose();
    }

    internal sealed record ServerMetadata(Uri TokenEndpoint, bool BoundTokensAdvertised);

    private sealed record Failure(X509Svid Svid, int Count, long RetryAtTicks, Exception Error);

    internal sealed class CachedToken(X509Svid svid, string accessToken, long refreshAtTicks, long expiresAtTicks)
    {
        public X509Svid Svid { get; } = svid;

        public string AccessToken { get; } = accessToken;

        public long RefreshAtTicks { get; } = refreshAtTicks;

        public long ExpiresAtTicks { get; } = expiresAtTicks;
    }
}
