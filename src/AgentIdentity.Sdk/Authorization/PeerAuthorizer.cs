using System.Security.Cryptography.X509Certificates;

namespace AgentIdentity;

/// <summary>Decides whether an authenticated peer (its chain already verified against the trust bundle) may be talked to.</summary>
/// <param name="peer">The peer's SPIFFE ID, taken from its verified X.509-SVID.</param>
/// <param name="verifiedChain">The verified chain, leaf first, ending at an authority of the peer's trust domain.</param>
/// <returns><see cref="AuthorizationDecision.Allowed"/>, or a denial with a reason.</returns>
/// <remarks>Authorizers run during the TLS handshake and must be fast, pure and thread-safe. Build them with <see cref="PeerAuthorizers"/>.</remarks>
public delegate AuthorizationDecision PeerAuthorizer(SpiffeId peer, IReadOnlyList<X509Certificate2> verifiedChain);

/// <summary>Small combinators for <see cref="PeerAuthorizer"/> (the go-spiffe <c>tlsconfig</c> authorizers), each a SPIFFE-ID
/// matcher with the reason a peer it does not match is denied.</summary>
public static class PeerAuthorizers
{
    private static readonly PeerAuthorizer AnyAuthorizer = static (_, _) => AuthorizationDecision.Allowed;

    /// <summary>Allows any peer whose chain verifies against the trust bundle of its own trust domain.</summary>
    /// <returns>The authorizer.</returns>
    public static PeerAuthorizer Any() => AnyAuthorizer;

    /// <summary>Allows exactly one SPIFFE ID.</summary>
    /// <param name="expected">The only peer allowed.</param>
    /// <returns>The authorizer.</returns>
    /// <exception cref="ArgumentException"><paramref name="expected"/> is empty.</exception>
    public static PeerAuthorizer Id(SpiffeId expected)
    {
        if (expected.IsEmpty)
        {
            throw new ArgumentException("The expected SPIFFE ID is empty.", nameof(expected));
        }

        return Matching(SpiffeIdMatchers.Id(expected), peer => $"peer '{peer}' is not the expected '{expected}'");
    }

    /// <summary>Allows any of a set of SPIFFE IDs.</summary>
    /// <param name="allowed">The peers allowed; at least one.</param>
    /// <returns>The authorizer.</returns>
    /// <exception cref="ArgumentException"><paramref name="allowed"/> is empty or contains an empty ID.</exception>
    public static PeerAuthorizer OneOf(params IEnumerable<SpiffeId> allowed)
    {
        ArgumentNullException.ThrowIfNull(allowed);
        var set = allowed.ToHashSet();
        if (set.Count == 0 || set.Contains(default))
        {
            throw new ArgumentException("OneOf needs at least one SPIFFE ID and no empty ones.", nameof(allowed));
        }

        var list = string.Join(", ", set.Select(id => $"'{id}'"));
        return Matching(SpiffeIdMatchers.OneOf(set), peer => $"peer '{peer}' is not one of {list}");
    }

    /// <summary>Allows any member of a trust domain.</summary>
    /// <param name="trustDomain">The trust domain.</param>
    /// <returns>The authorizer.</returns>
    /// <exception cref="ArgumentException"><paramref name="trustDomain"/> is empty.</exception>
    public static PeerAuthorizer MemberOf(TrustDomain trustDomain)
    {
        if (trustDomain.IsEmpty)
        {
            throw new ArgumentException("The trust domain is empty.", nameof(trustDomain));
        }

        return Matching(SpiffeIdMatchers.MemberOf(trustDomain), peer => $"peer '{peer}' is not a member of trust domain '{trustDomain}'");
    }

    /// <summary>Allows the SPIFFE IDs matching a pattern: an exact ID, or an ID ending in <c>/*</c> for any strict descendant path.</summary>
    /// <param name="pattern">For example <c>spiffe://corp.example/svc/erp</c> or <c>spiffe://corp.example/svc/*</c>.</param>
    /// <returns>The authorizer.</returns>
    /// <exception cref="FormatException"><paramref name="pattern"/> is not a SPIFFE ID with an optional trailing <c>/*</c>.</exception>
    public static PeerAuthorizer Pattern(string pattern)
    {
        ArgumentNullException.ThrowIfNull(pattern);
        if (!SpiffeIdMatchers.TryParsePattern(pattern, out var id, out var isSubtree, out var error))
        {
            throw new FormatException($"Peer pattern '{pattern}' is invalid: {error}. Use a SPIFFE ID, optionally ending in '/*' for any descendant.");
        }

        return isSubtree
            ? Matching(SpiffeIdMatchers.Pattern(pattern), peer => $"peer '{peer}' does not match '{pattern}'")
            : Id(id);
    }

    private static PeerAuthorizer Matching(SpiffeIdMatcher matcher, Func<SpiffeId, string> denial) =>
        (peer, _) => matcher(peer) ? AuthorizationDecision.Allowed : AuthorizationDecision.Denied(denial(peer));
}
