using System.Globalization;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace AgentIdentity;

/// <summary>
/// Reports the health of the agent credentials created through dependency injection: Healthy when every credential has a valid
/// SVID with at least 25 % of its life left, Degraded when one is below that (renewal is failing), Unhealthy when one has none or
/// is revoked (its kill switch has tripped). The data carry, for each credential, its status (key: the SPIFFE ID), the reason
/// (<c>&lt;id&gt;.reason</c>) and the whole seconds to expiry (<c>&lt;id&gt;.secondsToExpiry</c>, 0 without a valid SVID), and the
/// count (<c>credentials</c>). With <c>UseRevocationFeed(...)</c> they also carry the feed's state (<c>revocationFeed</c>:
/// connected / disconnected, <c>revocationFeedLastContact</c>, <c>revocationFeedSequence</c>, <c>revocationFeedRejectedEntries</c>), and
/// a feed disconnected for longer than its grace period makes the report Degraded.
/// </summary>
/// <remarks>Register it with <c>services.AddHealthChecks().AddAgentIdentity()</c> (docs/observability.md).</remarks>
internal sealed class AgentIdentityHealthCheck : IHealthCheck
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

            var id = status.Id.ToString();
            data[id] = status.Health.ToString();
            data[id + ".reason"] = Reason(status);
            data[id + ".secondsToExpiry"] = (long)Math.Floor(status.RemainingLifetime.TotalSeconds);
        }

        var worst = worstStatus?.Health ?? HealthStatus.Healthy;
        data["credentials"] = count;
        var description = worstStatus is null
            ? "No agent credentials."
            : worst == HealthStatus.Healthy ? $"{count} agent credential(s) valid." : $"'{worstStatus.Id}' {Reason(worstStatus)}";
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

    private static string Reason(AgentCredentialStatus status) => status.Health switch
    {
        HealthStatus.Healthy => status.NextRenewal is { } renewal
            ? $"is valid until {Format(status.NotAfter)}; renewal is due at {Format(renewal)}"
            : $"is valid until {Format(status.NotAfter)}",
        HealthStatus.Degraded => $"has {status.RemainingLifetime} left and renewal is failing: {status.LastError ?? "no successful renewal yet"}",
        _ => $"has no valid SVID: {status.LastError ?? "not issued yet or expired"}",
    };

    private static string Format(DateTimeOffset? value) => value?.ToString("O", CultureInfo.InvariantCulture) ?? "(unknown)";
}
