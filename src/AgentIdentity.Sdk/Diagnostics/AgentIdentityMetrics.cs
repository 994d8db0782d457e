using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace AgentIdentity;

/// <summary>
/// The metrics of agent credentials, from one <see cref="Meter"/> named <see cref="MeterName"/>; and the name of the SDK's
/// <see cref="System.Diagnostics.ActivitySource"/>, <see cref="ActivitySourceName"/>, whose spans cover issuance, rotation, delegation,
/// token requests, revocation, the kill switch, tool calls and the agent's HTTP requests.
/// </summary>
/// <remarks>
/// Instruments: <c>agentidentity.svid.rotations</c> (counter), <c>agentidentity.svid.renewal_failures</c> (counter, with <c>error.type</c>)
/// and <c>agentidentity.svid.time_to_expiry</c> (gauge in seconds, the smallest value among the live instances of each agent name).
/// All carry the attribute <c>agentidentity.agent.name</c>; instance ids are never attributes of metrics, so that cardinality stays
/// bounded. docs/observability.md lists every instrument, span and attribute.
/// </remarks>
public sealed class AgentIdentityMetrics : IDisposable
{
    /// <summary>The name of the meter.</summary>
    public const string MeterName = "AgentIdentity";

    /// <summary>The name of the activity source (the OpenTelemetry tracer) of the SDK's spans: pass it to <c>AddSource</c>.</summary>
    public const string ActivitySourceName = "AgentIdentity";

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
        _meter.CreateObservableGauge("agentidentity.svid.time_to_expiry", ObserveExpiry, "s", "Time until the soonest-expiring SVID of each agent name expires.");
    }

    internal void Track(AgentCredential credential) => _live[credential] = AgentName(credential.Id);

    internal void Untrack(AgentCredential credential) => _live.TryRemove(credential, out _);

    internal void Rotated(AgentCredential credential) => _rotations.Add(1, new KeyValuePair<string, object?>(TelemetryTags.AgentName, AgentName(credential.Id)));

    internal void Failed(AgentCredential credential, Exception? error) => _failures.Add(
        1,
        new KeyValuePair<string, object?>(TelemetryTags.AgentName, AgentName(credential.Id)),
        new KeyValuePair<string, object?>(TelemetryTags.ErrorType, error?.GetType().FullName ?? "_OTHER"));

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
            yield return new Measurement<double>(seconds, new KeyValuePair<string, object?>(TelemetryTags.AgentName, name));
        }
    }

    private static string AgentName(SpiffeId id) => id.TryGetAgent(out var name, out _) ? name : id.Path;

    /// <summary>Disposes the meter.</summary>
    public void Dispose() => _meter.Dispose();
}
