using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace AgentIdentity.Issuer;

/// <summary>Reports whether the issuer's store answers.</summary>
internal sealed class IssuerStoreHealthCheck(IIssuerStore? store, TimeProvider time) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (store is null)
        {
            return new HealthCheckResult(context.Registration.FailureStatus, "The AgentIdentity issuer is not configured: call services.AddAgentIdentityIssuer(...).");
        }

        var data = new Dictionary<string, object>(StringComparer.Ordinal) { ["store"] = store.GetType().Name };
        var started = time.GetTimestamp();
        try
        {
            await store.PingAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (IssuerStoreUnavailableException ex)
        {
            return new HealthCheckResult(context.Registration.FailureStatus, ex.Message, data: data);
        }

        data["storeRoundTripMs"] = (long)time.GetElapsedTime(started).TotalMilliseconds;
        return HealthCheckResult.Healthy("The issuer's store is reachable.", data);
    }
}
