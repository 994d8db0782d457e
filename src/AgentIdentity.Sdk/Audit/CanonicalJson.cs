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

/// <summary>
/// Writes RFC 8785 canonical JSON directly: the caller writes object members in canonical order, and the writer enforces it
/// (names must strictly increase by UTF-16 code units), so the output is canonical by construction.
/// </summary>
internal sealed class CanonicalJsonWriter
{
    /// <summary>The largest integer magnitude that an IEEE double holds exactly (I-JSON).</summary>
    public const long MaxSafeInteger = 9007199254740991;

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
    private static readonly SearchValues<char> MustEscape = SearchValues.Create(
        "\u0000\u0001\u0002\u0003\u0004\u0005\u0006\u0007\b\t\n\u000b\f\r\u000e\u000f\u0010\u0011\u0012\u0013\u0014\u0015\u0016\u0017\u0018\u0019\u001a\u001b\u001c\u001d\u001e\u001f\"\\");
    private readonly IBufferWriter<byte> _output;
    private readonly List<Frame> _frames = [];
    private bool _afterName;
    private bool _rootWritten;

    public CanonicalJsonWriter(IBufferWriter<byte> output) => _output = output;

    public void WriteStartObject()
    {
        BeforeValue();
        Put((byte)'{');
        _frames.Add(new Frame(isObject: true));
    }

    public void WriteEndObject()
    {
        if (_frames.Count == 0 || !_frames[^1].IsObject || _afterName)
        {
            throw new InvalidOperationException("No open object to end.");
        }

        _frames.RemoveAt(_frames.Count - 1);
        Put((byte)'}');
    }

    public void WriteStartArray()
    {
        BeforeValue();
        Put((byte)'[');
        _frames.Add(new Frame(isObject: false));
    }

    public void WriteEndArray()
    {
        if (_frames.Count == 0 || _frames[^1].IsObject)
        {
            throw new InvalidOperationException("No open array to end.");
        }

        _frames.RemoveAt(_frames.Count - 1);
        Put((byte)']');
    }

    public void WritePropertyName(string name)
    {
        if (_frames.Count == 0 || !_frames[^1].IsObject || _afterName)
        {
            throw new InvalidOperationException("A property name can only be written inside an object, before its value.");
        }

        var frame = _frames[^1];
        if (frame.LastName is not null)
        {
            var order = string.CompareOrdinal(frame.LastName, name);
            if (order >= 0)
            {
                throw new ArgumentException(order == 0
                    ? $"Duplicate member name '{name}'."
                    : $"Member '{name}' is out of canonical order (after '{frame.LastName}'); RFC 8785 sorts names by UTF-16 code units.", nameof(name));
            }

            Put((byte)',');
        }

        frame.LastName = name;
        _frames[^1] = frame;
        WriteStringLiteral(name);
        Put((byte)':');
        _afterName = true;
    }

    public void WriteStringValue(string value)
    {
        BeforeValue();
        WriteStringLiteral(value);
    }

    public void WriteNumberValue(long value)
    {
        if (value is > MaxSafeInteger or < -MaxSafeInteger)
        {
            throw new ArgumentOutOfRangeException(nameof(value), value, "Integers beyond ±(2^53 − 1) cannot be represented exactly in canonical JSON.");
        }

        BeforeValue();
        var span = _output.GetSpan(20);
        value.TryFormat(span, out var written, default, CultureInfo.InvariantCulture);
        _output.Advance(written);
    }

    public void WriteRawNumber(string canonical)
    {
        BeforeValue();
        PutAscii(canonical);
    }

    public void WriteBooleanValue(bool value)
    {
        BeforeValue();
        PutAscii(value ? "true" : "false");
    }

    public void WriteNullValue()
    {
        BeforeValue();
        PutAscii("null");
    }

    private void BeforeValue()
    {
        if (_frames.Count == 0)
        {
            if (_rootWritten)
            {
                throw new InvalidOperationException("A JSON text has exactly one root value.");
            }

            _rootWritten = true;
            return;
        }

        var frame = _frames[^1];
        if (frame.IsObject)
        {
            if (!_afterName)
            {
                throw new InvalidOperationException("An object member needs a name before its value.");
            }

            _afterName = false;
            return;
        }

        if (frame.HasItems)
        {
            Put((byte)',');
        }

        frame.HasItems = true;
        _frames[^1] = frame;
    }

    private void WriteStringLiteral(string value)
    {
        Put((byte)'"');
        var rest = value.AsSpan();
        while (true)
        {
            // Vectorized scan for the next character that needs an escape; everything before it is copied as UTF-8.
            var next = rest.IndexOfAny(MustEscape);
            if (next < 0)
            {
                PutUtf8(rest);
                break;
            }

            PutUtf8(rest[..next]);
            var c = rest[next];
            rest = rest[(next + 1)..];
            switch (c)
            {
                case '"': PutAscii("\\\""); break;
                case '\\': PutAscii("\\\\"); break;
                case '\b': PutAscii("\\b"); break;
                case '\t': PutAscii("\\t"); break;
                case '\n': PutAscii("\\n"); break;
                case '\f': PutAscii("\\f"); break;
                case '\r': PutAscii("\\r"); break;
                default:
                    var span = _output.GetSpan(6);
                    "\\u00"u8.CopyTo(span);
                    span[4] = HexLower(c >> 4);
                    span[5] = HexLower(c & 0xF);
                    _output.Advance(6);
                    break;
            }
        }

        Put((byte)'"');
    }

    private static byte HexLower(int nibble) => (byte)(nibble < 10 ? '0' + nibble : 'a' + nibble - 10);

    private void PutUtf8(ReadOnlySpan<char> text)
    {
        if (text.IsEmpty)
        {
            return;
        }

        var span = _output.GetSpan(text.Length * 3);
        int written;
        try
        {
            written = StrictUtf8.GetBytes(text, span);
        }
        catch (EncoderFallbackException ex)
        {
            throw new ArgumentException("The string is not valid Unicode (it contains a lone surrogate); canonical JSON requires valid UTF-8.", ex);
        }

        _output.Advance(written);
    }

    private void PutAscii(string text)
    {
        var span = _output.GetSpan(text.Length);
        for (var i = 0; i < text.Length; i++)
        {
            span[i] = (byte)text[i];
        }

        _output.Advance(text.Length);
    }

    private void Put(byte b)
    {
        var span = _output.GetSpan(1);
        span[0] = b;
        _output.Advance(1);
    }

    private struct Frame(bool isObject)
    {
        public readonly bool IsObject = isObject;
        public string? LastName;
        public bool HasItems;
    }
}
