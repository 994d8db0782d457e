using System.Data.Common;
using Microsoft.Data.Sqlite;

namespace AgentIdentity.Issuer;

/// <summary>The default store: one SQLite file in WAL mode. For a single issuer process.</summary>
internal sealed class SqliteIssuerStore : SqlIssuerStore
{
    /// <summary>Write transactions between two background checkpoints.</summary>
    internal const int CheckpointInterval = 32;

    private readonly string _connectionString;
    private readonly System.Runtime.CompilerServices.ConditionalWeakTable<SQLitePCL.sqlite3, object> _configured = [];
    private int _writesSinceCheckpoint;
    private int _checkpointing;
    private long _checkpoints;
    private Task _lastCheckpoint = Task.CompletedTask;

    /// <param name="connectionString">A connection string made by <see cref="ToConnectionString"/>.</param>
    public SqliteIssuerStore(string connectionString)
    {
        ArgumentException.ThrowIfNullOrEmpty(connectionString);
        _connectionString = connectionString;
        UsesGroupCommit = true; // one writer: without coalescing, concurrent issuances wait for each other's fsync one by one
    }

    /// <summary>Gets the database file's path (the connection string's <c>Data Source</c>).</summary>
    internal string DatabasePath => new SqliteConnectionStringBuilder(_connectionString).DataSource;

    /// <summary>Turns a file path, or a connection string with a file <c>Data Source</c>, into the store's connection string
    /// (read-write-create, pooled, 30 s busy timeout unless the connection string says otherwise).</summary>
    /// <exception cref="ArgumentException">The value names no file, or an in-memory database.</exception>
    internal static string ToConnectionString(string pathOrConnectionString)
    {
        SqliteConnectionStringBuilder builder;
        try
        {
            builder = pathOrConnectionString.Contains('=', StringComparison.Ordinal)
                ? new SqliteConnectionStringBuilder(pathOrConnectionString)
                : new SqliteConnectionStringBuilder { DataSource = pathOrConnectionString };
        }
        catch (ArgumentException)
        {
            builder = new SqliteConnectionStringBuilder { DataSource = pathOrConnectionString }; // a file name with '=' in it
        }

        if (string.IsNullOrWhiteSpace(builder.DataSource))
        {
            throw new ArgumentException("The SQLite connection string names no file: set 'Data Source=<path>'.", nameof(pathOrConnectionString));
        }

        if (builder.Mode == SqliteOpenMode.Memory || builder.DataSource == ":memory:")
        {
            throw new ArgumentException(
                "The issuer cannot use an in-memory SQLite database: it is not durable (the CA keys and redeemed join tokens would be lost) and each connection sees another one. Give a file path.",
                nameof(pathOrConnectionString));
        }

        return builder.ToString();
    }

    /// <summary>Gets the connection string (for tests and diagnostics; it carries no secret).</summary>
    internal string ConnectionString => _connectionString;

    protected override string ProviderName => "SQLite";

    protected override string BinaryType => "BLOB";

    protected override string[] SchemaStatements =>
    [
        "PRAGMA journal_mode=WAL",
        "CREATE TABLE IF NOT EXISTS ai_certificate_authorities (id TEXT PRIMARY KEY, state INTEGER NOT NULL, root_cert BLOB NOT NULL, root_key BLOB NOT NULL, intermediate_cert BLOB NOT NULL, intermediate_key BLOB NOT NULL, created_at INTEGER NOT NULL, not_after INTEGER NOT NULL)",
        "CREATE TABLE IF NOT EXISTS ai_join_tokens (token_hash BLOB PRIMARY KEY, agent_name TEXT NOT NULL, policy BLOB NULL, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, redeemed_at INTEGER NULL, redeemed_by TEXT NULL)",
        "CREATE TABLE IF NOT EXISTS ai_identities (spiffe_id TEXT PRIMARY KEY, policy BLOB NULL, parent_id TEXT NULL, enrolled_at INTEGER NOT NULL, revoked INTEGER NOT NULL)",
        "CREATE TABLE IF NOT EXISTS ai_certificates (serial TEXT PRIMARY KEY, spiffe_id TEXT NOT NULL, kind TEXT NOT NULL, not_before INTEGER NOT NULL, not_after INTEGER NOT NULL, issued_at INTEGER NOT NULL, der BLOB NOT NULL)",
        "CREATE INDEX IF NOT EXISTS ai_certificates_spiffe_id ON ai_certificates (spiffe_id)",
    ];

    protected override async ValueTask<DbConnection> OpenConnectionAsync(CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(_connectionString);
        try
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Gets or sets a value indicating whether WAL checkpoints run in the background (the default) rather than inside
    /// the commit that crosses SQLite's 1000-page threshold (settable for the benchmark that compares both).</summary>
    internal bool UsesBackgroundCheckpoints { get; set; } = true;

    /// <summary>Gets the number of background checkpoints that ran (for tests).</summary>
    internal long BackgroundCheckpoints => Interlocked.Read(ref _checkpoints);

    /// <summary>Gets the last background checkpoint started (for tests: await it).</summary>
    internal Task LastCheckpoint => Volatile.Read(ref _lastCheckpoint);

    protected override async ValueTask<DbTransaction> BeginWriteTransactionAsync(DbConnection connection, CancellationToken cancellationToken)
    {
        var sqlite = (SqliteConnection)connection;
        if (UsesBackgroundCheckpoints)
        {
            // SQLite checkpoints the WAL inside the commit that crosses 1000 pages: that commit (and so every writer queued behind
            // the one write lock) waits for the database pages to be copied and the database file to be fsynced. Here writers
            // never checkpoint; every CheckpointInterval write transactions a PASSIVE checkpoint runs on another connection, beside
            // the writer. Durability is the WAL's (synchronous=FULL fsyncs it at every commit), not the checkpoint's.
            if (_configured.TryAdd(sqlite.Handle!, this))
            {
                using var pragma = sqlite.CreateCommand();
                pragma.CommandText = "PRAGMA wal_autocheckpoint=0";
                await pragma.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }

            if (Interlocked.Increment(ref _writesSinceCheckpoint) >= CheckpointInterval && Interlocked.CompareExchange(ref _checkpointing, 1, 0) == 0)
            {
                Volatile.Write(ref _writesSinceCheckpoint, 0);
                Volatile.Write(ref _lastCheckpoint, Task.Run(CheckpointAsync, CancellationToken.None));
            }
        }

        return await sqlite.BeginTransactionAsync(System.Data.IsolationLevel.Serializable, cancellationToken).ConfigureAwait(false); // BEGIN IMMEDIATE: one writer, no upgrade deadlocks
    }

    /// <summary>Copies the WAL into the database without blocking the writer (PASSIVE); a failure only leaves the WAL longer
    /// until the next one.</summary>
    private async Task CheckpointAsync()
    {
        try
        {
            var connection = new SqliteConnection(_connectionString);
            await using var owned = connection.ConfigureAwait(false);
            await connection.OpenAsync().ConfigureAwait(false);
            using var checkpoint = connection.CreateCommand();
            checkpoint.CommandText = "PRAGMA wal_checkpoint(PASSIVE)";
            await checkpoint.ExecuteNonQueryAsync().ConfigureAwait(false);
            Interlocked.Increment(ref _checkpoints);
        }
        catch (SqliteException)
        {
            // Busy or I/O: the WAL keeps every committed write; the next interval checkpoints it.
        }
        finally
        {
            Volatile.Write(ref _checkpointing, 0);
        }
    }

    protected override bool IsUniqueViolation(DbException exception) => exception is SqliteException { SqliteErrorCode: 19 };
}
