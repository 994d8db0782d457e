using System.Diagnostics.Metrics;

namespace AgentIdentity.Audit;

/// <summary>The metrics of the audit log itself (the event counter lives with <see cref="IAuditSink"/> in the core package).</summary>
internal static class AuditLogDiagnostics
{
    private static readonly Meter Meter = new(AgentIdentityMetrics.MeterName);
    private static readonly Counter<long> Checkpoints = Meter.CreateCounter<long>("agentidentity.audit.checkpoints", "{checkpoint}", "Signed audit checkpoints published.");

    public static void CheckpointPublished(long size) => Checkpoints.Add(1, new KeyValuePair<string, object?>("agentidentity.audit.tree_size_bucket", size < 1000 ? "small" : "large"));
}
