using System.Diagnostics.CodeAnalysis;
using AgentIdentity.Spiffe.Proto;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Primitives;

namespace AgentIdentity.Spiffe;

/// <summary>What a <see cref="WorkloadApiX509Source"/> is doing.</summary>
public enum WorkloadApiSourceState
{
    /// <summary>Waiting for the first valid message.</summary>
    Connecting = 0,

    /// <summary>Streaming: the current SVID and bundles are the latest the server sent.</summary>
    Ready,

    /// <summary>The stream failed and is being re-opened with backoff; the last valid SVID stays in use until it expires.</summary>
    Retrying,

    /// <summary>The server denied this workload an identity; no SVID is served until it grants one again.</summary>
    PermissionDenied,

    /// <summary>The stream stopped for good (<c>InvalidArgument</c>, <c>Unimplemented</c>, or disposal).</summary>
    Stopped,
}

/// <summary>
/// An X.509-SVID source fed by the SPIFFE Workload API <c>FetchX509SVID</c> stream (SPIRE, tbot, or <c>WorkloadApiServer</c>).
/// Ready once created: <see cref="CreateAsync"/> returns after the first valid message. Every message is the complete state:
/// rotations, bundle updates, federated bundles added or dropped. Thread-safe; <see cref="GetCurrent"/> never blocks.
/// </summary>
/// <remarks>
/// Follows SPECS.md §5.3–5.4: a message with an empty required field or undecodable content is reported and discarded, keeping
/// the previous state; <c>Unavailable</c> and other errors reconnect with linear backoff (1 s steps up to 30 s, reset after a
/// message; the SDK's one back-off policy, Polly's linear delays without jitter); <c>PermissionDenied</c> retries and stops serving the previous SVID; <c>InvalidArgument</c>, <c>Unimplemented</c>
/// and cancellation stop the stream.
/// </remarks>
public sealed class WorkloadApiX509Source : IX509SvidSource, ITrustBundleSource, IAsyncDisposable
{
    private const string Rpc = "FetchX509SVID";
    private readonly WorkloadApiOptions _options;
    private readonly WorkloadApiAddress _address;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly GrpcChannel _channel;
    private readonly SpiffeWorkloadAPI.SpiffeWorkloadAPIClient _client;
    private readonly CancellationTokenSource _stop = new();
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly RetryBackoff _backoff;
    private readonly Task _loop;
    private volatile X509Context? _context;
    private volatile bool _denied;
    private CancellationTokenSource _changed = new();
    private volatile WorkloadApiSourceState _state;
    private volatile string? _lastError;
    private int _consecutiveFailures;
    private (StatusCode Code, string Detail) _failure;
    private long _updates;
    private long _rejected;
    private int _disposed;

    private WorkloadApiX509Source(WorkloadApiOptions options, WorkloadApiAddress address, TimeProvider time, ILogger logger, Action<StatusCode, TimeSpan>? onRetryScheduled = null)
    {
        OnRetryScheduled = onRetryScheduled; // before the stream starts, so that no early retry goes unobserved
        _options = options;
        _address = address;
        _time = time;
        _logger = logger;
        _channel = WorkloadApiChannel.Create(address);
        _client = WorkloadApiChannel.CreateClient(_channel);
        _backoff = RetryBackoff.Linear(options.BackoffStep, options.MaxBackoff, time);
        _loop = Task.Run(() => RunAsync(_stop.Token));
    }

    /// <summary>Gets the endpoint address.</summary>
    public WorkloadApiAddress Address => _address;

    /// <summary>Gets what the source is doing.</summary>
    public WorkloadApiSourceState State => _state;

    /// <summary>Gets the last error (a stream failure or a rejected message), or <see langword="null"/>.</summary>
    public string? LastError => _lastError;

    /// <summary>Gets the number of valid messages applied.</summary>
    public long UpdateCount => Interlocked.Read(ref _updates);

    /// <summary>Gets the number of malformed messages discarded.</summary>
    public long RejectedCount => Interlocked.Read(ref _rejected);

    /// <summary>Gets the current X.509 bundles: the SVID's own trust domain and every federated one. Use them for X.509-SVIDs only.</summary>
    /// <exception cref="IdentityUnavailableException">No message has been received yet.</exception>
    public TrustBundleSet Bundles => (_context ?? throw NotReady()).Bundles;

    /// <summary>Gets the DER CRLs of the last message (possibly empty).</summary>
    public IReadOnlyList<byte[]> CertificateRevocationLists => _context?.Crls ?? [];

    /// <summary>Gets the hint of the SVID in use, or <see langword="null"/> when it has none.</summary>
    public string? CurrentHint => _context?.Hint;

    internal Action<string>? OnRejected { get; set; }

    internal Action<StatusCode, TimeSpan>? OnRetryScheduled { get; set; }

    /// <summary>Connects to the Workload API and waits for the first valid X.509-SVID.</summary>
    /// <param name="options">The options; <see langword="null"/> to read the address from <c>SPIFFE_ENDPOINT_SOCKET</c>.</param>
    /// <param name="timeProvider">The clock (expiry checks and backoff); <see langword="null"/> for the system clock.</param>
    /// <param name="loggerFactory">The logger factory; may be <see langword="null"/>.</param>
    /// <param name="cancellationToken">Stops waiting (and disposes the source).</param>
    /// <returns>A ready source.</returns>
    /// <exception cref="FormatException">The address is invalid.</exception>
    /// <exception cref="InvalidOperationException">No address is configured and <c>SPIFFE_ENDPOINT_SOCKET</c> is not set.</exception>
    /// <exception cref="WorkloadApiException">The server refused the stream with a status that is not retried.</exception>
    public static async Task<WorkloadApiX509Source> CreateAsync(WorkloadApiOptions? options = null, TimeProvider? timeProvider = null, ILoggerFactory? loggerFactory = null, CancellationToken cancellationToken = default)
    {
        var source = Start(options, timeProvider, loggerFactory);
        try
        {
            await source.WhenReadyAsync(cancellationToken).ConfigureAwait(false);
            return source;
        }
        catch
        {
            await source.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Starts the stream without waiting for the first SVID.</summary>
    /// <param name="options">The options; <see langword="null"/> to read the address from <c>SPIFFE_ENDPOINT_SOCKET</c>.</param>
    /// <param name="timeProvider">The clock; <see langword="null"/> for the system clock.</param>
    /// <param name="loggerFactory">The logger factory; may be <see langword="null"/>.</param>
    /// <returns>A source that becomes ready when <see cref="WhenReadyAsync"/> completes.</returns>
    public static WorkloadApiX509Source Start(WorkloadApiOptions? options = null, TimeProvider? timeProvider = null, ILoggerFactory? loggerFactory = null) =>
        Start(options, timeProvider, loggerFactory, onRetryScheduled: null);

    /// <summary>Starts the stream with a retry observer attached before the first call (tests).</summary>
    internal static WorkloadApiX509Source Start(WorkloadApiOptions? options, TimeProvider? timeProvider, ILoggerFactory? loggerFactory, Action<StatusCode, TimeSpan>? onRetryScheduled)
    {
        var copy = options?.Clone() ?? new WorkloadApiOptions();
        copy.Validate();
        var address = copy.ResolveAddress();
        return new WorkloadApiX509Source(copy, address, timeProvider ?? TimeProvider.System, (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger<WorkloadApiX509Source>(), onRetryScheduled);
    }

    /// <summary>Completes when the first valid X.509-SVID has arrived.</summary>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <returns>A task that completes when the source is ready.</returns>
    /// <exception cref="WorkloadApiException">The stream stopped for good before the first SVID.</exception>
    public Task WhenReadyAsync(CancellationToken cancellationToken = default) => _ready.Task.WaitAsync(cancellationToken);

    /// <inheritdoc/>
    public X509Svid GetCurrent()
    {
        var context = _context;
        if (_denied)
        {
            throw new IdentityUnavailableException($"The Workload API at {_address} denied this workload an identity (PermissionDenied); previously received SVIDs are no longer used. Check the registration entries for this process. Last error: {_lastError}");
        }

        if (context is null)
        {
            throw NotReady();
        }

        var svid = context.Svid;
        if (svid.IsExpired(_time.GetUtcNow()))
        {
            throw new IdentityUnavailableException($"The X.509-SVID {svid.Id} from the Workload API at {_address} expired at {svid.NotAfter:O} and no newer one has arrived ({_state}; last error: {_lastError ?? "none"}).");
        }

        return svid;
    }

    /// <summary>Gets a change token that fires on the next applied update (SVID rotation, bundle or CRL change) or on denial.</summary>
    /// <returns>The change token.</returns>
    public IChangeToken GetChangeToken() => new CancellationChangeToken(Volatile.Read(ref _changed).Token);

    /// <inheritdoc/>
    public bool TryGetBundle(TrustDomain trustDomain, [NotNullWhen(true)] out TrustBundle? bundle)
    {
        if (_context is { } context)
        {
            return context.Bundles.TryGetBundle(trustDomain, out bundle);
        }

        bundle = null;
        return false;
    }

    private IdentityUnavailableException NotReady() =>
        new($"No X.509-SVID has been received from the Workload API at {_address} yet ({_state}; last error: {_lastError ?? "none"}). Await CreateAsync or WhenReadyAsync before using the source.");

    private async Task RunAsync(CancellationToken stop)
    {
        try
        {
            await _backoff.RunAsync(static (self, ct) => self.StreamOnceAsync(ct), this, static (self, retry) => self.OnRetry(retry), stop).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }

        _state = WorkloadApiSourceState.Stopped;
    }

    /// <summary>One <c>FetchX509SVID</c> stream: its end decides what the back-off does next.</summary>
    private async ValueTask<RetryAttemptResult> StreamOnceAsync(CancellationToken stop)
    {
        var received = false;
        StatusCode code;
        string detail;
        try
        {
            using var call = _client.FetchX509SVID(new X509SVIDRequest(), new CallOptions(WorkloadApiChannel.SecurityHeader(), deadline: null, cancellationToken: stop));
            while (await call.ResponseStream.MoveNext(stop).ConfigureAwait(false))
            {
                received = true;
                Apply(call.ResponseStream.Current);
            }

            code = StatusCode.OK;
            detail = "stream closed by the server";
        }
        catch (RpcException ex) when (ex.StatusCode == StatusCode.Cancelled && stop.IsCancellationRequested)
        {
            return RetryAttemptResult.Stop;
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            return RetryAttemptResult.Stop;
        }
        catch (RpcException ex)
        {
            code = ex.StatusCode;
            detail = ex.Status.Detail;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // Transport or client failures outside gRPC statuses: retried like Unavailable, never fatal to the source.
            code = StatusCode.Unknown;
            detail = $"{ex.GetType().Name}: {ex.Message}";
        }

        if (code is StatusCode.InvalidArgument or StatusCode.Unimplemented or StatusCode.Cancelled)
        {
            _lastError = $"{code}: {detail}";
            _state = WorkloadApiSourceState.Stopped;
            _logger.StreamStopped(Rpc, _address.Value, code.ToString(), detail);
            _ready.TrySetException(new WorkloadApiException($"The Workload API at {_address} refused {Rpc} with {code} ({detail}); this is not retried. {(code == StatusCode.InvalidArgument ? "The server says the request is malformed, for example without the security header." : string.Empty)}", code));
            return RetryAttemptResult.Stop;
        }

        if (code == StatusCode.OK && received)
        {
            // The spec says to reconnect at once when the server closes a stream that worked.
            _logger.StreamEnded(Rpc, _address.Value);
            return RetryAttemptResult.RestartNow;
        }

        _failure = (code, detail);
        return received ? RetryAttemptResult.RetryAfterProgress : RetryAttemptResult.Retry;
    }

    /// <summary>A failed stream, before its back-off delay: report it, and stop serving the SVID when the server denied the workload.</summary>
    private void OnRetry(RetryBackoffEvent retry)
    {
        var (code, detail) = _failure;
        Interlocked.Exchange(ref _consecutiveFailures, retry.Attempt);
        _lastError = $"{code}: {detail}";
        if (code == StatusCode.PermissionDenied)
        {
            if (!_denied)
            {
                _denied = true;
                _state = WorkloadApiSourceState.PermissionDenied;
                _context?.Owner.MarkSuperseded();
                SignalChange();
            }

            _logger.PermissionDenied(_address.Value, detail, retry.Delay);
        }
        else
        {
            _state = _context is null ? WorkloadApiSourceState.Connecting : WorkloadApiSourceState.Retrying;
            _logger.StreamFailed(Rpc, _address.Value, code.ToString(), detail, retry.Delay, retry.Attempt);
        }

        OnRetryScheduled?.Invoke(code, retry.Delay);
    }

    private void Apply(X509SVIDResponse response)
    {
        X509Context context;
        try
        {
            context = X509ContextParser.Parse(response, _options.Hint);
        }
        catch (WorkloadApiResponseException ex)
        {
            Interlocked.Increment(ref _rejected);
            _lastError = ex.Message;
            _logger.X509ResponseRejected(ex.Message);
            OnRejected?.Invoke(ex.Message);
            return;
        }

        var previous = _context;
        if (previous is not null && SameSvid(previous.Svid, context.Svid))
        {
            // The server re-sent the SVID in use (a reconnect, or a bundle-only change): keep the snapshot, so that
            // connections built on it are not needlessly rotated.
            context.Owner.Dispose();
            context = new X509Context(previous.Owner, context.Hint, context.Bundles, context.Crls);
        }

        _context = context;
        _denied = false;
        _state = WorkloadApiSourceState.Ready;
        _lastError = null;
        Interlocked.Exchange(ref _consecutiveFailures, 0);
        Interlocked.Increment(ref _updates);
        _logger.X509ContextUpdated(context.Svid.Id, context.Svid.SerialNumber, context.Svid.NotAfter, context.Bundles.Bundles.Count, context.Crls.Count);
        _ready.TrySetResult();
        if (previous is not null && !ReferenceEquals(previous.Svid, context.Svid))
        {
            previous.Owner.MarkSuperseded();
        }

        SignalChange();
    }

    private static bool SameSvid(X509Svid a, X509Svid b)
    {
        if (!a.Certificate.RawData.AsSpan().SequenceEqual(b.Certificate.RawData) || a.Intermediates.Count != b.Intermediates.Count)
        {
            return false;
        }

        for (var i = 0; i < a.Intermediates.Count; i++)
        {
            if (!a.Intermediates[i].RawData.AsSpan().SequenceEqual(b.Intermediates[i].RawData))
            {
                return false;
            }
        }

        return true;
    }

    private void SignalChange()
    {
        var old = Interlocked.Exchange(ref _changed, new CancellationTokenSource());
        try
        {
            old.Cancel();
        }
        catch (AggregateException)
        {
            // A subscriber threw; the update stands.
        }

        // Not disposed: late subscribers may still register on the (already cancelled) token.
    }

    /// <summary>Stops the stream and fires the change token of the current SVID.</summary>
    /// <returns>A task that completes when the stream has stopped.</returns>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await _loop.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        _state = WorkloadApiSourceState.Stopped;
        _ready.TrySetException(new ObjectDisposedException(nameof(WorkloadApiX509Source)));
        _ = _ready.Task.Exception;
        _context?.Owner.MarkSuperseded();
        _channel.Dispose();
        _stop.Dispose();
    }
}
