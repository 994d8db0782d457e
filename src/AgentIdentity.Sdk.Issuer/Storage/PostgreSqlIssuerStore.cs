using System.Data.Common;
using Npgsql;

namespace AgentIdentity.Issuer;

/// <summary>The store for several issuer replicas: one PostgreSQL database they share.</summary>
internal sealed class PostgreSqlIssuerStore : SqlIssuerStore, IAsyncDisposable
{
    private readonly NpgsqlDataSource _dataSource;

    public PostgreSqlIssuerStore(string connectionString)
    {
        ArgumentException.ThrowIfNullOrEmpty(connectionString);
        ConnectionString = connectionString;
        _dataSource = NpgsqlDataSource.Create(connectionString);
    }

    /// <summary>Gets the connection string (the change listener opens its own session with it); never logged.</summary>
    internal string ConnectionString { get; }

    /// <summary>Drops the pooled connections (after the database restarted: they are dead, and would fail the next requests once each).</summary>
    internal void ClearPool() => _dataSource.Clear();

    /// <summary>Checks that <paramref name="connectionString"/> is a well-formed Npgsql connection string, without naming its values.</summary>
    /// <exception cref="ArgumentException">It is malformed.</exception>
    internal static void ValidateConnectionString(string connectionString)
    {
        try
        {
            _ = new NpgsqlConnectionStringBuilder(connectionString);
        }
        catch (ArgumentException ex)
        {
            throw new ArgumentException($"The PostgreSQL connection string of the issuer is malformed: {ex.Message}", nameof(connectionString));
        }
    }

    protected override string ProviderName => "PostgreSQL";

    protected override string BinaryType => "BYTEA";

    // Replicas starting together on a new database would race in CREATE TABLE IF NOT EXISTS (a unique violation in pg_type).
    protected override string? SchemaLockStatement => "SELECT pg_advisory_xact_lock(7302406137514650420)";

    protected override string[] SchemaStatements =>
    [
        "CREATE TABLE IF NOT EXISTS ai_certificate_authorities (id TEXT PRIMARY KEY, state INTEGER NOT NULL, root_cert BYTEA NOT NULL, root_key BYTEA NOT NULL, intermediate_cert BYTEA NOT NULL, intermediate_key BYTEA NOT NULL, created_at BIGINT NOT NULL, not_after BIGINT NOT NULL)",
        "CREATE UNIQUE INDEX IF NOT EXISTS ai_certificate_authorities_one_active ON ai_certificate_authorities (state) WHERE state = 0",
        "CREATE TABLE IF NOT EXISTS ai_join_tokens (token_hash BYTEA PRIMARY KEY, agent_name TEXT NOT NULL, policy BYTEA NULL, created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL, redeemed_at BIGINT NULL, redeemed_by TEXT NULL)",
        "CREATE TABLE IF NOT EXISTS ai_identities (spiffe_id TEXT PRIMARY KEY, policy BYTEA NULL, parent_id TEXT NULL, enrolled_at BIGINT NOT NULL, revoked INTEGER NOT NULL)",
        "CREATE TABLE IF NOT EXISTS ai_certificates (serial TEXT PRIMARY KEY, spiffe_id TEXT NOT NULL, kind TEXT NOT NULL, not_before BIGINT NOT NULL, not_after BIGINT NOT NULL, issued_at BIGINT NOT NULL, der BYTEA NOT NULL)",
        "CREATE INDEX IF NOT EXISTS ai_certificates_spiffe_id ON ai_certificates (spiffe_id)",
    ];

    protected override async ValueTask<DbConnection> OpenConnectionAsync(CancellationToken cancellationToken) =>
        await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);

    protected override async ValueTask<DbTransaction> BeginWriteTransactionAsync(DbConnection connection, CancellationToken cancellationToken) =>
        await ((NpgsqlConnection)connection).BeginTransactionAsync(System.Data.IsolationLevel.ReadCommitted, cancellationToken).ConfigureAwait(false);

    protected override bool IsUniqueViolation(DbException exception) => exception is PostgresException { SqlState: PostgresErrorCodes.UniqueViolation };

    public ValueTask DisposeAsync() => _dataSource.DisposeAsync();
}
