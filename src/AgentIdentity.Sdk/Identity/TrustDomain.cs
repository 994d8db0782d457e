using System.Diagnostics.CodeAnalysis;

namespace AgentIdentity;

/// <summary>
/// A SPIFFE trust domain, such as <c>example.org</c>: the name of an identity namespace and of the CA keys that vouch for it.
/// </summary>
/// <remarks>
/// Values are validated on construction (SPIFFE-ID.md §2): lowercase letters, digits, '.', '-' and '_', at most 255 bytes.
/// Equality is ordinal. The default value is empty and equals no parsed trust domain.
/// </remarks>
[System.Text.Json.Serialization.JsonConverter(typeof(TrustDomainJsonConverter))]
[System.ComponentModel.TypeConverter(typeof(TrustDomainTypeConverter))]
public readonly struct TrustDomain : IEquatable<TrustDomain>, ISpanParsable<TrustDomain>
{
    private readonly string? _name;

    private TrustDomain(string name) => _name = name;

    /// <summary>Gets the trust domain name, for example <c>example.org</c>; empty for the default value.</summary>
    public string Name => _name ?? string.Empty;

    /// <summary>Gets a value indicating whether this is the default (empty) value.</summary>
    public bool IsEmpty => _name is null;

    /// <summary>Gets the SPIFFE ID of the trust domain itself, for example <c>spiffe://example.org</c>.</summary>
    public SpiffeId Id => SpiffeId.FromTrustDomain(this);

    /// <summary>Parses a trust domain given as a bare name (<c>example.org</c>) or as a SPIFFE ID without a path (<c>spiffe://example.org</c>).</summary>
    /// <param name="s">The text to parse.</param>
    /// <returns>The trust domain.</returns>
    /// <exception cref="FormatException">The text is not a valid trust domain; the message says which rule it breaks.</exception>
    public static TrustDomain Parse(string s)
    {
        ArgumentNullException.ThrowIfNull(s);
        return Parse(s.AsSpan());
    }

    /// <inheritdoc cref="Parse(string)"/>
    public static TrustDomain Parse(ReadOnlySpan<char> s) =>
        TryParse(s, out var result, out var error) ? result : throw new FormatException($"Trust domain '{Truncate(s)}' is invalid: {error}.");

    /// <summary>Tries to parse a trust domain.</summary>
    /// <param name="s">The text to parse.</param>
    /// <param name="result">The trust domain, when the text is valid.</param>
    /// <returns><see langword="true"/> when the text is a valid trust domain.</returns>
    public static bool TryParse([NotNullWhen(true)] string? s, out TrustDomain result) =>
        TryParse(s.AsSpan(), out result, out _);

    /// <inheritdoc cref="TryParse(string?, out TrustDomain)"/>
    public static bool TryParse(ReadOnlySpan<char> s, out TrustDomain result) =>
        TryParse(s, out result, out _);

    /// <summary>Tries to parse a trust domain and says why it is invalid.</summary>
    /// <param name="s">The text to parse.</param>
    /// <param name="result">The trust domain, when the text is valid.</param>
    /// <param name="error">The rule the text breaks, when it is invalid.</param>
    /// <returns><see langword="true"/> when the text is a valid trust domain.</returns>
    public static bool TryParse(ReadOnlySpan<char> s, out TrustDomain result, [NotNullWhen(false)] out string? error)
    {
        result = default;
        if (s.IsEmpty)
        {
            error = SpiffeIdRules.Empty;
            return false;
        }

        if (s.Contains("://", StringComparison.Ordinal))
        {
            if (!SpiffeId.TryParse(s, out var id, out error))
            {
                return false;
            }

            if (!id.IsTrustDomainId)
            {
                error = "a trust domain given as a SPIFFE ID cannot have a path";
                return false;
            }

            result = id.TrustDomain;
            return true;
        }

        error = SpiffeIdRules.ValidateTrustDomain(s);
        if (error is not null)
        {
            return false;
        }

        result = new TrustDomain(s.ToString());
        return true;
    }

    /// <summary>Creates a trust domain from a name that has already been validated.</summary>
    internal static TrustDomain FromValidated(string name) => new(name);

    /// <inheritdoc/>
    public bool Equals(TrustDomain other) => string.Equals(_name, other._name, StringComparison.Ordinal);

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is TrustDomain other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() => _name is null ? 0 : StringComparer.Ordinal.GetHashCode(_name);

    /// <summary>Returns the trust domain name.</summary>
    /// <returns>The name, for example <c>example.org</c>.</returns>
    public override string ToString() => Name;

    /// <summary>Compares two trust domains for equality.</summary>
    /// <param name="left">The first value.</param>
    /// <param name="right">The second value.</param>
    /// <returns><see langword="true"/> when they are equal.</returns>
    public static bool operator ==(TrustDomain left, TrustDomain right) => left.Equals(right);

    /// <summary>Compares two trust domains for inequality.</summary>
    /// <param name="left">The first value.</param>
    /// <param name="right">The second value.</param>
    /// <returns><see langword="true"/> when they differ.</returns>
    public static bool operator !=(TrustDomain left, TrustDomain right) => !left.Equals(right);

    internal static string Truncate(ReadOnlySpan<char> s) => DisplayText.Truncate(s);

    /// <inheritdoc/>
    static TrustDomain IParsable<TrustDomain>.Parse(string s, IFormatProvider? provider) => Parse(s);

    /// <inheritdoc/>
    static TrustDomain ISpanParsable<TrustDomain>.Parse(ReadOnlySpan<char> s, IFormatProvider? provider) => Parse(s);

    /// <inheritdoc/>
    static bool IParsable<TrustDomain>.TryParse([NotNullWhen(true)] string? s, IFormatProvider? provider, out TrustDomain result) => TryParse(s, out result);

    /// <inheritdoc/>
    static bool ISpanParsable<TrustDomain>.TryParse(ReadOnlySpan<char> s, IFormatProvider? provider, out TrustDomain result) => TryParse(s, out result);
}
