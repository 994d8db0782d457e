namespace AgentIdentity.Tests.Authorization;

/// <summary>The one SPIFFE-ID matcher that policies, peer authorizers and ASP.NET Core requirements share.</summary>
public sealed class SpiffeIdMatchersTests
{
    private static readonly SpiffeId Erp = SpiffeId.Parse("spiffe://example.org/svc/erp");

    [Theory]
    [InlineData("spiffe://example.org/svc/erp", "spiffe://example.org/svc/erp", true)]
    [InlineData("spiffe://example.org/svc/erp", "spiffe://example.org/svc/erp/eu", false)]
    [InlineData("spiffe://example.org/svc/erp", "spiffe://example.org/svc", false)]
    [InlineData("spiffe://example.org/svc/*", "spiffe://example.org/svc/erp", true)]
    [InlineData("spiffe://example.org/svc/*", "spiffe://example.org/svc/erp/eu", true)]
    [InlineData("spiffe://example.org/svc/*", "spiffe://example.org/svc", false)] // not the prefix itself
    [InlineData("spiffe://example.org/svc/*", "spiffe://example.org/svcx/erp", false)] // only on a segment boundary
    [InlineData("spiffe://example.org/svc/*", "spiffe://other.org/svc/erp", false)]
    [InlineData("spiffe://example.org/*", "spiffe://example.org/any/path", true)]
    [InlineData("spiffe://example.org/*", "spiffe://example.org", false)]
    [InlineData("spiffe://example.org/*", "spiffe://example.org.evil/svc", false)]
    public void PatternMatches_ExactOrStrictDescendant(string pattern, string id, bool expected)
    {
        Assert.True(SpiffeIdMatchers.TryParsePattern(pattern, out _, out _, out var error), error);

        Assert.Equal(expected, SpiffeIdMatchers.PatternMatches(pattern, id));
        Assert.Equal(expected, SpiffeIdMatchers.Pattern(pattern)(SpiffeId.Parse(id)));
    }

    [Theory]
    [InlineData("spiffe://example.org/svc/*", "spiffe://example.org/svc", true)]
    [InlineData("spiffe://example.org/svc/erp", "spiffe://example.org/svc/erp", false)]
    [InlineData("spiffe://example.org/*", "spiffe://example.org", true)]
    public void TryParsePattern_Valid_ReturnsTheIdAndWhetherSubtree(string pattern, string id, bool subtree)
    {
        Assert.True(SpiffeIdMatchers.TryParsePattern(pattern, out var parsed, out var isSubtree, out _));
        Assert.Equal(SpiffeId.Parse(id), parsed);
        Assert.Equal(subtree, isSubtree);
    }

    [Theory]
    [InlineData("example.org/svc/*")]
    [InlineData("spiffe://Example.org/svc")]
    [InlineData("spiffe://example.org/svc/**")]
    [InlineData("spiffe://example.org/svc/*/x")]
    [InlineData("spiffe://example.org/svc/")]
    [InlineData("")]
    public void TryParsePattern_Invalid_SaysWhy(string pattern)
    {
        Assert.False(SpiffeIdMatchers.TryParsePattern(pattern, out _, out _, out var error));
        Assert.False(string.IsNullOrEmpty(error));
    }

    [Fact]
    public void Id_MatchesOnlyThatId()
    {
        var matcher = SpiffeIdMatchers.Id(Erp);

        Assert.True(matcher(Erp));
        Assert.False(matcher(SpiffeId.Parse("spiffe://example.org/svc/erp/eu")));
        Assert.False(matcher(SpiffeId.Parse("spiffe://example.org/svc")));
    }

    [Fact]
    public void OneOf_MatchesMembersOfTheSet()
    {
        var matcher = SpiffeIdMatchers.OneOf(new HashSet<SpiffeId> { Erp, SpiffeId.Parse("spiffe://example.org/svc/crm") });

        Assert.True(matcher(SpiffeId.Parse("spiffe://example.org/svc/crm")));
        Assert.False(matcher(SpiffeId.Parse("spiffe://example.org/svc/hr")));
    }

    [Fact]
    public void MemberOf_MatchesTheTrustDomainOnly()
    {
        var matcher = SpiffeIdMatchers.MemberOf(TrustDomain.Parse("example.org"));

        Assert.True(matcher(Erp));
        Assert.True(matcher(SpiffeId.Parse("spiffe://example.org")));
        Assert.False(matcher(SpiffeId.Parse("spiffe://example.org.evil/svc/erp")));
    }

    [Fact]
    public void AnyOf_MatchesWhenOneMatcherDoes()
    {
        var matcher = SpiffeIdMatchers.AnyOf([SpiffeIdMatchers.Id(Erp), SpiffeIdMatchers.Pattern("spiffe://example.org/agent/*")]);

        Assert.True(matcher(Erp));
        Assert.True(matcher(SpiffeId.Parse("spiffe://example.org/agent/planner/1")));
        Assert.False(matcher(SpiffeId.Parse("spiffe://example.org/svc/crm")));
    }
}
