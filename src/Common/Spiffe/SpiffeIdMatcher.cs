using System.Diagnostics.CodeAnalysis;

namespace AgentIdentity;

/// <summary>Decides whether a SPIFFE ID matches (go-spiffe's <c>spiffeid.Matcher</c>). Build one with <see cref="SpiffeIdMatchers"/>.</summary>
/// <param name="id">A valid SPIFFE ID.</param>
/// <returns><see langword="true"/> when the ID matches.</returns>
internal delegate bool SpiffeIdMatcher(SpiffeId id);

/// <summary>
/// The one home of SPIFFE-ID matching: the combinators (exact ID, one of a set, member of a trust domain, any of several
/// matchers) and the pattern language that policies, peer authorizers and ASP.NET Core requirements share. A pattern is an
/// exact SPIFFE ID, or a SPIFFE ID followed by <c>/*</c>, which matches every ID strictly below it on a segment boundary
/// (<c>spiffe://td/svc/*</c> matches <c>spiffe://td/svc/erp</c> and <c>spiffe://td/svc/erp/eu</c>, not <c>spiffe://td/svc</c>
/// nor <c>spiffe://td/svcx</c>); <c>spiffe://td/*</c> matches every workload of the trust domain.
/// </summary>
internal static class SpiffeIdMatchers
{
    /// <summary>The suffix that turns a SPIFFE ID into a pattern for its descendants.</summary>
    public const string SubtreeSuffix = "/*";

    /// <summary>Matches exactly <paramref name="expected"/>.</summary>
    public static SpiffeIdMatcher Id(SpiffeId expected) => id => id == expected;

    /// <summary>Matches any member of <paramref name="allowed"/>.</summary>
    public static SpiffeIdMatcher OneOf(IReadOnlySet<SpiffeId> allowed) => allowed.Contains;

    /// <summary>Matches every ID of <paramref name="trustDomain"/>.</summary>
    public static SpiffeIdMatcher MemberOf(TrustDomain trustDomain) => id => id.IsMemberOf(trustDomain);

    /// <summary>Matches the IDs that any of <paramref name="matchers"/> matches.</summary>
    public static SpiffeIdMatcher AnyOf(IReadOnlyList<SpiffeIdMatcher> matchers) => matchers.Count == 1 ? matchers[0] : id =>
    {
        foreach (var matcher in matchers)
        {
            if (matcher(id))
            {
                return true;
            }
        }

        return false;
    };

    /// <summary>Matches the IDs a (valid) pattern matches; see <see cref="TryParsePattern"/>.</summary>
    public static SpiffeIdMatcher Pattern(string pattern) => id => PatternMatches(pattern, id.ToString());

    /// <summary>Whether <paramref name="pattern"/> ends in <c>/*</c> (matches descendants).</summary>
    public static bool IsSubtreePattern(string pattern) => pattern.EndsWith(SubtreeSuffix, StringComparison.Ordinal);

    /// <summary>Splits a pattern into its SPIFFE ID and whether it is a subtree pattern, and checks the ID.</summary>
    /// <param name="pattern">An exact SPIFFE ID, or a SPIFFE ID followed by <c>/*</c>.</param>
    /// <param name="id">The SPIFFE ID the pattern names (for a subtree pattern, the ID whose descendants match).</param>
    /// <param name="isSubtree">Whether the pattern ends in <c>/*</c>.</param>
    /// <param name="error">Why the ID part is not a SPIFFE ID; callers put it in their own message, naming the pattern.</param>
    /// <returns><see langword="true"/> when the pattern is valid.</returns>
    public static bool TryParsePattern(string pattern, out SpiffeId id, out bool isSubtree, [NotNullWhen(false)] out string? error)
    {
        isSubtree = IsSubtreePattern(pattern);
        return SpiffeId.TryParse(isSubtree ? pattern[..^SubtreeSuffix.Length] : pattern, out id, out error);
    }

    /// <summary>Whether a valid pattern matches <paramref name="id"/>, compared as text without allocating.</summary>
    /// <param name="pattern">A pattern that <see cref="TryParsePattern"/> accepts.</param>
    /// <param name="id">The ID's text; for a valid SPIFFE ID this is exactly <see cref="SpiffeId.IsAncestorOf"/> or equality.</param>
    /// <returns><see langword="true"/> when the pattern is the ID, or a subtree pattern the ID lies strictly below.</returns>
    public static bool PatternMatches(string pattern, ReadOnlySpan<char> id)
    {
        if (!IsSubtreePattern(pattern))
        {
            return id.SequenceEqual(pattern);
        }

        // "base/*" matches "base/<something>": base + '/' is a prefix of a longer ID (valid IDs have no trailing slash).
        var prefixLength = pattern.Length - 1;
        return id.Length > prefixLength && id.StartsWith(pattern.AsSpan(0, prefixLength), StringComparison.Ordinal);
    }
}
