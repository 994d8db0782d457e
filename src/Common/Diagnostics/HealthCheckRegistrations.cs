using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace AgentIdentity;

/// <summary>Adds a health check once by name, so that the packages' <c>AddHealthChecks().AddAgentIdentity*()</c> calls are idempotent.</summary>
internal static class HealthCheckRegistrations
{
    public static IHealthChecksBuilder AddOnce(IHealthChecksBuilder builder, string name, Func<IServiceProvider, IHealthCheck> factory, HealthStatus? failureStatus, IEnumerable<string>? tags)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var tagList = tags?.ToArray() ?? [];
        builder.Services.Configure<HealthCheckServiceOptions>(options =>
        {
            if (!options.Registrations.Any(r => string.Equals(r.Name, name, StringComparison.Ordinal)))
            {
                options.Registrations.Add(new HealthCheckRegistration(name, factory, failureStatus, tagList));
            }
        });
        return builder;
    }
}
