using System.Data.Common;
using Microsoft.Data.Sqlite;

namespace AgentIdentity.Issuer;

/// <summary>The default store: one SQLite file in WAL mode. For a single issuer process.</summary>
internal sealed class SqliteIssuerStore : SqlIssuerStore
{
    private readonly string _connectionString;

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

    protected override async ValueTask<DbTransaction> BeginWriteTransactionAsync(DbConnection connection, CancellationToken cancellationToken) =>
        await ((SqliteConnection)connection).BeginTransactionAsync(System.Data.IsolationLevel.Serializable, cancellationToken).ConfigureAwait(false); // BEGIN IMMEDIATE: one writer, no upgrade deadlocks

    protected override bool IsUniqueViolation(DbException exception) => exception is SqliteException { SqliteErrorCode: 19 };
}
