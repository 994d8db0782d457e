using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace AgentIdentity.Audit;

/// <summary>
/// RFC 8785 JSON Canonicalization Scheme (JCS): the byte-exact form that audit leaves are hashed in.
/// </summary>
/// <remarks>
/// Strings are written as UTF-8 with only the escapes RFC 8785 §3.2.2.2 allows (<c>\"</c>, <c>\\</c>, <c>\b</c>, <c>\t</c>,
/// <c>\n</c>, <c>\f</c>, <c>\r</c> and lowercase <c>\u00xx</c> for other control characters); object members are sorted by
/// their names' UTF-16 code units; numbers use the ECMAScript <c>Number.prototype.toString</c> form. Lone surrogates,
/// duplicate member names, NaN and infinities are rejected. Thread-safe (stateless).
/// </remarks>
public static class CanonicalJson
{
    /// <summary>Canonicalizes a JSON document.</summary>
    /// <param name="utf8Json">The document, as UTF-8.</param>
    /// <returns>The canonical UTF-8 bytes.</returns>
    /// <exception cref="FormatException">The input is not valid I-JSON (invalid JSON, duplicate member names, lone surrogates).</exception>
    public static byte[] Canonicalize(ReadOnlySpan<byte> utf8Json)
    {
        JsonDocument document;
        try
        {
            var reader = new Utf8JsonReader(utf8Json, new JsonReaderOptions { MaxDepth = 64 });
            document = JsonDocument.ParseValue(ref reader);
        }
        catch (JsonException ex)
        {
            throw new FormatException($"The input is not valid JSON: {ex.Message}", ex);
        }

        using (document)
        {
            var output = new ArrayBufferWriter<byte>();
            var writer = new CanonicalJsonWriter(output);
            try
            {
                WriteElement(writer, document.RootElement);
            }
            catch (ArgumentException ex)
            {
                throw new FormatException($"The input cannot be canonicalized: {ex.Message}", ex);
            }
            catch (InvalidOperationException ex)
            {
                throw new FormatException("The input cannot be canonicalized: a string is not valid Unicode (it contains a lone surrogate escape such as \\ud800); canonical JSON requires valid UTF-8.", ex);
            }

            return output.WrittenSpan.ToArray();
        }
    }

    /// <summary>Canonicalizes a JSON document given as a string.</summary>
    /// <param name="json">The document.</param>
    /// <returns>The canonical UTF-8 bytes.</returns>
    /// <exception cref="FormatException">The input is not valid I-JSON.</exception>
    public static byte[] Canonicalize(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        return Canonicalize(Encoding.UTF8.GetBytes(json));
    }

    /// <summary>Formats a double as ECMAScript's <c>Number.prototype.toString</c> does (RFC 8785 §3.2.2.3).</summary>
    /// <param name="value">The value.</param>
    /// <returns>The canonical number text.</returns>
    /// <exception cref="ArgumentException"><paramref name="value"/> is NaN or infinite; JSON cannot express it.</exception>
    public static string FormatNumber(double value)
    {
        if (double.IsNaN(value) || double.IsInfinity(value))
        {
            throw new ArgumentException($"The number {value} cannot be represented in JSON.", nameof(value));
        }

        if (value == 0)
        {
            return "0"; // Both +0 and -0.
        }

        var sb = new StringBuilder(32);
        if (value < 0)
        {
            sb.Append('-');
            value = -value;
        }

        // "R" gives the shortest digits that round-trip; re-lay them out by the ECMAScript rules.
        var r = value.ToString("R", CultureInfo.InvariantCulture);
        var e = r.IndexOfAny(['E', 'e']);
        var mantissa = e < 0 ? r : r[..e];
        var exponent = e < 0 ? 0 : int.Parse(r.AsSpan(e + 1), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
        var point = mantissa.IndexOf('.', StringComparison.Ordinal);
        var digits = point < 0 ? mantissa : string.Concat(mantissa.AsSpan(0, point), mantissa.AsSpan(point + 1));
        var pointPosition = point < 0 ? mantissa.Length : point;
        var leading = 0;
        while (leading < digits.Length - 1 && digits[leading] == '0')
        {
            leading++;
        }

        digits = digits[leading..].TrimEnd('0');
        pointPosition -= leading;
        var k = digits.Length;
        var n = pointPosition + exponent; // value = 0.digits × 10^n

        if (k <= n && n <= 21)
        {
            sb.Append(digits).Append('0', n - k);
        }
        else if (0 < n && n <= 21)
        {
            sb.Append(digits, 0, n).Append('.').Append(digits, n, k - n);
        }
        else if (-6 < n && n <= 0)
        {
            sb.Append("0.").Append('0', -n).Append(digits);
        }
        else
        {
            var exp = n - 1;
            sb.Append(digits[0]);
            if (k > 1)
            {
                sb.Append('.').Append(digits, 1, k - 1);
            }

            sb.Append('e').Append(exp < 0 ? '-' : '+').Append(Math.Abs(exp).ToString(CultureInfo.InvariantCulture));
        }

        return sb.ToString();
    }

    private static void WriteElement(CanonicalJsonWriter writer, JsonElement element)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                var members = new List<(string Name, JsonElement Value)>();
                foreach (var property in element.EnumerateObject())
                {
                    members.Add((property.Name, property.Value));
                }

                members.Sort(static (a, b) => string.CompareOrdinal(a.Name, b.Name));
                writer.WriteStartObject();
                foreach (var (name, value) in members)
                {
                    writer.WritePropertyName(name); // Rejects duplicates: names must strictly increase.
                    WriteElement(writer, value);
                }

                writer.WriteEndObject();
                break;
            case JsonValueKind.Array:
                writer.WriteStartArray();
                foreach (var item in element.EnumerateArray())
                {
                    WriteElement(writer, item);
                }

                writer.WriteEndArray();
                break;
            case JsonValueKind.String:
                writer.WriteStringValue(element.GetString()!);
                break;
            case JsonValueKind.Number:
                writer.WriteRawNumber(FormatNumber(element.GetDouble()));
                break;
            case JsonValueKind.True:
                writer.WriteBooleanValue(true);
                break;
            case JsonValueKind.False:
                writer.WriteBooleanValue(false);
                break;
            default:
                writer.WriteNullValue();
                break;
        }
    }
}

