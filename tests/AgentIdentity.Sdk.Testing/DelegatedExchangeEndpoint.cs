using System.Buffers.Text;
using System.Diagnostics.CodeAnalysis;
using System.Security.Claims;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.IdentityModel.Tokens;
using OpenIddict.Abstractions;
using OpenIddict.Server;
using OpenIddict.Server.AspNetCore;
using static OpenIddict.Abstractions.OpenIddictConstants;

namespace AgentIdentity.Testing;

/// <summary>The token-exchange part of the test authorization server: the part a deployment writes.
/// <list type="bullet">
/// <item><see cref="ValidateSubjectToken"/> runs inside OpenIddict's token validation, just before its proof-of-possession check. OpenIddict
/// requires a bound subject token to be presented with its own certificate, which a task identity never holds; for the subject token
/// of a token exchange this handler replaces that check by the delegated one (<c>DelegatedTokenExchange.TryAuthorize</c>: the
/// token is bound to the parent certificate named in the presenting task certificate's delegation chain, and, when a
/// <see cref="RevocationSet"/> is registered, nothing in the task chain is revoked), and rejects otherwise.</item>
/// <item><see cref="HandleAsync"/> is the passthrough endpoint's exchange branch: it signs in a token that keeps the subject, carries the
/// RFC 8693 <c>act</c> claim and is bound by OpenIddict to the presenting (task) certificate.</item>
/// </list></summary>
public static class DelegatedExchangeEndpoint
{
    /// <summary>Where <see cref="ValidateSubjectToken"/> leaves the authorized <c>act</c> value for <see cref="HandleAsync"/> (decided once per request).</summary>
    private static readonly object ActKey = new();

    public static ValueTask ValidateSubjectToken(OpenIddictServerEvents.ValidateTokenContext context)
    {
        var request = context.Transaction.Request;
        if (request is null || !request.IsTokenExchangeGrantType() || request.SubjectToken is null ||
            !string.Equals(context.Token, request.SubjectToken, StringComparison.Ordinal))
        {
            return default;
        }

        var http = context.Transaction.GetHttpRequest()!.HttpContext;
        if (!TryAuthorize(http, request.SubjectToken, out var act, out var error))
        {
            context.Reject(Errors.InvalidGrant, error);
            return default;
        }

        http.Items[ActKey] = act;
        context.DisableProofOfPossessionValidation = true; // proven above, through the delegation chain
        return default;
    }

    public static async Task<IResult> HandleAsync(HttpContext context, OpenIddictRequest request, string audience)
    {
        var subject = await context.AuthenticateAsync(OpenIddictServerAspNetCoreDefaults.AuthenticationScheme);
        if (subject.Principal is null || request.SubjectToken is null)
        {
            return Refuse("The subject token is invalid or no client certificate was presented.");
        }

        if (context.Items[ActKey] is not JsonObject act)
        {
            return Refuse("The subject token was not authorized for a delegated exchange.");
        }

        var identity = new ClaimsIdentity(TokenValidationParameters.DefaultAuthenticationType, Claims.Name, Claims.Role);
        identity.SetClaim(Claims.Subject, subject.Principal.GetClaim(Claims.Subject));
        identity.SetClaim(ActorClaim.ClaimName, act);
        identity.SetScopes(request.GetScopes());
        identity.SetAudiences(audience);
        identity.SetDestinations(static _ => [Destinations.AccessToken]);
        return Results.SignIn(new ClaimsPrincipal(identity), authenticationScheme: OpenIddictServerAspNetCoreDefaults.AuthenticationScheme);
    }

    private static bool TryAuthorize(HttpContext context, string subjectToken, [NotNullWhen(true)] out JsonObject? act, [NotNullWhen(false)] out string? error)
    {
        if (context.Connection.ClientCertificate is not { } certificate)
        {
            (act, error) = (null, "no client certificate was presented");
            return false;
        }

        var pki = context.RequestServices.GetRequiredService<TestPki>();
        var actor = DelegationChainVerifier.Verify(certificate, [pki.Ca.IntermediateCertificate], pki.Ca, pki.Time.GetUtcNow());
        using var claims = JsonDocument.Parse(Base64Url.DecodeFromChars(subjectToken.Split('.')[1]));
        return context.RequestServices.GetService<RevocationSet>() is { } revocations
            ? DelegatedTokenExchange.TryAuthorize(claims.RootElement, certificate, actor, revocations, out act, out error)
            : DelegatedTokenExchange.TryAuthorize(claims.RootElement, actor, out act, out error);
    }

    private static IResult Refuse(string description) => Results.Forbid(
        new AuthenticationProperties(new Dictionary<string, string?>
        {
            [OpenIddictServerAspNetCoreConstants.Properties.Error] = Errors.InvalidGrant,
            [OpenIddictServerAspNetCoreConstants.Properties.ErrorDescription] = description,
        }),
        [OpenIddictServerAspNetCoreDefaults.AuthenticationScheme]);
}
