using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;

namespace AgentIdentity;

/// <summary>
/// A validated SPIFFE ID, such as <c>spiffe://example.org/agent/planner/7f3k…</c>.
/// </summary>
/// <remarks>
/// <para>Parsing enforces every rule of SPIFFE-ID.md §2: the lowercase <c>spiffe://</c> scheme, a trust domain of lowercase
/// letters, digits, '.', '-' and '_' (at most 255 bytes), path segments of letters, digits, '.', '-' and '_' with no empty,
/// '.' or '..' segment and no trailing slash, no percent-encoding, and at most 2048 bytes in all. Input is never lowercased.</para>
/// <para>Agent identities follow the shape <c>spiffe://&lt;trust-domain&gt;/agent/&lt;agent-name&gt;/&lt;instance-id&gt;</c>;
/// see <see cref="ForAgent(TrustDomain, string, string)"/> and <see cref="NewAgentInstance(TrustDomain, string)"/>.</para>
/// <para>Equality is ordinal on the canonical string. The default value is empty.</para>
/// </remarks>
[System.Text.Json.Serialization.JsonConverter(typeof(SpiffeIdJsonConverter))]
[System.ComponentModel.TypeConverter(typeof(SpiffeIdTypeConverter))]
public readonly struct SpiffeId : IEquatable<SpiffeId>, ISpanParsable<SpiffeId>
{
    /// <summary>The first path segment of agent identities.</summary>
    public const string AgentSegment = "agent";

    private readonly string? _value;
    private readonly int _pathStart;

    private SpiffeId(string value, int pathStart)
    {
        _value = value;
        _pathStart = pathStart;
    }

    /// <summary>Gets a value indicating whether this is the default (empty) value.</summary>
    public bool IsEmpty => _value is null;

    /// <summary>Gets the trust domain of this ID.</summary>
    public TrustDomain TrustDomain =>
        _value is null ? default : TrustDomain.FromValidated(_value[SpiffeIdRules.Scheme.Length.._pathStart]);

    /// <summary>Gets the path, for example <c>/agent/planner/7f3k</c>; empty for the ID of a trust domain.</summary>
    public string Path => _value is null ? string.Empty : _value[_pathStart..];

    /// <summary>Gets a value indicating whether this is the ID of a trust domain itself (no path).</summary>
    public bool IsTrustDomainId => _value is not null && _pathStart == _value.Length;

    /// <summary>Gets the path segments, for example <c>["agent", "planner", "7f3k"]</c>.</summary>
    /// <returns>A new array of the segments; empty when there is no path.</returns>
    public string[] GetSegments() =>
        IsEmpty || IsTrustDomainId ? [] : _value![(_pathStart + 1)..].Split('/');

    /// <summary>Gets a value indicating whether this ID belongs to <paramref name="trustDomain"/>.</summary>
    /// <param name="trustDomain">The trust domain.</param>
    /// <returns><see langword="true"/> when the trust domains are equal.</returns>
    public bool IsMemberOf(TrustDomain trustDomain) =>
        _value is not null && !trustDomain.IsEmpty &&
        _value.AsSpan(SpiffeIdRules.Scheme.Length, _pathStart - SpiffeIdRules.Scheme.Length).SequenceEqual(trustDomain.Name);

    /// <summary>Gets a value indicating whether <paramref name="descendant"/> lies strictly below this ID (same trust domain, longer path on a segment boundary).</summary>
    /// <param name="descendant">The candidate descendant.</param>
    /// <returns><see langword="true"/> for <c>spiffe://td/a/b</c> below <c>spiffe://td/a</c>; <see langword="false"/> for <c>spiffe://td/ab</c>.</returns>
    public bool IsAncestorOf(SpiffeId descendant) =>
        _value is not null && descendant._value is not null &&
        descendant._value.Length > _value.Length &&
        descendant._value.StartsWith(_value, StringComparison.Ordinal) &&
        descendant._value[_value.Length] == '/';

    /// <summary>Returns a new ID with <paramref name="segments"/> appended to the path.</summary>
    /// <param name="segments">Path segments, each validated.</param>
    /// <returns>The new ID.</returns>
    /// <exception cref="FormatException">A segment is invalid, or the result would exceed 2048 bytes.</exception>
    /// <exception cref="InvalidOperationException">This is the default (empty) value.</exception>
    public SpiffeId Append(params ReadOnlySpan<string> segments)
    {
        if (_value is null)
        {
            throw new InvalidOperationException("Cannot append to an empty SPIFFE ID.");
        }

        var builder = new System.Text.StringBuilder(_value);
        foreach (var segment in segments)
        {
            var error = SpiffeIdRules.ValidateSegment(segment);
            if (error is not null)
            {
                throw new FormatException($"Path segment '{TrustDomain.Truncate(segment)}' is invalid: {error}.");
            }

            builder.Append('/').Append(segment);
        }

        if (builder.Length > SpiffeIdRules.MaxIdLength)
        {
            throw new FormatException($"SPIFFE ID '{TrustDomain.Truncate(builder.ToString())}' is invalid: {SpiffeIdRules.IdTooLong}.");
        }

        return new SpiffeId(builder.ToString(), _pathStart);
    }

    /// <summary>Creates the ID of an agent instance: <c>spiffe://&lt;td&gt;/agent/&lt;agentName&gt;/&lt;instanceId&gt;</c>.</summary>
    /// <param name="trustDomain">The trust domain.</param>
    /// <param name="agentName">The agent's name, a valid path segment such as <c>planner</c>.</param>
    /// <param name="instanceId">The instance id, a valid path segment.</param>
    /// <returns>The agent instance ID.</returns>
    /// <exception cref="ArgumentException">The trust domain is empty.</exception>
    /// <exception cref="FormatException">The name or instance id is not a valid path segment.</exception>
    public static SpiffeId ForAgent(TrustDomain trustDomain, string agentName, string instanceId)
    {
        if (trustDomain.IsEmpty)
        {
            throw new ArgumentException("The trust domain is empty.", nameof(trustDomain));
        }

        ArgumentNullException.ThrowIfNull(agentName);
        ArgumentNullException.ThrowIfNull(instanceId);
        return trustDomain.Id.Append(AgentSegment, agentName, instanceId);
    }

    /// <summary>Creates the ID of a new agent instance with a random, unguessable instance id (128 bits from the system CSPRNG).</summary>
    /// <param name="trustDomain">The trust domain.</param>
    /// <param name="agentName">The agent's name, a valid path segment such as <c>planner</c>.</param>
    /// <returns>The agent instance ID.</returns>
    public static SpiffeId NewAgentInstance(TrustDomain trustDomain, string agentName) =>
        ForAgent(trustDomain, agentName, NewInstanceId());

    /// <summary>Creates a random instance id: 128 bits from the system CSPRNG as 26 lowercase base32 characters.</summary>
    /// <returns>The instance id.</returns>
    public static string NewInstanceId()
    {
        const string Alphabet = "abcdefghijklmnopqrstuvwxyz234567";
        Span<byte> bytes = stackalloc byte[16];
        RandomNumberGenerator.Fill(bytes);
        return string.Create(26, bytes.ToArray(), static (chars, data) =>
        {
            int bitBuffer = 0, bits = 0, o = 0;
            foreach (var b in data)
            {
                bitBuffer = (bitBuffer << 8) | b;
                bits += 8;
                while (bits >= 5)
                {
                    chars[o++] = Alphabet[(bitBuffer >> (bits - 5)) & 31];
                    bits -= 5;
                }
            }

            chars[o] = Alphabet[(bitBuffer << (5 - bits)) & 31];
        });
    }

    /// <summary>Tries to read the agent name and instance id of an agent ID (<c>/agent/&lt;name&gt;/&lt;instance&gt;[/…]</c>).</summary>
    /// <param name="agentName">The agent name.</param>
    /// <param name="instanceId">The instance id.</param>
    /// <returns><see langword="true"/> when the path starts with <c>/agent/&lt;name&gt;/&lt;instance&gt;</c>.</returns>
    public bool TryGetAgent([NotNullWhen(true)] out string? agentName, [NotNullWhen(true)] out string? instanceId)
    {
        agentName = instanceId = null;
        var segments = GetSegments();
        if (segments.Length < 3 || segments[0] != AgentSegment)
        {
            return false;
        }

        agentName = segments[1];
        instanceId = segments[2];
        return true;
    }

    /// <summary>Parses a SPIFFE ID.</summary>
    /// <param name="s">The text to parse.</param>
    /// <returns>The ID.</returns>
    /// <exception cref="FormatException">The text is not a valid SPIFFE ID; the message says which rule it breaks.</exception>
    public static SpiffeId Parse(string s)
    {
        ArgumentNullException.ThrowIfNull(s);
        return TryParse(s, out var id, out var error) ? id : throw new FormatException($"SPIFFE ID '{TrustDomain.Truncate(s)}' is invalid: {error}.");
    }

    /// <inheritdoc cref="Parse(string)"/>
    public static SpiffeId Parse(ReadOnlySpan<char> s) =>
        TryParse(s, out var id, out var error) ? id : throw new FormatException($"SPIFFE ID '{TrustDomain.Truncate(s)}' is invalid: {error}.");

    /// <summary>Tries to parse a SPIFFE ID.</summary>
    /// <param name="s">The text to parse.</param>
    /// <param name="result">The ID, when valid.</param>
    /// <returns><see langword="true"/> when the text is a valid SPIFFE ID.</returns>
    public static bool TryParse([NotNullWhen(true)] string? s, out SpiffeId result) =>
        TryParse(s, out result, out _);

    /// <inheritdoc cref="TryParse(string?, out SpiffeId)"/>
    public static bool TryParse(ReadOnlySpan<char> s, out SpiffeId result) =>
        TryParse(s, out result, out _);

    /// <summary>Tries to parse a SPIFFE ID and says why it is invalid.</summary>
    /// <param name="s">The text to parse.</param>
    /// <param name="result">The ID, when valid.</param>
    /// <param name="error">The rule the text breaks, when invalid.</param>
    /// <returns><see langword="true"/> when the text is a valid SPIFFE ID.</returns>
    public static bool TryParse(string? s, out SpiffeId result, [NotNullWhen(false)] out string? error)
    {
        result = default;
        error = SpiffeIdRules.ValidateId(s.AsSpan(), out var pathStart);
        if (error is not null)
        {
            return false;
        }

        result = new SpiffeId(s!, pathStart);
        return true;
    }

    /// <inheritdoc cref="TryParse(string?, out SpiffeId, out string?)"/>
    public static bool TryParse(ReadOnlySpan<char> s, out SpiffeId result, [NotNullWhen(false)] out string? error)
    {
        result = default;
        error = SpiffeIdRules.ValidateId(s, out var pathStart);
        if (error is not null)
        {
            return false;
        }

        result = new SpiffeId(s.ToString(), pathStart);
        return true;
    }

    internal static SpiffeId FromTrustDomain(TrustDomain trustDomain) =>
        trustDomain.IsEmpty ? default : new SpiffeId(SpiffeIdRules.Scheme + trustDomain.Name, SpiffeIdRules.Scheme.Length + trustDomain.Name.Length);

    /// <summary>Returns the ID as a <see cref="Uri"/>.</summary>
    /// <returns>The URI.</returns>
    /// <remarks><see cref="Uri"/> normalizes a trust-domain ID (<c>spiffe://td</c>) to <c>spiffe://td/</c>, which is not a valid SPIFFE
    /// ID: to write an ID into a certificate or a message, use <see cref="ToString"/>, as the SDK itself does.</remarks>
    /// <exception cref="InvalidOperationException">This is the default (empty) value.</exception>
    public Uri ToUri() => _value is null ? throw new InvalidOperationException("The SPIFFE ID is empty.") : new Uri(_value, UriKind.Absolute);

    /// <inheritdoc/>
    public bool Equals(SpiffeId other) => string.Equals(_value, other._value, StringComparison.Ordinal);

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is SpiffeId other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() => _value is null ? 0 : StringComparer.Ordinal.GetHashCode(_value);

    /// <summary>Returns the canonical string form.</summary>
    /// <returns>The ID, for example <c>spiffe://example.org/agent/planner/7f3k</c>; empty for the default value.</returns>
    public override string ToString() => _value ?? string.Empty;

    /// <summary>Compares two IDs for equality (ordinal).</summary>
    /// <param name="left">The first ID.</param>
    /// <param name="right">The second ID.</param>
    /// <returns><see langword="true"/> when equal.</returns>
    public static bool operator ==(SpiffeId left, SpiffeId right) => left.Equals(right);

    /// <summary>Compares two IDs for inequality (ordinal).</summary>
    /// <param name="left">The first ID.</param>
    /// <param name="right">The second ID.</param>
    /// <returns><see langword="true"/> when they differ.</returns>
    public static bool operator !=(SpiffeId left, SpiffeId right) => !left.Equals(right);

    /// <inheritdoc/>
    static SpiffeId IParsable<SpiffeId>.Parse(string s, IFormatProvider? provider) => Parse(s);

    /// <inheritdoc/>
    static SpiffeId ISpanParsable<SpiffeId>.Parse(ReadOnlySpan<char> s, IFormatProvider? provider) => Parse(s);

    /// <inheritdoc/>
    static bool IParsable<SpiffeId>.TryParse([NotNullWhen(true)] string? s, IFormatProvider? provider, out SpiffeId result) => TryParse(s, out result);

    /// <inheritdoc/>
    static bool ISpanParsable<SpiffeId>.TryParse(ReadOnlySpan<char> s, IFormatProvider? provider, out SpiffeId result) => TryParse(s, out result);
}
