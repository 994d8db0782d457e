using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace AgentIdentity;

/// <summary>
/// An RFC 8693 token-exchange request (SPECS.md §7): a subject token, optionally an actor token (delegation), and the target.
/// Immutable; <see cref="ToParameters"/> checks the RFC's rules and returns the form fields to POST to the token endpoint.
/// </summary>
internal sealed class TokenExchangeRequest
{
    /// <summary>The token-exchange grant type.</summary>
    public const string GrantType = "urn:ietf:params:oauth:grant-type:token-exchange";

    /// <summary>The token-type URI of an OAuth access token.</summary>
    public const string AccessTokenType = "urn:ietf:params:oauth:token-type:access_token";

    /// <summary>The token-type URI of a JWT (for example a JWT-SVID).</summary>
    public const string JwtTokenType = "urn:ietf:params:oauth:token-type:jwt";

    /// <summary>The token-type URI of an ID token.</summary>
    public const string IdTokenType = "urn:ietf:params:oauth:token-type:id_token";

    /// <summary>The token-type URI of a refresh token.</summary>
    public const string RefreshTokenType = "urn:ietf:params:oauth:token-type:refresh_token";

    /// <summary>Gets the token of the party on whose behalf the request is made (required).</summary>
    public required string SubjectToken { get; init; }

    /// <summary>Gets the type of <see cref="SubjectToken"/>.</summary>
    /// <value>The default value is <see cref="AccessTokenType"/>.</value>
    public string SubjectTokenType { get; init; } = AccessTokenType;

    /// <summary>Gets the token of the acting party (the delegate); <see langword="null"/> for impersonation.</summary>
    public string? ActorToken { get; init; }

    /// <summary>Gets the type of <see cref="ActorToken"/>; required with it.</summary>
    public string? ActorTokenType { get; init; }

    /// <summary>Gets absolute URIs of the target services (<c>resource</c>, repeatable).</summary>
    public IReadOnlyList<string> Resources { get; init; } = [];

    /// <summary>Gets logical names of the target services (<c>audience</c>, repeatable).</summary>
    public IReadOnlyList<string> Audiences { get; init; } = [];

    /// <summary>Gets the requested scopes.</summary>
    public IReadOnlyList<string> Scopes { get; init; } = [];

    /// <summary>Gets the requested token type, if any.</summary>
    public string? RequestedTokenType { get; init; }

    /// <summary>Builds the form fields of the request, in a stable order.</summary>
    /// <returns>The <c>application/x-www-form-urlencoded</c> fields.</returns>
    /// <exception cref="ArgumentException">The request breaks RFC 8693: an empty subject token or type, an actor token without a
    /// type (or a type without a token), a relative or fragment-bearing resource URI, or a scope containing a space.</exception>
    public IReadOnlyList<KeyValuePair<string, string>> ToParameters()
    {
        Require(SubjectToken, "subject_token");
        Require(SubjectTokenType, "subject_token_type");
        if (ActorToken is null != ActorTokenType is null)
        {
            throw new ArgumentException(ActorToken is null
                ? "actor_token_type must not be sent without actor_token (RFC 8693 §2.1)."
                : "actor_token_type is required when actor_token is present (RFC 8693 §2.1).");
        }

        var fields = new List<KeyValuePair<string, string>>
        {
            new("grant_type", GrantType),
            new("subject_token", SubjectToken),
            new("subject_token_type", SubjectTokenType),
        };
        if (ActorToken is not null)
        {
            Require(ActorToken, "actor_token");
            Require(ActorTokenType!, "actor_token_type");
            fields.Add(new("actor_token", ActorToken));
            fields.Add(new("actor_token_type", ActorTokenType!));
        }

        foreach (var resource in Resources)
        {
            if (!IsWrittenAbsoluteUri(resource, out var uri) || uri.Fragment.Length > 0)
            {
                throw new ArgumentException($"resource '{resource}' must be an absolute URI without a fragment (RFC 8693 §2.1).");
            }

            fields.Add(new("resource", resource));
        }

        foreach (var audience in Audiences)
        {
            Require(audience, "audience");
            fields.Add(new("audience", audience));
        }

        if (Scopes.Count > 0)
        {
            foreach (var scope in Scopes)
            {
                if (string.IsNullOrEmpty(scope) || scope.Contains(' ', StringComparison.Ordinal))
                {
                    throw new ArgumentException($"scope '{scope}' must be non-empty and contain no spaces.");
                }
            }

            fields.Add(new("scope", string.Join(' ', Scopes)));
        }

        if (RequestedTokenType is not null)
        {
            Require(RequestedTokenType, "requested_token_type");
            fields.Add(new("requested_token_type", RequestedTokenType));
        }

        return fields;
    }

    /// <summary>Builds the HTTP content of the request.</summary>
    /// <returns>A new <see cref="FormUrlEncodedContent"/>.</returns>
    public FormUrlEncodedContent ToContent() => new(ToParameters());

    /// <summary>Whether <paramref name="value"/> is an absolute URI with its scheme written out (on Unix, <see cref="Uri"/> also accepts
    /// "/path" as an absolute file URI).</summary>
    internal static bool IsWrittenAbsoluteUri(string value, [NotNullWhen(true)] out Uri? uri) =>
        Uri.TryCreate(value, UriKind.Absolute, out uri) && value.StartsWith(uri.Scheme + ":", StringComparison.OrdinalIgnoreCase);

    private static void Require(string value, string name)
    {
        if (string.IsNullOrEmpty(value))
        {
            throw new ArgumentException($"{name} must not be empty (RFC 8693 §2.1).");
        }
    }
}
