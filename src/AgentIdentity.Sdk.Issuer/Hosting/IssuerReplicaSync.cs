using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace AgentIdentity.Issuer;

/// <summary>
/// Keeps an issuer replica in step with the shared store, so that replicas are stateless: what another replica commits (a
/// revocation, a CA prepared or activated, hence a new bundle) is read from the tables and applied here, waking this replica's feed
/// subscribers and switching its signing CA without <see cref="AgentIdentityIssuer.ReloadAsync(CancellationToken)"/>.
/// </summary>
/// <remarks>
/// <para>On PostgreSQL a <see cref="PostgreSqlChangeListener"/> wakes the replica on every commit, and it catches up from its last
/// sequence after each (re)connection. On SQLite (one node) the writer is this process, which wakes its subscribers itself.</para>
/// <para>On both, a periodic catch-up every <see cref="RevocationRegistryOptions.StorePollInterval"/> (on the issuer's
/// <see cref="TimeProvider"/>) is the safety net: a lost notification delays a change by at most that long, and loses nothing.</para>
/// <para>Started and stopped by the issuer's start-up hosted service, after the CA is loaded.</para>
/// </remarks>
internal sealed class IssuerReplicaSync : IAsyncDisposable
{
    private readonly AgentIdentityIssuer _issuer;
    private readonly StoreRevocationRegistry? _registry;
    private readonly RevocationRegistryOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _wake = new(0, 1);
    private readonly CancellationTokenSource _stop = new();
    private readonly CountSignal _catchUps = new();
    private int _pending;
    private int _disposed;
    private PeriodicTimer? _timer;
    private Task? _worker;
    private Task? _ticker;
    private Task? _listening;

    /// <param name="issuer">The issuer.</param>
    /// <param name="registry">The store-backed registry the issuer serves, or <see langword="null"/> when the host registered another one.</param>
    /// <param name="options">The registry options (the safety-net interval).</param>
    /// <param name="time">The issuer's clock.</param>
    /// <param name="logger">Logging.</param>
    public IssuerReplicaSync(AgentIdentityIssuer issuer, StoreRevocationRegistry? registry, RevocationRegistryOptions options, TimeProvider time, ILogger logger)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(options.StorePollInterval, TimeSpan.Zero, nameof(options));
        _issuer = issuer;
        _registry = registry is { IsAvailable: true } ? registry : null;
        _options = options;
        _time = time;
        _logger = logger;
    }

    /// <summary>Gets the PostgreSQL change listener, or <see langword="null"/> on another store.</summary>
    public PostgreSqlChangeListener? Listener { get; private set; }

    /// <summary>Gets how many catch-ups have completed (for tests).</summary>
    public long CatchUps => _catchUps.Count;

    /// <summary>Completes when more than <paramref name="catchUps"/> catch-ups have completed.</summary>
    /// <param name="catchUps">A previous value of <see cref="CatchUps"/>.</param>
    /// <returns>A task that completes after the next catch-up.</returns>
    public Task WhenCaughtUpAsync(long catchUps) => _catchUps.WhenAboveAsync(catchUps);

    /// <summary>Starts the safety-net timer and, on PostgreSQL, the listener; returns once the listener has connected and caught up,
    /// so a started replica is current.</summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (_issuer.Store is not SqlIssuerStore)
        {
            return; // a custom store: it has its own way, or none, to share state
        }

        _timer = new PeriodicTimer(_options.StorePollInterval, _time);
        _worker = Task.Run(() => WorkAsync(_stop.Token), CancellationToken.None);
        _ticker = Task.Run(() => TickAsync(_timer, _stop.Token), CancellationToken.None);
        if (_issuer.Store is PostgreSqlIssuerStore postgres)
        {
            Listener = new PostgreSqlChangeListener(postgres, RetryBackoff.Exponential(TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(10), useJitter: true, _time), _logger);
            _listening = Listener.RunAsync(Signal, CatchUpAsync, _stop.Token);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stop.Token);
            await Listener.WhenConnectedAsync(0).WaitAsync(linked.Token).ConfigureAwait(false);
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        foreach (var task in new[] { _worker, _ticker, _listening })
        {
            if (task is not null)
            {
                await task.WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await StopAsync(CancellationToken.None).ConfigureAwait(false);
        _timer?.Dispose();
        _stop.Dispose();
        _wake.Dispose();
    }

    /// <summary>Records what changed and wakes the worker; never blocks (it runs on the listener's connection).</summary>
    private void Signal(IssuerStoreChanges changes)
    {
        Interlocked.Or(ref _pending, (int)changes);
        try
        {
            if (_wake.CurrentCount == 0)
            {
                _wake.Release();
            }
        }
        catch (SemaphoreFullException)
        {
            // Already signalled: the worker reads every pending change at once.
        }
        catch (ObjectDisposedException)
        {
        }
    }

    private async Task TickAsync(PeriodicTimer timer, CancellationToken cancellationToken)
    {
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                Signal(IssuerStoreChanges.All);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task WorkAsync(CancellationToken cancellationToken)
    {
        try
        {
            while (true)
            {
                await _wake.WaitAsync(cancellationToken).ConfigureAwait(false);
                var changes = (IssuerStoreChanges)Interlocked.Exchange(ref _pending, 0);
                try
                {
                    await ApplyAsync(changes, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    // The store is down (the listener reconnects and catches up) or an entry does not verify: the next catch-up retries.
                    _logger.CatchUpFailed(ex.Message, ex);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private Task CatchUpAsync(CancellationToken cancellationToken) => ApplyAsync(IssuerStoreChanges.All, cancellationToken);

    private async Task ApplyAsync(IssuerStoreChanges changes, CancellationToken cancellationToken)
    {
        // The CAs first: a revocation signed by a newly activated CA verifies with it.
        if (changes.HasFlag(IssuerStoreChanges.CertificateAuthorities) && await _issuer.ReloadIfChangedAsync(cancellationToken).ConfigureAwait(false))
        {
            var state = _issuer.State;
            _logger.CertificateAuthorityAdopted(state.ActiveId, state.Bundle.X509Authorities.Count);
        }

        if (changes.HasFlag(IssuerStoreChanges.Revocations) && _registry is not null)
        {
            await _registry.CatchUpAsync(cancellationToken).ConfigureAwait(false);
        }

        _catchUps.Increment();
    }
}
