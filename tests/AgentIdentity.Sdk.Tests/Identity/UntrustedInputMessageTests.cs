namespace AgentIdentity.Tests.Identity;

/// <summary>Error messages quote untrusted input through <see cref="DisplayText"/>: control characters arrive escaped, so a
/// logged exception cannot forge a second log line (issue 18, defect 15).</summary>
public sealed class UntrustedInputMessageTests
{
    [Theory]
    [InlineData("spiffe://example.org/a\0b", @"spiffe://example.org/a\x00b")]
    [InlineData("spiffe://example.org/a\r\nlevel=info msg=forged", @"spiffe://example.org/a\x0D\x0Alevel=info msg=forged")]
    [InlineData("spiffe://exa\u2028mple.org/x", @"spiffe://exa\u2028mple.org/x")]
    public void SpiffeIdParse_ControlCharacters_AppearEscapedInTheMessage(string input, string quoted)
    {
        var ex = Assert.Throws<FormatException>(() => SpiffeId.Parse(input));

        Assert.Contains($"'{quoted}'", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(ex.Message, c => c is '\0' or '\r' or '\n' or '\u2028');
    }

    [Fact]
    public void TrustDomainParse_ControlCharacters_AppearEscapedInTheMessage()
    {
        var ex = Assert.Throws<FormatException>(() => TrustDomain.Parse("td\n2026-01-01 ERROR forged"));
        Assert.Contains(@"'td\x0A2026-01-01 ERROR forged'", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', ex.Message);
    }

    [Fact]
    public void PolicyPattern_ControlCharacters_AppearEscapedInTheMessage()
    {
        var ex = Assert.Throws<ArgumentException>(() => new AgentPolicy(actions: ["read\r\nwrite"]));
        Assert.Contains(@"read\x0D\x0Awrite", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(ex.Message, c => c is '\r' or '\n');
    }

    [Theory]
    [InlineData("plain text, 'quotes' and \\ backslashes", "plain text, 'quotes' and \\ backslashes")]
    [InlineData("\u0001\u001f\u007f\u0085\u009f", @"\x01\x1F\x7F\x85\x9F")]
    [InlineData("bidi \u202Eevil\u2066", @"bidi \u202Eevil\u2066")]
    [InlineData("bom \uFEFF, é and 日本 stay", @"bom \uFEFF, é and 日本 stay")]
    public void Escape_NonPrintables_AreWrittenAsEscapes(string input, string expected) =>
        Assert.Equal(expected, DisplayText.Escape(input));

    [Fact]
    public void Truncate_LongInput_IsCutThenEscaped()
    {
        var quoted = DisplayText.Truncate(new string('\n', 150));
        Assert.Equal(string.Concat(Enumerable.Repeat(@"\x0A", 100)) + "…", quoted);
    }
}
