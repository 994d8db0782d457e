namespace AgentIdentity.Spiffe;

/// <summary>A JWT-SVID fetched from the Workload API. The token is a bearer secret: never log it.</summary>
public sealed class JwtSvid
{
    internal JwtSvid(SpiffeId id, string token, string? hint, IReadOnlyList<string> audience, DateTimeOffset expiresAt)
    {
        Id = id;
        Token = token;
        Hint = hint;
        Audience = audience;
        ExpiresAt = expiresAt;
    }

    /// <summary>Gets the SPIFFE ID the token asserts.</summary>
    public SpiffeId Id { get; }

    /// <summary>Gets the JWS compact token, for <c>Authorization: Bearer</c>.</summary>
    public string Token { get; }

    /// <summary>Gets the server's hint for this SVID, or <see langword="null"/>.</summary>
    public string? Hint { get; }

    /// <summary>Gets the audiences the token names.</summary>
    public IReadOnlyList<string> Audience { get; }

    /// <summary>Gets the token's expiry.</summary>
    public DateTimeOffset ExpiresAt { get; }

    /// <inheritdoc/>
    public override string ToString() => $"JWT-SVID {Id} for {string.Join(", ", Audience)} (expires {ExpiresAt:O})";
}
