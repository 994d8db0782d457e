using Microsoft.Extensions.Logging;
using Npgsql;

namespace AgentIdentity.Issuer;

/// <summary>What another replica changed, as PostgreSQL's notification names it.</summary>
[Flags]
internal enum IssuerStoreChanges
{
    /// <summary>Nothing.</summary>
    None = 0,

    /// <summary>A revocation committed (a row in <c>ai_revocations</c>).</summary>
    Revocations = 1,

    /// <summary>A CA was added or changed state (prepare, activate, retire): the signing CA and the trust bundle.</summary>
    CertificateAuthorities = 2,

    /// <summary>Everything: after a (re)connection, when notifications may have been missed.</summary>
    All = Revocations | CertificateAuthorities,
}

/// <summary>
/// Wakes an issuer replica when another replica commits a change to the shared PostgreSQL store: <c>LISTEN ai_issuer_changes</c> on a
/// dedicated connection, fed by triggers on <c>ai_revocations</c> and <c>ai_certificate_authorities</c> (created here when missing),
/// so every writer notifies, inside its own transaction: a notification is sent only on commit.
/// </summary>
/// <remarks>
/// A notification only says what to re-read; the tables are the truth. After every (re)connection <see cref="IssuerStoreChanges.All"/>
/// is reported, so the replica catches up from its last sequence whatever it missed while disconnected. A dropped connection (a
/// PostgreSQL restart, a network cut) is retried with the SDK's back-off, and the store's connection pool is cleared, so that the
/// requests after a restart do not meet dead pooled connections.
/// </remarks>
internal sealed class PostgreSqlChangeListener
{
    /// <summary>The notification channel.</summary>
    internal const string Channel = "ai_issuer_changes";

    /// <summary>The payload prefix of a revocation notification (<c>revocation:&lt;sequence&gt;</c>).</summary>
    internal const string RevocationPayload = "revocation:";

    /// <summary>The payload of a CA change.</summary>
    internal const string CertificateAuthorityPayload = "ca";

    // Created once per database, serialised across replicas starting together by a transaction-scoped advisory lock.
    private const string TriggerStatement = """
        DO $$
        BEGIN
            PERFORM pg_advisory_xact_lock(7302406137514650419);
            IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'ai_revocations_notify' AND tgrelid = 'ai_revocations'::regclass) THEN
                CREATE OR REPLACE FUNCTION ai_revocations_notify() RETURNS trigger LANGUAGE plpgsql AS $f$
                BEGIN
                    PERFORM pg_notify('ai_issuer_changes', 'revocation:' || NEW.sequence);
                    RETURN NULL;
                END $f$;
                CREATE TRIGGER ai_revocations_notify AFTER INSERT ON ai_revocations FOR EACH ROW EXECUTE FUNCTION ai_revocations_notify();
            END IF;
            IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'ai_certificate_authorities_notify' AND tgrelid = 'ai_certificate_authorities'::regclass) THEN
                CREATE OR REPLACE FUNCTION ai_certificate_authorities_notify() RETURNS trigger LANGUAGE plpgsql AS $f$
                BEGIN
                    PERFORM pg_notify('ai_issuer_changes', 'ca');
                    RETURN NULL;
                END $f$;
                CREATE TRIGGER ai_certificate_authorities_notify AFTER INSERT OR UPDATE OR DELETE ON ai_certificate_authorities FOR EACH STATEMENT EXECUTE FUNCTION ai_certificate_authorities_notify();
            END IF;
        END $$
        """;

    private readonly PostgreSqlIssuerStore _store;
    private readonly string _connectionString;
    private readonly RetryBackoff _backoff;
    private readonly ILogger _logger;
    private readonly CountSignal _connections = new();
    private readonly CountSignal _disconnections = new();

    public PostgreSqlChangeListener(PostgreSqlIssuerStore store, RetryBackoff backoff, ILogger logger)
    {
        _store = store;
        _backoff = backoff;
        _logger = logger;

        // A session of its own (LISTEN does not survive a pooled connection's reset, nor a transaction-mode pooler), with keepalives so
        // that a connection cut silently is noticed while it waits.
        _connectionString = new NpgsqlConnectionStringBuilder(store.ConnectionString) { Pooling = false, KeepAlive = 15, ApplicationName = "agentidentity-issuer-listener" }.ToString();
    }

    /// <summary>Gets a value indicating whether the listener is connected and listening.</summary>
    public bool IsListening { get; private set; }

    /// <summary>Gets how many times the listener has connected (1 after the first connection).</summary>
    public long Connections => _connections.Count;

    /// <summary>Gets how many times an established connection was lost.</summary>
    public long Disconnections => _disconnections.Count;

    /// <summary>Completes when the listener has connected (and caught up) more than <paramref name="connections"/> times.</summary>
    /// <param name="connections">A previous value of <see cref="Connections"/>.</param>
    /// <returns>A task that completes once connected again.</returns>
    public Task WhenConnectedAsync(long connections) => _connections.WhenAboveAsync(connections);

    /// <summary>Completes when the listener has lost an established connection more than <paramref name="disconnections"/> times.</summary>
    /// <param name="disconnections">A previous value of <see cref="Disconnections"/>.</param>
    /// <returns>A task that completes once disconnected again.</returns>
    public Task WhenDisconnectedAsync(long disconnections) => _disconnections.WhenAboveAsync(disconnections);

    /// <summary>Listens until <paramref name="cancellationToken"/> is cancelled, reconnecting with back-off.</summary>
    /// <param name="changed">Called on the listener's connection with what a notification says changed; it must return at once and not throw.</param>
    /// <param name="catchUp">Called after each (re)connection, once listening, to read everything that changed meanwhile; the
    /// listener counts as connected when it returned. When it throws, the listener reconnects after a back-off delay.</param>
    /// <param name="cancellationToken">Stops listening.</param>
    /// <returns>A task that completes when cancelled.</returns>
    public async Task RunAsync(Action<IssuerStoreChanges> changed, Func<CancellationToken, Task> catchUp, CancellationToken cancellationToken)
    {
        try
        {
            await _backoff.RunAsync(
                static (state, ct) => state.Self.ListenOnceAsync(state.Changed, state.CatchUp, ct),
                (Self: this, Changed: changed, CatchUp: catchUp),
                static (state, retry) => state.Self._logger.ChangeListenerRetrying(retry.Attempt, retry.Delay, retry.Exception?.Message ?? "no connection"),
                cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    private async ValueTask<RetryAttemptResult> ListenOnceAsync(Action<IssuerStoreChanges> changed, Func<CancellationToken, Task> catchUp, CancellationToken cancellationToken)
    {
        var listening = false;
        try
        {
            var connection = new NpgsqlConnection(_connectionString);
            await using var _ = connection.ConfigureAwait(false);
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            using (var triggers = new NpgsqlCommand(TriggerStatement, connection))
            {
                await triggers.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }

            connection.Notification += (_, e) => changed(Parse(e.Payload));
            using (var listen = new NpgsqlCommand("LISTEN " + Channel, connection))
            {
                await listen.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }

            // Listening from here on: whatever committed before (while disconnected) is read now, what commits after is notified.
            await catchUp(cancellationToken).ConfigureAwait(false);
            listening = true;
            IsListening = true;
            _connections.Increment();
            _logger.ChangeListenerConnected(Connections);
            while (true)
            {
                await connection.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested && ex is NpgsqlException or IOException or TimeoutException or InvalidOperationException or IssuerStoreUnavailableException)
        {
            IsListening = false;
            if (!listening)
            {
                throw;
            }

            // The connection dropped after it worked: the pooled connections of this replica are dead as well.
            _logger.ChangeListenerDisconnected(ex.Message);
            _store.ClearPool();
            _disconnections.Increment();
            return RetryAttemptResult.RetryAfterProgress;
        }
        finally
        {
            IsListening = false;
        }
    }

    internal static IssuerStoreChanges Parse(string payload) =>
        payload.StartsWith(RevocationPayload, StringComparison.Ordinal) ? IssuerStoreChanges.Revocations
        : payload == CertificateAuthorityPayload ? IssuerStoreChanges.CertificateAuthorities
        : IssuerStoreChanges.All; // an unknown payload (a newer replica): re-read everything
}
