using System.Net;
using System.Security.Claims;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;

namespace AgentIdentity.AspNetCore;

/// <summary>
/// Authenticates agent callers by their X.509-SVID: chain to the trust bundle with the SPIFFE rules of
/// <see cref="X509SvidValidator"/> (cached per certificate), revocation hook on every request, optional RFC 8705 bound token.
/// </summary>
internal sealed class AgentIdentityAuthenticationHandler(
    IOptionsMonitor<AgentIdentityAuthenticationOptions> options,
    ILoggerFactory loggerFactory,
    UrlEncoder encoder)
    : AuthenticationHandler<AgentIdentityAuthenticationOptions>(options, loggerFactory, encoder)
{
    private static readonly object FailureKey = new();

    /// <summary>The longest attribution header value copied into a span attribute.</summary>
    private const int MaxTaggedHeaderLength = 256;

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var options = Options;
        var remote = Context.Connection.RemoteIpAddress;
        var certificate = Context.Connection.ClientCertificate;
        IEnumerable<X509Certificate2>? intermediates = null;
        var fromTls = certificate is not null; // its intermediates are looked up only on a cache miss
        if (certificate is null && options.CertificateForwarding.Enabled)
        {
            var forwarded = ReadForwardedCertificate(options.CertificateForwarding, remote, out var failure);
            if (failure is not null)
            {
                return Fail(AuthenticationFailureKind.Certificate, failure);
            }

            if (forwarded is null)
            {
                Logger.NoClientCertificate(remote);
                return AuthenticateResult.NoResult();
            }

            certificate = forwarded[0];
            intermediates = forwarded.Skip(1);
        }
        else if (certificate is null)
        {
            Logger.NoClientCertificate(remote);
            return AuthenticateResult.NoResult();
        }

        var bundles = options.TrustBundleSource!;
        var now = TimeProvider.GetUtcNow();
        var cache = options.Cache;
        AgentCaller? caller = null;
        var cacheHit = cache is not null && cache.TryGet(certificate, now, options.ClockSkew, bundles, out caller);
        if (caller is null)
        {
            Span<byte> hash = stackalloc byte[32];
            if (!certificate.TryGetCertHash(HashAlgorithmName.SHA256, hash, out var written) || written != 32)
            {
                return Fail(AuthenticationFailureKind.Certificate, "The client certificate could not be hashed.");
            }

            if (fromTls)
            {
                intermediates = Context.Features.Get<AgentTlsChainFeature>()?.Intermediates ?? PresentedIntermediates.Get(certificate);
            }

            var result = X509SvidValidator.Validate(certificate, intermediates, bundles, now, new X509SvidValidationOptions { ClockSkew = options.ClockSkew });
            if (!result.IsValid)
            {
                Logger.CertificateRejected(remote, result.Error, result.Reason);
                return Fail(AuthenticationFailureKind.Certificate, result.Reason);
            }

            if (!bundles.TryGetBundle(result.Id.TrustDomain, out var bundle))
            {
                return Fail(AuthenticationFailureKind.Certificate, $"The trust bundle of '{result.Id.TrustDomain}' disappeared during validation.");
            }

            var honoursPolicy = options.HonoursPolicyOf(result.Id.TrustDomain);
            var policy = AgentCallerPolicy.None;
            if (AgentCallerPolicy.HasExtensions(certificate))
            {
                if (!honoursPolicy)
                {
                    Logger.ForeignPolicyIgnored(result.Id, result.Id.TrustDomain);
                }
                else
                {
                    policy = options.PolicyCache!.Get(certificate, result.Id, Logger);
                    if (policy.ChainError != DelegationError.None)
                    {
                        Logger.DelegationChainRejected(result.Id, certificate.SerialNumber, remote, policy.ChainReason!);
                        return Fail(AuthenticationFailureKind.Certificate, policy.ChainReason!);
                    }
                }
            }

            caller = new AgentCaller(result.Id, certificate, result.VerifiedChain, hash.ToArray(), bundle, policy, honoursPolicy);
            if (cache is not null)
            {
                cache.Add(caller, now);
                cache.Remember(certificate, caller);
            }
        }

        if (options.RevocationChecker is { } revocation && revocation.IsRevoked(caller, out var revokedReason))
        {
            Logger.CallerRevoked(caller.Id, caller.SerialNumber, remote, revokedReason);
            return Fail(AuthenticationFailureKind.Certificate, $"The certificate of '{caller.Id}' (serial {caller.SerialNumber}) is revoked: {revokedReason}");
        }

        AccessTokenValidationResult? token = null;
        if (options.AccessTokens.Mode != AgentAccessTokenMode.Ignore)
        {
            var (tokenResult, tokenFailure) = await ValidateAccessTokenAsync(options.AccessTokens, caller).ConfigureAwait(false);
            if (tokenFailure is not null)
            {
                return tokenFailure;
            }

            token = tokenResult;
        }

        Logger.CallerAuthenticated(caller.Id, caller.SerialNumber, remote, cacheHit);
        TagRequestActivity(caller);
        Context.Features.Set<IAgentCallerFeature>(new AgentCallerFeature(caller, token, options.ResolvedPolicyEvaluator));
        return AuthenticateResult.Success(new AuthenticationTicket(CreatePrincipal(caller, token), Scheme.Name));
    }

    private async Task<(AccessTokenValidationResult? Token, AuthenticateResult? Failure)> ValidateAccessTokenAsync(
        AgentAccessTokenOptions tokens, AgentCaller caller)
    {
        var remote = Context.Connection.RemoteIpAddress;
        string? raw = null;
        var header = Request.Headers.Authorization;
        if (header.Count == 1 && header[0] is { } value && value.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            raw = value["Bearer ".Length..].Trim();
        }

        if (string.IsNullOrEmpty(raw))
        {
            if (tokens.Mode == AgentAccessTokenMode.Required)
            {
                Logger.AccessTokenMissing(caller.Id, remote);
                return (null, Fail(AuthenticationFailureKind.TokenMissing, "An access token is required."));
            }

            return (null, null);
        }

        AccessTokenValidationResult result;
        try
        {
            result = await tokens.Validator!.ValidateAsync(raw, Context.RequestAborted).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            Logger.AccessTokenRejected(caller.Id, remote, $"the token validator failed: {ex.GetType().Name}: {ex.Message}");
            return (null, Fail(AuthenticationFailureKind.Token, "The access token could not be validated."));
        }

        if (!result.IsValid)
        {
            Logger.AccessTokenRejected(caller.Id, remote, result.Error ?? "invalid token");
            return (null, Fail(AuthenticationFailureKind.Token, result.Error ?? "The access token is invalid."));
        }

        if (result.ConfirmationThumbprint is null)
        {
            if (tokens.RequireCertificateBinding)
            {
                const string Unbound = "The access token is not certificate-bound (no cnf.x5t#S256 claim), and this resource requires bound tokens.";
                Logger.AccessTokenRejected(caller.Id, remote, Unbound);
                return (null, Fail(AuthenticationFailureKind.Token, Unbound));
            }
        }
        else if (!CertificateBinding.Matches(result.ConfirmationThumbprint, caller.GetCertificateHash()))
        {
            const string Mismatch = "The access token is bound to a different certificate than the one presented on this connection (cnf.x5t#S256 mismatch).";
            Logger.AccessTokenRejected(caller.Id, remote, Mismatch);
            return (null, Fail(AuthenticationFailureKind.Token, Mismatch));
        }

        return (result, null);
    }

    private static ClaimsPrincipal CreatePrincipal(AgentCaller caller, AccessTokenValidationResult? token)
    {
        const string Issuer = AgentIdentityAuthenticationDefaults.AuthenticationScheme;
        var id = caller.Id.ToString();
        var claims = new List<Claim>(12 + (token?.Scopes.Count ?? 0) + (token?.Claims.Count ?? 0))
        {
            new(ClaimTypes.NameIdentifier, id, ClaimValueTypes.String, Issuer),
            new(ClaimTypes.Name, id, ClaimValueTypes.String, Issuer),
            new(AgentIdentityClaimTypes.SpiffeId, id, ClaimValueTypes.String, Issuer),
            new(AgentIdentityClaimTypes.TrustDomain, caller.TrustDomain.Name, ClaimValueTypes.String, Issuer),
            new(AgentIdentityClaimTypes.CertificateSerialNumber, caller.SerialNumber, ClaimValueTypes.String, Issuer),
            new(AgentIdentityClaimTypes.CertificateThumbprint, caller.Thumbprint, ClaimValueTypes.String, Issuer),
        };
        if (caller.AgentName is not null)
        {
            claims.Add(new(AgentIdentityClaimTypes.AgentName, caller.AgentName, ClaimValueTypes.String, Issuer));
            claims.Add(new(AgentIdentityClaimTypes.AgentInstance, caller.InstanceId!, ClaimValueTypes.String, Issuer));
        }

        if (caller.PolicyHonoured && caller.PolicyExtension is { } policy)
        {
            claims.Add(new(AgentIdentityClaimTypes.AgentPolicy, Convert.ToBase64String(policy.Span), ClaimValueTypes.Base64Binary, Issuer));
        }

        if (caller.PolicyHonoured && caller.DelegationChainExtension is { } delegation)
        {
            claims.Add(new(AgentIdentityClaimTypes.DelegationChain, Convert.ToBase64String(delegation.Span), ClaimValueTypes.Base64Binary, Issuer));
        }

        if (token is not null)
        {
            foreach (var scope in token.Scopes)
            {
                claims.Add(new(AgentIdentityClaimTypes.Scope, scope, ClaimValueTypes.String, Issuer));
            }

            if (token.Subject is not null)
            {
                claims.Add(new(AgentIdentityClaimTypes.TokenSubject, token.Subject, ClaimValueTypes.String, Issuer));
            }

            if (token.ClientId is not null)
            {
                claims.Add(new(AgentIdentityClaimTypes.TokenClientId, token.ClientId, ClaimValueTypes.String, Issuer));
            }

            claims.AddRange(token.Claims);
        }

        return new ClaimsPrincipal(new ClaimsIdentity(claims, AgentIdentityAuthenticationDefaults.AuthenticationScheme, ClaimTypes.Name, ClaimTypes.Role));
    }

    private X509Certificate2[]? ReadForwardedCertificate(AgentCertificateForwardingOptions forwarding, IPAddress? remote, out string? failure)
    {
        failure = null;
        if (!Request.Headers.TryGetValue(forwarding.HeaderName, out var values) || values.Count == 0 || string.IsNullOrEmpty(values[0]))
        {
            return null;
        }

        // The proxy is recognised by the socket's remote end: Connection.RemoteIpAddress is what UseForwardedHeaders made of
        // X-Forwarded-For, which any client can send.
        var peer = TransportPeer.GetRemoteAddress(Context);
        if (peer is null)
        {
            Logger.TransportPeerUnknown(forwarding.HeaderName);
            return null;
        }

        if (!forwarding.IsTrusted(peer))
        {
            Logger.ForwardedFromUntrusted(forwarding.HeaderName, peer);
            return null;
        }

        if (values.Count != 1)
        {
            failure = $"The forwarded certificate header '{forwarding.HeaderName}' appears {values.Count} times; exactly one is allowed.";
            Logger.ForwardedMalformed(forwarding.HeaderName, remote, failure);
            return null;
        }

        var certificates = new List<X509Certificate2>(2);
        if (!ForwardedCertificateParser.TryParse(values[0]!, certificates, out var reason))
        {
            failure = $"The forwarded certificate header '{forwarding.HeaderName}' is malformed: {reason}";
            Logger.ForwardedMalformed(forwarding.HeaderName, remote, failure);
            return null;
        }

        if (forwarding.IntermediatesHeaderName is { } intermediatesHeader &&
            Request.Headers.TryGetValue(intermediatesHeader, out var chainValues) && chainValues.Count == 1 && !string.IsNullOrEmpty(chainValues[0]) &&
            !ForwardedCertificateParser.TryParse(chainValues[0]!, certificates, out reason))
        {
            failure = $"The forwarded intermediates header '{intermediatesHeader}' is malformed: {reason}";
            Logger.ForwardedMalformed(intermediatesHeader, remote, failure);
            return null;
        }

        return [.. certificates];
    }

    /// <summary>Adds the caller's attribution to the ASP.NET Core request span, so that the service's side of a trace names the agent:
    /// its SPIFFE ID, certificate serial and SHA-256 thumbprint, delegation chain, and the tool and tool-call id its attribution
    /// headers assert (informational: the certificate is what authenticated it). Never the token.</summary>
    private void TagRequestActivity(AgentCaller caller)
    {
        if (Context.Features.Get<IHttpActivityFeature>()?.Activity is not { IsAllDataRequested: true } activity)
        {
            return;
        }

        activity.SetTag(TelemetryTags.AuthenticationResult, "success");
        activity.SetTag(TelemetryTags.AgentId, caller.Id.ToString());
        activity.SetTag(TelemetryTags.SvidSerial, caller.SerialNumber);
        activity.SetTag(TelemetryTags.SvidThumbprint, caller.ThumbprintHex);
        if (caller.DelegationChainIds is { } chain)
        {
            activity.SetTag(TelemetryTags.DelegationChain, chain);
        }

        TagHeader(activity, TelemetryTags.CallerToolName, AttributionHeaders.ToolName);
        TagHeader(activity, TelemetryTags.CallerToolCallId, AttributionHeaders.ToolCallId);
        TagHeader(activity, TelemetryTags.TaskId, AttributionHeaders.TaskId);
    }

    private void TagHeader(System.Diagnostics.Activity activity, string tag, string header)
    {
        if (Request.Headers.TryGetValue(header, out var values) && values.Count == 1 && values[0] is { Length: > 0 } value)
        {
            activity.SetTag(tag, value.Length <= MaxTaggedHeaderLength ? value : value[..MaxTaggedHeaderLength]);
        }
    }

    private AuthenticateResult Fail(AuthenticationFailureKind kind, string message)
    {
        if (Context.Features.Get<IHttpActivityFeature>()?.Activity is { IsAllDataRequested: true } activity)
        {
            // The kind only for token failures: a validator's message may quote parts of the token.
            activity.SetTag(TelemetryTags.AuthenticationResult, "failure");
            activity.SetTag(TelemetryTags.AuthenticationFailure, kind == AuthenticationFailureKind.Certificate ? message : kind == AuthenticationFailureKind.Token ? "invalid_token" : "token_missing");
        }

        Context.Items[FailureKey] = new AuthenticationFailure(kind, message);
        return AuthenticateResult.Fail(message);
    }

    protected override Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        Response.StatusCode = StatusCodes.Status401Unauthorized;
        var failure = Context.Items.TryGetValue(FailureKey, out var value) ? value as AuthenticationFailure : null;
        switch (failure?.Kind)
        {
            case AuthenticationFailureKind.Token:
                Response.Headers.Append(HeaderNames.WWWAuthenticate, $"Bearer error=\"invalid_token\", error_description=\"{Quote(failure.Message)}\"");
                break;
            case AuthenticationFailureKind.TokenMissing:
                Response.Headers.Append(HeaderNames.WWWAuthenticate, "Bearer");
                break;
            case AuthenticationFailureKind.Certificate:
                Response.Headers.Append(HeaderNames.WWWAuthenticate, $"{Scheme.Name} error=\"invalid_client_certificate\"");
                break;
            default:
                Response.Headers.Append(HeaderNames.WWWAuthenticate, $"{Scheme.Name} error=\"client_certificate_required\"");
                break;
        }

        return Task.CompletedTask;
    }

    protected override Task HandleForbiddenAsync(AuthenticationProperties properties)
    {
        Response.StatusCode = StatusCodes.Status403Forbidden;
        if (Context.Items.TryGetValue(AgentAuthorizationHandler.InsufficientScopeKey, out var scope) && scope is string action)
        {
            Response.Headers.Append(HeaderNames.WWWAuthenticate, $"Bearer error=\"insufficient_scope\", scope=\"{Quote(action)}\"");
        }

        return Task.CompletedTask;
    }

    // RFC 6750 §3: error_description and scope values exclude '"' and '\'.
    private static string Quote(string value) => value.Replace("\\", string.Empty, StringComparison.Ordinal).Replace("\"", "'", StringComparison.Ordinal);

    private enum AuthenticationFailureKind
    {
        Certificate,
        Token,
        TokenMissing,
    }

    private sealed record AuthenticationFailure(AuthenticationFailureKind Kind, string Message);
}
