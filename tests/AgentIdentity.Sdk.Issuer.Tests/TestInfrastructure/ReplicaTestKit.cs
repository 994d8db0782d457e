using Microsoft.Extensions.DependencyInjection;

namespace AgentIdentity.Issuer.Tests;

/// <summary>Awaiting issuer replicas that follow each other through PostgreSQL: their catch-ups and their listener's reconnections.</summary>
internal static class ReplicaTestKit
{
    private static readonly TimeSpan Safety = TimeSpan.FromSeconds(30);

    /// <summary>Turns the periodic safety net off (one hour), so only a notification or a reconnection can carry a change.</summary>
    public static Action<IServiceCollection> NoSafetyNet => s => s.Configure<RevocationRegistryOptions>(o => o.StorePollInterval = TimeSpan.FromHours(1));

    public static IssuerReplicaSync Sync(IssuerHost host) => host.Services.GetRequiredService<IssuerReplicaSync>();

    /// <summary>Awaits catch-ups of <paramref name="host"/> until <paramref name="condition"/> holds (30 s safety net).</summary>
    public static async Task WaitUntilAsync(IssuerHost host, Func<bool> condition)
    {
        var sync = Sync(host);
        using var timeout = new CancellationTokenSource(Safety);
        while (true)
        {
            var seen = sync.CatchUps;
            if (condition())
            {
                return;
            }

            await sync.WhenCaughtUpAsync(seen).WaitAsync(timeout.Token);
        }
    }

    /// <summary>Advances <paramref name="clock"/> by each back-off delay the listeners wait, until every one has connected (and caught up) again.</summary>
    public static async Task AdvanceUntilReconnectedAsync(ObservableTimeProvider clock, params (IssuerHost Host, long Connections)[] replicas)
    {
        var reconnected = Task.WhenAll(replicas.Select(r => Sync(r.Host).Listener!.WhenConnectedAsync(r.Connections))).WaitAsync(Safety);
        while (!reconnected.IsCompleted)
        {
            var timer = clock.NextTimerAsync();
            if (await Task.WhenAny(reconnected, timer) == timer)
            {
                clock.Advance(await timer);
            }
        }

        await reconnected;
    }
}
