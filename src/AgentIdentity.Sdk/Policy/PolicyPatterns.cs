namespace AgentIdentity;

/// <summary>
/// The two pattern languages of <see cref="AgentPolicy"/>: SPIFFE ID patterns (exact, or a trailing <c>/*</c> for any
/// descendant; matched by <see cref="SpiffeIdMatchers"/>, the one SPIFFE-ID matcher) and segmented name patterns (actions
/// split on <c>:</c>, tools on <c>.</c>; a <c>*</c> segment matches exactly one segment). Both have the property that a pattern
/// is covered by a set of patterns only when one member covers it, so subset and intersection are decided pairwise and a
/// normalised list is a canonical form.
/// </summary>
internal static class PolicyPatterns
{
    public const string Wildcard = "*";

    // ---- SPIFFE ID patterns ----

    /// <summary>Returns an error for an invalid SPIFFE ID pattern, or <see langword="null"/>.</summary>
    public static string? ValidateSpiffePattern(string pattern)
    {
        if (pattern.Length == 0)
        {
            return "it is empty";
        }

        if (pattern.Length > AgentPolicy.MaxSpiffePatternLength)
        {
            return $"it is longer than {AgentPolicy.MaxSpiffePatternLength} characters";
        }

        if (!SpiffeIdMatchers.TryParsePattern(pattern, out var id, out var isSubtree, out var error))
        {
            var baseId = isSubtree ? pattern[..^SpiffeIdMatchers.SubtreeSuffix.Length] : pattern;
            return $"'{baseId}' is not a SPIFFE ID ({error}); use an exact ID or an ID followed by '/*'";
        }

        if (!isSubtree && id.IsTrustDomainId)
        {
            return "an exact pattern must name a workload (an ID with a path); use 'spiffe://<trust-domain>/*' for the whole trust domain";
        }

        return null;
    }

    /// <summary>Is every ID matched by <paramref name="inner"/> matched by <paramref name="outer"/>?</summary>
    public static bool SpiffeCovers(string outer, string inner)
    {
        if (!SpiffeIdMatchers.IsSubtreePattern(outer))
        {
            return string.Equals(outer, inner, StringComparison.Ordinal);
        }

        if (!SpiffeIdMatchers.IsSubtreePattern(inner))
        {
            return SpiffeIdMatchers.PatternMatches(outer, inner);
        }

        // subtree(A) ⊆ subtree(B) iff A == B or A is below B.
        var outerPrefix = outer.AsSpan(0, outer.Length - 1);   // "B/"
        var innerPrefix = inner.AsSpan(0, inner.Length - 1);   // "A/"
        return innerPrefix.StartsWith(outerPrefix, StringComparison.Ordinal);
    }

    /// <summary>The intersection of two SPIFFE patterns: one of them, or none (they are nested or disjoint).</summary>
    public static string? SpiffeIntersect(string a, string b) =>
        SpiffeCovers(b, a) ? a : SpiffeCovers(a, b) ? b : null;

    // ---- Segmented name patterns (actions, tools) ----

    /// <summary>Returns an error for an invalid action/tool pattern (or name when <paramref name="allowWildcard"/> is false).</summary>
    public static string? ValidateNamePattern(string pattern, char separator, bool allowDotInSegment, int maxLength, bool allowWildcard = true)
    {
        if (pattern.Length == 0)
        {
            return "it is empty";
        }

        if (pattern.Length > maxLength)
        {
            return $"it is longer than {maxLength} characters";
        }

        var segmentStart = 0;
        for (var i = 0; i <= pattern.Length; i++)
        {
            if (i < pattern.Length && pattern[i] != separator)
            {
                continue;
            }

            var segment = pattern.AsSpan(segmentStart, i - segmentStart);
            if (segment.IsEmpty)
            {
                return $"it has an empty segment (segments are separated by '{separator}')";
            }

            if (segment.SequenceEqual(Wildcard))
            {
                if (!allowWildcard)
                {
                    return "a name cannot contain '*'";
                }
            }
            else
            {
                foreach (var c in segment)
                {
                    if (!IsNameChar(c, allowDotInSegment))
                    {
                        return $"character '{(c < ' ' || c > '~' ? $"\\u{(int)c:x4}" : c.ToString())}' is not allowed (segments use letters, digits, '_', '-'{(allowDotInSegment ? ", '.'" : string.Empty)}, or are exactly '*')";
                    }
                }
            }

            segmentStart = i + 1;
        }

        return null;
    }

    private static bool IsNameChar(char c, bool allowDot) =>
        c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9') or '_' or '-' || (allowDot && c == '.');

    /// <summary>Does the name pattern match the concrete name? (No allocation.)</summary>
    public static bool NameMatches(string pattern, ReadOnlySpan<char> name, char separator)
    {
        var p = pattern.AsSpan();
        while (true)
        {
            var pi = p.IndexOf(separator);
            var ni = name.IndexOf(separator);
            var pSegment = pi < 0 ? p : p[..pi];
            var nSegment = ni < 0 ? name : name[..ni];
            if (nSegment.IsEmpty || nSegment.SequenceEqual(Wildcard))
            {
                return false; // a concrete name has no empty or '*' segments
            }

            if (!pSegment.SequenceEqual(Wildcard) && !pSegment.SequenceEqual(nSegment))
            {
                return false;
            }

            if (pi < 0 || ni < 0)
            {
                return pi < 0 && ni < 0;
            }

            p = p[(pi + 1)..];
            name = name[(ni + 1)..];
        }
    }

    /// <summary>Is every name matched by <paramref name="inner"/> matched by <paramref name="outer"/>?</summary>
    public static bool NameCovers(string outer, string inner, char separator)
    {
        var o = outer.AsSpan();
        var n = inner.AsSpan();
        while (true)
        {
            var oi = o.IndexOf(separator);
            var ni = n.IndexOf(separator);
            var oSegment = oi < 0 ? o : o[..oi];
            var nSegment = ni < 0 ? n : n[..ni];
            if (!oSegment.SequenceEqual(Wildcard) && !oSegment.SequenceEqual(nSegment))
            {
                return false;
            }

            if (oi < 0 || ni < 0)
            {
                return oi < 0 && ni < 0;
            }

            o = o[(oi + 1)..];
            n = n[(ni + 1)..];
        }
    }

    /// <summary>The intersection of two name patterns, or <see langword="null"/> when they share no name.</summary>
    public static string? NameIntersect(string a, string b, char separator)
    {
        var aSegments = a.Split(separator);
        var bSegments = b.Split(separator);
        if (aSegments.Length != bSegments.Length)
        {
            return null;
        }

        var result = new string[aSegments.Length];
        for (var i = 0; i < aSegments.Length; i++)
        {
            if (aSegments[i] == bSegments[i] || bSegments[i] == Wildcard)
            {
                result[i] = aSegments[i];
            }
            else if (aSegments[i] == Wildcard)
            {
                result[i] = bSegments[i];
            }
            else
            {
                return null;
            }
        }

        return string.Join(separator, result);
    }

    // ---- Lists ----

    /// <summary>Canonical form: drop duplicates and patterns covered by another, sort ordinally.</summary>
    public static string[] Normalize(IEnumerable<string> patterns, Func<string, string, bool> covers)
    {
        var distinct = new List<string>(patterns.Distinct(StringComparer.Ordinal));
        var kept = new List<string>(distinct.Count);
        for (var i = 0; i < distinct.Count; i++)
        {
            var covered = false;
            for (var j = 0; j < distinct.Count && !covered; j++)
            {
                covered = i != j && covers(distinct[j], distinct[i]);
            }

            if (!covered)
            {
                kept.Add(distinct[i]);
            }
        }

        kept.Sort(StringComparer.Ordinal);
        return [.. kept];
    }

    /// <summary>Is the list in canonical form (strictly ascending, no member covered by another)?</summary>
    public static bool IsCanonical(string[] patterns, Func<string, string, bool> covers)
    {
        for (var i = 1; i < patterns.Length; i++)
        {
            if (string.CompareOrdinal(patterns[i - 1], patterns[i]) >= 0)
            {
                return false;
            }
        }

        for (var i = 0; i < patterns.Length; i++)
        {
            for (var j = 0; j < patterns.Length; j++)
            {
                if (i != j && covers(patterns[j], patterns[i]))
                {
                    return false;
                }
            }
        }

        return true;
    }

    /// <summary>Returns the first member of <paramref name="inner"/> that no member of <paramref name="outer"/> covers, or <see langword="null"/>.</summary>
    public static string? FindUncovered(string[] outer, string[] inner, Func<string, string, bool> covers)
    {
        foreach (var candidate in inner)
        {
            var covered = false;
            foreach (var pattern in outer)
            {
                if (covers(pattern, candidate))
                {
                    covered = true;
                    break;
                }
            }

            if (!covered)
            {
                return candidate;
            }
        }

        return null;
    }

    /// <summary>The pairwise intersections of two lists, normalised. Refuses (before normalising, whose cost is quadratic) once
    /// more than <see cref="AgentPolicy.MaxIntersectionLength"/> distinct patterns arise, so that crossing wildcard lists
    /// (<c>a:*</c> against <c>*:b</c>) cannot make one evaluation cost billions of comparisons.</summary>
    /// <exception cref="InvalidOperationException">The intersection has more than <see cref="AgentPolicy.MaxIntersectionLength"/> patterns.</exception>
    public static string[] Intersect(string[] a, string[] b, Func<string, string, string?> intersect, Func<string, string, bool> covers, string axis)
    {
        var results = new HashSet<string>(StringComparer.Ordinal);
        foreach (var x in a)
        {
            foreach (var y in b)
            {
                if (intersect(x, y) is { } both && results.Add(both) && results.Count > AgentPolicy.MaxIntersectionLength)
                {
                    throw new InvalidOperationException(
                        $"The intersection of the {axis} lists ({a.Length} and {b.Length} patterns) has more than {AgentPolicy.MaxIntersectionLength} patterns; " +
                        "it is refused rather than computed. A valid delegation chain never needs this (each policy is a subset of its parent's).");
                }
            }
        }

        return Normalize(results, covers);
    }
}
