using System.Diagnostics.CodeAnalysis;
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
    /// <summary>Decides whether the task identity may exchange the subject token, and builds the new token's <c>act</c> claim.</summary>
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
}
