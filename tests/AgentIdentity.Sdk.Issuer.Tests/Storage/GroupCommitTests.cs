using System.Net;
using System.Security.Cryptography;
using Microsoft.Data.Sqlite;

namespace AgentIdentity.Issuer.Tests.Storage;

/// <summary>SQLite group commit: concurrent issuance writes share one transaction (undone alone when one fails) and are acknowledged
/// only after it committed. The writer is held (<see cref="SqlIssuerStore.WriterGate"/>) so that the writes land in one batch.</summary>
public sealed class GroupCommitTests : IDisposable
{
    private static readonly DateTimeOffset Now = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "ai-group-commit-" + Guid.NewGuid().ToString("N"));

    public GroupCommitTests() => Directory.CreateDirectory(_directory);

    private string ConnectionString => SqliteIssuerStore.ToConnectionString(Path.Combine(_directory, "issuer.db"));

    private async Task<SqliteIssuerStore> OpenAsync()
    {
        var store = new SqliteIssuerStore(ConnectionString);
        await store.InitializeAsync();
        return store;
    }

    /// <summary>Reopens the file as a restarted issuer would: no pooled connection, a new store.</summary>
    private async Task<SqliteIssuerStore> ReopenAsync()
    {
        SqliteConnection.ClearAllPools();
        return await OpenAsync();
    }

    private static async Task<byte[]> AddTokenAsync(SqlIssuerStore store)
    {
        var hash = SHA256.HashData(RandomNumberGenerator.GetBytes(32));
        await store.AddJoinTokenAsync(new JoinTokenRecord(hash, "worker", null, Now, Now.AddMinutes(10), null, null));
        return hash;
    }

    private static (IdentityRecord Identity, IssuedCertificateRecord Certificate) Enrollment(string? spiffeId = null, string? serial = null)
    {
        var id = spiffeId ?? SpiffeId.NewAgentInstance(TrustDomain.Parse("example.org"), "worker").ToString();
        serial ??= Convert.ToHexString(RandomNumberGenerator.GetBytes(16));
        return (new IdentityRecord(id, null, null, Now, false), new IssuedCertificateRecord(serial, id, "enroll", Now, Now.AddHours(1), Now, RandomNumberGenerator.GetBytes(64)));
    }

    /// <summary>Starts <paramref name="writes"/> while the writer is held, then releases it: they all go into one transaction.</summary>
    private static async Task<Task<T>[]> InOneBatchAsync<T>(SqlIssuerStore store, IEnumerable<Func<Task<T>>> writes)
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        store.WriterGate = gate.Task;
        var before = store.CommittedBatches;
        var started = writes.Select(write => write()).ToArray();
        gate.SetResult();
        store.WriterGate = Task.CompletedTask;
        await Task.WhenAll(started.Select(t => t.ContinueWith(_ => { }, TaskScheduler.Default)));
        Assert.Equal(before + 1, store.CommittedBatches); // one commit for all of them
        return started;
    }

    [Fact]
    public async Task ConcurrentRedemptions_ShareOneCommit_AndEachAcknowledgedOneIsInTheStoreAfterReopening()
    {
        const int Count = 32;
        var store = await OpenAsync();
        var tokens = await Task.WhenAll(Enumerable.Range(0, Count).Select(_ => AddTokenAsync(store)));
        var enrollments = tokens.Select(_ => Enrollment()).ToArray();

        var results = await InOneBatchAsync(store, tokens.Select((token, i) => (Func<Task<bool>>)(() => store.RedeemJoinTokenAsync(token, Now, enrollments[i].Identity, enrollments[i].Certificate))));

        Assert.All(await Task.WhenAll(results), Assert.True);
        var reopened = await ReopenAsync();
        Assert.Equal(Count, await reopened.CountCertificatesAsync());
        for (var i = 0; i < Count; i++)
        {
            Assert.NotNull(await reopened.FindIdentityAsync(enrollments[i].Identity.SpiffeId));
            Assert.Equal(enrollments[i].Certificate.Certificate, (await reopened.FindCertificateAsync(enrollments[i].Certificate.SerialNumber))!.Certificate);
            Assert.Equal(enrollments[i].Identity.SpiffeId, (await reopened.FindJoinTokenAsync(tokens[i]))!.RedeemedBy);
        }
    }

    [Fact]
    public async Task FailingMembersOfABatch_AreUndoneAlone_TheOthersCommit()
    {
        var store = await OpenAsync();
        var used = await AddTokenAsync(store);
        var earlier = Enrollment();
        Assert.True(await store.RedeemJoinTokenAsync(used, Now, earlier.Identity, earlier.Certificate));
        var tokens = await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => AddTokenAsync(store)));
        var good = Enumerable.Range(0, 4).Select(_ => Enrollment()).ToArray();
        var reusedToken = Enrollment();
        var duplicateSerial = Enrollment(serial: earlier.Certificate.SerialNumber);
        var sameToken = Enrollment();
        var sameInstance = Enrollment(spiffeId: good[1].Identity.SpiffeId);

        var results = await InOneBatchAsync(store, new Func<Task<bool>>[]
        {
            () => store.RedeemJoinTokenAsync(tokens[0], Now, good[0].Identity, good[0].Certificate),
            () => store.RedeemJoinTokenAsync(used, Now, reusedToken.Identity, reusedToken.Certificate), // a token already redeemed
            () => store.RedeemJoinTokenAsync(tokens[1], Now, good[1].Identity, good[1].Certificate),
            () => store.RedeemJoinTokenAsync(tokens[4], Now, duplicateSerial.Identity, duplicateSerial.Certificate), // a unique violation mid-write
            () => store.RedeemJoinTokenAsync(tokens[0], Now, sameToken.Identity, sameToken.Certificate), // the same token twice in the batch
            () => store.RedeemJoinTokenAsync(tokens[5], Now, sameInstance.Identity, sameInstance.Certificate), // an instance enrolled earlier in the batch
            () => store.RedeemJoinTokenAsync(tokens[2], Now, good[2].Identity, good[2].Certificate),
            () => store.RedeemJoinTokenAsync(tokens[3], Now, good[3].Identity, good[3].Certificate),
        });

        Assert.True(await results[0]);
        Assert.False(await results[1]);
        Assert.True(await results[2]);
        var violation = await Assert.ThrowsAsync<IssuerStoreUnavailableException>(() => results[3]);
        Assert.Contains("nothing of it was written", violation.Message, StringComparison.Ordinal);
        Assert.False(await results[4]);
        Assert.False(await results[5]);
        Assert.True(await results[6]);
        Assert.True(await results[7]);

        var reopened = await ReopenAsync();
        Assert.Equal(5, await reopened.CountCertificatesAsync()); // the earlier one and the four good ones
        foreach (var (identity, certificate) in good)
        {
            Assert.NotNull(await reopened.FindIdentityAsync(identity.SpiffeId));
            Assert.NotNull(await reopened.FindCertificateAsync(certificate.SerialNumber));
        }

        Assert.Equal(earlier.Identity.SpiffeId, (await reopened.FindJoinTokenAsync(used))!.RedeemedBy); // the reuse changed nothing
        Assert.Null(await reopened.FindIdentityAsync(reusedToken.Identity.SpiffeId));
        Assert.Null(await reopened.FindIdentityAsync(duplicateSerial.Identity.SpiffeId)); // its savepoint undid the identity it had inserted...
        Assert.Null((await reopened.FindJoinTokenAsync(tokens[4]))!.RedeemedAt); // ...and its redemption: the token is still usable
        Assert.Null(await reopened.FindIdentityAsync(sameToken.Identity.SpiffeId));
        Assert.Equal(good[0].Identity.SpiffeId, (await reopened.FindJoinTokenAsync(tokens[0]))!.RedeemedBy);
        Assert.Null((await reopened.FindJoinTokenAsync(tokens[5]))!.RedeemedAt);
    }

    /// <summary>A batch of one runs without a savepoint: a write that does not keep what it wrote, or fails halfway, is undone by
    /// rolling back its whole transaction, and the next write is not affected.</summary>
    [Fact]
    public async Task LoneFailingWrite_IsUndoneWhole_AndTheNextWriteCommits()
    {
        var store = await OpenAsync();
        var used = await AddTokenAsync(store);
        var earlier = Enrollment();
        Assert.True(await store.RedeemJoinTokenAsync(used, Now, earlier.Identity, earlier.Certificate));

        var reuse = Enrollment();
        Assert.False(await store.RedeemJoinTokenAsync(used, Now, reuse.Identity, reuse.Certificate));

        // The redemption and the identity insert succeed, the certificate insert violates the serial's uniqueness.
        var token = await AddTokenAsync(store);
        var duplicate = Enrollment(serial: earlier.Certificate.SerialNumber);
        var violation = await Assert.ThrowsAsync<IssuerStoreUnavailableException>(() => store.RedeemJoinTokenAsync(token, Now, duplicate.Identity, duplicate.Certificate));
        Assert.Contains("nothing of it was written", violation.Message, StringComparison.Ordinal);

        var next = Enrollment();
        Assert.True(await store.RedeemJoinTokenAsync(token, Now, next.Identity, next.Certificate)); // the token was left unredeemed

        var reopened = await ReopenAsync();
        Assert.Equal(2, await reopened.CountCertificatesAsync());
        Assert.Null(await reopened.FindIdentityAsync(reuse.Identity.SpiffeId));
        Assert.Null(await reopened.FindIdentityAsync(duplicate.Identity.SpiffeId));
        Assert.Equal(next.Identity.SpiffeId, (await reopened.FindJoinTokenAsync(token))!.RedeemedBy);
        Assert.Equal(earlier.Identity.SpiffeId, (await reopened.FindJoinTokenAsync(used))!.RedeemedBy);
    }

    [Fact]
    public async Task CommitFailure_FailsEveryWriteOfTheBatch_AndNothingIsWritten()
    {
        var store = await OpenAsync();
        var tokens = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => AddTokenAsync(store)));
        var enrollments = tokens.Select(_ => Enrollment()).ToArray();

        // Another connection holds SQLite's write lock; with a short busy timeout the batch cannot begin, so it fails as a whole.
        await using var blocker = new SqliteConnection(ConnectionString);
        await blocker.OpenAsync();
        await using (var begin = blocker.CreateCommand())
        {
            begin.CommandText = "BEGIN IMMEDIATE";
            await begin.ExecuteNonQueryAsync();
        }

        var busyStore = new SqliteIssuerStore(ConnectionString + ";Default Timeout=1");
        var attempts = tokens.Select((token, i) => busyStore.RedeemJoinTokenAsync(token, Now, enrollments[i].Identity, enrollments[i].Certificate)).ToArray();
        foreach (var attempt in attempts)
        {
            await Assert.ThrowsAsync<IssuerStoreUnavailableException>(() => attempt);
        }

        await using (var rollback = blocker.CreateCommand())
        {
            rollback.CommandText = "ROLLBACK";
            await rollback.ExecuteNonQueryAsync();
        }

        var reopened = await ReopenAsync();
        Assert.Equal(0, await reopened.CountCertificatesAsync());
        Assert.All(await Task.WhenAll(tokens.Select(t => reopened.FindJoinTokenAsync(t))), t => Assert.Null(t!.RedeemedAt));
    }

    [Fact]
    public async Task ConcurrentEnrollmentsOverHttps_OneInstancePerToken_AndOneTokenPerInstance()
    {
        var host = await IssuerHost.StartAsync();
        try
        {
            using var http = host.CreateHttpClient();

            // One token, 16 racing instances: exactly one enrolls.
            var token = await host.Issuer.CreateJoinTokenAsync("worker", null, TimeSpan.FromMinutes(5));
            var byToken = await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => ControlPlane.ControlPlaneTestKit.EnrollRawAsync(host, IssuerHost.AgentId("worker"), token)));
            Assert.Equal(1, byToken.Count(r => r.Status == HttpStatusCode.OK));
            Assert.All(byToken.Where(r => r.Status != HttpStatusCode.OK), r => Assert.Equal(HttpStatusCode.Unauthorized, r.Status));

            // One instance, 16 racing tokens: exactly one enrolls it, and the others' tokens stay unredeemed.
            var instance = IssuerHost.AgentId("worker");
            var tokens = await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => host.Issuer.CreateJoinTokenAsync("worker", null, TimeSpan.FromMinutes(5))));
            var byInstance = await Task.WhenAll(tokens.Select(t => ControlPlane.ControlPlaneTestKit.EnrollRawAsync(host, instance, t)));
            Assert.Equal(1, byInstance.Count(r => r.Status == HttpStatusCode.OK));
            Assert.All(byInstance.Where(r => r.Status != HttpStatusCode.OK), r => Assert.Contains(r.Status, new[] { HttpStatusCode.Conflict, HttpStatusCode.Unauthorized }));
            var redeemed = 0;
            foreach (var t in tokens)
            {
                redeemed += (await host.Issuer.Store.FindJoinTokenAsync(AgentIdentityIssuer.HashToken(t)))!.RedeemedAt is null ? 0 : 1;
            }

            Assert.Equal(1, redeemed);
            Assert.Equal(2, await host.Issuer.Store.CountCertificatesAsync());
        }
        finally
        {
            await host.DisposeAsync();
            host.DeleteDirectory();
        }
    }

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
