using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace AgentIdentity;

/// <summary>
/// The authorization server's decision for an RFC 8693 exchange in which a task identity, authenticated by its certificate over mTLS,
/// presents its parent's RFC 8705 certificate-bound token as the subject token. The parent's binding is what makes the exchange safe:
/// the subject token's <c>cnf.x5t#S256</c> must be the SHA-256 of the parent certificate named in the task certificate's
/// CA-signed delegation chain, so a token stolen from the parent cannot be exchanged by anyone but a task the parent itself minted.
/// </summary>
/// <remarks>The delegated token should then be bound to the task's certificate (RFC 8705; OpenIddict does this with
/// <c>UseClientCertificateBoundAccessTokens()</c>) and carry the returned <c>act</c> claim, keeping the subject token's <c>sub</c>.</remarks>
public static class DelegatedTokenExchange
{
    /// <summary>Decides whether the task identity may exchange the subject token, as <see cref="TryAuthorize(JsonElement, DelegationVerificationResult, out JsonObject?, out string?)"/>
    /// does, and refuses a revoked task chain: the task's certificate (by serial number), the task identity, any identity of its
    /// delegation chain (the parent, its parent, ...), or the subject token's <c>sub</c> when it is a SPIFFE ID. Each refusal names the revocation.</summary>
    /// <param name="subjectTokenClaims">The claims of the subject token (its JWT payload), after the server validated its signature, issuer and expiry.</param>
    /// <param name="actorCertificate">The client certificate presented over mTLS, the one <paramref name="actor"/> verified.</param>
    /// <param name="actor">The verification of <paramref name="actorCertificate"/> (<see cref="DelegationChainVerifier.Verify"/>).</param>
    /// <param name="revocations">The revocations the authorization server knows: the <see cref="RevocationSet"/> its revocation feed
    /// subscription keeps current (<c>services.AddAgentIdentityRevocationFeed(...)</c> registers it in DI).</param>
    /// <param name="act">The <c>act</c> value for the delegated token: the task first, then the subject token's own actors.</param>
    /// <param name="error">Why the exchange is refused; suitable for an <c>invalid_grant</c> error description.</param>
    /// <returns><see langword="true"/> when the exchange is allowed.</returns>
    /// <remarks>A certificate of an ancestor revoked by serial number alone is not visible here (the delegation chain names ancestor
    /// certificates by hash): the issuer stops delegating from it, and revoking the ancestor's identity reaches every task below it.</remarks>
    public static bool TryAuthorize(
        JsonElement subjectTokenClaims, X509Certificate2 actorCertificate, DelegationVerificationResult actor, RevocationSet revocations,
        [NotNullWhen(true)] out JsonObject? act, [NotNullWhen(false)] out string? error)
    {
        ArgumentNullException.ThrowIfNull(actorCertificate);
        ArgumentNullException.ThrowIfNull(revocations);
        if (!TryAuthorize(subjectTokenClaims, actor, out act, out error))
        {
            return false;
        }

        error = RevokedBy(subjectTokenClaims, actorCertificate, actor, revocations);
        if (error is not null)
        {
            act = null;
            return false;
        }

        return true;
    }

    /// <summary>Decides whether the task identity may exchange the subject token, and builds the new token's <c>act</c> claim.</summary>
    /// <remarks>It does not check revocation; an authorization server that subscribes to the revocation feed uses
    /// <see cref="TryAuthorize(JsonElement, X509Certificate2, DelegationVerificationResult, RevocationSet, out JsonObject?, out string?)"/>.</remarks>
    /// <param name="subjectTokenClaims">The claims of the subject token (its JWT payload), after the server validated its signature, issuer and expiry.</param>
    /// <param name="actor">The verification of the client certificate presented over mTLS (<see cref="DelegationChainVerifier.Verify"/>).</param>
    /// <param name="act">The <c>act</c> value for the delegated token: the task first, then the subject token's own actors.</param>
    /// <param name="error">Why the exchange is refused; suitable for an <c>invalid_grant</c> error description.</param>
    /// <returns><see langword="true"/> when the exchange is allowed.</returns>
    public static bool TryAuthorize(JsonElement subjectTokenClaims, DelegationVerificationResult actor, [NotNullWhen(true)] out JsonObject? act, [NotNullWhen(false)] out string? error)
    {
        ArgumentNullException.ThrowIfNull(actor);
        act = null;
        if (!actor.IsValid)
        {
            error = $"the client certificate is not a valid SVID with a valid delegation chain: {actor.Reason}";
            return false;
        }

        if (actor.Chain is not { Count: > 0 } chain)
        {
            error = $"'{actor.Id}' is not a task identity (its certificate has no delegation chain); only a task identity may exchange its parent's token";
            return false;
        }

        if (subjectTokenClaims.ValueKind != JsonValueKind.Object)
        {
            error = "the subject token's claims are not a JSON object";
            return false;
        }

        if (!CertificateBinding.TryGetThumbprint(subjectTokenClaims, out var thumbprint))
        {
            error = "the subject token is not certificate-bound (no cnf.x5t#S256); only an RFC 8705 bound token of the task's parent may be exchanged";
            return false;
        }

        var parent = chain.Parent;
        if (!CertificateBinding.Matches(thumbprint, parent.GetCertificateHash()))
        {
            error = $"the subject token is bound to a certificate other than the one of '{actor.Id}''s parent '{parent.Id}' (sha256 {parent.CertificateThumbprint}) " +
                "named in its delegation chain; a task may only exchange the token of the agent that delegated to it (if the parent just rotated, the task renews at once: retry)";
            return false;
        }

        if (!ActorClaim.TryReadChain(subjectTokenClaims, out var actors, out var actError))
        {
            error = $"the subject token's act claim is malformed: {actError}";
            return false;
        }

        // The subject token's actors (current first) must be the task's ancestors below the root, nearest first.
        var ancestors = new List<string>(chain.Count - 1);
        for (var i = chain.Count - 1; i >= 1; i--)
        {
            ancestors.Add(chain[i].Id.ToString());
        }

        if (!actors.SequenceEqual(ancestors, StringComparer.Ordinal))
        {
            error = $"the subject token's act chain [{string.Join(", ", actors)}] does not match the delegation chain of '{actor.Id}' ([{string.Join(", ", ancestors)}] expected)";
            return false;
        }

        subjectTokenClaims.TryGetProperty(ActorClaim.ClaimName, out var previous);
        act = ActorClaim.Nest(actor.Id.ToString(), previous.ValueKind == JsonValueKind.Undefined ? null : previous);
        error = null;
        return true;
    }

    /// <summary>The revocation that covers the exchange's task chain, described, or <see langword="null"/>.</summary>
    private static string? RevokedBy(JsonElement subjectTokenClaims, X509Certificate2 actorCertificate, DelegationVerificationResult actor, RevocationSet revocations)
    {
        var id = actor.Id;
        if (revocations.IsRevoked(actorCertificate.SerialNumber, default, null, out var entry))
        {
            return $"the task certificate of '{id}' (serial {actorCertificate.SerialNumber}) is revoked by revocation {entry}; a revoked certificate cannot exchange a token";
        }

        // The ancestors first: a task ID lies below its parent's, so the parent's revocation also covers the task's path.
        foreach (var link in actor.Chain!)
        {
            if (revocations.IsIdentityRevoked(link.Id, out entry))
            {
                return $"the delegation chain of '{id}' is revoked: '{link.Id}', which delegated to it, is revoked by revocation {entry}; a task of a revoked identity cannot exchange its token";
            }
        }

        if (revocations.IsIdentityRevoked(id, out entry))
        {
            return $"the task identity '{id}' is revoked by revocation {entry}; a revoked identity cannot exchange a token";
        }

        if (subjectTokenClaims.TryGetProperty("sub", out var sub) && sub.ValueKind == JsonValueKind.String
            && SpiffeId.TryParse(sub.GetString(), out var subject, out _) && revocations.IsIdentityRevoked(subject, out entry))
        {
            return $"the subject token's subject '{subject}' is revoked by revocation {entry}";
        }

        return null;
    }
}
