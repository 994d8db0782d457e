using System.Security.Claims;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AgentIdentity.AspNetCore;

/// <summary>Shared helpers of the AgentIdentity authorization requirements.</summary>
internal static class AgentAuthorizationHandler
{
    public static readonly object InsufficientScopeKey = new();

    public static string? GetSpiffeId(ClaimsPrincipal user)
    {
        foreach (var identity in user.Identities)
        {
            if (!identity.IsAuthenticated)
            {
                continue;
            }

            foreach (var claim in identity.Claims)
            {
                if (claim.Type == AgentIdentityClaimTypes.SpiffeId && claim.Issuer == AgentIdentityAuthenticationDefaults.AuthenticationScheme)
                {
                    return claim.Value;
                }
            }
        }

        return null;
    }

    public static void Deny(AuthorizationHandlerContext context, IAuthorizationHandler handler, string? spiffeId, string reason)
    {
        context.Fail(new AuthorizationFailureReason(handler, reason));
        if (context.Resource is HttpContext http && http.RequestServices?.GetService<ILoggerFactory>() is { } loggers)
        {
            loggers.CreateLogger("AgentIdentity.AspNetCore.Authorization").AuthorizationDenied(spiffeId, reason);
        }
    }
}

/// <summary>Requires the caller's SPIFFE ID to match one of a set of patterns: an exact SPIFFE ID, or a SPIFFE ID followed
/// by <c>/*</c> for any descendant path (<c>spiffe://corp.example/agent/planner/*</c>).</summary>
public sealed class AgentIdRequirement : AuthorizationHandler<AgentIdRequirement>, IAuthorizationRequirement
{
    private readonly string[] _patterns;

    /// <summary>Initializes a new instance of the <see cref="AgentIdRequirement"/> class.</summary>
    /// <param name="patterns">The patterns.</param>
    /// <exception cref="ArgumentException">No pattern is given, or a pattern is not a SPIFFE ID (optionally ending in <c>/*</c>).</exception>
    public AgentIdRequirement(IEnumerable<string> patterns)
    {
        ArgumentNullException.ThrowIfNull(patterns);
        var valid = new List<string>();
        foreach (var pattern in patterns)
        {
            ArgumentNullException.ThrowIfNull(pattern, nameof(patterns));
            if (!SpiffeIdMatchers.TryParsePattern(pattern, out _, out _, out var error))
            {
                throw new ArgumentException($"Agent pattern '{pattern}' is not a SPIFFE ID, optionally followed by '/*': {error}", nameof(patterns));
            }

            valid.Add(pattern);
        }

        if (valid.Count == 0)
        {
            throw new ArgumentException("At least one agent pattern is required.", nameof(patterns));
        }

        _patterns = [.. valid];
        Patterns = [.. valid];
    }

    /// <summary>Gets the patterns.</summary>
    public IReadOnlyList<string> Patterns { get; }

    /// <summary>Checks a SPIFFE ID against the patterns.</summary>
    /// <param name="spiffeId">The SPIFFE ID.</param>
    /// <returns><see langword="true"/> when it matches.</returns>
    public bool IsMatch(string spiffeId)
    {
        ArgumentNullException.ThrowIfNull(spiffeId);
        foreach (var pattern in _patterns)
        {
            if (SpiffeIdMatchers.PatternMatches(pattern, spiffeId))
            {
                return true;
            }
        }

        return false;
    }

    /// <inheritdoc/>
    protected override Task HandleRequirementAsync(AuthorizationHandlerContext context, AgentIdRequirement requirement)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(requirement);
        var id = AgentAuthorizationHandler.GetSpiffeId(context.User);
        if (id is not null && requirement.IsMatch(id))
        {
            context.Succeed(requirement);
        }
        else
        {
            AgentAuthorizationHandler.Deny(context, this, id, $"agent '{id ?? "(none)"}' does not match {string.Join(", ", requirement.Patterns)}");
        }

        return Task.CompletedTask;
    }

    /// <inheritdoc/>
    public override string ToString() => $"AgentIdRequirement: {string.Join(", ", Patterns)}";
}

/// <summary>Requires the caller to belong to one of a set of trust domains.</summary>
public sealed class AgentTrustDomainRequirement : AuthorizationHandler<AgentTrustDomainRequirement>, IAuthorizationRequirement
{
    private readonly SpiffeIdMatcher _matcher;

    /// <summary>Initializes a new instance of the <see cref="AgentTrustDomainRequirement"/> class.</summary>
    /// <param name="trustDomains">The trust domains, e.g. <c>corp.example</c>.</param>
    /// <exception cref="ArgumentException">None is given, or one is not a valid trust domain name.</exception>
    public AgentTrustDomainRequirement(IEnumerable<string> trustDomains)
    {
        ArgumentNullException.ThrowIfNull(trustDomains);
        var parsed = new List<TrustDomain>();
        foreach (var name in trustDomains)
        {
            ArgumentNullException.ThrowIfNull(name, nameof(trustDomains));
            if (!TrustDomain.TryParse(name, out var domain))
            {
                throw new ArgumentException($"'{name}' is not a valid trust domain name (lowercase letters, digits, '.', '-', '_').", nameof(trustDomains));
            }

            parsed.Add(domain);
        }

        if (parsed.Count == 0)
        {
            throw new ArgumentException("At least one trust domain is required.", nameof(trustDomains));
        }

        TrustDomains = parsed;
        _matcher = SpiffeIdMatchers.AnyOf([.. parsed.Select(SpiffeIdMatchers.MemberOf)]);
    }

    /// <summary>Gets the trust domains.</summary>
    public IReadOnlyList<TrustDomain> TrustDomains { get; }

    /// <inheritdoc/>
    protected override Task HandleRequirementAsync(AuthorizationHandlerContext context, AgentTrustDomainRequirement requirement)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(requirement);
        var id = AgentAuthorizationHandler.GetSpiffeId(context.User);
        if (id is not null && SpiffeId.TryParse(id, out var parsed) && requirement._matcher(parsed))
        {
            context.Succeed(requirement);
        }
        else
        {
            AgentAuthorizationHandler.Deny(context, this, id, $"agent '{id ?? "(none)"}' is not in trust domain {string.Join(", ", requirement.TrustDomains)}");
        }

        return Task.CompletedTask;
    }
}

/// <summary>
/// Requires the caller to be allowed an action such as <c>invoices:read</c>. When the request carries a certificate-bound
/// access token, its scopes must include the action. The certificate policy must allow it too; a certificate without a policy
/// leaves the decision to the token, and nothing grants the action when neither a policy nor a token does (fail-closed).
/// </summary>
public sealed class AgentActionRequirement : AuthorizationHandler<AgentActionRequirement>, IAuthorizationRequirement
{
    /// <summary>Initializes a new instance of the <see cref="AgentActionRequirement"/> class.</summary>
    /// <param name="action">The action, e.g. <c>invoices:read</c>.</param>
    /// <exception cref="ArgumentException">The action is empty or contains whitespace.</exception>
    public AgentActionRequirement(string action)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(action);
        if (action.Any(char.IsWhiteSpace))
        {
            throw new ArgumentException($"Action '{action}' contains whitespace; actions are single OAuth scope tokens such as 'invoices:read'.", nameof(action));
        }

        Action = action;
    }

    /// <summary>Gets the action.</summary>
    public string Action { get; }

    /// <inheritdoc/>
    protected override Task HandleRequirementAsync(AuthorizationHandlerContext context, AgentActionRequirement requirement)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(requirement);
        var http = context.Resource as HttpContext;
        var feature = http?.Features.Get<IAgentCallerFeature>();
        if (feature is null)
        {
            AgentAuthorizationHandler.Deny(context, this, AgentAuthorizationHandler.GetSpiffeId(context.User), $"action '{requirement.Action}' needs a caller authenticated by AgentIdentity");
            return Task.CompletedTask;
        }

        var caller = feature.Caller;
        var tokenGrants = false;
        if (feature.AccessToken is { } token)
        {
            if (!token.Scopes.Contains(requirement.Action, StringComparer.Ordinal))
            {
                http!.Items[AgentAuthorizationHandler.InsufficientScopeKey] = requirement.Action;
                AgentAuthorizationHandler.Deny(context, this, caller.Id.ToString(), $"the access token's scopes do not include '{requirement.Action}'");
                return Task.CompletedTask;
            }

            tokenGrants = true;
        }

        var evaluator = feature is AgentCallerFeature concrete ? concrete.PolicyEvaluator : AgentCertificatePolicyEvaluatorDefault.Instance;
        var decision = evaluator.Evaluate(caller, requirement.Action);
        if (decision is { IsAllowed: true } || (decision is null && tokenGrants))
        {
            context.Succeed(requirement);
        }
        else if (decision is null)
        {
            AgentAuthorizationHandler.Deny(context, this, caller.Id.ToString(), $"nothing grants '{requirement.Action}': the certificate carries no agent policy and no access token was presented");
        }
        else
        {
            AgentAuthorizationHandler.Deny(context, this, caller.Id.ToString(), decision.Value.Reason ?? $"the certificate policy denies '{requirement.Action}'");
        }

        return Task.CompletedTask;
    }
}

/// <summary>
/// Requires the caller's certificate policy to allow calling this service: the <em>effective</em> policy (the intersection along
/// its verified delegation chain) must list a service pattern that matches the service's own SPIFFE ID. It is the service-side
/// check of the policy's <c>services</c> axis, which the agent's HttpClient enforces on its side before sending anything.
/// </summary>
/// <remarks>A certificate without a policy (or one from a trust domain whose policies the service does not honour) is not restricted
/// by this requirement: combine it with <c>RequireAgent</c> or <c>RequireTrustDomain</c> to decide who may call. A policy that cannot
/// be decoded or computed is denied (fail-closed).</remarks>
public sealed class AgentServiceRequirement : AuthorizationHandler<AgentServiceRequirement>, IAuthorizationRequirement
{
    /// <summary>Initializes a new instance of the <see cref="AgentServiceRequirement"/> class.</summary>
    /// <param name="serviceId">The service's own SPIFFE ID, e.g. <c>spiffe://corp.example/svc/erp</c>.</param>
    /// <exception cref="ArgumentException">The ID is not a SPIFFE ID with a path.</exception>
    public AgentServiceRequirement(string serviceId)
    {
        ArgumentNullException.ThrowIfNull(serviceId);
        if (!SpiffeId.TryParse(serviceId, out var id) || id.IsTrustDomainId)
        {
            throw new ArgumentException($"Service ID '{DisplayText.Truncate(serviceId)}' is not a SPIFFE ID with a path (for example 'spiffe://corp.example/svc/erp').", nameof(serviceId));
        }

        ServiceId = id;
    }

    /// <summary>Gets the service's SPIFFE ID.</summary>
    public SpiffeId ServiceId { get; }

    /// <inheritdoc/>
    protected override Task HandleRequirementAsync(AuthorizationHandlerContext context, AgentServiceRequirement requirement)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(requirement);
        var feature = (context.Resource as HttpContext)?.Features.Get<IAgentCallerFeature>();
        if (feature is null)
        {
            AgentAuthorizationHandler.Deny(context, this, AgentAuthorizationHandler.GetSpiffeId(context.User), $"service '{requirement.ServiceId}' needs a caller authenticated by AgentIdentity");
            return Task.CompletedTask;
        }

        var caller = feature.Caller;
        var policy = caller.Policy;
        if (!caller.PolicyHonoured || (!policy.HasPolicy && caller.DelegationChainExtension is null))
        {
            context.Succeed(requirement);
        }
        else if (policy.Effective is not { } effective)
        {
            AgentAuthorizationHandler.Deny(context, this, caller.Id.ToString(), $"{policy.UnreadableReason ?? $"the certificate of '{caller.Id}' carries a delegation chain without a policy"}; denying service '{requirement.ServiceId}' (fail-closed)");
        }
        else if (effective.AllowsService(requirement.ServiceId))
        {
            context.Succeed(requirement);
        }
        else
        {
            var scope = caller.DelegationChainExtension is null ? "policy" : "effective (delegated) policy";
            AgentAuthorizationHandler.Deny(context, this, caller.Id.ToString(), $"the {scope} of '{caller.Id}' does not allow calling service '{requirement.ServiceId}' (services [{string.Join(", ", effective.Services)}])");
        }

        return Task.CompletedTask;
    }

    /// <inheritdoc/>
    public override string ToString() => $"AgentServiceRequirement: {ServiceId}";
}
