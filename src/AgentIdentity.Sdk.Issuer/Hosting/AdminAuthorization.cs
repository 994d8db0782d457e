using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AgentIdentity.Issuer;

/// <summary>Who an admin request was authorized for, and by what.</summary>
/// <param name="Id">The operator's SPIFFE ID; empty for the bootstrap admin key.</param>
/// <param name="Grant">What granted the action: <c>policy</c>, <c>operator pattern</c> or <c>bootstrap admin key</c>.</param>
internal sealed record AdminCaller(SpiffeId Id, string Grant)
{
    public override string ToString() => Id.IsEmpty ? Grant : $"{Id} ({Grant})";
}

/// <summary>
/// Authorizes the admin endpoints by identity: the caller presents its SVID over mTLS; the SVID must be of the issuer's own
/// trust domain, valid against the issuer's bundle, not revoked, and either its <em>effective</em> certificate policy (the
/// intersection along its delegation chain) grants the action, or — for an agent's own identity only, never a task identity —
/// its ID matches one of <see cref="AgentIdentityIssuerOptions.OperatorIds"/>. The static admin key is a bootstrap opt-in that
/// only <c>v1/join-tokens</c> accepts, and only when <see cref="AgentIdentityIssuerOptions.AdminApiKey"/> is set.
/// </summary>
/// <remarks>Every decision goes through <see cref="Decided"/>: logged, and the single place the issuer's audit log hooks in.</remarks>
internal sealed class AdminAuthorization
{
    private readonly AgentIdentityIssuer _issuer;
    private readonly IServiceProvider _services;
    private readonly byte[]? _adminKeyHash;
    private readonly AgentPolicy? _operatorPatterns;

    public AdminAuthorization(AgentIdentityIssuer issuer, IServiceProvider services)
    {
        _issuer = issuer;
        _services = services;
        Audit = services.GetRequiredService<IssuerAudit>();
        var options = issuer.Options;
        _adminKeyHash = options.AdminApiKey is { } key ? SHA256.HashData(Encoding.UTF8.GetBytes(key)) : null;

        // The operator patterns use the policy's SPIFFE pattern language (exact ID, or 'id/*' for every ID below it).
        _operatorPatterns = options.OperatorIds.Count == 0 ? null : new AgentPolicy(services: options.OperatorIds);
    }

    /// <summary>Gets the issuer's audit log, which every decision and the admin endpoints' actions are written to.</summary>
    internal IssuerAudit Audit { get; }

    /// <summary>Validates <see cref="AgentIdentityIssuerOptions.OperatorIds"/>; <see langword="null"/> when valid.</summary>
    internal static string? ValidateOperatorIds(AgentIdentityIssuerOptions options, TrustDomain trustDomain)
    {
        foreach (var pattern in options.OperatorIds)
        {
            var baseId = pattern is null ? null : pattern.EndsWith("/*", StringComparison.Ordinal) ? pattern[..^2] : pattern;
            if (baseId is null || !SpiffeId.TryParse(baseId, out var id, out var error))
            {
                return $"AgentIdentityIssuerOptions.OperatorIds: '{pattern}' is not a SPIFFE ID pattern ({(pattern is null ? "null" : "invalid SPIFFE ID")}); use an exact ID or an ID followed by '/*'.";
            }

            if (!id.IsMemberOf(trustDomain))
            {
                return $"AgentIdentityIssuerOptions.OperatorIds: '{pattern}' is outside the issuer's trust domain '{trustDomain}'; operators must be of the issuer's own trust domain.";
            }

            if (id.IsTrustDomainId)
            {
                return $"AgentIdentityIssuerOptions.OperatorIds: '{pattern}' would make every workload of '{trustDomain}' an operator; name a path such as 'spiffe://{trustDomain}/operator/*'.";
            }
        }

        try
        {
            _ = options.OperatorIds.Count == 0 ? null : new AgentPolicy(services: options.OperatorIds);
        }
        catch (ArgumentException ex)
        {
            return $"AgentIdentityIssuerOptions.OperatorIds is invalid: {ex.Message}";
        }

        return null;
    }

    /// <summary>Authorizes <paramref name="action"/> for the request, or throws the refusal (401 without credentials, 403 naming
    /// what is missing).</summary>
    /// <param name="context">The request.</param>
    /// <param name="endpoint">The endpoint, for the log.</param>
    /// <param name="action">The action, one of <see cref="IssuerAdminActions"/>.</param>
    /// <param name="allowBootstrapKey">Whether the endpoint accepts the bootstrap admin key (only <c>v1/join-tokens</c>).</param>
    /// <returns>The authorized caller.</returns>
    public async Task<AdminCaller> AuthorizeAsync(HttpContext context, string endpoint, string action, bool allowBootstrapKey)
    {
        try
        {
            var caller = await DecideAsync(context, action, allowBootstrapKey).ConfigureAwait(false);
            Decided(context, endpoint, action, caller, allowed: true, StatusCodes.Status200OK, null, caller.Grant);
            return caller;
        }
        catch (IssuerEndpoints.Refusal refusal)
        {
            Decided(context, endpoint, action, null, allowed: false, refusal.Status, refusal.Title, refusal.Message);
            throw;
        }
    }

    private async Task<AdminCaller> DecideAsync(HttpContext context, string action, bool allowBootstrapKey)
    {
        var keyAccepted = allowBootstrapKey && _adminKeyHash is not null;
        if (context.Connection.ClientCertificate is not { } certificate)
        {
            var header = context.Request.Headers.Authorization.ToString();
            if (keyAccepted && header.Length > 0)
            {
                var presented = header.StartsWith("Bearer ", StringComparison.Ordinal) ? header["Bearer ".Length..] : string.Empty;
                if (CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(presented)), _adminKeyHash))
                {
                    return new AdminCaller(default, "bootstrap admin key");
                }

                throw new IssuerEndpoints.Refusal(StatusCodes.Status401Unauthorized, "Admin key rejected",
                    "The bootstrap admin key is wrong. Send it as 'Authorization: Bearer <key>', or present an operator SVID over mTLS.");
            }

            throw new IssuerEndpoints.Refusal(StatusCodes.Status401Unauthorized, "Client certificate required",
                $"This endpoint requires mTLS with an operator SVID of trust domain '{_issuer.TrustDomain}' whose certificate policy grants the action '{action}' " +
                $"(or whose ID matches AgentIdentityIssuerOptions.OperatorIds); none was presented." +
                (keyAccepted ? " For bootstrap only, the admin API key is accepted as 'Authorization: Bearer <key>'." : string.Empty));
        }

        var state = _issuer.State;
        var validation = X509SvidValidator.Validate(certificate, state.Intermediates, state.Bundle, _issuer.Time.GetUtcNow());
        if (!validation.Id.IsEmpty && !validation.Id.IsMemberOf(_issuer.TrustDomain))
        {
            throw new IssuerEndpoints.Refusal(StatusCodes.Status403Forbidden, "Foreign trust domain",
                $"The caller '{validation.Id}' is of trust domain '{validation.Id.TrustDomain}'; only operators of the issuer's own trust domain '{_issuer.TrustDomain}' may use '{action}'.");
        }

        if (!validation.IsValid)
        {
            throw new IssuerEndpoints.Refusal(StatusCodes.Status401Unauthorized, "Client certificate rejected",
                $"The client certificate is not a valid SVID of this issuer: {validation.Reason}");
        }

        var id = validation.Id;
        CertificatePolicy content;
        try
        {
            content = CertificatePolicy.Read(certificate);
        }
        catch (PolicyFormatException ex)
        {
            throw new IssuerEndpoints.Refusal(StatusCodes.Status403Forbidden, "Undecodable policy",
                $"The certificate policy of '{id}' cannot be decoded ({ex.Message}); '{action}' is refused (fail-closed).");
        }

        await RefuseRevokedAsync(certificate.SerialNumber, id, content.DelegationChain, context.RequestAborted).ConfigureAwait(false);

        var isTask = content.DelegationChain is not null || IsTaskPath(id);
        if (content.EffectivePolicy is { } effective && effective.AllowsAction(action))
        {
            return new AdminCaller(id, "policy");
        }

        if (isTask)
        {
            var root = content.DelegationChain is { } chain ? $" delegated by '{chain.Root.Id}'" : string.Empty;
            throw new IssuerEndpoints.Refusal(StatusCodes.Status403Forbidden, "Task identity not authorized",
                $"'{id}' is a task identity{root}; a task identity may use '{action}' only when its effective policy (the intersection along its delegation chain) grants that action, and it does not. " +
                "Operator ID patterns never extend to task identities.");
        }

        if (_operatorPatterns is not null && _operatorPatterns.AllowsService(id))
        {
            return new AdminCaller(id, "operator pattern");
        }

        var policyNote = content.Policy is null ? "its certificate carries no policy" : "its certificate policy does not grant it";
        throw new IssuerEndpoints.Refusal(StatusCodes.Status403Forbidden, "Action not granted",
            $"'{id}' lacks the action '{action}': {policyNote}, and its ID matches no AgentIdentityIssuerOptions.OperatorIds pattern. " +
            $"Enroll the operator with a policy whose actions include '{action}' (or 'agentidentity:*').");
    }

    /// <summary>An operator whose certificate, identity or delegating ancestor is revoked administers nothing (fail closed).</summary>
    private async Task RefuseRevokedAsync(string serialNumber, SpiffeId id, DelegationChain? chain, CancellationToken cancellationToken)
    {
        if (_services.GetService<IRevocationRegistry>() is not { } registry)
        {
            return;
        }

        var revoked = await registry.GetCertificateRevocationAsync(serialNumber, cancellationToken).ConfigureAwait(false)
            ?? await registry.GetIdentityRevocationAsync(id, cancellationToken).ConfigureAwait(false);
        if (revoked is null && chain is not null)
        {
            foreach (var link in chain)
            {
                revoked = await registry.GetIdentityRevocationAsync(link.Id, cancellationToken).ConfigureAwait(false);
                if (revoked is not null)
                {
                    break;
                }
            }
        }

        if (revoked is not null)
        {
            throw new IssuerEndpoints.Refusal(StatusCodes.Status403Forbidden, "Operator revoked",
                $"The caller '{id}' (serial {serialNumber}) is revoked ({revoked}); a revoked identity administers nothing.");
        }
    }

    private static bool IsTaskPath(SpiffeId id)
    {
        var segments = id.GetSegments();
        for (var i = 0; i < segments.Length - 1; i++)
        {
            if (segments[i] == "task")
            {
                return true;
            }
        }

        return false;
    }

    private static string DescribeUnauthenticated(HttpContext context) =>
        context.Connection.ClientCertificate is { } certificate
            ? $"certificate {certificate.GetCertHashString(HashAlgorithmName.SHA256)}"
            : context.Connection.RemoteIpAddress?.ToString() ?? "unknown";

    /// <summary>Every admin authorization decision passes here: it is logged (allowed at Information, refused at Warning) and
    /// written to the issuer's audit log (an <c>admin</c> entry, allowed or denied), so that refused escalation attempts are
    /// audited as well as logged.</summary>
    private void Decided(HttpContext context, string endpoint, string action, AdminCaller? caller, bool allowed, int status, string? title, string reason)
    {
        if (allowed)
        {
            var who = caller!.ToString();
            _issuer.Logger.AdminActionAllowed(endpoint, action, who, reason);
        }
        else
        {
            var who = DescribeUnauthenticated(context);
            _issuer.Logger.AdminActionRefused(endpoint, action, who, status, reason);
        }

        Audit.AdminDecided(context, endpoint, action, caller, allowed, status, title is null ? reason : $"{title}: {reason}");
    }
}
