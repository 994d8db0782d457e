using System.Data.Common;
using System.Globalization;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace AgentIdentity.Issuer;

/// <content>
/// The revocation registry's tables, written in the same transactions as the issuances they cover:
/// <list type="bullet">
/// <item><c>ai_revocation_state</c>: one row (id = 1): the feed's log ID (epoch), the last sequence number allocated, the CRL number
/// and the current CRL. Every revocation increments <c>last_sequence</c> inside its transaction, so the row lock (PostgreSQL) or
/// the single writer (SQLite <c>BEGIN IMMEDIATE</c>) serialises writers: no gap, no duplicate, whichever replica writes.</item>
/// <item><c>ai_revocations</c>: the signed feed entries, unique by (kind, subject): revoking twice returns the first entry.</item>
/// <item><c>ai_revoked_certificates</c>: the cascade, materialised at commit: every issued certificate a revocation covers (the
/// serial itself, the identity's certificates and those below it, and every certificate whose delegation chain names a revoked
/// certificate or identity). The CRL is built from it.</item>
/// <item><c>ai_certificate_links</c>: per issued certificate, its SHA-256 and the delegation chain it carries (hash, serial, ID per
/// ancestor), so that a revocation reaches the task certificates minted with a certificate.</item>
/// <item><c>ai_identity_lineage</c>: the current certificate of each enrolled identity: renewal must present it.</item>
/// </list>
/// </content>
internal abstract partial class SqlIssuerStore
{
    /// <summary>The <c>redeemed_by</c> prefix of a join token voided by a revocation.</summary>
    internal const string VoidedPrefix = "voided by revocation #";

    /// <summary>The binary column type (<c>BLOB</c>, <c>BYTEA</c>).</summary>
    protected abstract string BinaryType { get; }

    private string[] RevocationSchemaStatements =>
    [
        $"CREATE TABLE IF NOT EXISTS ai_revocation_state (id INTEGER PRIMARY KEY CHECK (id = 1), log_id TEXT NOT NULL, last_sequence BIGINT NOT NULL, crl_number BIGINT NOT NULL, crl_sequence BIGINT NOT NULL, crl_built_at BIGINT NOT NULL, crl {BinaryType} NULL)",
        $"CREATE TABLE IF NOT EXISTS ai_revocations (sequence BIGINT PRIMARY KEY, kind INTEGER NOT NULL, subject TEXT NOT NULL, revoked_at BIGINT NOT NULL, reason INTEGER NOT NULL, entry {BinaryType} NOT NULL, UNIQUE (kind, subject))",
        "CREATE TABLE IF NOT EXISTS ai_revoked_certificates (serial TEXT PRIMARY KEY, sequence BIGINT NOT NULL, revoked_at BIGINT NOT NULL, reason INTEGER NOT NULL, not_after BIGINT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS ai_certificate_links (serial TEXT PRIMARY KEY, cert_hash TEXT NOT NULL, parent_serial TEXT NULL, ancestors TEXT NOT NULL)",
        "CREATE INDEX IF NOT EXISTS ai_certificate_links_hash ON ai_certificate_links (cert_hash)",
        "CREATE TABLE IF NOT EXISTS ai_identity_lineage (spiffe_id TEXT PRIMARY KEY, current_serial TEXT NOT NULL)",
        $"CREATE TABLE IF NOT EXISTS ai_join_token_bindings (token_hash {BinaryType} PRIMARY KEY, spiffe_id TEXT NOT NULL)",
    ];

    private static async Task InitializeRevocationStateAsync(DbConnection connection, CancellationToken cancellationToken)
    {
        using var insert = Command(connection, null,
            "INSERT INTO ai_revocation_state (id, log_id, last_sequence, crl_number, crl_sequence, crl_built_at, crl) VALUES (1, @log, 0, 0, 0, 0, NULL) ON CONFLICT (id) DO NOTHING",
            ("log", Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(RevocationEntry.LogIdLength))));
        await insert.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Gets the feed's log ID (hex) and the last sequence number.</summary>
    internal Task<(string LogId, long LastSequence)> GetRevocationHeadAsync(CancellationToken cancellationToken) => RunAsync(async connection =>
    {
        using var command = Command(connection, null, "SELECT log_id, last_sequence FROM ai_revocation_state WHERE id = 1");
        using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            throw new InvalidOperationException("The issuer store has no revocation state row: call InitializeAsync (the issuer's start does).");
        }

        return (reader.GetString(0), reader.GetInt64(1));
    }, cancellationToken);

    /// <summary>Gets the signed entries after <paramref name="afterSequence"/>, in order.</summary>
    internal Task<List<(long Sequence, byte[] Entry)>> GetRevocationEntriesAsync(long afterSequence, int maxCount, CancellationToken cancellationToken) => RunAsync(async connection =>
    {
        using var command = Command(connection, null, "SELECT sequence, entry FROM ai_revocations WHERE sequence > @after ORDER BY sequence LIMIT @max", ("after", afterSequence), ("max", maxCount));
        using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        var list = new List<(long, byte[])>();
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            list.Add((reader.GetInt64(0), Bytes(reader, 1)!));
        }

        return list;
    }, cancellationToken);

    /// <summary>
    /// Revokes <paramref name="subject"/> in one transaction: allocates the next sequence number, signs the entry with it, stores
    /// it, materialises the cascade, marks the covered identities revoked and voids their outstanding join tokens. When the
    /// subject is already revoked nothing is written and the first entry is returned.
    /// </summary>
    /// <param name="kind">What is revoked.</param>
    /// <param name="subject">The normalized serial number, or the SPIFFE ID.</param>
    /// <param name="reason">The RFC 5280 reason.</param>
    /// <param name="now">The revocation time.</param>
    /// <param name="sign">Signs the entry: (log ID bytes, sequence) → DER entry.</param>
    /// <param name="voidsJoinTokensOf">For an identity: whether it covers the enrollment pattern of an agent name.</param>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <returns>The entry's sequence and bytes, and whether this call created it.</returns>
    internal Task<(long Sequence, byte[] Entry, bool Created)> RevokeAsync(
        RevocationKind kind, string subject, X509RevocationReason reason, DateTimeOffset now, Func<byte[], long, byte[]> sign, Func<string, bool>? voidsJoinTokensOf, CancellationToken cancellationToken) => RunAsync(async connection =>
    {
        using var transaction = await BeginWriteTransactionAsync(connection, cancellationToken).ConfigureAwait(false);

        // The counter first: its row lock serialises every revocation writer on PostgreSQL before anything is read.
        long sequence;
        string logId;
        using (var next = Command(connection, transaction, "UPDATE ai_revocation_state SET last_sequence = last_sequence + 1 WHERE id = 1 RETURNING last_sequence, log_id"))
        using (var reader = await next.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
        {
            if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                throw new InvalidOperationException("The issuer store has no revocation state row: call InitializeAsync (the issuer's start does).");
            }

            sequence = reader.GetInt64(0);
            logId = reader.GetString(1);
        }

        using (var existing = Command(connection, transaction, "SELECT sequence, entry FROM ai_revocations WHERE kind = @kind AND subject = @subject", ("kind", (int)kind), ("subject", subject)))
        using (var reader = await existing.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
        {
            if (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                var first = (reader.GetInt64(0), Bytes(reader, 1)!, false);
                await reader.DisposeAsync().ConfigureAwait(false);
                await transaction.RollbackAsync(cancellationToken).ConfigureAwait(false); // the counter is not advanced
                return first;
            }
        }

        var entry = sign(Convert.FromHexString(logId), sequence);
        using (var insert = Command(connection, transaction,
            "INSERT INTO ai_revocations (sequence, kind, subject, revoked_at, reason, entry) VALUES (@seq, @kind, @subject, @at, @reason, @entry)",
            ("seq", sequence), ("kind", (int)kind), ("subject", subject), ("at", Ms(now)), ("reason", (int)reason), ("entry", entry)))
        {
            await insert.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        var covered = await FindCoveredCertificatesAsync(connection, transaction, kind, subject, cancellationToken).ConfigureAwait(false);
        foreach (var (serial, notAfter) in covered)
        {
            using var add = Command(connection, transaction,
                "INSERT INTO ai_revoked_certificates (serial, sequence, revoked_at, reason, not_after) VALUES (@serial, @seq, @at, @reason, @na) ON CONFLICT (serial) DO NOTHING",
                ("serial", serial), ("seq", sequence), ("at", Ms(now)), ("reason", (int)reason), ("na", notAfter));
            await add.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        if (kind == RevocationKind.Identity)
        {
            using (var flag = Command(connection, transaction,
                "UPDATE ai_identities SET revoked = 1 WHERE spiffe_id = @id OR substr(spiffe_id, 1, @length) = @prefix",
                ("id", subject), ("length", subject.Length + 1), ("prefix", subject + "/")))
            {
                await flag.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }

            if (voidsJoinTokensOf is not null)
            {
                await VoidJoinTokensAsync(connection, transaction, sequence, now, voidsJoinTokensOf, cancellationToken).ConfigureAwait(false);
            }
        }

        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        return (sequence, entry, true);
    }, cancellationToken);

    private static async Task<List<(string Serial, long NotAfter)>> FindCoveredCertificatesAsync(DbConnection connection, DbTransaction transaction, RevocationKind kind, string subject, CancellationToken cancellationToken)
    {
        var covered = new Dictionary<string, long>(StringComparer.Ordinal);
        if (kind == RevocationKind.Serial)
        {
            using var own = Command(connection, transaction, "SELECT not_after FROM ai_certificates WHERE serial = @serial", ("serial", subject));
            var notAfter = await own.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
            covered[subject] = notAfter is null or DBNull ? long.MaxValue : Convert.ToInt64(notAfter, CultureInfo.InvariantCulture); // a serial never issued here stays listed
        }
        else
        {
            using var own = Command(connection, transaction, "SELECT serial, not_after FROM ai_certificates WHERE spiffe_id = @id OR substr(spiffe_id, 1, @length) = @prefix",
                ("id", subject), ("length", subject.Length + 1), ("prefix", subject + "/"));
            using var reader = await own.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                covered[reader.GetString(0)] = reader.GetInt64(1);
            }
        }

        // Certificates whose delegation chain names the revoked certificate or identity (at any depth).
        using (var chains = Command(connection, transaction,
            "SELECT l.serial, l.ancestors, c.not_after, c.spiffe_id FROM ai_certificate_links l JOIN ai_certificates c ON c.serial = l.serial WHERE l.ancestors <> ''"))
        using (var reader = await chains.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
        {
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                foreach (var ancestor in ParseAncestors(reader.GetString(1)))
                {
                    if (kind == RevocationKind.Serial ? ancestor.Serial == subject : IsAtOrBelow(ancestor.Id, subject))
                    {
                        covered.TryAdd(reader.GetString(0), reader.GetInt64(2));
                        break;
                    }
                }
            }
        }

        return [.. covered.Select(p => (p.Key, p.Value))];
    }

    private static async Task VoidJoinTokensAsync(DbConnection connection, DbTransaction transaction, long sequence, DateTimeOffset now, Func<string, bool> voids, CancellationToken cancellationToken)
    {
        var hashes = new List<byte[]>();
        using (var outstanding = Command(connection, transaction, "SELECT token_hash, agent_name FROM ai_join_tokens WHERE redeemed_at IS NULL AND expires_at > @now", ("now", Ms(now))))
        using (var reader = await outstanding.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
        {
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                if (voids(reader.GetString(1)))
                {
                    hashes.Add(Bytes(reader, 0)!);
                }
            }
        }

        foreach (var hash in hashes)
        {
            using var update = Command(connection, transaction, "UPDATE ai_join_tokens SET redeemed_at = @now, redeemed_by = @by WHERE token_hash = @hash AND redeemed_at IS NULL",
                ("now", Ms(now)), ("by", VoidedPrefix + sequence.ToString(CultureInfo.InvariantCulture)), ("hash", hash));
            await update.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Finds the revocation that covers an issued certificate in the materialised cascade: its sequence, or <see langword="null"/>.</summary>
    internal Task<long?> FindCertificateRevocationSequenceAsync(string serial, CancellationToken cancellationToken) => RunAsync(async connection =>
    {
        using var command = Command(connection, null, "SELECT sequence FROM ai_revoked_certificates WHERE serial = @serial", ("serial", serial));
        var value = await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
        return value is null or DBNull ? (long?)null : Convert.ToInt64(value, CultureInfo.InvariantCulture);
    }, cancellationToken);

    /// <summary>Finds an issued certificate's SPIFFE ID and delegation ancestors; <see langword="null"/> when it was never issued here.</summary>
    internal Task<(string SpiffeId, List<(string Hash, string Serial, string Id)> Ancestors)?> FindCertificateLineageAsync(string serial, CancellationToken cancellationToken) => RunAsync(async connection =>
    {
        using var command = Command(connection, null,
            "SELECT c.spiffe_id, l.ancestors FROM ai_certificates c LEFT JOIN ai_certificate_links l ON l.serial = c.serial WHERE c.serial = @serial", ("serial", serial));
        using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            return ((string, List<(string, string, string)>)?)null;
        }

        return (reader.GetString(0), reader.IsDBNull(1) ? [] : ParseAncestors(reader.GetString(1)));
    }, cancellationToken);

    /// <summary>Gets the stored CRL with the sequence it covers and when it was built.</summary>
    internal Task<(byte[]? Crl, long CrlSequence, DateTimeOffset BuiltAt, long LastSequence)> GetCrlStateAsync(CancellationToken cancellationToken) => RunAsync(async connection =>
    {
        using var command = Command(connection, null, "SELECT crl, crl_sequence, crl_built_at, last_sequence FROM ai_revocation_state WHERE id = 1");
        using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            throw new InvalidOperationException("The issuer store has no revocation state row: call InitializeAsync (the issuer's start does).");
        }

        return (Bytes(reader, 0), reader.GetInt64(1), Time(reader.GetInt64(2)), reader.GetInt64(3));
    }, cancellationToken);

    /// <summary>Builds and stores a new CRL in one transaction: the next persisted CRL number, the revoked certificates that have
    /// not expired by <paramref name="cutoff"/>.</summary>
    internal Task<byte[]> RebuildCrlAsync(DateTimeOffset now, DateTimeOffset cutoff, Func<IReadOnlyList<(string Serial, DateTimeOffset RevokedAt, X509RevocationReason Reason)>, long, byte[]> build, CancellationToken cancellationToken) => RunAsync(async connection =>
    {
        using var transaction = await BeginWriteTransactionAsync(connection, cancellationToken).ConfigureAwait(false);
        long number;
        long sequence;
        using (var next = Command(connection, transaction, "UPDATE ai_revocation_state SET crl_number = crl_number + 1 WHERE id = 1 RETURNING crl_number, last_sequence"))
        using (var reader = await next.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
        {
            await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            number = reader.GetInt64(0);
            sequence = reader.GetInt64(1);
        }

        var rows = new List<(string, DateTimeOffset, X509RevocationReason)>();
        using (var revoked = Command(connection, transaction,
            "SELECT serial, revoked_at, reason FROM ai_revoked_certificates WHERE not_after >= @cutoff ORDER BY serial",
            ("cutoff", Ms(cutoff))))
        using (var reader = await revoked.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
        {
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                rows.Add((reader.GetString(0), Time(reader.GetInt64(1)), (X509RevocationReason)reader.GetInt32(2)));
            }
        }

        var crl = build(rows, number);
        using (var store = Command(connection, transaction, "UPDATE ai_revocation_state SET crl = @crl, crl_sequence = @seq, crl_built_at = @at WHERE id = 1",
            ("crl", crl), ("seq", sequence), ("at", Ms(now))))
        {
            await store.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        return crl;
    }, cancellationToken);

    /// <summary>Records a renewal: checks that <paramref name="presentedSerial"/> is the identity's current certificate, makes the
    /// new one current and records it, atomically.</summary>
    /// <returns>The identity's current serial when the presented one was superseded (nothing written when <paramref name="refuseSuperseded"/>);
    /// otherwise <see langword="null"/>.</returns>
    internal Task<string?> RecordRenewalAsync(IssuedCertificateRecord certificate, string presentedSerial, bool refuseSuperseded, CancellationToken cancellationToken)
    {
        var link = CertificateLink.Of(certificate);
        return WriteAsync<string?>(async (connection, transaction, cancellationToken) =>
        {
            string? superseded = null;
            using (var swap = Command(connection, transaction, "UPDATE ai_identity_lineage SET current_serial = @new WHERE spiffe_id = @id AND current_serial = @presented",
                ("new", certificate.SerialNumber), ("id", certificate.SpiffeId), ("presented", presentedSerial)))
            {
                if (await swap.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) != 1)
                {
                    using var current = Command(connection, transaction, "SELECT current_serial FROM ai_identity_lineage WHERE spiffe_id = @id", ("id", certificate.SpiffeId));
                    superseded = await current.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) as string;
                    if (superseded is not null && refuseSuperseded)
                    {
                        return (superseded, false);
                    }

                    await SetCurrentCertificateAsync(connection, transaction, certificate, cancellationToken).ConfigureAwait(false); // no lineage yet (enrolled before it was tracked), or allowed
                }
            }

            await InsertCertificateAsync(connection, transaction, certificate, link, cancellationToken).ConfigureAwait(false);
            return (superseded, true);
        }, cancellationToken);
    }

    private static async Task SetCurrentCertificateAsync(DbConnection connection, DbTransaction transaction, IssuedCertificateRecord certificate, CancellationToken cancellationToken)
    {
        using var upsert = Command(connection, transaction,
            "INSERT INTO ai_identity_lineage (spiffe_id, current_serial) VALUES (@id, @serial) ON CONFLICT (spiffe_id) DO UPDATE SET current_serial = excluded.current_serial",
            ("id", certificate.SpiffeId), ("serial", certificate.SerialNumber));
        await upsert.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Writes the certificate's hash and delegation ancestors (hash, serial when issued here, ID), in the issuance's transaction.</summary>
    private static async Task InsertCertificateLinkAsync(DbConnection connection, DbTransaction transaction, IssuedCertificateRecord certificate, CertificateLink certificateLink, CancellationToken cancellationToken)
    {
        var hash = certificateLink.Hash;
        var ancestors = new StringBuilder();
        string? parentSerial = null;
        foreach (var link in certificateLink.Chain ?? Enumerable.Empty<DelegationLink>())
        {
            using var find = Command(connection, transaction, "SELECT serial FROM ai_certificate_links WHERE cert_hash = @hash", ("hash", link.CertificateThumbprint));
            parentSerial = await find.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) as string ?? "-";
            ancestors.Append(link.CertificateThumbprint).Append(' ').Append(parentSerial).Append(' ').Append(link.Id.ToString()).Append('\n');
        }

        using var insert = Command(connection, transaction, "INSERT INTO ai_certificate_links (serial, cert_hash, parent_serial, ancestors) VALUES (@serial, @hash, @parent, @ancestors)",
            ("serial", RevocationEntry.NormalizeSerialNumber(certificate.SerialNumber)), ("hash", hash), ("parent", parentSerial is null or "-" ? null : parentSerial), ("ancestors", ancestors.ToString()));
        if (parentSerial is null or "-")
        {
            insert.Parameters["parent"].DbType = System.Data.DbType.String;
        }

        await insert.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>What the certificate-link row is made of, read from the certificate before its write is queued: the group
    /// committer's transaction holds SQLite's one write lock, so it should only run statements.</summary>
    private sealed record CertificateLink(string Hash, DelegationChain? Chain)
    {
        public static CertificateLink Of(IssuedCertificateRecord certificate)
        {
            var hash = Convert.ToHexStringLower(SHA256.HashData(certificate.Certificate));
            try
            {
                // Read from the DER: loading the certificate only to find one extension would cost more than signing it. A chain
                // extension that is duplicated or critical is malformed (as AgentPolicyExtension.ReadDelegationChain rules): no chain.
                var count = CertificateDer.FindExtension(certificate.Certificate, AgentPolicyExtension.DelegationChainOid, out var chain, out var critical);
                return new CertificateLink(hash, count == 1 && !critical ? DelegationChain.FromDer(chain.Span) : null);
            }
            catch (Exception ex) when (ex is PolicyFormatException or System.Formats.Asn1.AsnContentException or CryptographicException)
            {
                return new CertificateLink(hash, null);
            }
        }
    }

    internal static List<(string Hash, string Serial, string Id)> ParseAncestors(string text)
    {
        var list = new List<(string, string, string)>();
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var parts = line.Split(' ', 3);
            if (parts.Length == 3)
            {
                list.Add((parts[0], parts[1], parts[2]));
            }
        }

        return list;
    }

    private static bool IsAtOrBelow(string id, string ancestor) =>
        id == ancestor || (id.Length > ancestor.Length && id.StartsWith(ancestor, StringComparison.Ordinal) && id[ancestor.Length] == '/');
}
