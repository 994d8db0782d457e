using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace AgentIdentity;

/// <summary>
/// Reports the health of the agent credentials created through dependency injection: Healthy when every credential has a valid
/// SVID with at least 25 % of its life left, Degraded when one is below that (renewal is failing), Unhealthy when one has none or
/// is revoked (its kill switch has tripped). With <c>UseRevocationFeed(...)</c> the data carry the feed's state (<c>revocationFeed</c>:
/// connected / disconnected, <c>revocationFeedLastContact</c>, <c>revocationFeedSequence</c>, <c>revocationFeedRejectedEntries</c>), and a
/// feed disconnected for longer than its grace period makes the report Degraded.
/// </summary>
/// <remarks>Register it with <c>services.AddHealthChecks().AddCheck&lt;AgentIdentityHealthCheck&gt;("agent-identity")</c>.</remarks>
public sealed class AgentIdentityHealthCheck : IHealthCheck
{
    private readonly IAgentCredentialFactory _factory;
    private readonly AgentRevocationSubscription? _revocationFeed;

    /// <summary>Initializes a new instance of the <see cref="AgentIdentityHealthCheck"/> class.</summary>
    /// <param name="factory">The factory whose credentials are reported.</param>
    /// <param name="revocationFeed">The revocation subscription whose connection is reported; <see langword="null"/> for none.</param>
    public AgentIdentityHealthCheck(IAgentCredentialFactory factory, AgentRevocationSubscription? revocationFeed = null)
    {
        ArgumentNullException.ThrowIfNull(factory);
        _factory = factory;
        _revocationFeed = revocationFeed;
    }

    /// <inheritdoc/>
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var data = new Dictionary<string, object>(StringComparer.Ordinal);
        AgentCredentialStatus? worstStatus = null;
        var count = 0;
        foreach (var credential in _factory.Credentials)
        {
            var status = credential.GetStatus();
            count++;
            if (worstStatus is null || status.Health < worstStatus.Health) // HealthStatus orders Unhealthy (0) < Degraded < Healthy
            {
                worstStatus = status;
            }

            if (status.Health != HealthStatus.Healthy)
            {
                data[status.Id.ToString()] = status.Health.ToString();
            }
        }

        var worst = worstStatus?.Health ?? HealthStatus.Healthy;
        data["credentials"] = count;
        var description = worstStatus is null
            ? "No agent credentials."
            : worst switch
            {
                HealthStatus.Healthy => $"{count} agent credential(s) valid.",
                HealthStatus.Degraded => $"'{worstStatus.Id}' has {worstStatus.RemainingLifetime} left and renewal is failing: {worstStatus.LastError}",
                _ => $"'{worstStatus.Id}' has no valid SVID: {worstStatus.LastError ?? "not issued yet or expired"}",
            };
        if (_revocationFeed is not null && _revocationFeed.AddHealth(data, out var feedProblem) && worst == HealthStatus.Healthy)
        {
            worst = HealthStatus.Degraded;
            description = feedProblem;
        }

        var result = worst switch
        {
            HealthStatus.Healthy => HealthCheckResult.Healthy(description, data),
            HealthStatus.Degraded => HealthCheckResult.Degraded(description, data: data),
            _ => new HealthCheckResult(context?.Registration?.FailureStatus ?? HealthStatus.Unhealthy, description, data: data),
        };
        return Task.FromResult(result);
    }
}
