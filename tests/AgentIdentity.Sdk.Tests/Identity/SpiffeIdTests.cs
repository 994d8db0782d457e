namespace AgentIdentity.Tests.Identity;

public sealed class SpiffeIdTests
{
    [Theory]
    [InlineData("spiffe://example.org", "example.org", "")]
    [InlineData("spiffe://example.org/ns/prod/sa/agent-7", "example.org", "/ns/prod/sa/agent-7")]
    [InlineData("spiffe://trust_domain.example.com/a.b/c-d/E_F", "trust_domain.example.com", "/a.b/c-d/E_F")]
    [InlineData("spiffe://192.168.1.1/x", "192.168.1.1", "/x")]
    [InlineData("spiffe://td/.path", "td", "/.path")]
    [InlineData("spiffe://td/..path", "td", "/..path")]
    [InlineData("spiffe://td/...", "td", "/...")]
    [InlineData("spiffe://example.com/9eebccd2-12bf-40a6-b262-65fe0487d453", "example.com", "/9eebccd2-12bf-40a6-b262-65fe0487d453")]
    public void Parse_ValidId_SplitsTrustDomainAndPath(string input, string trustDomain, string path)
    {
        var id = SpiffeId.Parse(input);

        Assert.Equal(input, id.ToString());
        Assert.Equal(trustDomain, id.TrustDomain.Name);
        Assert.Equal(path, id.Path);
        Assert.Equal(path.Length == 0, id.IsTrustDomainId);
    }

    [Theory]
    [InlineData("", "cannot be empty")]
    [InlineData("s", "scheme is missing or invalid")]
    [InlineData("spiffe:/td", "scheme is missing or invalid")]
    [InlineData("Spiffe://td/a", "scheme is missing or invalid")]
    [InlineData("SPIFFE://td", "scheme is missing or invalid")]
    [InlineData("http://td/a", "scheme is missing or invalid")]
    [InlineData("spiffe://", "trust domain is missing")]
    [InlineData("spiffe:///a", "trust domain is missing")]
    [InlineData("spiffe://Example.org/a", "trust domain characters are limited")]
    [InlineData("spiffe://td:8080/a", "trust domain characters are limited")]
    [InlineData("spiffe://user@td/a", "trust domain characters are limited")]
    [InlineData("spiffe://[::1]/a", "trust domain characters are limited")]
    [InlineData("spiffe://t$d/a", "trust domain characters are limited")]
    [InlineData("spiffe://td/a?x=1", "path segment characters are limited")]
    [InlineData("spiffe://td/a#f", "path segment characters are limited")]
    [InlineData("spiffe://td/%41", "path segment characters are limited")]
    [InlineData("spiffe://%62%61%64/path", "trust domain characters are limited")]
    [InlineData("spiffe://td/", "path cannot have a trailing slash")]
    [InlineData("spiffe://td/a/", "path cannot have a trailing slash")]
    [InlineData("spiffe://td//a", "path cannot contain empty segments")]
    [InlineData("spiffe://td/a//b", "path cannot contain empty segments")]
    [InlineData("spiffe://td/.", "path cannot contain dot segments")]
    [InlineData("spiffe://td/./a", "path cannot contain dot segments")]
    [InlineData("spiffe://td/a/../b", "path cannot contain dot segments")]
    [InlineData("spiffe://td/..", "path cannot contain dot segments")]
    [InlineData("spiffe://td/a!b", "path segment characters are limited")]
    [InlineData("spiffe://td/a b", "path segment characters are limited")]
    [InlineData("spiffe://td/ünï", "path segment characters are limited")]
    public void Parse_InvalidId_ThrowsFormatExceptionNamingTheRule(string input, string rule)
    {
        Assert.False(SpiffeId.TryParse(input, out _, out var error));
        Assert.Contains(rule, error, StringComparison.Ordinal);

        var ex = Assert.Throws<FormatException>(() => SpiffeId.Parse(input));
        Assert.Contains(rule, ex.Message, StringComparison.Ordinal);
        Assert.Contains("is invalid", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TryParse_EveryByteOutsideTheAllowedSets_IsRejectedInTrustDomainAndPath()
    {
        for (var c = 0; c <= 0xFF; c++)
        {
            var ch = (char)c;
            if (ch == '/')
            {
                continue;
            }

            var tdAllowed = ch is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '.' or '-' or '_';
            var pathAllowed = tdAllowed || ch is >= 'A' and <= 'Z';
            Assert.Equal(tdAllowed, SpiffeId.TryParse($"spiffe://t{ch}d/path", out _));
            Assert.Equal(pathAllowed, SpiffeId.TryParse($"spiffe://td/pa{ch}th", out _));
        }
    }

    [Fact]
    public void Parse_LengthLimits_AcceptsExactly2048BytesAnd255ByteTrustDomain()
    {
        var prefix = "spiffe://td/";
        var exact = prefix + new string('a', 2048 - prefix.Length);
        Assert.Equal(2048, SpiffeId.Parse(exact).ToString().Length);

        Assert.False(SpiffeId.TryParse(exact + "a", out _, out var error));
        Assert.Contains("2048", error, StringComparison.Ordinal);

        var td255 = new string('t', 255);
        Assert.Equal(td255, SpiffeId.Parse($"spiffe://{td255}/x").TrustDomain.Name);
        Assert.False(SpiffeId.TryParse($"spiffe://{td255}t/x", out _, out error));
        Assert.Contains("255", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Equality_IsOrdinalAndCaseSensitiveInPath()
    {
        var a = SpiffeId.Parse("spiffe://td/Agent");
        Assert.Equal(a, SpiffeId.Parse("spiffe://td/Agent"));
        Assert.NotEqual(a, SpiffeId.Parse("spiffe://td/agent"));
        Assert.True(a == SpiffeId.Parse("spiffe://td/Agent"));
        Assert.Equal(a.GetHashCode(), SpiffeId.Parse("spiffe://td/Agent").GetHashCode());
        Assert.NotEqual(default, a);
    }

    [Fact]
    public void IsMemberOf_ComparesTrustDomainExactly()
    {
        var id = SpiffeId.Parse("spiffe://example.org/agent/a/1");
        Assert.True(id.IsMemberOf(TrustDomain.Parse("example.org")));
        Assert.False(id.IsMemberOf(TrustDomain.Parse("example.or")));
        Assert.False(id.IsMemberOf(TrustDomain.Parse("xexample.org")));
        Assert.False(id.IsMemberOf(default));
    }

    [Fact]
    public void IsAncestorOf_RespectsSegmentBoundaries()
    {
        var parent = SpiffeId.Parse("spiffe://td/agent/a");
        Assert.True(parent.IsAncestorOf(SpiffeId.Parse("spiffe://td/agent/a/1")));
        Assert.False(parent.IsAncestorOf(SpiffeId.Parse("spiffe://td/agent/ab")));
        Assert.False(parent.IsAncestorOf(parent));
        Assert.True(TrustDomain.Parse("td").Id.IsAncestorOf(parent));
    }

    [Fact]
    public void Append_ValidatesEachSegment()
    {
        var id = SpiffeId.Parse("spiffe://td/agent");
        Assert.Equal("spiffe://td/agent/x/y", id.Append("x", "y").ToString());
        Assert.Contains("dot segments", Assert.Throws<FormatException>(() => id.Append("..")).Message, StringComparison.Ordinal);
        Assert.Contains("empty segments", Assert.Throws<FormatException>(() => id.Append("")).Message, StringComparison.Ordinal);
        Assert.Contains("limited", Assert.Throws<FormatException>(() => id.Append("a/b")).Message, StringComparison.Ordinal);
        Assert.Throws<InvalidOperationException>(() => default(SpiffeId).Append("x"));
    }

    [Fact]
    public void NewAgentInstance_HasAgentShapeAndRandomUnguessableInstance()
    {
        var td = TrustDomain.Parse("example.org");
        var ids = Enumerable.Range(0, 1000).Select(_ => SpiffeId.NewAgentInstance(td, "planner")).ToList();

        Assert.Equal(1000, ids.Distinct().Count());
        foreach (var id in ids)
        {
            Assert.True(id.TryGetAgent(out var name, out var instance));
            Assert.Equal("planner", name);
            Assert.Equal(26, instance.Length); // 128 bits in base32
            Assert.Matches("^[a-z2-7]{26}$", instance);
            Assert.StartsWith("spiffe://example.org/agent/planner/", id.ToString(), StringComparison.Ordinal);
        }

        // Every base32 position varies: the id is not a counter or a timestamp.
        for (var i = 0; i < 25; i++)
        {
            Assert.True(ids.Select(id => id.GetSegments()[2][i]).Distinct().Count() > 8, $"position {i} barely varies");
        }
    }

    [Fact]
    public void TryGetAgent_NonAgentPath_ReturnsFalse()
    {
        Assert.False(SpiffeId.Parse("spiffe://td/svc/erp").TryGetAgent(out _, out _));
        Assert.False(SpiffeId.Parse("spiffe://td/agent/only-name").TryGetAgent(out _, out _));
        Assert.False(SpiffeId.Parse("spiffe://td").TryGetAgent(out _, out _));
        Assert.Throws<FormatException>(() => SpiffeId.ForAgent(TrustDomain.Parse("td"), "bad name", "1"));
    }

    [Fact]
    public void ISpanParsable_RoundTripsThroughGenericParsing()
    {
        Assert.Equal(SpiffeId.Parse("spiffe://td/a"), ParseGeneric<SpiffeId>("spiffe://td/a"));
        Assert.Equal(TrustDomain.Parse("td"), ParseGeneric<TrustDomain>("spiffe://td"));

        static T ParseGeneric<T>(string s) where T : ISpanParsable<T> => T.Parse(s.AsSpan(), null);
    }
}

public sealed class TrustDomainTests
{
    [Theory]
    [InlineData("example.org", "example.org")]
    [InlineData("spiffe://example.org", "example.org")]
    [InlineData("a_b-c.d", "a_b-c.d")]
    public void Parse_BareNameOrId_ReturnsName(string input, string name) =>
        Assert.Equal(name, TrustDomain.Parse(input).Name);

    [Theory]
    [InlineData("", "cannot be empty")]
    [InlineData("Example.org", "trust domain characters are limited")]
    [InlineData("spiffe://example.org/path", "cannot have a path")]
    [InlineData("https://example.org", "scheme is missing or invalid")]
    [InlineData("exa mple", "trust domain characters are limited")]
    public void Parse_Invalid_ThrowsWithRule(string input, string rule)
    {
        var ex = Assert.Throws<FormatException>(() => TrustDomain.Parse(input));
        Assert.Contains(rule, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Id_IsTheTrustDomainSpiffeId()
    {
        var td = TrustDomain.Parse("example.org");
        Assert.Equal("spiffe://example.org", td.Id.ToString());
        Assert.True(td.Id.IsTrustDomainId);
        Assert.True(default(TrustDomain).IsEmpty);
    }
}
