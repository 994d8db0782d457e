namespace AgentIdentity;

/// <summary>The SPIFFE ID grammar (SPIFFE-ID.md §2), shared by <see cref="SpiffeId"/> and <see cref="TrustDomain"/>.</summary>
internal static class SpiffeIdRules
{
    public const string Scheme = "spiffe://";
    public const int MaxIdLength = 2048;
    public const int MaxTrustDomainLength = 255;

    public const string Empty = "cannot be empty";
    public const string BadScheme = "scheme is missing or invalid (it must start with the lowercase 'spiffe://')";
    public const string MissingTrustDomain = "trust domain is missing";
    public const string BadTrustDomainChar = "trust domain characters are limited to lowercase letters, numbers, dots, dashes, and underscores";
    public const string BadPathChar = "path segment characters are limited to letters, numbers, dots, dashes, and underscores";
    public const string EmptySegment = "path cannot contain empty segments";
    public const string DotSegment = "path cannot contain dot segments";
    public const string TrailingSlash = "path cannot have a trailing slash";
    public const string NoLeadingSlash = "path must have a leading slash";
    public const string IdTooLong = "it is longer than the 2048 bytes a SPIFFE ID may have";
    public const string TrustDomainTooLong = "trust domain is longer than 255 bytes";

    public static bool IsTrustDomainChar(char c) =>
        c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '.' or '-' or '_';

    public static bool IsPathChar(char c) =>
        c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9') or '.' or '-' or '_';

    /// <summary>Validates a bare trust domain name.</summary>
    public static string? ValidateTrustDomain(ReadOnlySpan<char> name)
    {
        if (name.IsEmpty)
        {
            return MissingTrustDomain;
        }

        if (name.Length > MaxTrustDomainLength)
        {
            return TrustDomainTooLong;
        }

        foreach (var c in name)
        {
            if (!IsTrustDomainChar(c))
            {
                return BadTrustDomainChar;
            }
        }

        return null;
    }

    /// <summary>Validates a path: empty, or '/'-separated non-empty, non-dot segments of allowed characters.</summary>
    public static string? ValidatePath(ReadOnlySpan<char> path)
    {
        if (path.IsEmpty)
        {
            return null;
        }

        if (path[0] != '/')
        {
            return NoLeadingSlash;
        }

        var segmentStart = 1;
        for (var i = 1; i <= path.Length; i++)
        {
            if (i < path.Length && path[i] != '/')
            {
                if (!IsPathChar(path[i]))
                {
                    return BadPathChar;
                }

                continue;
            }

            var segment = path[segmentStart..i];
            if (segment.IsEmpty)
            {
                return i == path.Length ? TrailingSlash : EmptySegment;
            }

            if (segment is "." or "..")
            {
                return DotSegment;
            }

            segmentStart = i + 1;
        }

        return null;
    }

    /// <summary>Validates a single path segment.</summary>
    public static string? ValidateSegment(ReadOnlySpan<char> segment)
    {
        if (segment.IsEmpty)
        {
            return EmptySegment;
        }

        if (segment is "." or "..")
        {
            return DotSegment;
        }

        foreach (var c in segment)
        {
            if (!IsPathChar(c))
            {
                return BadPathChar;
            }
        }

        return null;
    }

    /// <summary>Parses a full SPIFFE ID; returns the error text or <see langword="null"/> and the index where the path begins.</summary>
    public static string? ValidateId(ReadOnlySpan<char> id, out int pathStart)
    {
        pathStart = -1;
        if (id.IsEmpty)
        {
            return Empty;
        }

        if (!id.StartsWith(Scheme, StringComparison.Ordinal))
        {
            return BadScheme;
        }

        // Each char of a valid ID is ASCII, so chars equal bytes; longer inputs are rejected either way.
        if (id.Length > MaxIdLength)
        {
            return IdTooLong;
        }

        var rest = id[Scheme.Length..];
        var slash = rest.IndexOf('/');
        var td = slash < 0 ? rest : rest[..slash];
        if (td.IsEmpty)
        {
            return MissingTrustDomain;
        }

        var tdError = ValidateTrustDomain(td);
        if (tdError is not null)
        {
            return tdError;
        }

        pathStart = Scheme.Length + td.Length;
        return ValidatePath(id[pathStart..]);
    }
}
