using System.Data;
using System.Data.Common;

namespace AgentIdentity.Issuer;

/// <summary>The ADO.NET implementation shared by the SQLite and PostgreSQL stores: the same statements, provider-specific DDL.</summary>
internal abstract partial class SqlIssuerStore : IIssuerStore
{
    protected abstract string ProviderName { get; }

    protected abstract string[] SchemaStatements { get; }

    protected abstract ValueTask<DbConnection> OpenConnectionAsync(CancellationToken cancellationToken);

    protected abstract ValueTask<DbTransaction> BeginWriteTransactionAsync(DbConnection connection, CancellationToken cancellationToken);

    protected abstract bool IsUniqueViolation(DbException exception);

    /// <summary>Gets a statement that serialises schema creation across replicas starting together (run first, in one transaction
    /// with the DDL), or <see langword="null"/> when the database needs none.</summary>
    protected virtual string? SchemaLockStatement => null;

    public Task InitializeAsync(CancellationToken cancellationToken = default) => RunAsync(async connection =>
    {
        using var transaction = SchemaLockStatement is null ? null : await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        foreach (var statement in SchemaStatements.Concat(RevocationSchemaStatements).Prepend(SchemaLockStatement).OfType<string>())
        {
            using var command = Command(connection, transaction, statement);
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        await InitializeRevocationStateAsync(connection, cancellationToken).ConfigureAwait(false);
        if (transaction is not null)
        {
            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        }

        return true;
    }, cancellationToken);

    public Task<IReadOnlyList<StoredCertificateAuthority>> GetCertificateAuthoritiesAsync(CancellationToken cancellationToken = default) => RunAsync<IReadOnlyList<StoredCertificateAuthority>>(async connection =>
    {
        using var command = Command(connection, null, "SELECT id, state, root_cert, root_key, intermediate_cert, intermediate_key, created_at, not_after FROM ai_certificate_authorities ORDER BY created_at, id");
        using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        var list = new List<StoredCertificateAuthority>();
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            list.Add(new StoredCertificateAuthority(
                reader.GetString(0), (CertificateAuthorityState)reader.GetInt32(1), Bytes(reader, 2)!, Bytes(reader, 3)!, Bytes(reader, 4)!, Bytes(reader, 5)!,
                Time(reader.GetInt64(6)), Time(reader.GetInt64(7))));
        }

        return list;
    }, cancellationToken);

    public Task<bool> TryAddCertificateAuthorityAsync(StoredCertificateAuthority authority, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(authority);
        return RunAsync(async connection =>
        {
            using var transaction = await BeginWriteTransactionAsync(connection, cancellationToken).ConfigureAwait(false);
            if (authority.State == CertificateAuthorityState.Active)
            {
                using var check = Command(connection, transaction, "SELECT COUNT(*) FROM ai_certificate_authorities WHERE state = 0");
                if (Convert.ToInt64(await check.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false), System.Globalization.CultureInfo.InvariantCulture) > 0)
                {
                    return false;
                }
            }

            using var insert = Command(connection, transaction,
                "INSERT INTO ai_certificate_authorities (id, state, root_cert, root_key, intermediate_cert, intermediate_key, created_at, not_after) VALUES (@id, @state, @rc, @rk, @ic, @ik, @created, @notAfter)",
                ("id", authority.Id), ("state", (int)authority.State), ("rc", authority.RootCertificate), ("rk", authority.EncryptedRootKey),
                ("ic", authority.IntermediateCertificate), ("ik", authority.EncryptedIntermediateKey), ("created", Ms(authority.CreatedAt)), ("notAfter", Ms(authority.NotAfter)));
            try
            {
                await insert.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (DbException ex) when (IsUniqueViolation(ex))
            {
                return false;
            }

            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            return true;
        }, cancellationToken);
    }

    public Task SetCertificateAuthorityStatesAsync(IReadOnlyList<KeyValuePair<string, CertificateAuthorityState>> changes, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(changes);
        return RunAsync(async connection =>
        {
            using var transaction = await BeginWriteTransactionAsync(connection, cancellationToken).ConfigureAwait(false);
            foreach (var change in changes)
            {
                using var update = Command(connection, transaction, "UPDATE ai_certificate_authorities SET state = @state WHERE id = @id", ("state", (int)change.Value), ("id", change.Key));
                await update.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }

            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            return true;
        }, cancellationToken);
    }

    public Task AddJoinTokenAsync(JoinTokenRecord token, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(token);
        return WriteAsync(async (connection, transaction, cancellationToken) =>
        {
            using (var insert = Command(connection, transaction,
                "INSERT INTO ai_join_tokens (token_hash, agent_name, policy, created_at, expires_at) VALUES (@hash, @name, @policy, @created, @expires)",
                ("hash", token.TokenHash), ("name", token.AgentName), ("policy", token.Policy), ("created", Ms(token.CreatedAt)), ("expires", Ms(token.ExpiresAt))))
            {
                await insert.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }

            if (token.BoundSpiffeId is { } bound)
            {
                using var bind = Command(connection, transaction, "INSERT INTO ai_join_token_bindings (token_hash, spiffe_id) VALUES (@hash, @id)", ("hash", token.TokenHash), ("id", bound));
                await bind.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }

            return (true, true);
        }, cancellationToken);
    }

    public Task<JoinTokenRecord?> FindJoinTokenAsync(byte[] tokenHash, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(tokenHash);
        return RunAsync(async connection =>
        {
            using var command = Command(connection, null,
                "SELECT t.agent_name, t.policy, t.created_at, t.expires_at, t.redeemed_at, t.redeemed_by, b.spiffe_id FROM ai_join_tokens t LEFT JOIN ai_join_token_bindings b ON b.token_hash = t.token_hash WHERE t.token_hash = @hash", ("hash", tokenHash));
            using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                return null;
            }

            return new JoinTokenRecord(tokenHash, reader.GetString(0), Bytes(reader, 1), Time(reader.GetInt64(2)), Time(reader.GetInt64(3)),
                reader.IsDBNull(4) ? null : Time(reader.GetInt64(4)), reader.IsDBNull(5) ? null : reader.GetString(5))
            { BoundSpiffeId = reader.IsDBNull(6) ? null : reader.GetString(6) };
        }, cancellationToken);
    }

    public Task<bool> RedeemJoinTokenAsync(byte[] tokenHash, DateTimeOffset now, IdentityRecord identity, IssuedCertificateRecord certificate, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(tokenHash);
        ArgumentNullException.ThrowIfNull(identity);
        ArgumentNullException.ThrowIfNull(certificate);
        var link = CertificateLink.Of(certificate);
        return WriteAsync(async (connection, transaction, cancellationToken) =>
        {
            using (var redeem = Command(connection, transaction,
                "UPDATE ai_join_tokens SET redeemed_at = @now, redeemed_by = @id WHERE token_hash = @hash AND redeemed_at IS NULL AND expires_at > @now",
                ("now", Ms(now)), ("id", identity.SpiffeId), ("hash", tokenHash)))
            {
                if (await redeem.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) != 1)
                {
                    return (false, false);
                }
            }

            // One token enrolls one new identity: an enrolled (or revoked) identity is never overwritten.
            using (var insert = Command(connection, transaction,
                "INSERT INTO ai_identities (spiffe_id, policy, parent_id, enrolled_at, revoked) SELECT @id, @policy, NULL, @at, 0 WHERE NOT EXISTS (SELECT 1 FROM ai_identities WHERE spiffe_id = @id)",
                ("id", identity.SpiffeId), ("policy", identity.Policy), ("at", Ms(identity.EnrolledAt))))
            {
                if (await insert.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) != 1 && !await ReenrollBoundAsync(connection, transaction, tokenHash, identity, cancellationToken).ConfigureAwait(false))
                {
                    return (false, false);
                }
            }

            await InsertCertificateAsync(connection, transaction, certificate, link, cancellationToken).ConfigureAwait(false);
            await SetCurrentCertificateAsync(connection, transaction, certificate, cancellationToken).ConfigureAwait(false);
            return (true, true);
        }, cancellationToken);
    }

    public Task<IdentityRecord?> FindIdentityAsync(string spiffeId, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(spiffeId);
        return RunAsync(async connection =>
        {
            using var command = Command(connection, null, "SELECT policy, parent_id, enrolled_at, revoked FROM ai_identities WHERE spiffe_id = @id", ("id", spiffeId));
            using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                return null;
            }

            return new IdentityRecord(spiffeId, Bytes(reader, 0), reader.IsDBNull(1) ? null : reader.GetString(1), Time(reader.GetInt64(2)), reader.GetInt32(3) != 0);
        }, cancellationToken);
    }

    public Task RecordIssuanceAsync(IdentityRecord? identity, IssuedCertificateRecord certificate, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        var link = CertificateLink.Of(certificate);
        return WriteAsync(async (connection, transaction, cancellationToken) =>
        {
            if (identity is not null)
            {
                await UpsertIdentityAsync(connection, transaction, identity, cancellationToken).ConfigureAwait(false);
            }

            await InsertCertificateAsync(connection, transaction, certificate, link, cancellationToken).ConfigureAwait(false);
            return (true, true);
        }, cancellationToken);
    }

    public Task<IssuedCertificateRecord?> FindCertificateAsync(string serialNumber, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(serialNumber);
        return RunAsync(async connection =>
        {
            using var command = Command(connection, null, "SELECT spiffe_id, kind, not_before, not_after, issued_at, der FROM ai_certificates WHERE serial = @serial", ("serial", serialNumber));
            using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                return null;
            }

            return new IssuedCertificateRecord(serialNumber, reader.GetString(0), reader.GetString(1), Time(reader.GetInt64(2)), Time(reader.GetInt64(3)), Time(reader.GetInt64(4)), Bytes(reader, 5)!);
        }, cancellationToken);
    }

    public Task PingAsync(CancellationToken cancellationToken = default) => RunAsync(async connection =>
    {
        using var command = Command(connection, null, "SELECT 1");
        return await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
    }, cancellationToken);

    public Task<long> CountCertificatesAsync(CancellationToken cancellationToken = default) => RunAsync(async connection =>
    {
        using var command = Command(connection, null, "SELECT COUNT(*) FROM ai_certificates");
        return Convert.ToInt64(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false), System.Globalization.CultureInfo.InvariantCulture);
    }, cancellationToken);

    protected static DbCommand Command(DbConnection connection, DbTransaction? transaction, string sql, params (string Name, object? Value)[] parameters)
    {
        var command = connection.CreateCommand();
        command.Transaction = transaction;
#pragma warning disable CA2100 // Constant SQL; every value goes through a parameter.
        command.CommandText = sql;
#pragma warning restore CA2100
        foreach (var (name, value) in parameters)
        {
            var parameter = command.CreateParameter();
            parameter.ParameterName = name;
            parameter.Value = value ?? DBNull.Value;
            if (value is null)
            {
                parameter.DbType = DbType.Binary;
            }

            command.Parameters.Add(parameter);
        }

        return command;
    }

    private protected async Task<T> RunAsync<T>(Func<DbConnection, Task<T>> operation, CancellationToken cancellationToken)
    {
        try
        {
            using var connection = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
            return await operation(connection).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is DbException or InvalidOperationException or TimeoutException or System.Net.Sockets.SocketException && !cancellationToken.IsCancellationRequested)
        {
            throw new IssuerStoreUnavailableException($"The issuer's {ProviderName} database failed or is unreachable ({ex.Message}); nothing was written.", ex);
        }
    }

    /// <summary>Re-enrolls an existing identity, only with a token bound to it and only while it is not revoked.</summary>
    private static async Task<bool> ReenrollBoundAsync(DbConnection connection, DbTransaction transaction, byte[] tokenHash, IdentityRecord identity, CancellationToken cancellationToken)
    {
        using var update = Command(connection, transaction,
            "UPDATE ai_identities SET policy = @policy, enrolled_at = @at WHERE spiffe_id = @id AND revoked = 0 AND parent_id IS NULL " +
            "AND EXISTS (SELECT 1 FROM ai_join_token_bindings WHERE token_hash = @hash AND spiffe_id = @id)",
            ("policy", identity.Policy), ("at", Ms(identity.EnrolledAt)), ("id", identity.SpiffeId), ("hash", tokenHash));
        return await update.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) == 1;
    }

    private static async Task UpsertIdentityAsync(DbConnection connection, DbTransaction transaction, IdentityRecord identity, CancellationToken cancellationToken)
    {
        using var upsert = Command(connection, transaction,
            "INSERT INTO ai_identities (spiffe_id, policy, parent_id, enrolled_at, revoked) VALUES (@id, @policy, @parent, @at, @revoked) " +
            "ON CONFLICT (spiffe_id) DO UPDATE SET policy = excluded.policy, parent_id = excluded.parent_id, enrolled_at = excluded.enrolled_at, " +
            "revoked = CASE WHEN ai_identities.revoked <> 0 THEN ai_identities.revoked ELSE excluded.revoked END", // a revoked flag is never cleared
            ("id", identity.SpiffeId), ("policy", identity.Policy), ("parent", identity.ParentId), ("at", Ms(identity.EnrolledAt)), ("revoked", identity.Revoked ? 1 : 0));
        if (identity.ParentId is null)
        {
            upsert.Parameters["parent"].DbType = DbType.String;
        }

        await upsert.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    private static async Task InsertCertificateAsync(DbConnection connection, DbTransaction transaction, IssuedCertificateRecord certificate, CertificateLink link, CancellationToken cancellationToken)
    {
        await InsertCertificateLinkAsync(connection, transaction, certificate, link, cancellationToken).ConfigureAwait(false);
        using var insert = Command(connection, transaction,
            "INSERT INTO ai_certificates (serial, spiffe_id, kind, not_before, not_after, issued_at, der) VALUES (@serial, @id, @kind, @nb, @na, @at, @der)",
            ("serial", certificate.SerialNumber), ("id", certificate.SpiffeId), ("kind", certificate.Kind), ("nb", Ms(certificate.NotBefore)),
            ("na", Ms(certificate.NotAfter)), ("at", Ms(certificate.IssuedAt)), ("der", certificate.Certificate));
        await insert.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    private protected static long Ms(DateTimeOffset time) => time.ToUnixTimeMilliseconds();

    private protected static DateTimeOffset Time(long ms) => DateTimeOffset.FromUnixTimeMilliseconds(ms);

    private protected static byte[]? Bytes(DbDataReader reader, int ordinal) => reader.IsDBNull(ordinal) ? null : (byte[])reader.GetValue(ordinal);
}
