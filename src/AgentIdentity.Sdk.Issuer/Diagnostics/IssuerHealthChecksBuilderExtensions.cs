using AgentIdentity;
using AgentIdentity.Issuer;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the issuer service's health check with <c>services.AddHealthChecks()</c>.</summary>
public static class IssuerHealthChecksBuilderExtensions
{
    /// <summary>The default name of the check.</summary>
    public const string DefaultName = "agent-identity-issuer";

    /// <summary>
    /// Adds the issuer's check: Healthy when its store (SQLite or PostgreSQL) answers a round trip, Unhealthy with the store's error
    /// when it does not (the issuer then refuses every issuance). The data carry <c>store</c> (the store's kind) and
    /// <c>storeRoundTripMs</c>. Agent credentials are reported by <c>AddAgentIdentity()</c> of the core package.
    /// </summary>
    /// <param name="builder">The health checks builder.</param>
    /// <param name="name">The check's name; <see cref="DefaultName"/> when <see langword="null"/>.</param>
    /// <param name="failureStatus">What an unreachable store reports; <see cref="HealthStatus.Unhealthy"/> when <see langword="null"/>.</param>
    /// <param name="tags">Tags for filtering; none when <see langword="null"/>.</param>
    /// <returns>The same builder.</returns>
    /// <remarks>Safe to call more than once. Requires <c>services.AddAgentIdentityIssuer(...)</c>; without it the check reports
    /// Unhealthy and says so.</remarks>
    public static IHealthChecksBuilder AddAgentIdentityIssuer(this IHealthChecksBuilder builder, string? name = null, HealthStatus? failureStatus = null, IEnumerable<string>? tags = null)
    {
        return HealthCheckRegistrations.AddOnce(
            builder,
            name ?? DefaultName,
            static sp => new IssuerStoreHealthCheck(sp.GetService<IIssuerStore>(), sp.GetService<TimeProvider>() ?? TimeProvider.System),
            failureStatus,
            tags);
    }
}
