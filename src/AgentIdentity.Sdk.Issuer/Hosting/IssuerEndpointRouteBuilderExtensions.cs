using AgentIdentity;
using AgentIdentity.Issuer;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Microsoft.AspNetCore.Builder;

/// <summary>Maps the endpoints of the embedded AgentIdentity issuer service.</summary>
public static partial class AgentIdentityIssuerEndpointRouteBuilderExtensions
{
    /// <summary>Maps the issuer endpoints under <paramref name="prefix"/>: <c>POST v1/issue</c> (CSR + join token),
    /// <c>POST v1/renew</c> (mTLS with the current SVID), <c>POST v1/renew-expired</c> (proof of possession of an expired SVID's key,
    /// when <see cref="AgentIdentityIssuerOptions.RenewalAfterExpiryGrace"/> allows it), <c>POST v1/delegate</c> (mTLS with the parent SVID + child policy),
    /// <c>GET v1/bundle</c> (SPIFFE bundle), the administration endpoints, authorized by the operator's SVID over mTLS
    /// (see <see cref="IssuerAdminActions"/>): <c>POST v1/join-tokens</c>, <c>POST v1/revoke</c> and <c>GET v1/status?id=</c>; and the
    /// revocation endpoints of the issuer's registry under <c>revocation/</c> (<c>feed</c>, <c>feed/poll</c>, <c>crl</c>, <c>ocsp</c>; see
    /// <see cref="MapAgentIdentityRevocation"/>).</summary>
    /// <param name="endpoints">The endpoint builder (the app).</param>
    /// <param name="prefix">The path prefix.</param>
    /// <returns>A convention builder for all issuer endpoints.</returns>
    /// <exception cref="InvalidOperationException"><c>services.AddAgentIdentityIssuer()</c> was not called.</exception>
    /// <remarks>Serve them over HTTPS that asks for (but does not require) a client certificate, for example with
    /// <see cref="AgentIdentityIssuerListenOptionsExtensions.UseAgentIdentityIssuerHttps"/>.</remarks>
    public static IEndpointConventionBuilder MapAgentIdentityIssuer(this IEndpointRouteBuilder endpoints, string prefix = "/agent-identity")
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentNullException.ThrowIfNull(prefix);
        var handlers = endpoints.ServiceProvider.GetService<IssuerEndpoints>()
            ?? throw new InvalidOperationException("The AgentIdentity issuer is not registered: call services.AddAgentIdentityIssuer(...) before MapAgentIdentityIssuer().");
        var group = endpoints.MapGroup(prefix);
        group.MapPost(IssuerProtocol.IssuePath, handlers.IssueAsync);
        group.MapPost(IssuerProtocol.RenewPath, handlers.RenewAsync);
        group.MapPost(IssuerProtocol.RenewExpiredPath, handlers.RenewExpiredAsync);
        group.MapPost(IssuerProtocol.DelegatePath, handlers.DelegateAsync);
        group.MapGet(IssuerProtocol.BundlePath, handlers.BundleAsync);
        group.MapPost(IssuerProtocol.JoinTokensPath, handlers.CreateJoinTokenAsync);
        var admin = endpoints.ServiceProvider.GetRequiredService<AdminEndpoints>();
        group.MapPost(IssuerProtocol.RevokePath, admin.RevokeAsync);
        group.MapGet(IssuerProtocol.StatusPath, admin.StatusAsync);

        if (AgentIdentityIssuerServiceCollectionExtensions.ResolveRegistry(endpoints.ServiceProvider) is not null)
        {
            var revocation = prefix.TrimEnd('/') + "/revocation";
            IEndpointConventionBuilder published = endpoints.MapAgentIdentityRevocation(revocation);
            published.Add(builder => RateLimit(builder, handlers, revocation));
        }

        return group;
    }

    /// <summary>Puts a revocation endpoint (feed, feed/poll, crl, ocsp) under the issuer's per-caller and global anonymous rate limits.</summary>
    private static void RateLimit(EndpointBuilder builder, IssuerEndpoints handlers, string revocationPrefix)
    {
        var inner = builder.RequestDelegate ?? throw new InvalidOperationException("A revocation endpoint has no request delegate.");
        var pattern = (builder as RouteEndpointBuilder)?.RoutePattern.RawText ?? string.Empty;
        var name = pattern.StartsWith(revocationPrefix, StringComparison.Ordinal) ? pattern[revocationPrefix.Length..].Trim('/') : pattern;
        var parameter = name.IndexOf("/{", StringComparison.Ordinal);
        name = parameter < 0 ? name : name[..parameter];
        builder.RequestDelegate = async context =>
        {
            if (await handlers.AcquireAsync(context, IssuerEndpoints.CallerKey(context), name).ConfigureAwait(false))
            {
                await inner(context).ConfigureAwait(false);
            }
        };
    }
}
