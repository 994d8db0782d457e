using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.DependencyInjection;

namespace AgentIdentity.Issuer.Tests.ControlPlane;

/// <summary>§1: the issuer's registry lives in its store: it survives a restart, on a real SQLite file and a real PostgreSQL.</summary>
public sealed class StoreRevocationRegistryTests(PostgreSqlServer server) : IClassFixture<PostgreSqlServer>
{
    [Fact]
    public Task Sqlite_RevocationsFeedAndCrl_SurviveRestart() => RestartScenarioAsync(null);

    [Fact]
    public async Task PostgreSql_RevocationsFeedAndCrl_SurviveRestart()
    {
        var connectionString = await server.CreateDatabaseAsync();
        await RestartScenarioAsync(b => b.UsePostgreSql(connectionString));
    }

    [Fact]
    public async Task PostgreSql_ConcurrentRevocationsOnTwoReplicas_NoGapNoDuplicate()
    {
        var connectionString = await server.CreateDatabaseAsync();
        var a = await IssuerHost.StartAsync(store: b => b.UsePostgreSql(connectionString));
        var b = await IssuerHost.StartAsync(time: a.Time, store: b => b.UsePostgreSql(connectionString));
        try
        {
            var revocations = Enumerable.Range(0, 40).Select(i =>
                (i % 2 == 0 ? a : b).Registry.RevokeIdentityAsync(SpiffeId.Parse($"spiffe://example.org/agent/w{i % 20}/x"), X509RevocationReason.KeyCompromise).AsTask());
            var entries = await Task.WhenAll(revocations);

            // 20 subjects, each revoked twice (once per replica): 20 entries 1..20, each subject's two answers identical.
            Assert.Equal(Enumerable.Range(1, 20).Select(i => (long)i), entries.Select(e => e.Sequence).Distinct().Order());
            foreach (var group in entries.GroupBy(e => e.Subject))
            {
                Assert.Single(group.Select(e => Convert.ToHexString(e.GetEncoded())).Distinct());
            }

            var fromB = await b.Registry.GetEntriesAsync(0, 100);
            Assert.Equal(Enumerable.Range(1, 20).Select(i => (long)i), fromB.Select(e => e.Sequence));
            Assert.Equal(a.Registry.LogId, b.Registry.LogId);
            Assert.All(fromB, e => Assert.Equal(a.Registry.LogId, e.LogId));
        }
        finally
        {
            await b.DisposeAsync();
            await a.DisposeAsync();
            a.DeleteDirectory();
            b.DeleteDirectory();
            await server.DropDatabaseAsync(connectionString);
        }
    }

    /// <summary>Concurrent lookups share the registry's catch-up reads; each must still see every revocation committed (here by a
    /// second registry on the same store, as another replica would) before it was called, even while catch-ups are running.</summary>
    [Fact]
    public async Task ConcurrentLookups_ShareCatchUps_AndEachSeesEveryRevocationCommittedBeforeIt()
    {
        var host = await IssuerHost.StartAsync();
        try
        {
            var registry = Assert.IsType<StoreRevocationRegistry>(host.Registry);
            var otherReplica = new StoreRevocationRegistry(host.Issuer, null, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
            using var stop = new CancellationTokenSource();
            var background = Task.Run(async () =>
            {
                while (!stop.IsCancellationRequested)
                {
                    await registry.CatchUpAsync(CancellationToken.None);
                }
            });

            for (var i = 0; i < 20; i++)
            {
                var id = SpiffeId.Parse($"spiffe://example.org/agent/w{i}/x");
                var entry = await otherReplica.RevokeIdentityAsync(id, X509RevocationReason.KeyCompromise);
                var seen = await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => Task.Run(async () => await registry.GetIdentityRevocationAsync(id))));
                Assert.All(seen, e => Assert.Equal(entry.Sequence, e?.Sequence));
            }

            await stop.CancelAsync();
            await background;
        }
        finally
        {
            await host.DisposeAsync();
            host.DeleteDirectory();
        }
    }

    private static async Task RestartScenarioAsync(Action<IAgentIdentityIssuerBuilder>? store)
    {
        var first = await IssuerHost.StartAsync(store: store);
        byte[][] entries;
        byte[] crl;
        string serial;
        string logId;
        SpiffeId agent;
        try
        {
            Assert.IsType<StoreRevocationRegistry>(first.Registry);
            await using var credential = await ControlPlaneTestKit.EnrollAsync(first);
            await using var other = await ControlPlaneTestKit.EnrollAsync(first, "worker");
            agent = credential.Id;
            serial = other.GetCurrent().SerialNumber;
            var byIdentity = await first.Registry.RevokeIdentityAsync(agent, X509RevocationReason.KeyCompromise);
            var bySerial = await first.Registry.RevokeCertificateAsync(serial, X509RevocationReason.Superseded);
            Assert.Equal([1L, 2L], new[] { byIdentity.Sequence, bySerial.Sequence });
            entries = [.. (await first.Registry.GetEntriesAsync(0, 10)).Select(e => e.GetEncoded())];
            logId = first.Registry.LogId!;
            Assert.Equal(logId, byIdentity.LogId);
            crl = await first.Registry.GetCrlAsync();

            // The CRL covers the identity's enrolled certificate and the revoked serial.
            var listed = ReadCrl(crl, out var number);
            Assert.Contains(credential.GetCurrent().SerialNumber, listed);
            Assert.Contains(serial, listed);
            Assert.True(number >= 1);
        }
        finally
        {
            await first.DisposeAsync();
        }

        var second = await IssuerHost.StartAsync(directory: first.Directory, time: first.Time, store: store);
        try
        {
            var again = await second.Registry.GetEntriesAsync(0, 10);
            Assert.Equal(entries.Select(Convert.ToHexString), again.Select(e => Convert.ToHexString(e.GetEncoded())));
            Assert.Equal(logId, second.Registry.LogId);
            Assert.Equal(crl, await second.Registry.GetCrlAsync()); // the stored CRL, same bytes and number
            Assert.NotNull(await second.Registry.GetCertificateRevocationAsync(serial));
            Assert.NotNull(await second.Registry.GetIdentityRevocationAsync(agent.Append("task", "t9")));

            // Idempotent and permanent: revoking again returns the first entry; the next revocation continues the numbering,
            // and the CRL number continues too (never restarts at 1).
            Assert.Equal(entries[0], (await second.Registry.RevokeIdentityAsync(agent)).GetEncoded());
            var third = await second.Registry.RevokeIdentityAsync(IssuerHost.AgentId("other"));
            Assert.Equal(3, third.Sequence);
            ReadCrl(crl, out var before);
            ReadCrl(await second.Registry.GetCrlAsync(), out var after);
            Assert.True(after > before, $"CRL number {after} after restart must exceed {before}");
        }
        finally
        {
            await second.DisposeAsync();
            second.DeleteDirectory();
        }
    }

    internal static List<string> ReadCrl(byte[] der, out System.Numerics.BigInteger crlNumber)
    {
        var crl = new Org.BouncyCastle.X509.X509CrlParser().ReadCrl(der);
        var numberExtension = crl.GetExtensionValue(Org.BouncyCastle.Asn1.X509.X509Extensions.CrlNumber);
        crlNumber = new System.Numerics.BigInteger(Org.BouncyCastle.Asn1.DerInteger.GetInstance(Org.BouncyCastle.Asn1.Asn1Object.FromByteArray(numberExtension.GetOctets())).Value.ToByteArrayUnsigned(), isUnsigned: true, isBigEndian: true);
        return [.. (crl.GetRevokedCertificates() ?? new HashSet<Org.BouncyCastle.X509.X509CrlEntry>()).Select(e => e.SerialNumber.ToString(16).ToUpperInvariant())];
    }
}
