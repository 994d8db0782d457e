using System.Net;
using System.Security.Cryptography.X509Certificates;
using AgentIdentity.Issuer.Tests.ControlPlane;
using Microsoft.Extensions.DependencyInjection;
using static AgentIdentity.Issuer.Tests.ReplicaTestKit;

namespace AgentIdentity.Issuer.Tests.Storage;

/// <summary>
/// §3: two issuer replicas on one real PostgreSQL follow each other through the store, woken by LISTEN/NOTIFY. The clock is fake and
/// never advanced unless a test says so, so the periodic safety net cannot be what delivers a change: only the notification can.
/// </summary>
public sealed class PostgreSqlReplicaSyncTests(PostgreSqlServer server) : IClassFixture<PostgreSqlServer>
{
    private static readonly TimeSpan Safety = TimeSpan.FromSeconds(30);

    private static async Task<(IssuerHost A, IssuerHost B)> StartAsync(string connectionString, Action<IServiceCollection>? services = null, ObservableTimeProvider? clock = null)
    {
        var time = clock?.Fake;
        var a = await IssuerHost.StartAsync(store: s => s.UsePostgreSql(connectionString), time: time, services: services, clock: clock);
        var b = await IssuerHost.StartAsync(store: s => s.UsePostgreSql(connectionString), time: a.Time, services: services, clock: clock);
        clock?.DiscardTimers();
        return (a, b);
    }

    private static async Task StopAsync(params IssuerHost[] hosts)
    {
        foreach (var host in hosts)
        {
            await host.DisposeAsync();
            host.DeleteDirectory();
        }
    }

    [Fact]
    public async Task ReplicasStartingTogetherOnANewDatabase_BothStartOnOneCa()
    {
        for (var round = 0; round < 3; round++)
        {
            var connectionString = await server.CreateDatabaseAsync();
            var hosts = await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => IssuerHost.StartAsync(store: s => s.UsePostgreSql(connectionString))));
            try
            {
                Assert.Single(hosts.Select(h => h.Issuer.GetBundle().X509Authorities.Single().Thumbprint).Distinct());
                Assert.All(hosts, h => Assert.True(Sync(h).Listener!.IsListening));
            }
            finally
            {
                await StopAsync(hosts);
            }
        }
    }

    [Fact]
    public async Task RevokeOnA_FeedWaiterOnB_IsWokenByTheNotification()
    {
        var (a, b) = await StartAsync(await server.CreateDatabaseAsync(), NoSafetyNet);
        try
        {
            Assert.True(Sync(a).Listener!.IsListening);
            Assert.True(Sync(b).Listener!.IsListening);
            await using var agent = await ControlPlaneTestKit.EnrollAsync(a);
            var waiter = b.Registry.WaitForEntriesAsync(0);
            Assert.False(waiter.IsCompleted);

            var entry = await a.Registry.RevokeIdentityAsync(agent.Id, X509RevocationReason.KeyCompromise);

            await waiter.WaitAsync(Safety);
            var seen = Assert.Single(await b.Registry.GetEntriesAsync(0, 10));
            Assert.Equal(entry.GetEncoded(), seen.GetEncoded());
            Assert.Equal(entry.Sequence, (await b.Registry.GetCertificateRevocationAsync(agent.GetCurrent().SerialNumber))!.Sequence);
        }
        finally
        {
            await StopAsync(b, a);
        }
    }

    [Fact]
    public async Task RevokedOnA_RenewalOnB_Is403NamingTheRevocation()
    {
        var (a, b) = await StartAsync(await server.CreateDatabaseAsync());
        try
        {
            await using var agent = await ControlPlaneTestKit.EnrollAsync(a);
            var svid = agent.GetCurrent();
            var entry = await a.Registry.RevokeCertificateAsync(svid.SerialNumber, X509RevocationReason.KeyCompromise);

            var (status, problem) = await ControlPlaneTestKit.RenewAsync(b, svid);

            Assert.Equal(HttpStatusCode.Forbidden, status);
            Assert.Equal("Certificate revoked", ControlPlaneTestKit.Title(problem));
            Assert.Contains($"#{entry.Sequence}", IssuerHost.Detail(problem), StringComparison.Ordinal);
        }
        finally
        {
            await StopAsync(b, a);
        }
    }

    [Fact]
    public async Task RotateCaOnA_BAdoptsThePreparedBundleAndThenIssuesFromTheNewCa_WithoutReload()
    {
        var (a, b) = await StartAsync(await server.CreateDatabaseAsync(), NoSafetyNet);
        try
        {
            var oldRoot = b.Issuer.GetBundle().X509Authorities.Single();

            await a.Issuer.PrepareRotationAsync();
            await WaitUntilAsync(b, () => b.Issuer.GetBundle().X509Authorities.Count == 2);
            var newRoot = Assert.Single(b.Issuer.GetBundle().X509Authorities, r => r.Thumbprint != oldRoot.Thumbprint);

            // Prepared only: B still signs with the old CA.
            await using (var before = await ControlPlaneTestKit.EnrollAsync(b))
            {
                Assert.True(X509SvidValidator.Validate(before.GetCurrent().Certificate, before.GetCurrent().Intermediates, new TrustBundle(IssuerHost.TrustDomain, [oldRoot]), b.Time.GetUtcNow()).IsValid);
            }

            await a.Issuer.ActivatePreparedAuthorityAsync();
            await WaitUntilAsync(b, () => b.Issuer.State.Signer.Intermediates.Single().Issuer == newRoot.Subject);

            await using var after = await ControlPlaneTestKit.EnrollAsync(b);
            var svid = after.GetCurrent();
            Assert.True(X509SvidValidator.Validate(svid.Certificate, svid.Intermediates, new TrustBundle(IssuerHost.TrustDomain, [newRoot]), b.Time.GetUtcNow()).IsValid);
            Assert.False(X509SvidValidator.Validate(svid.Certificate, svid.Intermediates, new TrustBundle(IssuerHost.TrustDomain, [oldRoot]), b.Time.GetUtcNow()).IsValid);

            // A revocation A signs with the new CA verifies on B, which serves it on its feed.
            var entry = await a.Registry.RevokeIdentityAsync(after.Id);
            await b.Registry.WaitForEntriesAsync(0).WaitAsync(Safety);
            Assert.Equal(entry.GetEncoded(), (await b.Registry.GetEntriesAsync(0, 10)).Single().GetEncoded());
        }
        finally
        {
            await StopAsync(b, a);
        }
    }

    [Fact]
    public async Task NotificationLost_PeriodicCatchUpOnTheIssuerClock_DeliversIt()
    {
        var connectionString = await server.CreateDatabaseAsync();
        var (a, b) = await StartAsync(connectionString);
        try
        {
            await using var agent = await ControlPlaneTestKit.EnrollAsync(a);
            await PostgreSqlServer.ExecuteAsync(connectionString, "ALTER TABLE ai_revocations DISABLE TRIGGER ai_revocations_notify");

            var entry = await a.Registry.RevokeIdentityAsync(agent.Id);
            Assert.Equal(0, b.Registry.LastSequence); // nothing told B, and its clock has not moved

            b.Time.Advance(new RevocationRegistryOptions().StorePollInterval);

            await WaitUntilAsync(b, () => b.Registry.LastSequence == entry.Sequence);
        }
        finally
        {
            await StopAsync(b, a);
        }
    }

    [Fact]
    public async Task ListenerConnectionsDropped_ReconnectWithBackOff_AndCatchUpWhatCommittedMeanwhile()
    {
        var clock = new ObservableTimeProvider(DateTimeOffset.UtcNow);
        var (a, b) = await StartAsync(await server.CreateDatabaseAsync(), NoSafetyNet, clock);
        try
        {
            await using var agent = await ControlPlaneTestKit.EnrollAsync(a);
            var connections = (A: Sync(a).Listener!.Connections, B: Sync(b).Listener!.Connections);
            var dropped = Task.WhenAll(Sync(a).Listener!.WhenDisconnectedAsync(0), Sync(b).Listener!.WhenDisconnectedAsync(0));
            Assert.Equal(2, await server.TerminateSessionsAsync("agentidentity-issuer-listener"));
            await dropped.WaitAsync(Safety);

            // Committed while nobody listens: the notification is lost.
            var entry = await a.Registry.RevokeIdentityAsync(agent.Id);
            Assert.Equal(0, b.Registry.LastSequence);

            await AdvanceUntilReconnectedAsync(clock, (a, connections.A), (b, connections.B));

            Assert.Equal(entry.Sequence, b.Registry.LastSequence);
        }
        finally
        {
            await StopAsync(b, a);
        }
    }

    [Fact]
    public async Task PostgreSqlRestart_ReplicasRecoverByThemselves_AndTheNextRevocationOnAReachesB()
    {
        var clock = new ObservableTimeProvider(DateTimeOffset.UtcNow);
        var (a, b) = await StartAsync(await server.CreateDatabaseAsync(), NoSafetyNet, clock);
        try
        {
            await using var first = await ControlPlaneTestKit.EnrollAsync(a);
            await using var second = await ControlPlaneTestKit.EnrollAsync(a);
            var one = await a.Registry.RevokeIdentityAsync(first.Id);
            await b.Registry.WaitForEntriesAsync(0).WaitAsync(Safety);
            var connections = (A: Sync(a).Listener!.Connections, B: Sync(b).Listener!.Connections);

            await server.RestartAsync();
            await AdvanceUntilReconnectedAsync(clock, (a, connections.A), (b, connections.B));

            var waiter = b.Registry.WaitForEntriesAsync(one.Sequence);
            var two = await a.Registry.RevokeIdentityAsync(second.Id);
            await waiter.WaitAsync(Safety);
            Assert.Equal([one.Sequence, two.Sequence], (await b.Registry.GetEntriesAsync(0, 10)).Select(e => e.Sequence));

            // The pools were cleared on the drop: B's first request after the restart is served, not failed on a dead connection.
            var (status, _) = await ControlPlaneTestKit.RenewAsync(b, second.GetCurrent());
            Assert.Equal(HttpStatusCode.Forbidden, status);
        }
        finally
        {
            await StopAsync(b, a);
        }
    }
}
