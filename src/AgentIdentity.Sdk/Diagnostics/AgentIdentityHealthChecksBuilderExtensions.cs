using AgentIdentity;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the AgentIdentity health check with <c>services.AddHealthChecks()</c>.</summary>
public static class AgentIdentityHealthChecksBuilderExtensions
{
    /// <summary>The default name of the check.</summary>
    public const string DefaultName = "agent-identity";

    /// <summary>
    /// Adds the <c>agent-identity</c> health check: the status, reason and seconds to expiry of each agent credential, and the
    /// revocation feed's connection state when <c>UseRevocationFeed(...)</c> is configured. The issuer service reports its store
    /// separately: <c>AddHealthChecks().AddAgentIdentityIssuer()</c> of AgentIdentity.Sdk.Issuer.
    /// </summary>
    /// <param name="builder">The health checks builder.</param>
    /// <param name="name">The check's name; <see cref="DefaultName"/> when <see langword="null"/>.</param>
    /// <param name="failureStatus">What an unhealthy credential reports; <see cref="HealthStatus.Unhealthy"/> when <see langword="null"/>.</param>
    /// <param name="tags">Tags for filtering (for example <c>"ready"</c>); none when <see langword="null"/>.</param>
    /// <returns>The same builder.</returns>
    /// <remarks>Safe to call more than once: a check of the same name is added once. Without <c>services.AddAgentIdentity(...)</c>
    /// the check reports Unhealthy and says so.</remarks>
    public static IHealthChecksBuilder AddAgentIdentity(this IHealthChecksBuilder builder, string? name = null, HealthStatus? failureStatus = null, IEnumerable<string>? tags = null)
    {
        return HealthCheckRegistrations.AddOnce(
            builder,
            name ?? DefaultName,
            static sp => sp.GetService<AgentIdentityHealthCheck>() ?? (IHealthCheck)new NotConfiguredHealthCheck(),
            failureStatus,
            tags);
    }

    private sealed class NotConfiguredHealthCheck : IHealthCheck
    {
        public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
            Task.FromResult(new HealthCheckResult(
                context.Registration.FailureStatus,
                "AgentIdentity is not configured: call services.AddAgentIdentity(...) so that there are agent credentials to report."));
    }
}
