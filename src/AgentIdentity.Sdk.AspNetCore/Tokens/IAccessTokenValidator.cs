using System.Security.Claims;

namespace AgentIdentity.AspNetCore;

/// <summary>Validates an OAuth access token presented with <c>Authorization: Bearer</c>: signature or introspection, issuer,
/// audience and lifetime. The AgentIdentity handler checks the RFC 8705 certificate binding itself.</summary>
/// <remarks>Implementations are thread-safe. See <see cref="JwtAccessTokenValidator"/> and <see cref="IntrospectionAccessTokenValidator"/>.</remarks>
public interface IAccessTokenValidator
{
    /// <summary>Validates <paramref name="token"/>.</summary>
    /// <param name="token">The access token, as sent.</param>
    /// <param name="cancellationToken">Cancels the validation.</param>
    /// <returns>The result; a rejected token is a result, not an exception.</returns>
    ValueTask<AccessTokenValidationResult> ValidateAsync(string token, CancellationToken cancellationToken = default);
}

/// <summary>The outcome of validating an access token.</summary>
public sealed class AccessTokenValidationResult
{
    private AccessTokenValidationResult(bool isValid, string? error, string? subject, string? clientId, IReadOnlyList<string> scopes, string? confirmationThumbprint, IReadOnlyList<Claim> claims)
    {
        IsValid = isValid;
        Error = error;
        Subject = subject;
        ClientId = clientId;
        Scopes = scopes;
        ConfirmationThumbprint = confirmationThumbprint;
        Claims = claims;
    }

    /// <summary>Gets a value indicating whether the token is valid (binding aside).</summary>
    public bool IsValid { get; }

    /// <summary>Gets why the token was rejected; safe to send as <c>error_description</c>.</summary>
    public string? Error { get; }

    /// <summary>Gets the token's <c>sub</c>.</summary>
    public string? Subject { get; }

    /// <summary>Gets the token's <c>client_id</c> (or <c>azp</c>).</summary>
    public string? ClientId { get; }

    /// <summary>Gets the token's scopes.</summary>
    public IReadOnlyList<string> Scopes { get; }

    /// <summary>Gets the token's <c>cnf.x5t#S256</c>, or <see langword="null"/> when the token is not certificate-bound.</summary>
    public string? ConfirmationThumbprint { get; }

    /// <summary>Gets other claims to add to the principal.</summary>
    public IReadOnlyList<Claim> Claims { get; }

    /// <summary>Creates a successful result.</summary>
    /// <param name="subject">The <c>sub</c>.</param>
    /// <param name="clientId">The <c>client_id</c>.</param>
    /// <param name="scopes">The scopes.</param>
    /// <param name="confirmationThumbprint">The <c>cnf.x5t#S256</c>, if any.</param>
    /// <param name="claims">Extra claims; may be <see langword="null"/>.</param>
    /// <returns>The result.</returns>
    public static AccessTokenValidationResult Success(string? subject, string? clientId, IReadOnlyList<string> scopes, string? confirmationThumbprint, IReadOnlyList<Claim>? claims = null)
    {
        ArgumentNullException.ThrowIfNull(scopes);
        return new(true, null, subject, clientId, scopes, confirmationThumbprint, claims ?? []);
    }

    /// <summary>Creates a failed result.</summary>
    /// <param name="error">Why; sent as <c>error_description</c>, so say what is wrong without echoing the token.</param>
    /// <returns>The result.</returns>
    public static AccessTokenValidationResult Failure(string error)
    {
        ArgumentException.ThrowIfNullOrEmpty(error);
        return new(false, error, null, null, [], null, []);
    }
}
