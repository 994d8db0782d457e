using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace AgentIdentity;

/// <summary>The metrics of agent credentials, from one <see cref="Meter"/> named <see cref="MeterName"/>.</summary>
/// <remarks>
/// Instruments: <c>agentidentity.svid.rotations</c> (counter), <c>agentidentity.svid.renewal_failures</c> (counter) and
/// <c>agentidentity.svid.seconds_to_expiry</c> (gauge, the smallest value among the live instances of each agent name).
/// All carry the tag <c>agent.name</c>; instance ids are never tags, so that cardinality stays bounded.
/// </remarks>
public sealed class AgentIdentityMetrics : IDisposable
{
    /// <summary>The name of the meter.</summary>
    public const string MeterName = "AgentIdentity";

    private readonly Meter _meter;
    private readonly Counter<long> _rotations;
    private readonly Counter<long> _failures;
    private readonly ConcurrentDictionary<AgentCredential, string> _live = new();
    private readonly TimeProvider _time;

    /// <summary>Initializes a new instance of the <see cref="AgentIdentityMetrics"/> class.</summary>
    /// <param name="meterFactory">The meter factory; <see langword="null"/> for a meter that is not owned by dependency injection.</param>
    /// <param name="timeProvider">The clock; <see langword="null"/> for <see cref="TimeProvider.System"/>.</param>
    public AgentIdentityMetrics(IMeterFactory? meterFactory, TimeProvider? timeProvider = null)
    {
        _time = timeProvider ?? TimeProvider.System;
        _meter = meterFactory?.Create(MeterName) ?? new Meter(MeterName);
        _rotations = _meter.CreateCounter<long>("agentidentity.svid.rotations", "{svid}", "X.509-SVIDs obtained by agent credentials (first issuance and renewals).");
        _failures = _meter.CreateCounter<long>("agentidentity.svid.renewal_failures", "{attempt}", "Failed X.509-SVID issuance attempts.");
        _meter.CreateObservableGauge("agentidentity.svid.seconds_to_expiry", ObserveExpiry, "s", "Seconds until the soonest-expiring SVID of each agent name expires.");
    }

    internal void Track(AgentCredential credential) => _live[credential] = AgentName(credential.Id);

    internal void Untrack(AgentCredential credential) => _live.TryRemove(credential, out _);

    internal void Rotated(AgentCredential credential) => _rotations.Add(1, new KeyValuePair<string, object?>("agent.name", AgentName(credential.Id)));

    internal void Failed(AgentCredential credential) => _failures.Add(1, new KeyValuePair<string, object?>("agent.name", AgentName(credential.Id)));

    private IEnumerable<Measurement<double>> ObserveExpiry()
    {
        var now = _time.GetUtcNow();
        var soonest = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var (credential, name) in _live)
        {
            var seconds = credential.TryGetCurrent(out var svid) ? (svid.NotAfter - now).TotalSeconds : 0;
            soonest[name] = soonest.TryGetValue(name, out var existing) ? Math.Min(existing, seconds) : seconds;
        }

        foreach (var (name, seconds) in soonest)
        {
            yield return new Measurement<double>(seconds, new KeyValuePair<string, object?>("agent.name", name));
        }
    }

    private static string AgentName(SpiffeId id) => id.TryGetAgent(out var name, out _) ? name : id.Path;

    /// <summary>Disposes the meter.</summary>
    public void Dispose() => _meter.Dispose();
}
