using System.Globalization;

namespace AgentIdentity.Issuer;

/// <summary>The read-only queries of <c>v1/status</c> over the tables the store already keeps.</summary>
internal abstract partial class SqlIssuerStore : IIssuerAdminQueries
{
    public Task<IReadOnlyList<IssuedCertificateRecord>> ListCertificatesAsync(string spiffeId, int maxCount, CancellationToken cancellationToken) =>
        RunAsync<IReadOnlyList<IssuedCertificateRecord>>(async connection =>
        {
            using var command = Command(connection, null,
                "SELECT serial, kind, not_before, not_after, issued_at, der FROM ai_certificates WHERE spiffe_id = @id ORDER BY issued_at DESC, serial LIMIT @max",
                ("id", spiffeId), ("max", maxCount));
            using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            var records = new List<IssuedCertificateRecord>();
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                records.Add(new IssuedCertificateRecord(reader.GetString(0), spiffeId, reader.GetString(1), Time(reader.GetInt64(2)), Time(reader.GetInt64(3)), Time(reader.GetInt64(4)), Bytes(reader, 5)!));
            }

            return records;
        }, cancellationToken);

    public Task<long> CountCertificatesAsync(string spiffeId, CancellationToken cancellationToken) => RunAsync(async connection =>
    {
        using var command = Command(connection, null, "SELECT COUNT(*) FROM ai_certificates WHERE spiffe_id = @id", ("id", spiffeId));
        return Convert.ToInt64(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false), CultureInfo.InvariantCulture);
    }, cancellationToken);

    public Task<IReadOnlyList<IdentityRecord>> ListDescendantsAsync(string spiffeId, int maxCount, CancellationToken cancellationToken) =>
        RunAsync<IReadOnlyList<IdentityRecord>>(async connection =>
        {
            // "Below" is a path prefix ending in '/'; substr, not LIKE, because IDs may contain '_' and '%'.
            var prefix = spiffeId + "/";
            using var command = Command(connection, null,
                "SELECT spiffe_id, policy, parent_id, enrolled_at, revoked FROM ai_identities WHERE substr(spiffe_id, 1, @length) = @prefix ORDER BY spiffe_id LIMIT @max",
                ("length", prefix.Length), ("prefix", prefix), ("max", maxCount));
            using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            var records = new List<IdentityRecord>();
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                records.Add(new IdentityRecord(reader.GetString(0), Bytes(reader, 1), reader.IsDBNull(2) ? null : reader.GetString(2), Time(reader.GetInt64(3)), reader.GetInt32(4) != 0));
            }

            return records;
        }, cancellationToken);
}
