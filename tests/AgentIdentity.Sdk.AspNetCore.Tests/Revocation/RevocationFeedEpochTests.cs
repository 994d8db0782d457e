using AgentIdentity.AspNetCore.Tests.TestInfrastructure;

namespace AgentIdentity.AspNetCore.Tests.Revocation;

/// <summary>§7.3: the feed's log ID. An issuer whose registry restarts its numbering (reset, restore) starts a new log; a
/// subscriber that is ahead resynchronises (or fails closed) instead of silently dropping the new revocations.</summary>
public sealed class RevocationFeedEpochTests : IDisposable
{
    private static readonly TimeSpan Safety = TimeSpan.FromSeconds(30);
    private readonly TestPki _pki = TestPki.ForCorp();
    private readonly HttpClient _http = new() { Timeout = Timeout.InfiniteTimeSpan };

    public void Dispose()
    {
        _http.Dispose();
        _pki.Dispose();
    }

    [Fact]
    public async Task RegistryReset_SubscriberAhead_ResynchronisesAndAppliesTheNewLog()
    {
        var (subscriber, second) = await ResetUnderSubscriberAsync(RevocationEpochChangeBehavior.Resynchronize);
        await using (subscriber)
        await using (second)
        {
            var applied = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            subscriber.Set.EntryApplied += (_, e) =>
            {
                if (e.SerialNumber == "03")
                {
                    applied.TrySetResult();
                }
            };
            if (!subscriber.Set.IsRevoked("03", default, null, out _))
            {
                await applied.Task.WaitAsync(Safety);
            }

            // The old log's revocations stay in force; the new log's first entry is applied; the set follows the new log.
            Assert.True(subscriber.Set.IsRevoked("01", default, null, out _));
            Assert.True(subscriber.Set.IsRevoked("03", default, null, out _));
            Assert.Equal(second.Registry.LogId, subscriber.Set.LogId);
            Assert.Equal(1, subscriber.Set.LastSequence);
        }
    }

    [Fact]
    public async Task RegistryReset_FailClosed_StopsAndStaysDisconnected()
    {
        var (subscriber, second) = await ResetUnderSubscriberAsync(RevocationEpochChangeBehavior.FailClosed);
        await using (subscriber)
        await using (second)
        {
            var fault = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            subscriber.ConnectionChanged += (_, _) =>
            {
                if (subscriber.EpochFault is not null)
                {
                    fault.TrySetResult();
                }
            };
            if (subscriber.EpochFault is null)
            {
                await fault.Task.WaitAsync(Safety);
            }

            Assert.Contains(second.Registry.LogId, subscriber.EpochFault, StringComparison.Ordinal);
            Assert.False(subscriber.IsConnected);
            Assert.False(subscriber.Set.IsRevoked("03", default, null, out _));
        }
    }

    [Fact]
    public async Task Set_EntryOfAnotherLog_IsNotApplied()
    {
        var set = new RevocationSet();
        var a = _pki.Ca.CreateRevocationSigner();
        var first = new InMemoryRevocationRegistry(a);
        var second = new InMemoryRevocationRegistry(a);
        var entry = await first.RevokeCertificateAsync("0A");
        Assert.Equal(RevocationApplyResult.Applied, set.Apply(entry));
        var other = await second.RevokeCertificateAsync("0B");
        Assert.Equal(RevocationApplyResult.EpochChanged, set.Apply(other));
        Assert.False(set.IsRevoked("0B", default, null, out _));
        set.Resynchronize(other.LogId);
        Assert.Equal(RevocationApplyResult.Applied, set.Apply(other));
        Assert.True(set.IsRevoked("0A", default, null, out _));
    }

    /// <summary>A subscriber applies #1, #2 of one registry; the server restarts on the same port with a new, empty registry
    /// (a new log) and revokes "03" as its #1.</summary>
    private async Task<(RevocationFeedSubscriber Subscriber, RevocationIssuerServer Second)> ResetUnderSubscriberAsync(RevocationEpochChangeBehavior behavior)
    {
        var first = await RevocationIssuerServer.StartAsync(_pki.Ca, heartbeat: TimeSpan.FromMilliseconds(200));
        var port = first.BaseAddress.Port;
        await first.Registry.RevokeCertificateAsync("01");
        await first.Registry.RevokeCertificateAsync("02");
        var subscriber = new RevocationFeedSubscriber(_http, first.FeedUri, new RevocationFeedVerifier(first.Signer.Certificate, TestPki.Corp), new RevocationSet(),
            new RevocationFeedSubscriberOptions { EpochChange = behavior, ReconnectDelay = TimeSpan.FromMilliseconds(50), MaxReconnectDelay = TimeSpan.FromMilliseconds(200) });
        subscriber.Start();
        await subscriber.Set.WaitForSequenceAsync(2).WaitAsync(Safety);
        await first.DisposeAsync();

        var second = await RevocationIssuerServer.StartAsync(_pki.Ca, port, TimeSpan.FromMilliseconds(200));
        await second.Registry.RevokeCertificateAsync("03");
        return (subscriber, second);
    }
}
