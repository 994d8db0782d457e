using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace AgentIdentity.Audit;

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
