using System.Text.Json;

namespace AgentIdentity.Tests.Policy;

public sealed class ActorClaimTests
{
    [Fact]
    public void FromDelegation_TaskOfTask_NestsCurrentFirstRootLast()
    {
        var policy = AgentPolicy.Empty;
        var chain = new DelegationChain(
        [
            new DelegationLink(SpiffeId.Parse("spiffe://td/agent/planner/1"), new byte[32], DateTimeOffset.UnixEpoch, policy),
            new DelegationLink(SpiffeId.Parse("spiffe://td/agent/planner/1/task/t1"), new byte[32], DateTimeOffset.UnixEpoch, policy),
        ]);
        var act = ActorClaim.FromDelegation(SpiffeId.Parse("spiffe://td/agent/planner/1/task/t1/task/t2"), chain);
        Assert.Equal(
            """{"sub":"spiffe://td/agent/planner/1/task/t1/task/t2","act":{"sub":"spiffe://td/agent/planner/1/task/t1","act":{"sub":"spiffe://td/agent/planner/1"}}}""",
            act.ToJsonString());
    }

    [Fact]
    public void Nest_ExistingAct_AddsNewCurrentActorOnTop()
    {
        using var previous = JsonDocument.Parse("""{"sub":"b","act":{"sub":"a"}}""");
        Assert.Equal("""{"sub":"c","act":{"sub":"b","act":{"sub":"a"}}}""", ActorClaim.Nest("c", previous.RootElement).ToJsonString());
    }

    [Theory]
    [InlineData("""{"sub":"u"}""", "")]
    [InlineData("""{"sub":"u","act":{"sub":"c","act":{"sub":"b"}}}""", "c,b")]
    public void TryReadChain_WellFormed_ReturnsActorsCurrentFirst(string payload, string expected)
    {
        using var document = JsonDocument.Parse(payload);
        Assert.True(ActorClaim.TryReadChain(document.RootElement, out var actors, out var error), error);
        Assert.Equal(expected, string.Join(',', actors));
    }

    [Theory]
    [InlineData("""{"sub":"u","actor":{"sub":"c"}}""", "'actor' claim but no RFC 8693 'act' claim")]
    [InlineData("""{"act":"c"}""", "is a JSON String, not an object")]
    [InlineData("""{"act":{"sub":""}}""", "no non-empty string 'sub'")]
    [InlineData("""{"act":{"sub":"c","act":[]}}""", "act at depth 1 is a JSON Array")]
    [InlineData("""{"act":{"sub":1}}""", "no non-empty string 'sub'")]
    [InlineData("[]", "not a JSON object")]
    public void TryReadChain_Malformed_FailsSayingWhy(string payload, string expected)
    {
        using var document = JsonDocument.Parse(payload);
        Assert.False(ActorClaim.TryReadChain(document.RootElement, out _, out var error));
        Assert.Contains(expected, error, StringComparison.Ordinal);
    }

    [Fact]
    public void TryReadChain_TooDeep_Fails()
    {
        var json = "{\"sub\":\"x0\"}";
        for (var i = 1; i <= ActorClaim.MaxActors; i++)
        {
            json = $"{{\"sub\":\"x{i}\",\"act\":{json}}}";
        }

        using var document = JsonDocument.Parse($"{{\"act\":{json}}}");
        Assert.False(ActorClaim.TryReadChain(document.RootElement, out _, out var error));
        Assert.Contains("deeper than", error, StringComparison.Ordinal);
    }
}
