using System.ComponentModel;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace AgentIdentity;

/// <summary>Serializes a <see cref="SpiffeId"/> as its string form (<c>"spiffe://td/path"</c>), also as a dictionary key.</summary>
/// <remarks>A malformed value fails with a <see cref="JsonException"/> that says which rule it breaks; the empty (default) ID is
/// written as <see langword="null"/> and read back from <see langword="null"/>.</remarks>
public sealed class SpiffeIdJsonConverter : JsonConverter<SpiffeId>
{
    /// <inheritdoc/>
    public override bool HandleNull => true;

    /// <inheritdoc/>
    public override SpiffeId Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        StringFormJson.Read(ref reader, Parse, "A SPIFFE ID", "\"spiffe://example.org/agent/planner\"");

    /// <inheritdoc/>
    public override void Write(Utf8JsonWriter writer, SpiffeId value, JsonSerializerOptions options)
    {
        StringFormJson.Write(writer, value.IsEmpty ? null : value.ToString());
    }

    /// <inheritdoc/>
    public override SpiffeId ReadAsPropertyName(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => Parse(reader.GetString());

    /// <inheritdoc/>
    public override void WriteAsPropertyName(Utf8JsonWriter writer, SpiffeId value, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WritePropertyName(value.IsEmpty ? throw new JsonException("The empty SPIFFE ID cannot be a property name.") : value.ToString());
    }

    private static SpiffeId Parse(string? value) =>
        SpiffeId.TryParse(value, out var id, out var error) ? id : throw new JsonException($"Invalid SPIFFE ID '{DisplayText.Truncate(value ?? string.Empty)}': {error}.");
}

/// <summary>Serializes a <see cref="TrustDomain"/> as its name (<c>"example.org"</c>), also as a dictionary key.</summary>
/// <remarks>A malformed name fails with a <see cref="JsonException"/> that says which rule it breaks; the empty (default) trust
/// domain is written as <see langword="null"/> and read back from <see langword="null"/>.</remarks>
public sealed class TrustDomainJsonConverter : JsonConverter<TrustDomain>
{
    /// <inheritdoc/>
    public override bool HandleNull => true;

    /// <inheritdoc/>
    public override TrustDomain Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        StringFormJson.Read(ref reader, Parse, "A trust domain", "\"example.org\"");

    /// <inheritdoc/>
    public override void Write(Utf8JsonWriter writer, TrustDomain value, JsonSerializerOptions options)
    {
        StringFormJson.Write(writer, value.IsEmpty ? null : value.Name);
    }

    /// <inheritdoc/>
    public override TrustDomain ReadAsPropertyName(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => Parse(reader.GetString());

    /// <inheritdoc/>
    public override void WriteAsPropertyName(Utf8JsonWriter writer, TrustDomain value, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WritePropertyName(value.IsEmpty ? throw new JsonException("The empty trust domain cannot be a property name.") : value.Name);
    }

    private static TrustDomain Parse(string? value) =>
        TrustDomain.TryParse((value ?? string.Empty).AsSpan(), out var trustDomain, out var error) ? trustDomain : throw new JsonException($"Invalid trust domain '{DisplayText.Truncate(value ?? string.Empty)}': {error}.");
}

/// <summary>Converts a <see cref="SpiffeId"/> from and to its string form, for configuration binding and ASP.NET Core parameters.</summary>
internal sealed class SpiffeIdTypeConverter : TypeConverter
{
    /// <inheritdoc/>
    public override bool CanConvertFrom(ITypeDescriptorContext? context, Type sourceType) => sourceType == typeof(string) || base.CanConvertFrom(context, sourceType);

    /// <inheritdoc/>
    public override bool CanConvertTo(ITypeDescriptorContext? context, Type? destinationType) => destinationType == typeof(string) || base.CanConvertTo(context, destinationType);

    /// <inheritdoc/>
    /// <exception cref="FormatException">The string is not a valid SPIFFE ID; the message says which rule it breaks.</exception>
    public override object? ConvertFrom(ITypeDescriptorContext? context, CultureInfo? culture, object value) =>
        value is string s ? SpiffeId.Parse(s) : base.ConvertFrom(context, culture, value);

    /// <inheritdoc/>
    public override object? ConvertTo(ITypeDescriptorContext? context, CultureInfo? culture, object? value, Type destinationType) =>
        destinationType == typeof(string) && value is SpiffeId id ? id.ToString() : base.ConvertTo(context, culture, value, destinationType);
}

/// <summary>Converts a <see cref="TrustDomain"/> from and to its name, for configuration binding and ASP.NET Core parameters.</summary>
internal sealed class TrustDomainTypeConverter : TypeConverter
{
    /// <inheritdoc/>
    public override bool CanConvertFrom(ITypeDescriptorContext? context, Type sourceType) => sourceType == typeof(string) || base.CanConvertFrom(context, sourceType);

    /// <inheritdoc/>
    public override bool CanConvertTo(ITypeDescriptorContext? context, Type? destinationType) => destinationType == typeof(string) || base.CanConvertTo(context, destinationType);

    /// <inheritdoc/>
    /// <exception cref="FormatException">The string is not a valid trust domain; the message says which rule it breaks.</exception>
    public override object? ConvertFrom(ITypeDescriptorContext? context, CultureInfo? culture, object value) =>
        value is string s ? TrustDomain.Parse(s) : base.ConvertFrom(context, culture, value);

    /// <inheritdoc/>
    public override object? ConvertTo(ITypeDescriptorContext? context, CultureInfo? culture, object? value, Type destinationType) =>
        destinationType == typeof(string) && value is TrustDomain td ? td.Name : base.ConvertTo(context, culture, value, destinationType);
}

/// <summary>The string form both identity converters share: a JSON string, or <see langword="null"/> for the empty value.</summary>
internal static class StringFormJson
{
    public static T Read<T>(ref Utf8JsonReader reader, Func<string?, T> parse, string what, string example)
        where T : struct => reader.TokenType switch
        {
            JsonTokenType.Null => default,
            JsonTokenType.String => parse(reader.GetString()),
            _ => throw new JsonException($"{what} must be a JSON string such as {example}, not a {reader.TokenType}."),
        };

    public static void Write(Utf8JsonWriter writer, string? value)
    {
        ArgumentNullException.ThrowIfNull(writer);
        if (value is null)
        {
            writer.WriteNullValue();
        }
        else
        {
            writer.WriteStringValue(value);
        }
    }
}
