using System.ComponentModel.DataAnnotations;
using System.Globalization;
using System.Net.Http.Headers;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace AgentIdentity;

/// <summary>Options for <see cref="RevocationFeedSubscriber"/>.</summary>
public sealed class RevocationFeedSubscriberOptions
{
    /// <summary>Gets or sets the first reconnect delay after the feed drops; it doubles up to <see cref="MaxReconnectDelay"/>.</summary>
    /// <value>The default value is 100 milliseconds.</value>
    [PositiveTimeSpan]
    public TimeSpan ReconnectDelay { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Gets or sets the longest reconnect delay.</summary>
    /// <value>The default value is 5 seconds.</value>
    public TimeSpan MaxReconnectDelay { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Gets or sets how long the feed may stay silent (no entry, no heartbeat) before the connection is treated as dead and reopened.
    /// Keep it above the server's heartbeat interval.</summary>
    /// <value>The default value is 30 seconds.</value>
    [PositiveTimeSpan]
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Gets or sets what the subscriber does when the feed starts a new log (another log ID), or its head is below the
    /// subscriber's own sequence number: the issuer's registry was reset or restored from a backup.</summary>
    /// <value>The default value is <see cref="RevocationEpochChangeBehavior.Resynchronize"/>.</value>
    public RevocationEpochChangeBehavior EpochChange { get; set; } = RevocationEpochChangeBehavior.Resynchronize;

    internal string? Validate() => OptionsValidation.Validate(null, this, new RevocationFeedSubscriberOptionsValidator(), RevocationFeedSubscriberOptionsRules.Instance);
}

/// <summary>What a <see cref="RevocationFeedSubscriber"/> does when the feed's log changes under it.</summary>
public enum RevocationEpochChangeBehavior
{
    /// <summary>Keep every revocation applied so far (they are permanent) and read the new log from its first entry.</summary>
    Resynchronize = 0,

    /// <summary>Stop applying and stay disconnected, so that the fail-closed policy of the service applies; an operator must
    /// restart the subscriber after checking the issuer.</summary>
    FailClosed = 1,
}

/// <summary>The attribute rules of <see cref="RevocationFeedSubscriberOptions"/> (source-generated).</summary>
[OptionsValidator]
internal sealed partial class RevocationFeedSubscriberOptionsValidator : IValidateOptions<RevocationFeedSubscriberOptions>;

/// <summary>The rule of <see cref="RevocationFeedSubscriberOptions"/> that relates the two reconnect delays.</summary>
internal sealed class RevocationFeedSubscriberOptionsRules : IValidateOptions<RevocationFeedSubscriberOptions>
{
    public static RevocationFeedSubscriberOptionsRules Instance { get; } = new();

    public ValidateOptionsResult Validate(string? name, RevocationFeedSubscriberOptions options) =>
        options.MaxReconnectDelay < options.ReconnectDelay
            ? ValidateOptionsResult.Fail($"{OptionsValidation.DisplayName(name, nameof(RevocationFeedSubscriberOptions))}.MaxReconnectDelay ({options.MaxReconnectDelay}) must be at least ReconnectDelay ({options.ReconnectDelay}).")
            : ValidateOptionsResult.Success;
}

/// <summary>
/// Subscribes to a revocation feed (server-sent events), verifies every entry's signature and sequence, and applies it to a
/// <see cref="RevocationSet"/>. It reconnects with backoff and resumes after the last applied sequence number
/// (<c>Last-Event-ID</c> and <c>?after=</c>), so a reconnect never loses or repeats an entry.
/// </summary>
/// <remarks>
/// A forged or malformed entry is rejected and logged, and the connection is dropped and reopened; it is never applied. A feed that
/// keeps serving forged entries therefore looks unreachable, and the subscriber's fail-closed policy (see the ASP.NET Core package) applies.
/// Thread-safe.
/// </remarks>
public sealed class RevocationFeedSubscriber : IAsyncDisposable
{
    /// <summary>The longest line of the event stream the subscriber reads (a signed entry is well under 4 KiB); a longer one drops the connection.</summary>
    internal const int MaxLineBytes = 64 * 1024;

    private readonly HttpClient _http;
    private readonly Uri _feedUri;
    private readonly RevocationFeedVerifier _verifier;
    private readonly RevocationFeedSubscriberOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private readonly RetryBackoff _backoff;
    private Task? _loop;
    private string _disconnectReason = string.Empty;
    private long _lastContactTicks;
    private long _rejected;
    private int _connected;
    private int _disposed;
    private volatile string? _epochFault;

    /// <summary>Initializes a new instance of the <see cref="RevocationFeedSubscriber"/> class. Call <see cref="Start"/> to connect.</summary>
    /// <param name="http">The client used to reach the feed (its handler sets TLS trust).</param>
    /// <param name="feedUri">The feed URI, for example <c>https://issuer/revocation/feed</c>.</param>
    /// <param name="verifier">Verifies entries against the feed-signer certificate.</param>
    /// <param name="set">The set to apply entries to; it may already hold entries (the feed resumes after them).</param>
    /// <param name="options">Options; <see langword="null"/> for defaults.</param>
    /// <param name="timeProvider">The clock; <see langword="null"/> for <see cref="TimeProvider.System"/>.</param>
    /// <param name="logger">Logging; <see langword="null"/> for none.</param>
    public RevocationFeedSubscriber(HttpClient http, Uri feedUri, RevocationFeedVerifier verifier, RevocationSet set, RevocationFeedSubscriberOptions? options = null, TimeProvider? timeProvider = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(http);
        ArgumentNullException.ThrowIfNull(feedUri);
        ArgumentNullException.ThrowIfNull(verifier);
        ArgumentNullException.ThrowIfNull(set);
        if (!feedUri.IsAbsoluteUri)
        {
            throw new ArgumentException($"The revocation feed URI '{feedUri}' must be absolute.", nameof(feedUri));
        }

        _options = options ?? new RevocationFeedSubscriberOptions();
        if (_options.Validate() is { } error)
        {
            throw new ArgumentException($"Invalid revocation feed options: {error}", nameof(options));
        }

        _http = http;
        _feedUri = feedUri;
        _verifier = verifier;
        Set = set;
        _time = timeProvider ?? TimeProvider.System;
        _logger = logger ?? NullLogger.Instance;
        _backoff = RetryBackoff.Exponential(_options.ReconnectDelay, _options.MaxReconnectDelay, useJitter: false, _time);
    }

    /// <summary>Raised when a feed connection opens (<see langword="true"/>) or drops (<see langword="false"/>).</summary>
    public event EventHandler<bool>? ConnectionChanged;

    /// <summary>Raised when an entry is rejected (forged, malformed, wrong trust domain), with the reason.</summary>
    public event EventHandler<RevocationFeedException>? EntryRejected;

    /// <summary>Gets the set the feed keeps current.</summary>
    public RevocationSet Set { get; }

    /// <summary>Gets the feed URI.</summary>
    public Uri FeedUri => _feedUri;

    /// <summary>Gets a value indicating whether a feed connection is open.</summary>
    public bool IsConnected => Volatile.Read(ref _connected) != 0;

    /// <summary>Gets why the subscriber failed closed on a log change (<see cref="RevocationEpochChangeBehavior.FailClosed"/>), or
    /// <see langword="null"/>. While set, the subscriber does not connect.</summary>
    public string? EpochFault => _epochFault;

    /// <summary>Gets the number of entries rejected so far.</summary>
    public long RejectedEntries => Interlocked.Read(ref _rejected);

    /// <summary>Gets when the feed last proved alive (connection opened, entry or heartbeat received), by the local clock; <see langword="null"/> before the first contact.</summary>
    public DateTimeOffset? LastContact
    {
        get
        {
            var ticks = Interlocked.Read(ref _lastContactTicks);
            return ticks == 0 ? null : new DateTimeOffset(ticks, TimeSpan.Zero);
        }
    }

    /// <summary>Starts the subscription loop in the background; returns at once.</summary>
    /// <exception cref="InvalidOperationException">Already started.</exception>
    public void Start()
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (Interlocked.CompareExchange(ref _loop, Task.Run(() => RunAsync(_stop.Token)), null) is not null)
        {
            throw new InvalidOperationException("The revocation feed subscriber is already started.");
        }
    }

    private async Task RunAsync(CancellationToken cancellationToken)
    {
        // Each received entry is a trace of its own, not a child of whatever span started the subscriber.
        System.Diagnostics.Activity.Current = null;
        try
        {
            await _backoff.RunAsync(static (self, ct) => self.ConnectOnceAsync(ct), this, static (self, retry) => self.OnDisconnected(retry), cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }

        SetConnected(false);
    }

    /// <summary>One connection. A clean end starts the back-off again from the bottom (the connection worked); a failure waits the next,
    /// doubled delay.</summary>
    private async ValueTask<RetryAttemptResult> ConnectOnceAsync(CancellationToken cancellationToken)
    {
        try
        {
            var reason = await ReadFeedAsync(cancellationToken).ConfigureAwait(false);
            if (reason.Length == 0)
            {
                _disconnectReason = "the server closed the stream";
                return RetryAttemptResult.RetryAfterProgress;
            }

            _disconnectReason = reason;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            _disconnectReason = $"no data or heartbeat for {_options.IdleTimeout}";
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException)
        {
            _disconnectReason = ex.Message;
        }

        return RetryAttemptResult.Retry;
    }

    private void OnDisconnected(RetryBackoffEvent retry)
    {
        SetConnected(false);
        _logger.FeedDisconnected(_feedUri, retry.Exception?.Message ?? _disconnectReason, retry.Delay, Set.LastSequence);
    }

    /// <summary>Reads one connection; returns an empty string after a clean end, or the reason it was abandoned.</summary>
    private async Task<string> ReadFeedAsync(CancellationToken cancellationToken)
    {
        if (_epochFault is { } fault)
        {
            return "failed closed: " + fault;
        }

        var after = Set.LastSequence;
        var builder = new UriBuilder(_feedUri);
        var query = builder.Query.TrimStart('?');
        builder.Query = (query.Length == 0 ? string.Empty : query + "&") + "after=" + after.ToString(CultureInfo.InvariantCulture);
        using var request = new HttpRequestMessage(HttpMethod.Get, builder.Uri);
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        request.Headers.TryAddWithoutValidation("Last-Event-ID", after.ToString(CultureInfo.InvariantCulture));
        using var idle = new CancellationTokenSource(Timeout.InfiniteTimeSpan, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, idle.Token);
        idle.CancelAfter(_options.IdleTimeout);
        using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, linked.Token).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            return $"HTTP {(int)response.StatusCode} {response.ReasonPhrase}";
        }

        var stream = await response.Content.ReadAsStreamAsync(linked.Token).ConfigureAwait(false);
        await using (stream.ConfigureAwait(false))
        {
            var reader = new BoundedLineReader(stream, MaxLineBytes);
            Touch();
            SetConnected(true);
            _logger.FeedConnected(_feedUri, after);
            string? data = null;
            string? eventType = null;
            while (true)
            {
                idle.CancelAfter(_options.IdleTimeout);
                var line = await reader.ReadLineAsync(linked.Token).ConfigureAwait(false);
                if (line is null)
                {
                    return string.Empty;
                }

                Touch();
                if (line.Length == 0)
                {
                    if (data is not null && (eventType == "head" ? CheckHead(data) : Dispatch(data)) is { } failure)
                    {
                        return failure;
                    }

                    data = null;
                    eventType = null;
                }
                else if (line.StartsWith("data:", StringComparison.Ordinal))
                {
                    data = line.AsSpan(5).Trim().ToString();
                }
                else if (line.StartsWith("event:", StringComparison.Ordinal))
                {
                    eventType = line.AsSpan(6).Trim().ToString();
                }

                // "id:", "retry:" and ":" comments (heartbeats) need nothing more: the entry carries its own sequence.
            }
        }
    }

    private string? Dispatch(string data)
    {
        RevocationEntry entry;
        try
        {
            entry = _verifier.Verify(data);
        }
        catch (RevocationFeedException ex)
        {
            Interlocked.Increment(ref _rejected);
            _logger.FeedEntryRejected(_feedUri, ex.Message, Set.LastSequence);
            EntryRejected?.Invoke(this, ex);
            return "rejected entry: " + ex.Message;
        }

        var last = Set.LastSequence;

        // The kill switches that this entry trips run inside Apply, so their spans are children of this one.
        using var activity = AgentIdentityTelemetry.Source.StartActivity(AgentIdentityTelemetry.RevocationSpan, System.Diagnostics.ActivityKind.Consumer);
        if (activity is { IsAllDataRequested: true })
        {
            activity.SetRevocation(entry);
        }

        var result = Set.Apply(entry);
        activity?.SetTag(TelemetryTags.RevocationResult, result switch
        {
            RevocationApplyResult.Applied => "applied",
            RevocationApplyResult.AlreadyApplied => "already_applied",
            RevocationApplyResult.EpochChanged => "epoch_changed",
            _ => "gap",
        });
        switch (result)
        {
            case RevocationApplyResult.Applied:
                _logger.RevocationApplied(entry.Sequence, entry.Kind, entry.Subject);
                return null;
            case RevocationApplyResult.AlreadyApplied:
                return null;
            case RevocationApplyResult.EpochChanged:
                return OnEpochChange(entry.LogId, $"entry #{entry.Sequence} is from log {entry.LogId ?? "(none)"}, the subscriber's entries from log {Set.LogId ?? "(none)"}");
            default:
                _logger.FeedGap(_feedUri, entry.Sequence, last);
                return $"gap: #{entry.Sequence} after #{last}";
        }
    }

    /// <summary>The feed's first event, <c>head</c>: <c>&lt;last sequence&gt; &lt;log ID&gt;</c>. A new log ID, or a head below what the
    /// subscriber has applied, means the registry was reset or restored. The event is not signed: the worst a forged one can do is
    /// make the subscriber re-read the feed (it keeps what it has) or fail closed.</summary>
    private string? CheckHead(string data)
    {
        var parts = data.Split(' ', 2, StringSplitOptions.TrimEntries);
        if (!long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var head))
        {
            return null; // an unknown head format from a newer server: entries are still checked one by one
        }

        var logId = parts.Length > 1 && parts[1].Length > 0 && parts[1] != "-" ? parts[1] : null;
        var known = Set.LogId;
        var last = Set.LastSequence;
        if (last == 0 && known is null)
        {
            return null;
        }

        if (!string.Equals(logId, known, StringComparison.Ordinal))
        {
            return OnEpochChange(logId, $"the feed's log is {logId ?? "(none)"}, the subscriber's {known ?? "(none)"}");
        }

        return head < last ? OnEpochChange(logId, $"the feed's head #{head} is below the subscriber's #{last} in log {logId ?? "(none)"}") : null;
    }

    private string OnEpochChange(string? logId, string why)
    {
        if (_options.EpochChange == RevocationEpochChangeBehavior.FailClosed)
        {
            _epochFault = why;
            _logger.FeedEpochChanged(_feedUri, why, "failing closed");
            return "failed closed: " + why;
        }

        _logger.FeedEpochChanged(_feedUri, why, "resynchronising from the start of the new log");
        Set.Resynchronize(logId);
        return "new log: " + why;
    }

    private void Touch() => Interlocked.Exchange(ref _lastContactTicks, _time.GetUtcNow().UtcTicks);

    private void SetConnected(bool connected)
    {
        if (Interlocked.Exchange(ref _connected, connected ? 1 : 0) != (connected ? 1 : 0))
        {
            ConnectionChanged?.Invoke(this, connected);
        }
    }

    /// <summary>Stops the subscription.</summary>
    /// <returns>A task that completes when the loop has ended.</returns>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        if (Volatile.Read(ref _loop) is { } loop)
        {
            await loop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        _stop.Dispose();
    }
}
