using System.Buffers;
using System.Text;
using AgentIdentity.Audit;

namespace AgentIdentity.Tests.Audit;

public sealed class CanonicalJsonTests
{
    [Fact]
    public void Canonicalize_Rfc8785StringExample_UsesOnlyTheAllowedEscapes()
    {
        // RFC 8785 §3.2.2.2.
        var input = "{\"s\":\"\\u20ac$\\u000F\\u000aA'\\u0042\\u0022\\u005c\\\\\\\"\\/\"}";

        var output = Encoding.UTF8.GetString(CanonicalJson.Canonicalize(input));

        Assert.Equal("{\"s\":\"€$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"}", output);
    }

    [Fact]
    public void Canonicalize_Rfc8785SortingExample_SortsByUtf16CodeUnits()
    {
        // RFC 8785 §3.2.3: the emoji (a surrogate pair, D83D) sorts before U+FB33 although its code point is larger.
        var input = "{\"\\u20ac\":\"Euro Sign\",\"\\r\":\"Carriage Return\",\"\\ufb33\":\"Hebrew Letter Dalet With Dagesh\",\"1\":\"One\"," +
                    "\"\\ud83d\\ude00\":\"Emoji: Grinning Face\",\"\\u0080\":\"Control\",\"\\u00f6\":\"Latin Small Letter O With Diaeresis\"}";

        var output = Encoding.UTF8.GetString(CanonicalJson.Canonicalize(input));

        Assert.Equal(
            "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u0080\":\"Control\",\"ö\":\"Latin Small Letter O With Diaeresis\"," +
            "\"\u20ac\":\"Euro Sign\",\"\ud83d\ude00\":\"Emoji: Grinning Face\",\"\ufb33\":\"Hebrew Letter Dalet With Dagesh\"}",
            output);
    }

    [Fact]
    public void Canonicalize_Rfc8785MainExample_MatchesPublishedOutput()
    {
        // RFC 8785 §3.2.2.
        var input = """
            {
              "numbers": [333333333.33333329, 1E30, 4.50,
                          2e-3, 0.000000000000000000000000001],
              "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
              "literals": [null, true, false]
            }
            """;

        var output = Encoding.UTF8.GetString(CanonicalJson.Canonicalize(input));

        Assert.Equal(
            "{\"literals\":[null,true,false],\"numbers\":[333333333.3333333,1e+30,4.5,0.002,1e-27],\"string\":\"€$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"}",
            output);
    }

    [Theory]
    [InlineData(0x0000000000000000UL, "0")]
    [InlineData(0x8000000000000000UL, "0")]
    [InlineData(0x0000000000000001UL, "5e-324")]
    [InlineData(0x8000000000000001UL, "-5e-324")]
    [InlineData(0x7fefffffffffffffUL, "1.7976931348623157e+308")]
    [InlineData(0xffefffffffffffffUL, "-1.7976931348623157e+308")]
    [InlineData(0x4340000000000000UL, "9007199254740992")]
    [InlineData(0xc340000000000000UL, "-9007199254740992")]
    [InlineData(0x4430000000000000UL, "295147905179352830000")]
    [InlineData(0x44b52d02c7e14af5UL, "9.999999999999997e+22")]
    [InlineData(0x44b52d02c7e14af6UL, "1e+23")]
    [InlineData(0x44b52d02c7e14af7UL, "1.0000000000000001e+23")]
    [InlineData(0x444b1ae4d6e2ef4eUL, "999999999999999700000")]
    [InlineData(0x444b1ae4d6e2ef4fUL, "999999999999999900000")]
    [InlineData(0x444b1ae4d6e2ef50UL, "1e+21")]
    [InlineData(0x3eb0c6f7a0b5ed8cUL, "9.999999999999997e-7")]
    [InlineData(0x3eb0c6f7a0b5ed8dUL, "0.000001")]
    [InlineData(0x41b3de4355555553UL, "333333333.3333332")]
    [InlineData(0x41b3de4355555554UL, "333333333.33333325")]
    [InlineData(0x41b3de4355555555UL, "333333333.3333333")]
    [InlineData(0x41b3de4355555556UL, "333333333.3333334")]
    [InlineData(0x41b3de4355555557UL, "333333333.33333343")]
    [InlineData(0xbecbf647612f3696UL, "-0.0000033333333333333333")]
    [InlineData(0x43143ff3c1cb0959UL, "1424953923781206.2")]
    public void FormatNumber_Rfc8785AppendixB_MatchesEcmaScript(ulong bits, string expected)
    {
        Assert.Equal(expected, CanonicalJson.FormatNumber(BitConverter.UInt64BitsToDouble(bits)));
    }

    [Theory]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    public void FormatNumber_NotFinite_Throws(double value)
    {
        Assert.Throws<ArgumentException>(() => CanonicalJson.FormatNumber(value));
    }

    [Fact]
    public void Canonicalize_DuplicateMember_ThrowsFormatException()
    {
        var ex = Assert.Throws<FormatException>(() => CanonicalJson.Canonicalize("{\"a\":1,\"a\":2}"));
        Assert.Contains("Duplicate member name 'a'", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Canonicalize_LoneSurrogate_ThrowsFormatException()
    {
        var ex = Assert.Throws<FormatException>(() => CanonicalJson.Canonicalize("{\"a\":\"\\ud800\"}"));
        Assert.Contains("lone surrogate", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Canonicalize_InvalidJson_ThrowsFormatException()
    {
        var ex = Assert.Throws<FormatException>(() => CanonicalJson.Canonicalize("{\"a\":"));
        Assert.Contains("not valid JSON", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Canonicalize_NestedObjectsAndControlCharacters_SortsEveryLevel()
    {
        var output = Encoding.UTF8.GetString(CanonicalJson.Canonicalize("{\"b\":{\"z\":[1,{\"y\":\"\\u0001\\b\\t\\f\",\"x\":-0}],\"a\":true},\"a\":\"\"}"));

        Assert.Equal("{\"a\":\"\",\"b\":{\"a\":true,\"z\":[1,{\"x\":0,\"y\":\"\\u0001\\b\\t\\f\"}]}}", output);
    }

    [Fact]
    public void Writer_PropertyOutOfOrder_Throws()
    {
        var writer = new CanonicalJsonWriter(new ArrayBufferWriter<byte>());
        writer.WriteStartObject();
        writer.WritePropertyName("b");
        writer.WriteNullValue();

        var ex = Assert.Throws<ArgumentException>(() => writer.WritePropertyName("a"));
        Assert.Contains("out of canonical order", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Writer_UnsafeInteger_Throws()
    {
        var writer = new CanonicalJsonWriter(new ArrayBufferWriter<byte>());
        Assert.Throws<ArgumentOutOfRangeException>(() => writer.WriteNumberValue(CanonicalJsonWriter.MaxSafeInteger + 1));
    }

    [Fact]
    public void Writer_Output_IsAFixedPointOfCanonicalize()
    {
        var buffer = new ArrayBufferWriter<byte>();
        var writer = new CanonicalJsonWriter(buffer);
        writer.WriteStartObject();
        writer.WritePropertyName("a");
        writer.WriteStartArray();
        writer.WriteNumberValue(-42);
        writer.WriteBooleanValue(false);
        writer.WriteStringValue("\u2028 \"q\" \u007f");
        writer.WriteEndArray();
        writer.WritePropertyName("b");
        writer.WriteNumberValue(CanonicalJsonWriter.MaxSafeInteger);
        writer.WriteEndObject();

        Assert.Equal(buffer.WrittenSpan.ToArray(), CanonicalJson.Canonicalize(buffer.WrittenSpan));
    }
}
