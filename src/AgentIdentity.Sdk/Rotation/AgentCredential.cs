using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Primitives;

namespace AgentIdentity;

/// <summary>
/// The self-rotating credential of one agent instance: it holds the current X.509-SVID and renews it before expiry.
/// </summary>
/// <remarks>
/// <para>Created through <see cref="CreateAsync"/>, it is ready once created: the first SVID exists before the call returns.
/// <see cref="GetCurrent"/> never blocks and never returns an expired SVID; each rotation fires the superseded snapshot's
/// <see cref="X509Svid.ChangeToken"/>.</para>
/// <para>Renewal happens at <see cref="AgentCredentialOptions.RenewalFraction"/> of the lifetime ± <see cref="AgentCredentialOptions.RenewalJitter"/>.
/// While the issuer fails the current SVID stays in use and the credential retries with exponential backoff and jitter; after
/// expiry (for example after the machine slept) it keeps retrying and recovers as soon as the issuer answers.</para>
/// <para>Thread-safe.</para>
/// </remarks>
public sealed partial class AgentCredential : IX509SvidSource, IAsyncDisposable
{
    private static readonly IChangeToken NeverChanges = new CancellationChangeToken(CancellationToken.None);

    private readonly IX509SvidIssuer _issuer;
    private readonly AgentCredentialOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly AgentIdentityMetrics? _metrics;
    private readonly CancellationTokenSource _stop = new();
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly RetryBackoff _retry;
    private X509Svid? _current;
    private TrustBundle? _bundle;
    private Task? _loop;
    private DateTimeOffset _nextRenewal;
    private TaskCompletionSource _renewNow = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _consecutiveFailures;
    private string? _lastError;
    private long _rotations;
    private bool _expiryLogged;
    private int _disposed;

    internal AgentCredential(SpiffeId id, IX509SvidIssuer issuer, AgentCredentialOptions options, TimeProvider time, ILogger logger, AgentIdentityMetrics? metrics)
    {
        Id = id;
        _issuer = issuer;
        _options = options;
        _time = time;
        _logger = logger;
        _metrics = metrics;
        _retry = RetryBackoff.Exponential(options.RetryBaseDelay, options.RetryMaxDelay, useJitter: true, time);
    }

    internal Action<AgentCredential>? OnDisposed { get; set; }

    /// <summary>Gets the SPIFFE ID of this agent instance.</summary>
    public SpiffeId Id { get; }

    /// <summary>Gets the trust bundle the issuer returned with the current SVID.</summary>
    /// <exception cref="IdentityUnavailableException">No SVID has been issued yet.</exception>
    public TrustBundle Bundle => Volatile.Read(ref _bundle) ?? throw new IdentityUnavailableException($"The credential of '{Id}' has no SVID yet; await its creation or start the host.");

    /// <summary>Creates a credential for <paramref name="id"/> and waits for its first SVID.</summary>
    /// <param name="id">The SPIFFE ID of the agent instance, for example from <see cref="SpiffeId.NewAgentInstance"/>.</param>
    /// <param name="issuer">The issuer to obtain SVIDs from.</param>
    /// <param name="options">Options; <see langword="null"/> for defaults.</param>
    /// <param name="timeProvider">The clock; <see langword="null"/> for <see cref="TimeProvider.System"/>.</param>
    /// <param name="loggerFactory">Logging; <see langword="null"/> for none.</param>
    /// <param name="cancellationToken">Stops waiting for the first SVID (the issuer is retried with backoff until then).</param>
    /// <returns>A ready credential.</returns>
    /// <exception cref="ArgumentException">The ID has no path, or the options are invalid.</exception>
    /// <exception cref="OperationCanceledException">The first SVID did not arrive before cancellation.</exception>
    public static async Task<AgentCredential> CreateAsync(
        SpiffeId id,
        IX509SvidIssuer issuer,
        AgentCredentialOptions? options = null,
        TimeProvider? timeProvider = null,
        ILoggerFactory? loggerFactory = null,
        CancellationToken cancellationToken = default)
    {
        var credential = CreateStarted(id, issuer, options, timeProvider ?? TimeProvider.System, loggerFactory?.CreateLogger<AgentCredential>() ?? NullLogger<AgentCredential>.Instance, null);
        try
        {
            await credential.WhenReadyAsync(cancellationToken).ConfigureAwait(false);
            return credential;
        }
        catch
        {
            await credential.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    internal static AgentCredential CreateStarted(SpiffeId id, IX509SvidIssuer issuer, AgentCredentialOptions? options, TimeProvider time, ILogger logger, AgentIdentityMetrics? metrics)
    {
        if (id.IsEmpty || id.IsTrustDomainId)
        {
            throw new ArgumentException($"SPIFFE ID '{id}' cannot identify an agent: it needs a path.", nameof(id));
        }

        ArgumentNullException.ThrowIfNull(issuer);
        options = options?.Clone() ?? new AgentCredentialOptions();
        if (options.Validate() is { } error)
        {
            throw new ArgumentException($"Invalid credential options for '{id}': {error}", nameof(options));
        }

        var credential = new AgentCredential(id, issuer, options, time, logger, metrics);
        credential._loop = credential.RunAsync(credential._stop.Token);
        metrics?.Track(credential);
        return credential;
    }

    /// <summary>Completes when the first SVID has been issued.</summary>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <returns>A task that completes when the credential is ready.</returns>
    public Task WhenReadyAsync(CancellationToken cancellationToken = default) => _ready.Task.WaitAsync(cancellationToken);

    /// <inheritdoc/>
    public X509Svid GetCurrent()
    {
        // Read the clock before the snapshot: the snapshot is then at least as new as that instant, so a stale
        // snapshot read before a rotation can never be mistaken for "expired".
        var now = _time.GetUtcNow().UtcTicks;
        var current = Volatile.Read(ref _current);
        if (current is null || now >= current.NotAfterUtcTicks || Volatile.Read(ref _revokedBy) is not null)
        {
            ThrowUnavailable(current);
        }

        return current;
    }

    /// <summary>Gets the current SVID without throwing.</summary>
    /// <param name="svid">The current, unexpired SVID.</param>
    /// <returns><see langword="true"/> when a valid SVID exists.</returns>
    public bool TryGetCurrent([NotNullWhen(true)] out X509Svid? svid)
    {
        var now = _time.GetUtcNow().UtcTicks;
        svid = Volatile.Read(ref _current);
        if (svid is null || now >= svid.NotAfterUtcTicks || Volatile.Read(ref _revokedBy) is not null)
        {
            svid = null;
            return false;
        }

        return true;
    }

    /// <summary>Gets a change token that fires on the next rotation.</summary>
    /// <returns>The current snapshot's change token, or one that never fires when there is no SVID yet.</returns>
    public IChangeToken GetChangeToken() => Volatile.Read(ref _current)?.ChangeToken ?? NeverChanges;

    /// <summary>Gets the credential's status: health, expiry, next renewal and failures.</summary>
    /// <returns>A point-in-time status.</returns>
    public AgentCredentialStatus GetStatus()
    {
        var current = Volatile.Read(ref _current);
        var now = _time.GetUtcNow();
        var revokedBy = Volatile.Read(ref _revokedBy);
        if (current is null || current.IsExpired(now) || Volatile.Read(ref _disposed) != 0 || revokedBy is not null)
        {
            var error = revokedBy is null ? _lastError : $"revoked: {revokedBy}";
            return new(Id, HealthStatus.Unhealthy, current?.NotAfter, TimeSpan.Zero, current is null ? null : _nextRenewal, _consecutiveFailures, error, Interlocked.Read(ref _rotations));
        }

        var remaining = current.NotAfter - now;
        var lifetime = current.NotAfter - current.NotBefore;
        var health = remaining < lifetime * _options.DegradedThreshold ? HealthStatus.Degraded : HealthStatus.Healthy;
        return new(Id, health, current.NotAfter, remaining, _nextRenewal, _consecutiveFailures, _lastError, Interlocked.Read(ref _rotations));
    }

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ThrowUnavailable(X509Svid? current)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (Volatile.Read(ref _revokedBy) is { } revokedBy)
        {
            throw new IdentityRevokedException(Id, $"The identity '{Id}' is revoked ({revokedBy}); its kill switch has tripped and it may no longer call tools or services.");
        }

        throw current is null
            ? new IdentityUnavailableException($"The credential of '{Id}' has no SVID yet; await AgentCredential.CreateAsync or WhenReadyAsync, or start the host, before the agent acts.")
            : new IdentityUnavailableException($"The X.509-SVID of '{Id}' expired at {current.NotAfter:O} and the issuer has not yet renewed it ({_lastError ?? "renewal pending"}); the agent must not act until it does.");
    }

    private async Task RunAsync(CancellationToken cancellationToken)
    {
        await Task.Yield();
        try
        {
            if (Volatile.Read(ref _current) is null)
            {
                // The first issuance is a child of whatever span created the credential (a host start, a request).
                await RenewWithRetryAsync(cancellationToken).ConfigureAwait(false);
            }

            // Each renewal is a trace of its own, not a child of the creator's long-finished one.
            Activity.Current = null;
            while (!cancellationToken.IsCancellationRequested)
            {
                await WaitForRenewalPointAsync(cancellationToken).ConfigureAwait(false);

                await RenewWithRetryAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            _ready.TrySetCanceled(cancellationToken);
        }
    }

    /// <summary>
    /// Waits until <see cref="_nextRenewal"/>, or until <see cref="RequestRenewal"/> is called (a task credential's parent rotated).
    /// The clock is read again once the timer exists: if it moved past the renewal point while the timer was being created (a clock
    /// step), the wait ends at once instead of a whole delay too late.
    /// </summary>
    private async Task WaitForRenewalPointAsync(CancellationToken cancellationToken)
    {
        var renewNow = Volatile.Read(ref _renewNow).Task;
        var delay = _nextRenewal - _time.GetUtcNow();
        if (delay > TimeSpan.Zero && !renewNow.IsCompleted)
        {
            using var wait = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            var timer = Task.Delay(delay, _time, wait.Token);
            if (_time.GetUtcNow() >= _nextRenewal)
            {
                wait.Cancel();
            }

            if (await Task.WhenAny(timer, renewNow).ConfigureAwait(false) != timer)
            {
                wait.Cancel(); // renewal requested: stop the timer
            }

            cancellationToken.ThrowIfCancellationRequested();
        }

        // Re-arm before renewing, so that a request made while this renewal runs causes one more.
        if (renewNow.IsCompleted)
        {
            Volatile.Write(ref _renewNow, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        }
    }

    /// <summary>Asks the renewal loop to renew now instead of at the next renewal point.</summary>
    internal void RequestRenewal() => Volatile.Read(ref _renewNow).TrySetResult();

    private Task RenewWithRetryAsync(CancellationToken cancellationToken) =>
        _retry.RunAsync(
            static async (self, ct) =>
            {
                await self.IssueOnceAsync(ct).ConfigureAwait(false);
                return RetryAttemptResult.Stop;
            },
            this,
            static (self, retry) => self.OnRetry(retry),
            cancellationToken);

    private async ValueTask IssueOnceAsync(CancellationToken cancellationToken)
    {
        var previous = Volatile.Read(ref _current);
        using var activity = AgentIdentityTelemetry.Source.StartActivity(previous is null ? AgentIdentityTelemetry.IssueSpan : AgentIdentityTelemetry.RenewSpan);
        if (activity is { IsAllDataRequested: true })
        {
            activity.SetTag(TelemetryTags.AgentId, Id.ToString());
            if (previous is not null)
            {
                activity.SetTag(TelemetryTags.SvidPreviousSerial, previous.SerialNumber);
            }
        }

        try
        {
            using var key = SvidKeys.Generate(_options.KeyAlgorithm);
            var csr = SvidKeys.CreateSigningRequest(Id, key);
            var issuance = await _issuer.IssueAsync(CreateRequest(csr), cancellationToken).ConfigureAwait(false);
            var svid = Accept(issuance, key);
            Publish(svid, issuance.Bundle);
            if (activity is { IsAllDataRequested: true })
            {
                activity.SetSvid(svid);
                activity.SetTag(TelemetryTags.SvidNotAfter, AgentIdentityTelemetry.Format(svid.NotAfter));
                if (previous is not null)
                {
                    activity.AddEvent(new ActivityEvent(AgentIdentityTelemetry.RotatedEvent, tags: new ActivityTagsCollection
                    {
                        [TelemetryTags.SvidPreviousSerial] = previous.SerialNumber,
                        [TelemetryTags.SvidSerial] = svid.SerialNumber,
                    }));
                }
            }
        }
        catch (Exception ex) when (activity is not null)
        {
            activity.SetFailure(ex);
            throw;
        }
    }

    private X509Svid Accept(X509SvidIssuance issuance, System.Security.Cryptography.AsymmetricAlgorithm key)
    {
        var certificate = SvidKeys.AttachKey(issuance.Certificate, key);
        X509Svid svid;
        try
        {
            svid = new X509Svid(certificate, issuance.Intermediates);
        }
        catch (ArgumentException ex)
        {
            certificate.Dispose();
            throw new CertificateIssuanceException($"The issuer returned a certificate for '{Id}' that is not a valid X.509-SVID: {ex.Message}", ex);
        }

        var now = _time.GetUtcNow();
        var validation = X509SvidValidator.Validate(svid.Certificate, svid.Intermediates, issuance.Bundle, now, new X509SvidValidationOptions { ClockSkew = TimeSpan.FromMinutes(1) });
        if (!validation.IsValid || svid.Id != Id || svid.IsExpired(now))
        {
            svid.Release();
            throw new CertificateIssuanceException(svid.Id != Id
                ? $"The issuer returned a certificate for '{svid.Id}' instead of '{Id}'."
                : $"The issuer returned an SVID for '{Id}' that does not validate against its own bundle: {validation.Reason ?? "it is already expired"}");
        }

        return svid;
    }

    private void Publish(X509Svid svid, TrustBundle bundle)
    {
        var now = _time.GetUtcNow();
        var remaining = svid.NotAfter - now;
        var fraction = _options.RenewalFraction * (1 + (_options.RenewalJitter * ((2 * Random.Shared.NextDouble()) - 1)));
        _nextRenewal = now + (remaining * fraction);

        var wasExpired = _expiryLogged;
        Volatile.Write(ref _bundle, bundle);
        var previous = Interlocked.Exchange(ref _current, svid);
        _consecutiveFailures = 0;
        _lastError = null;
        _expiryLogged = false;
        Interlocked.Increment(ref _rotations);
        _metrics?.Rotated(this);
        _logger.SvidIssued(Id, svid.SerialNumber, svid.NotAfter, _nextRenewal);
        if (wasExpired)
        {
            _logger.CredentialRecovered(Id);
        }

        _ready.TrySetResult();
        previous?.Supersede();
        if (previous is not null)
        {
            RenewTaskCredentials();
        }
    }

    private void OnRetry(RetryBackoffEvent retry)
    {
        _consecutiveFailures++;
        _lastError = retry.Exception?.Message;
        _metrics?.Failed(this, retry.Exception);
        var current = Volatile.Read(ref _current);
        if (current is null)
        {
            _logger.InitialIssuanceFailed(Id, retry.Attempt, retry.Delay, retry.Exception!);
            return;
        }

        _logger.RotationFailed(Id, retry.Attempt, current.NotAfter, retry.Delay, retry.Exception!);
        if (!_expiryLogged && current.IsExpired(_time.GetUtcNow()))
        {
            _expiryLogged = true;
            _logger.SvidExpired(Id, current.NotAfter);
        }
    }

    /// <summary>Stops renewal and releases the current SVID's private key.</summary>
    /// <returns>A task that completes when renewal has stopped.</returns>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _metrics?.Untrack(this);
        OnDisposed?.Invoke(this);
        await DisposeTaskCredentialsAsync().ConfigureAwait(false);
        await RevokeOnDisposeAsync().ConfigureAwait(false);
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_loop is not null)
        {
            await _loop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        _stop.Dispose();
        Interlocked.Exchange(ref _current, null)?.Release();
    }

    /// <inheritdoc/>
    public override string ToString() => $"AgentCredential {Id}";
}
