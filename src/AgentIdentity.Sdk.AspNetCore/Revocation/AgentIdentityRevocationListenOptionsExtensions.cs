using AgentIdentity.AspNetCore;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;

namespace Microsoft.AspNetCore.Hosting;

/// <summary>Kestrel connection middleware for revocation.</summary>
public static partial class AgentIdentityKestrelExtensions
{
    /// <summary>
    /// Tracks this endpoint's TLS connections by client certificate: connections that present a revoked certificate are refused,
    /// and open ones are aborted as soon as a revocation covering their certificate arrives. Call it <b>after</b>
    /// <c>UseAgentIdentityHttps</c>/<c>UseHttps</c>, and register the feed with <c>AddAgentIdentityRevocationFeed</c>.
    /// </summary>
    /// <param name="listenOptions">The endpoint.</param>
    /// <returns>The endpoint.</returns>
    public static ListenOptions UseAgentIdentityRevocation(this ListenOptions listenOptions)
    {
        ArgumentNullException.ThrowIfNull(listenOptions);
        AgentRevocationConnectionTracker? tracker = null;
        listenOptions.Use(next => connection =>
        {
            tracker ??= listenOptions.ApplicationServices.GetService<AgentRevocationConnectionTracker>()
                ?? throw new InvalidOperationException("UseAgentIdentityRevocation needs AddAgentIdentityRevocationFeed (or an AgentRevocationConnectionTracker) in the services.");
            return tracker.OnConnectionAsync(connection, next);
        });
        return listenOptions;
    }
}
