namespace AgentIdentity.Tests.Authorization;

public sealed class PeerAuthorizersTests
{
    private static readonly SpiffeId Erp = SpiffeId.Parse("spiffe://example.org/svc/erp");

    [Fact]
    public void Any_AnyPeer_Allows() => Assert.True(PeerAuthorizers.Any()(Erp, []).IsAllowed);

    [Fact]
    public void Id_SameId_AllowsAndOtherIdDeniesWithReason()
    {
        var authorizer = PeerAuthorizers.Id(Erp);

        Assert.True(authorizer(Erp, []).IsAllowed);
        var denied = authorizer(SpiffeId.Parse("spiffe://example.org/svc/crm"), []);
        Assert.False(denied.IsAllowed);
        Assert.Equal("peer 'spiffe://example.org/svc/crm' is not the expected 'spiffe://example.org/svc/erp'", denied.Reason);
    }

    [Fact]
    public void OneOf_MemberOfSet_AllowsOnlyThose()
    {
        var authorizer = PeerAuthorizers.OneOf(Erp, SpiffeId.Parse("spiffe://example.org/svc/crm"));

        Assert.True(authorizer(SpiffeId.Parse("spiffe://example.org/svc/crm"), []).IsAllowed);
        Assert.False(authorizer(SpiffeId.Parse("spiffe://example.org/svc/hr"), []).IsAllowed);
    }

    [Fact]
    public void OneOf_Empty_Throws() => Assert.Throws<ArgumentException>(() => PeerAuthorizers.OneOf());

    [Fact]
    public void MemberOf_OtherTrustDomain_Denies()
    {
        var authorizer = PeerAuthorizers.MemberOf(TrustDomain.Parse("example.org"));

        Assert.True(authorizer(Erp, []).IsAllowed);
        Assert.Contains("not a member of trust domain 'example.org'", authorizer(SpiffeId.Parse("spiffe://evil.example/svc/erp"), []).Reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("spiffe://example.org/svc/*", "spiffe://example.org/svc/erp", true)]
    [InlineData("spiffe://example.org/svc/*", "spiffe://example.org/svc/erp/eu", true)]
    [InlineData("spiffe://example.org/svc/*", "spiffe://example.org/svc", false)]
    [InlineData("spiffe://example.org/svc/*", "spiffe://example.org/svcx/erp", false)]
    [InlineData("spiffe://example.org/svc/*", "spiffe://other.org/svc/erp", false)]
    [InlineData("spiffe://example.org/svc/erp", "spiffe://example.org/svc/erp", true)]
    [InlineData("spiffe://example.org/svc/erp", "spiffe://example.org/svc/erp/eu", false)]
    public void Pattern_Peer_MatchesExactOrTrailingWildcard(string pattern, string peer, bool allowed) =>
        Assert.Equal(allowed, PeerAuthorizers.Pattern(pattern)(SpiffeId.Parse(peer), []).IsAllowed);

    [Theory]
    [InlineData("https://example.org/svc")]
    [InlineData("spiffe://example.org/svc/*/x")]
    [InlineData("spiffe://Example.org/svc")]
    public void Pattern_Invalid_ThrowsFormatExceptionNamingPattern(string pattern)
    {
        var ex = Assert.Throws<FormatException>(() => PeerAuthorizers.Pattern(pattern));
        Assert.Contains($"'{pattern}'", ex.Message, StringComparison.Ordinal);
    }
}
