namespace AgentIdentity.Tests.Authorization;

public sealed class AuthorizationDecisionTests
{
    [Fact]
    public void Allowed_HasNoReason() =>
        Assert.Equal(new AuthorizationDecision(true, null), AuthorizationDecision.Allowed);

    [Fact]
    public void Denied_CarriesTheReason()
    {
        var denied = AuthorizationDecision.Denied("invoice 13 is under legal hold");

        Assert.False(denied.IsAllowed);
        Assert.Equal("invoice 13 is under legal hold", denied.Reason);
    }

    [Theory]
    [InlineData("")]
    [InlineData("  ")]
    public void Denied_WithoutReason_Throws(string reason) =>
        Assert.Throws<ArgumentException>(() => AuthorizationDecision.Denied(reason));
}
