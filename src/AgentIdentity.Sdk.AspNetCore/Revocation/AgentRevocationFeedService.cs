using System.Diagnostics.CodeAnalysis;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AgentIdentity.AspNetCore;

/// <summary>
/// The service side of revocation: a hosted subscription to the issuer's feed that keeps a <see cref="RevocationSet"/> current,
/// and the <see cref="IAgentRevocationChecker"/> the AgentIdentity handler asks on every request (O(1), no I/O). When the feed has
/// been unreachable longer than <see cref="AgentRevocationFeedOptions.GracePeriod"/>, <see cref="AgentRevocationFeedOptions.FailurePolicy"/> applies.
/// </summary>
public sealed class AgentRevocationFeedService : IHostedService, IAgentRevocationChecker, IAsyncDisposable, IDisposable
{
    private readonly AgentRevocationFeedOptions _options;
    private readonly IHttpClientFactory _httpClients;
    private readonly TimeProvider _time;
    private readonly ILoggerFactory _loggerFactory;
    private readonly ILogger _logger;
    private readonly DateTimeOffset _created;
    private RevocationFeedSubscriber? _subscriber;
    private RevocationFeedVerifier? _verifier;
    private int _staleLogged;
    private bool _stale;
    private ITimer? _staleTimer;

    /// <summary>Initializes a new instance of the <see cref="AgentRevocationFeedService"/> class.</summary>
    /// <param name="options">The options.</param>
    /// <param name="set">The revocation set to keep current.</param>
    /// <param name="httpClients">Creates the feed client (<see cref="AgentRevocationFeedOptions.HttpClientName"/>).</param>
    /// <param name="time">The clock.</param>
    /// <param name="loggerFactory">Logging.</param>
    public AgentRevocationFeedService(IOptions<AgentRevocationFeedOptions> options, RevocationSet set, IHttpClientFactory httpClients, TimeProvider time, ILoggerFactory loggerFactory)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(set);
        ArgumentNullException.ThrowIfNull(httpClients);
        ArgumentNullException.ThrowIfNull(time);
        ArgumentNullException.ThrowIfNull(loggerFactory);
        _options = options.Value;
        if (_options.Validate() is { } error)
        {
            throw new OptionsValidationException(nameof(AgentRevocationFeedOptions), typeof(AgentRevocationFeedOptions), [$"Invalid revocation feed options: {error}"]);
        }

        Set = set;
        _httpClients = httpClients;
        _time = time;
        _loggerFactory = loggerFactory;
        _logger = loggerFactory.CreateLogger<AgentRevocationFeedService>();
        _created = time.GetUtcNow();
    }

    private string StaleReason => $"the revocation feed has been unreachable for more than {_options.GracePeriod} and the policy is fail-closed";

    /// <summary>Gets the revocation set the feed keeps current.</summary>
    public RevocationSet Set { get; }

    /// <summary>Gets the subscriber once started (connection state, last contact, rejected entries).</summary>
    public RevocationFeedSubscriber? Subscriber => Volatile.Read(ref _subscriber);

    /// <summary>Gets a value indicating whether the feed has been unreachable for longer than the grace period.</summary>
    public bool IsStale
    {
        get
        {
            var subscriber = Volatile.Read(ref _subscriber);
            if (subscriber is { IsConnected: true })
            {
                return false;
            }

            var since = subscriber?.LastContact ?? _created;
            return _time.GetUtcNow() - since > _options.GracePeriod;
        }
    }

    /// <inheritdoc/>
    public Task StartAsync(CancellationToken cancellationToken)
    {
        var trustDomain = TrustDomain.Parse(_options.TrustDomain!);
        _verifier = new RevocationFeedVerifier(_options.SignerCertificate!, trustDomain);
        var subscriber = new RevocationFeedSubscriber(
            _httpClients.CreateClient(AgentRevocationFeedOptions.HttpClientName),
            _options.FeedUri!,
            _verifier,
            Set,
            _options.Subscriber,
            _time,
            _loggerFactory.CreateLogger<RevocationFeedSubscriber>());
        subscriber.ConnectionChanged += (_, connected) =>
        {
            if (connected)
            {
                Volatile.Write(ref _stale, false);
                Interlocked.Exchange(ref _staleLogged, 0);
            }
        };
        Volatile.Write(ref _subscriber, subscriber);
        subscriber.Start();

        // Staleness is re-evaluated on a timer, so the per-request path reads a flag instead of the clock.
        var period = TimeSpan.FromTicks(Math.Clamp(_options.GracePeriod.Ticks / 4, TimeSpan.TicksPerMillisecond, TimeSpan.TicksPerSecond));
        _staleTimer = _time.CreateTimer(static state => ((AgentRevocationFeedService)state!).UpdateStale(), this, period, period);
        return Task.CompletedTask;
    }

    /// <inheritdoc/>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _staleTimer, null) is { } timer)
        {
            await timer.DisposeAsync().ConfigureAwait(false);
        }

        if (Interlocked.Exchange(ref _subscriber, null) is { } subscriber)
        {
            await subscriber.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <inheritdoc/>
    public bool IsRevoked(AgentCaller caller, [NotNullWhen(true)] out string? reason)
    {
        ArgumentNullException.ThrowIfNull(caller);

        // The verdict for a certificate changes only when an entry arrives: cache it on the (per-certificate) caller.
        var sequence = Set.LastSequence;
        if (caller.RevocationVerdict is not Verdict verdict || verdict.Sequence != sequence)
        {
            verdict = new Verdict(sequence, Check(caller));
            caller.RevocationVerdict = verdict;
        }

        if (verdict.Reason is not null)
        {
            reason = verdict.Reason;
            return true;
        }

        if (Volatile.Read(ref _stale) && _options.FailurePolicy == RevocationFeedFailurePolicy.FailClosed)
        {
            reason = StaleReason;
            return true;
        }

        reason = null;
        return false;
    }

    private string? Check(AgentCaller caller)
    {
        SpiffeId[]? ancestors = null;
        if (Set.IdentityCount != 0 && caller.DelegationChainExtension is not null)
        {
            ancestors = ReadAncestors(caller);
        }

        return Set.IsRevoked(caller.SerialNumber, caller.Id, ancestors, out var entry)
            ? $"revocation #{entry.Sequence}: {entry.Kind.ToString().ToLowerInvariant()} {entry.Subject} ({entry.Reason})"
            : null;
    }

    private void UpdateStale()
    {
        var stale = IsStale;
        Volatile.Write(ref _stale, stale);
        if (stale && Interlocked.Exchange(ref _staleLogged, 1) == 0)
        {
            _logger.FeedStale(_options.FeedUri!, _options.GracePeriod, _options.FailurePolicy);
        }
    }

    private sealed record Verdict(long Sequence, string? Reason);

    private static SpiffeId[] ReadAncestors(AgentCaller caller)
    {
        try
        {
            return AgentPolicyExtension.ReadDelegationChain(caller.Certificate) is { } chain ? [.. chain.Select(l => l.Id)] : [];
        }
        catch (PolicyFormatException)
        {
            return [];
        }
    }

    /// <summary>Stops the subscription without waiting for its loop to end (prefer <see cref="DisposeAsync"/> or the host's stop).</summary>
    public void Dispose()
    {
        Interlocked.Exchange(ref _staleTimer, null)?.Dispose();
        if (Interlocked.Exchange(ref _subscriber, null) is { } subscriber)
        {
            _ = subscriber.DisposeAsync().AsTask();
        }

        _verifier?.Dispose();
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        await StopAsync(CancellationToken.None).ConfigureAwait(false);
        _verifier?.Dispose();
    }
}
