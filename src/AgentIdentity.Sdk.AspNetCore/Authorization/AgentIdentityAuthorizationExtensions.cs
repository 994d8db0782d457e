using AgentIdentity.AspNetCore;

namespace Microsoft.AspNetCore.Authorization;

/// <summary>Builds authorization policies for agent callers; usable from <c>AddPolicy</c> and minimal APIs'
/// <c>RequireAuthorization(p =&gt; ...)</c>. Each method also selects the AgentIdentity authentication scheme.</summary>
public static class AgentIdentityAuthorizationPolicyBuilderExtensions
{
    /// <summary>Requires the caller's SPIFFE ID to match one of <paramref name="patterns"/>: an exact ID, or an ID followed by
    /// <c>/*</c> for any descendant (<c>spiffe://corp.example/agent/planner/*</c>).</summary>
    /// <param name="builder">The policy builder.</param>
    /// <param name="patterns">The patterns.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentException">A pattern is not a SPIFFE ID (optionally ending in <c>/*</c>).</exception>
    public static AuthorizationPolicyBuilder RequireAgent(this AuthorizationPolicyBuilder builder, params string[] patterns)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return UseScheme(builder).AddRequirements(new AgentIdRequirement(patterns));
    }

    /// <summary>Requires the caller to belong to one of <paramref name="trustDomains"/>.</summary>
    /// <param name="builder">The policy builder.</param>
    /// <param name="trustDomains">Trust domain names, e.g. <c>corp.example</c>.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentException">A name is not a valid trust domain.</exception>
    public static AuthorizationPolicyBuilder RequireTrustDomain(this AuthorizationPolicyBuilder builder, params string[] trustDomains)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return UseScheme(builder).AddRequirements(new AgentTrustDomainRequirement(trustDomains));
    }

    /// <summary>Requires the caller to be allowed <paramref name="action"/> by its token scope (when a token is presented) and by
    /// its certificate policy (see <see cref="AgentActionRequirement"/>).</summary>
    /// <param name="builder">The policy builder.</param>
    /// <param name="action">The action, e.g. <c>invoices:read</c>.</param>
    /// <returns>The builder.</returns>
    public static AuthorizationPolicyBuilder RequireAction(this AuthorizationPolicyBuilder builder, string action)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return UseScheme(builder).AddRequirements(new AgentActionRequirement(action));
    }

    /// <summary>Requires the caller's effective certificate policy to allow calling the service <paramref name="serviceId"/> (its
    /// <c>services</c> axis; see <see cref="AgentServiceRequirement"/>).</summary>
    /// <param name="builder">The policy builder.</param>
    /// <param name="serviceId">The service's own SPIFFE ID, e.g. <c>spiffe://corp.example/svc/erp</c>.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentException">The ID is not a SPIFFE ID with a path.</exception>
    public static AuthorizationPolicyBuilder RequireServiceAllowed(this AuthorizationPolicyBuilder builder, string serviceId)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return UseScheme(builder).AddRequirements(new AgentServiceRequirement(serviceId));
    }

    /// <summary>Selects the AgentIdentity scheme and requires an authenticated caller.</summary>
    /// <param name="builder">The policy builder.</param>
    /// <returns>The builder.</returns>
    public static AuthorizationPolicyBuilder RequireAgentCaller(this AuthorizationPolicyBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return UseScheme(builder).RequireAuthenticatedUser();
    }

    private static AuthorizationPolicyBuilder UseScheme(AuthorizationPolicyBuilder builder)
    {
        if (!builder.AuthenticationSchemes.Contains(AgentIdentityAuthenticationDefaults.AuthenticationScheme))
        {
            builder.AuthenticationSchemes.Add(AgentIdentityAuthenticationDefaults.AuthenticationScheme);
        }

        return builder;
    }
}

/// <summary>Adds named agent policies for <c>[Authorize(Policy = ...)]</c>.</summary>
public static class AgentIdentityAuthorizationOptionsExtensions
{
    /// <summary>Adds a policy named <paramref name="name"/> that authenticates with AgentIdentity, requires an authenticated
    /// caller, and applies <paramref name="configure"/> (e.g. <c>p =&gt; p.RequireAgent("spiffe://corp.example/agent/planner/*")</c>).</summary>
    /// <param name="options">The authorization options.</param>
    /// <param name="name">The policy name.</param>
    /// <param name="configure">Adds requirements.</param>
    /// <returns>The options.</returns>
    public static AuthorizationOptions AddAgentPolicy(this AuthorizationOptions options, string name, Action<AuthorizationPolicyBuilder> configure)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(configure);
        options.AddPolicy(name, policy =>
        {
            policy.RequireAgentCaller();
            configure(policy);
        });
        return options;
    }
}
