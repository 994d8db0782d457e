using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace AgentIdentity.Tests.Policy;

public sealed class DelegationChainVerifierTests : IDisposable
{
    private static readonly TrustDomain Td = TrustDomain.Parse("td.example");
    private static readonly DateTimeOffset Now = new(2026, 11, 28, 10, 0, 0, TimeSpan.Zero);
    private const string Planner = "spiffe://td.example/agent/planner/1";
    private const string Task1 = "spiffe://td.example/agent/planner/1/task/t1";

    private static readonly AgentPolicy PlannerPolicy = new(
        services: ["spiffe://td.example/svc/*"], actions: ["invoices:*"], tools: ["Erp.*"],
        maxDelegationDepth: 2, delegationTargets: ["spiffe://td.example/agent/planner/1/*"]);

    private static readonly AgentPolicy TaskPolicy = new(
        services: ["spiffe://td.example/svc/erp"], actions: ["invoices:read"], tools: ["Erp.GetInvoice"], taskId: "t1");

    private readonly PolicyTestCa _ca = new(Td, Now);
    private readonly X509Certificate2 _planner;

    public DelegationChainVerifierTests() =>
        _planner = _ca.Issue(Planner, Now.AddMinutes(-1), Now.AddHours(1), PlannerPolicy);

    public void Dispose()
    {
        _planner.Dispose();
        _ca.Dispose();
    }

    private DelegationVerificationResult Verify(X509Certificate2 leaf, params X509Certificate2[] ancestors) =>
        DelegationChainVerifier.Verify(leaf, null, _ca.Bundle, Now, ancestors.Length == 0 ? null : ancestors);

    private X509Certificate2 Task(string id, AgentPolicy? policy, DelegationChain chain, TimeSpan? lifetime = null) =>
        _ca.Issue(id, Now.AddSeconds(-30), Now + (lifetime ?? TimeSpan.FromMinutes(10)), policy, chain);

    [Fact]
    public void Verify_ConsistentChain_IsValidWithEffectivePolicy()
    {
        using var task = Task(Task1, TaskPolicy, new DelegationChain([PolicyTestCa.LinkFor(_planner, PlannerPolicy)]));
        var result = Verify(task, _planner);
        Assert.True(result.IsValid, result.Reason);
        Assert.Equal(Task1, result.Id.ToString());
        Assert.Equal(PlannerPolicy.Intersect(TaskPolicy).WithTaskId("t1"), result.EffectivePolicy);
        Assert.Single(result.Chain!);
    }

    [Fact]
    public void Verify_AgentWithoutChain_IsValidWithOwnPolicy()
    {
        var result = Verify(_planner);
        Assert.True(result.IsValid, result.Reason);
        Assert.Null(result.Chain);
        Assert.Equal(PlannerPolicy, result.EffectivePolicy);
    }

    [Fact]
    public void Verify_LeafWiderThanParent_IsPolicyEscalation()
    {
        using var task = Task(Task1, new AgentPolicy(actions: ["invoices:*", "users:delete"], taskId: "t1"), new DelegationChain([PolicyTestCa.LinkFor(_planner, PlannerPolicy)]));
        var result = Verify(task);
        Assert.Equal(DelegationError.PolicyEscalation, result.Error);
        Assert.Contains("action pattern 'users:delete'", result.Reason, StringComparison.Ordinal);
        Assert.Null(result.EffectivePolicy);
    }

    [Fact]
    public void Verify_ForgedLinkPolicy_DetectedWhenParentCertificateIsSupplied()
    {
        // The chain claims the parent had "*:*" so that the leaf's escalation looks legitimate.
        var forgedParentPolicy = new AgentPolicy(services: ["spiffe://td.example/*"], actions: ["*:*"], maxDelegationDepth: 2, delegationTargets: ["spiffe://td.example/agent/planner/1/*"]);
        using var task = Task(Task1, new AgentPolicy(actions: ["users:delete"], taskId: "t1"), new DelegationChain([PolicyTestCa.LinkFor(_planner, forgedParentPolicy)]));
        Assert.True(Verify(task).IsValid); // self-consistent on its own ...
        var result = Verify(task, _planner); // ... but not with the real parent certificate
        Assert.Equal(DelegationError.AncestorMismatch, result.Error);
        Assert.Contains("lists a policy that differs from its certificate's", result.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Verify_ForgedLinkHash_DetectedWhenParentCertificateIsSupplied()
    {
        var link = new DelegationLink(SpiffeId.Parse(Planner), RandomNumberGenerator.GetBytes(32), new DateTimeOffset(_planner.NotAfter.ToUniversalTime()), PlannerPolicy);
        using var task = Task(Task1, TaskPolicy, new DelegationChain([link]));
        var result = Verify(task, _planner);
        Assert.Equal(DelegationError.AncestorMismatch, result.Error);
        Assert.Contains("is not listed in the delegation chain", result.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Verify_LinkNamingAnotherIdentityThanItsCertificate_IsAncestorMismatch()
    {
        using var other = _ca.Issue("spiffe://td.example/agent/planner/2", Now.AddMinutes(-1), Now.AddHours(1), PlannerPolicy);
        var link = new DelegationLink(SpiffeId.Parse(Planner), other.GetCertHash(HashAlgorithmName.SHA256), new DateTimeOffset(other.NotAfter.ToUniversalTime()), PlannerPolicy);
        using var task = Task(Task1, TaskPolicy, new DelegationChain([link]));
        var result = Verify(task, other);
        Assert.Equal(DelegationError.AncestorMismatch, result.Error);
        Assert.Contains("but its certificate is for 'spiffe://td.example/agent/planner/2'", result.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Verify_SiblingTaskId_IsNotATaskOfParent()
    {
        using var task = Task("spiffe://td.example/agent/planner/2/task/t1", TaskPolicy, new DelegationChain([PolicyTestCa.LinkFor(_planner, PlannerPolicy)]));
        Assert.Equal(DelegationError.NotATaskOfParent, Verify(task).Error);
    }

    [Fact]
    public void Verify_ChildOutlivesParent_IsLifetimeExceedsParent()
    {
        using var task = Task(Task1, TaskPolicy, new DelegationChain([PolicyTestCa.LinkFor(_planner, PlannerPolicy)]), TimeSpan.FromHours(2));
        var result = Verify(task);
        Assert.Equal(DelegationError.LifetimeExceedsParent, result.Error);
        Assert.Contains("after its parent", result.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Verify_DepthNotDecreasingAlongChain_IsRejectedAtThatLink()
    {
        var middlePolicy = PlannerPolicy.Intersect(PlannerPolicy).WithMaxDelegationDepth(2).WithTaskId("t1"); // same depth as its parent
        var middleLink = new DelegationLink(SpiffeId.Parse(Task1), new byte[32], Now.AddMinutes(30), middlePolicy);
        var chain = new DelegationChain([PolicyTestCa.LinkFor(_planner, PlannerPolicy), middleLink]);
        using var task = Task(Task1 + "/task/t2", new AgentPolicy(taskId: "t2"), chain);
        var result = Verify(task);
        Assert.Equal(DelegationError.DepthNotDecreasing, result.Error);
        Assert.Contains("link 0 → link 1", result.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Verify_LinkInOtherTrustDomain_IsRejected()
    {
        var foreign = new DelegationLink(SpiffeId.Parse("spiffe://evil.example/agent/planner/1"), new byte[32], Now.AddHours(1), PlannerPolicy);
        using var task = Task(Task1, TaskPolicy, new DelegationChain([foreign]));
        Assert.Contains("another trust domain", Verify(task).Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Verify_ChainWithoutLeafPolicy_IsMissingPolicy()
    {
        using var task = Task(Task1, null, new DelegationChain([PolicyTestCa.LinkFor(_planner, PlannerPolicy)]));
        Assert.Equal(DelegationError.MissingPolicy, Verify(task).Error);
    }

    [Fact]
    public void Verify_MalformedPolicyExtension_IsMalformedExtension()
    {
        using var leaf = _ca.Issue(Planner, Now.AddMinutes(-1), Now.AddHours(1), rawPolicy: [0x30, 0x03, 0x02, 0x01, 0x02]);
        var result = Verify(leaf);
        Assert.Equal(DelegationError.MalformedExtension, result.Error);
        Assert.Contains("version 2", result.Reason, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => new X509Svid(leaf));
    }

    [Fact]
    public void Verify_LeafFromUntrustedCa_IsInvalidCertificate()
    {
        using var other = new PolicyTestCa(Td, Now);
        using var task = Task(Task1, TaskPolicy, new DelegationChain([PolicyTestCa.LinkFor(_planner, PlannerPolicy)]));
        var result = DelegationChainVerifier.Verify(task, null, other.Bundle, Now);
        Assert.Equal(DelegationError.InvalidCertificate, result.Error);
    }
}
