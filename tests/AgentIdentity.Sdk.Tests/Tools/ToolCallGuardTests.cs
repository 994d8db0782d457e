using AgentIdentity.Audit;
using AgentIdentity.Tools;

namespace AgentIdentity.Tests.Tools;

public sealed class ToolCallGuardTests : IAsyncLifetime
{
    private static readonly TrustDomain Td = TrustDomain.Parse("td.example");

    private static readonly AgentPolicy PlannerPolicy = new(
        actions: ["invoices:*"],
        tools: ["Erp.*"],
        maxDelegationDepth: 1,
        delegationTargets: ["spiffe://td.example/agent/planner/*"]);

    private static readonly AgentPolicy TaskPolicy = new(actions: ["invoices:read"], tools: ["Erp.GetInvoice"]);

    private readonly InMemoryAuditSink _audit = new();
    private DevelopmentCertificateAuthority _ca = null!;
    private AgentCredential _planner = null!;

    public async Task InitializeAsync()
    {
        _ca = DevelopmentCertificateAuthority.Create(Td);
        _planner = await AgentCredential.CreateAsync(SpiffeId.Parse("spiffe://td.example/agent/planner/1"), _ca, new AgentCredentialOptions { Policy = PlannerPolicy });
    }

    public async Task DisposeAsync()
    {
        await _planner.DisposeAsync();
        _ca.Dispose();
    }

    [Fact]
    public async Task InvokeAsync_TaskIdentity_EffectivePolicyAppliesAndChainFlowsIntoContextAndAudit()
    {
        await using var task = await _planner.DelegateAsync("t1", TaskPolicy);
        var guard = new ToolCallGuard(task, new ToolCallGuardOptions { AuditSink = _audit });
        AgentCallContext? seen = null;

        var allowed = await guard.InvokeAsync(Call("Erp.GetInvoice"), 0, _ => { seen = AgentCallContext.Current; return ValueTask.CompletedTask; });
        var denied = await guard.InvokeAsync(Call("Erp.DeleteInvoice"), 0, _ => throw new InvalidOperationException("must not run"));

        Assert.True(allowed.WasInvoked);
        Assert.Equal(ToolCallDenialKind.ToolNotAllowed, denied.Denial);
        Assert.Contains("effective (delegated)", denied.Reason, StringComparison.Ordinal);
        Assert.NotNull(seen);
        Assert.Equal(task.Id, seen.AgentId);
        Assert.Equal("t1", seen.TaskId);
        Assert.Equal(_planner.Id, Assert.Single(seen.DelegationChain!).Id);
        Assert.All(_audit.Events, e => Assert.Equal([_planner.Id], e.DelegationChain));
    }

    [Fact]
    public async Task IsRevoked_ParentIdentityRevoked_TaskIdentityRevokedToo()
    {
        await using var task = await _planner.DelegateAsync("t2", TaskPolicy);
        var revocations = new InMemoryRevocationList();
        Assert.False(revocations.IsRevoked(task.GetCurrent(), out _));

        revocations.RevokeIdentity(_planner.Id, "planner compromised");

        Assert.True(revocations.IsRevoked(task.GetCurrent(), out var reason));
        Assert.Contains($"'{_planner.Id}', which delegated to '{task.Id}'", reason, StringComparison.Ordinal);
        var guard = new ToolCallGuard(task, new ToolCallGuardOptions { RevocationStatus = revocations });
        var outcome = await guard.InvokeAsync(Call("Erp.GetInvoice"), 0, _ => throw new InvalidOperationException("must not run"));
        Assert.True(outcome.IsKillSwitch);
        Assert.Contains("must stop", outcome.GetModelMessage(), StringComparison.Ordinal);
    }

    [Fact]
    public void Revoke_EmptyArguments_SpecificErrors()
    {
        var revocations = new InMemoryRevocationList();

        Assert.Throws<ArgumentException>(() => revocations.RevokeIdentity(default, "x"));
        Assert.Throws<ArgumentException>(() => revocations.RevokeSerialNumber(" ", "x"));
        Assert.Throws<ArgumentException>(() => revocations.RevokeIdentity(_planner.Id, ""));
    }

    [Fact]
    public async Task InvokeAsync_NoAuditSink_StillEnforcesAndSetsNoContextAfterwards()
    {
        var guard = new ToolCallGuard(_planner);
        var ran = false;

        var outcome = await guard.InvokeAsync(Call("Crm.Find"), 0, _ => { ran = true; return ValueTask.CompletedTask; });

        Assert.False(ran);
        Assert.Equal(ToolCallDenialKind.ToolNotAllowed, outcome.Denial);
        Assert.Null(AgentCallContext.Current);
    }

    [Theory]
    [InlineData(null, "")]
    [InlineData("text", "text")]
    [InlineData(true, "true")]
    [InlineData(1.5, "1.5")]
    [InlineData(42, "42")]
    public void FormatArgument_Primitives_InvariantText(object? value, string expected) =>
        Assert.Equal(expected, ToolCallGuard.FormatArgument(value, null));

    private static ToolCall Call(string tool) => new()
    {
        ToolName = tool,
        PluginName = tool.Split('.')[0],
        FunctionName = tool.Split('.')[1],
        Arguments = [new("id", "42")],
    };
}
