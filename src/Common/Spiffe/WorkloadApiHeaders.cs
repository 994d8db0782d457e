namespace AgentIdentity.Spiffe;

/// <summary>The security header every Workload API call carries (SPIFFE Workload Endpoint §4), shared by client and server.</summary>
internal static class WorkloadApiHeaders
{
    public const string SecurityHeaderName = "workload.spiffe.io";
    public const string SecurityHeaderValue = "true";
}
