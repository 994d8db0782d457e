using System.Diagnostics;
using Microsoft.Extensions.Logging;

namespace AgentIdentity;

/// <summary>
/// The RFC 8705 certificate-bound access token of one named HttpClient, one per certificate: keyed by the SVID for the client's fixed
/// audience and scope, dropped when the SVID is superseded, refreshed single-flight ahead of expiry. Misses and refreshes go to the
/// <see cref="BoundTokenClient"/>, paced by the <see cref="TokenRequestBackoff"/>.
/// </summary>
/// <remarks>Thread-safe. A hit allocates nothing.</remarks>
internal sealed class BoundTokenCache : IDisposable
{
    private static readonly TimeSpan MaxRefreshLead = TimeSpan.FromSeconds(60);

    private readonly BoundTokenClient _client;
    private readonly TokenRequestBackoff _backoff;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private readonly CancellationTokenSource _stop = new();
    private BoundToken? _cached;
    private Task<BoundToken>? _pending;
    private X509Svid? _pendingSvid;

    public BoundTokenCache(BoundTokenClient client, TimeProvider time, ILogger logger)
    {
        _client = client;
        _time = time;
        _logger = logger;
        _backoff = new TokenRequestBackoff(time);
    }

    private string Name => _client.Name;

    private BoundTokenOptions Options => _client.Options;

    /// <summary>Returns the token for <paramref name="svid"/>: from the cache when fresh (no allocation), else single-flight from the server.</summary>
    /// <exception cref="BoundTokenException">No token could be obtained, or the last attempt for this certificate failed moments ago.</exception>
    /// <exception cref="SvidChangedException">The certificate rotated while its token was requested.</exception>
    public ValueTask<BoundToken> GetTokenAsync(X509Svid svid, CancellationToken cancellationToken = default)
    {
        var cached = Volatile.Read(ref _cached);
        var now = _time.GetUtcNow().UtcTicks;
        if (cached is not null && ReferenceEquals(cached.Svid, svid))
        {
            if (now < cached.RefreshAtTicks)
            {
                return new ValueTask<BoundToken>(cached);
            }

            if (now < cached.ExpiresAtTicks)
            {
                if (!_backoff.InBackOff(svid, now, out _))
                {
                    RefreshInBackground(svid, cached);
                }

                return new ValueTask<BoundToken>(cached);
            }
        }

        if (_backoff.InBackOff(svid, now, out var failure))
        {
            // The last attempt for this very certificate failed moments ago: fail fast instead of hammering the server.
            return ValueTask.FromException<BoundToken>(new BoundTokenException(
                $"HttpClient '{Name}' has no usable certificate-bound access token for client '{Options.ClientId}': the last attempt failed " +
                $"({failure.Error.Message}); after {failure.Count} consecutive failure(s) the next attempt is made after " +
                $"{new DateTimeOffset(failure.RetryAtTicks, TimeSpan.Zero):O}.{Expired(svid, cached)} No request was sent to the resource.",
                failure.Error));
        }

        return new ValueTask<BoundToken>(AwaitRefreshAsync(svid, cached, cancellationToken));
    }

    /// <summary>Drops <paramref name="token"/> if it is still the cached one (the resource server refused it).</summary>
    public void Invalidate(BoundToken token) => Interlocked.CompareExchange(ref _cached, null, token);

    /// <summary>Puts a token into the cache as if the server had issued it (benchmarks and tests).</summary>
    internal void Prime(X509Svid svid, string accessToken, TimeSpan lifetime)
    {
        var expiresAt = _time.GetUtcNow() + lifetime;
        Volatile.Write(ref _cached, new BoundToken(svid, accessToken, (expiresAt - MaxRefreshLead).UtcTicks, expiresAt.UtcTicks));
    }

    private async Task<BoundToken> AwaitRefreshAsync(X509Svid svid, BoundToken? previous, CancellationToken cancellationToken)
    {
        try
        {
            return await GetOrStartFetch(svid).WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not (OperationCanceledException or SvidChangedException or BoundTokenException or IdentityUnavailableException))
        {
            throw new BoundTokenException(
                $"HttpClient '{Name}' could not obtain a certificate-bound access token for client '{Options.ClientId}' from {Options.TokenEndpoint?.ToString() ?? Options.Authority?.ToString()}: {ex.Message}{Expired(svid, previous)} No request was sent to the resource.",
                ex);
        }
    }

    private static string Expired(X509Svid svid, BoundToken? previous) =>
        previous is not null && ReferenceEquals(previous.Svid, svid)
            ? $" The cached token expired at {new DateTimeOffset(previous.ExpiresAtTicks, TimeSpan.Zero):O}."
            : string.Empty;

    private void RefreshInBackground(X509Svid svid, BoundToken cached)
    {
        var task = GetOrStartFetch(svid);
        if (!task.IsCompleted)
        {
            _ = ObserveAsync(task, cached);
        }
    }

    private async Task ObserveAsync(Task<BoundToken> task, BoundToken cached)
    {
        try
        {
            await task.ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            _logger.BoundTokenRefreshFailed(Name, new DateTimeOffset(cached.ExpiresAtTicks, TimeSpan.Zero), ex);
        }
    }

    private Task<BoundToken> GetOrStartFetch(X509Svid svid)
    {
        lock (_lock)
        {
            // A completed attempt may not be cleared yet (its continuation runs asynchronously): it is never joined.
            if (_pending is { IsCompleted: false } pending && ReferenceEquals(_pendingSvid, svid))
            {
                return pending;
            }

            _pendingSvid = svid;

            // The request runs in the back-off's own flow: its span is parented explicitly to the span of the call that needs it.
            var parent = Activity.Current;
            var task = _backoff.AttemptAsync(svid, ct => FetchAsync(svid, parent, ct), _stop.Token);
            _pending = task;
            _ = task.ContinueWith(
                static (t, state) => ((BoundTokenCache)state!).ClearPending(t),
                this,
                CancellationToken.None,
                TaskContinuationOptions.ExecuteSynchronously,
                TaskScheduler.Default);
            return task;
        }
    }

    private void ClearPending(Task<BoundToken> task)
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

    private async Task<BoundToken> FetchAsync(X509Svid svid, Activity? parent, CancellationToken stop)
    {
        Activity.Current = parent;
        var exchange = Options.SubjectTokenSource is not null;
        using var activity = AgentIdentityTelemetry.Source.StartActivity(exchange ? AgentIdentityTelemetry.TokenExchangeSpan : AgentIdentityTelemetry.TokenAcquireSpan);
        if (activity is { IsAllDataRequested: true })
        {
            activity.SetTag(TelemetryTags.HttpClientName, Name);
            activity.SetTag(TelemetryTags.TokenGrantType, exchange ? TokenExchangeRequest.GrantType : "client_credentials");
            activity.SetSvid(svid);
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stop);
        timeout.CancelAfter(Options.RequestTimeout);
        IssuedToken issued;
        try
        {
            issued = await _client.RequestAsync(svid, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (activity is not null)
        {
            activity.SetFailure(ex);
            throw;
        }

        var lead = issued.ExpiresIn / 10 < MaxRefreshLead ? issued.ExpiresIn / 10 : MaxRefreshLead;
        var token = new BoundToken(svid, issued.AccessToken, (issued.ExpiresAt - lead).UtcTicks, issued.ExpiresAt.UtcTicks);
        Volatile.Write(ref _cached, token);
        svid.ChangeToken.RegisterChangeCallback(static state => ((BoundTokenCache)((object[])state!)[0]).Invalidate((BoundToken)((object[])state!)[1]), new object[] { this, token });
        _logger.BoundTokenAcquired(Name, svid.Thumbprint, issued.ExpiresAt);
        return token;
    }

    public void Dispose()
    {
        _stop.Cancel();
        _backoff.Dispose();
        _client.Dispose();
        _stop.Dispose();
    }
}

/// <summary>A cached bound token: the certificate it is bound to, and when to refresh it and when it expires (UTC ticks).</summary>
internal sealed class BoundToken(X509Svid svid, string accessToken, long refreshAtTicks, long expiresAtTicks)
{
    public X509Svid Svid { get; } = svid;

    public string AccessToken { get; } = accessToken;

    public long RefreshAtTicks { get; } = refreshAtTicks;

    public long ExpiresAtTicks { get; } = expiresAtTicks;
}
