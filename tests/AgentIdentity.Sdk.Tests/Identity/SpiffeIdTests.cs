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
}
