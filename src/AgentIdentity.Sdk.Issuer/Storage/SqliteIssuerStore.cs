using System.Data.Common;
using Microsoft.Data.Sqlite;

namespace AgentIdentity.Issuer;

/// <summary>The default store: one SQLite file in WAL mode. For a single issuer process.</summary>
internal sealed class SqliteIssuerStore : SqlIssuerStore
{
    private readonly string _connectionString;

    public SqliteIssuerStore(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = true,
            DefaultTimeout = 30,
        }.ToString();
    }

    protected override string ProviderName => "SQLite";

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
