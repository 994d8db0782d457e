using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Time.Testing;

namespace AgentIdentity.Tests.Policy;

public sealed class DelegatedIssuanceTests : IAsyncLifetime
{
    private static readonly TrustDomain Td = TrustDomain.Parse("td.example");
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 28, 10, 0, 0, TimeSpan.Zero));
    private DevelopmentCertificateAuthority _ca = null!;
    private AgentCredential _planner = null!;

    private static readonly SpiffeId PlannerId = SpiffeId.Parse("spiffe://td.example/agent/planner/1");

    private static readonly AgentPolicy PlannerPolicy = new(
        services: ["spiffe://td.example/svc/*"],
        actions: ["invoices:*", "orders:read"],
        tools: ["Erp.*"],
        maxDelegationDepth: 2,
        delegationTargets: ["spiffe://td.example/agent/planner/*"]);

    private static readonly AgentPolicy TaskPolicy = new(
        services: ["spiffe://td.example/svc/erp"],
        actions: ["invoices:read"],
        tools: ["Erp.GetInvoice"],
        maxDelegationDepth: 1,
        delegationTargets: ["spiffe://td.example/agent/planner/1/task/*"],
        taskId: "t1");

    public async Task InitializeAsync()
    {
        _ca = DevelopmentCertificateAuthority.Create(Td, timeProvider: _time);
        _planner = await AgentCredential.CreateAsync(PlannerId, _ca, new AgentCredentialOptions { Policy = PlannerPolicy }, _time);
    }

    public async Task DisposeAsync()
    {
        await _planner.DisposeAsync();
        _ca.Dispose();
    }

    private X509SvidRequest Delegated(string childId, AgentPolicy? policy, TimeSpan? lifetime = null, X509Svid? parent = null, X509Svid? signer = null)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var id = SpiffeId.Parse(childId);
        var csr = TestPki.Csr(id, key);
        parent ??= _planner.GetCurrent();
        var proof = DelegationProof.Create(signer ?? parent, id, csr);
        if (signer is not null)
        {
            // Present the claimed parent's certificate with someone else's signature.
            proof = new DelegationProof(X509CertificateLoader.LoadCertificate(parent.Certificate.RawData), parent.Intermediates, proof.GetSignature());
        }

        return new X509SvidRequest(id, csr, lifetime ?? TimeSpan.FromMinutes(10)) { Policy = policy, Delegation = proof };
    }

    [Fact]
    public void Issue_WithPolicy_EmbedsNonCriticalPolicyExtension()
    {
        var svid = _planner.GetCurrent();
        var extension = svid.Certificate.Extensions.Single(e => e.Oid?.Value == AgentPolicyExtension.PolicyOid);
        Assert.False(extension.Critical);
        Assert.Equal(PlannerPolicy.ToDer(), extension.RawData);
        Assert.Equal(PlannerPolicy, svid.Policy);
        Assert.Null(svid.DelegationChain);
        Assert.Equal(PlannerPolicy, svid.EffectivePolicy);
    }

    [Fact]
    public async Task Issue_WithoutPolicy_HasNoPolicy()
    {
        await using var plain = await AgentCredential.CreateAsync(SpiffeId.Parse("spiffe://td.example/agent/plain/1"), _ca, timeProvider: _time);
        Assert.Null(plain.GetCurrent().Policy);
        Assert.DoesNotContain(plain.GetCurrent().Certificate.Extensions.Cast<X509Extension>(), e => e.Oid?.Value?.StartsWith(AgentPolicyExtension.ArcOid, StringComparison.Ordinal) == true);
    }

    [Fact]
    public void Issue_DelegatedWithinPolicy_EmbedsChainWithParentHashAndPolicy()
    {
        var parent = _planner.GetCurrent();
        var issuance = _ca.Issue(Delegated("spiffe://td.example/agent/planner/1/task/t1", TaskPolicy));
        var chain = AgentPolicyExtension.ReadDelegationChain(issuance.Certificate);
        Assert.NotNull(chain);
        var link = Assert.Single(chain);
        Assert.Equal(PlannerId, link.Id);
        Assert.Equal(parent.GetCertificateHash(), link.GetCertificateHash());
        Assert.Equal(PlannerPolicy, link.Policy);
        Assert.Equal(parent.NotAfter, link.NotAfter);
        Assert.Equal(TaskPolicy, AgentPolicyExtension.ReadPolicy(issuance.Certificate));
        Assert.False(issuance.Certificate.Extensions.Single(e => e.Oid?.Value == AgentPolicyExtension.DelegationChainOid).Critical);
    }

    public static TheoryData<string, string, AgentPolicy?, int, DelegationError, string> Escalations => new()
    {
        {
            "wider services", "spiffe://td.example/agent/planner/1/task/t1",
            new AgentPolicy(services: ["spiffe://td.example/*"], taskId: "t1"), 10, DelegationError.PolicyEscalation,
            "service pattern 'spiffe://td.example/*' is not covered"
        },
        {
            "wider action", "spiffe://td.example/agent/planner/1/task/t1",
            new AgentPolicy(actions: ["orders:*"], taskId: "t1"), 10, DelegationError.PolicyEscalation,
            "action pattern 'orders:*' is not covered"
        },
        {
            "extra tool", "spiffe://td.example/agent/planner/1/task/t1",
            new AgentPolicy(tools: ["Crm.Find"], taskId: "t1"), 10, DelegationError.PolicyEscalation,
            "tool pattern 'Crm.Find' is not covered"
        },
        {
            "same depth", "spiffe://td.example/agent/planner/1/task/t1",
            new AgentPolicy(maxDelegationDepth: 2, delegationTargets: ["spiffe://td.example/agent/planner/1/*"], taskId: "t1"), 10, DelegationError.DepthNotDecreasing,
            "must be at most 1 (one less than its parent's), not 2"
        },
        {
            "more depth", "spiffe://td.example/agent/planner/1/task/t1",
            new AgentPolicy(maxDelegationDepth: 3, taskId: "t1"), 10, DelegationError.DepthNotDecreasing,
            "delegation depth 3 exceeds the parent's 2"
        },
        {
            "longer lifetime", "spiffe://td.example/agent/planner/1/task/t1",
            TaskPolicy, 61, DelegationError.LifetimeExceedsParent,
            "after its parent 'spiffe://td.example/agent/planner/1' expires"
        },
        {
            "sibling's task", "spiffe://td.example/agent/planner/2/task/t1",
            TaskPolicy, 10, DelegationError.NotATaskOfParent,
            "is not a task identity of 'spiffe://td.example/agent/planner/1'"
        },
        {
            "sibling itself", "spiffe://td.example/agent/planner/2",
            TaskPolicy, 10, DelegationError.NotATaskOfParent,
            "is not a task identity"
        },
        {
            "grandchild skipping a level", "spiffe://td.example/agent/planner/1/task/t1/task/t2",
            TaskPolicy, 10, DelegationError.NotATaskOfParent,
            "is not a task identity"
        },
        {
            "task id mismatch", "spiffe://td.example/agent/planner/1/task/t2",
            TaskPolicy, 10, DelegationError.NotATaskOfParent,
            "names task 't1', not 't2'"
        },
        {
            "no child policy", "spiffe://td.example/agent/planner/1/task/t1",
            null, 10, DelegationError.MissingPolicy,
            "needs a policy"
        },
    };

    [Theory]
    [MemberData(nameof(Escalations))]
    public void Issue_EscalationAttempt_IsRefusedWithSpecificError(string scenario, string childId, AgentPolicy? policy, int minutes, DelegationError error, string expected)
    {
        var ex = Assert.Throws<CertificateIssuanceException>(() => _ca.Issue(Delegated(childId, policy, TimeSpan.FromMinutes(minutes))));
        Assert.True(ex.Message.Contains(expected, StringComparison.Ordinal), $"{scenario}: {ex.Message}");
        Assert.Equal(error, ex.Data["DelegationError"]);
    }

    [Fact]
    public async Task Issue_TargetNotAllowed_IsRefused()
    {
        var narrow = PlannerPolicy.Intersect(new AgentPolicy(
            services: ["spiffe://td.example/*"], actions: ["*:*"], tools: ["*.*"], maxDelegationDepth: 2,
            delegationTargets: ["spiffe://td.example/agent/planner/1/task/allowed"]));
        await using var parent = await AgentCredential.CreateAsync(PlannerId, _ca, new AgentCredentialOptions { Policy = narrow }, _time);
        var ex = Assert.Throws<CertificateIssuanceException>(() =>
            _ca.Issue(Delegated("spiffe://td.example/agent/planner/1/task/t1", TaskPolicy.Intersect(narrow).WithTaskId("t1"), parent: parent.GetCurrent())));
        Assert.Equal(DelegationError.DelegationNotPermitted, ex.Data["DelegationError"]);
        Assert.Contains("does not allow delegating to 'spiffe://td.example/agent/planner/1/task/t1'", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Issue_ParentWithDepthZero_IsRefused()
    {
        await using var parent = await AgentCredential.CreateAsync(PlannerId, _ca, new AgentCredentialOptions { Policy = PlannerPolicy.WithMaxDelegationDepth(0) }, _time);
        var ex = Assert.Throws<CertificateIssuanceException>(() =>
            _ca.Issue(Delegated("spiffe://td.example/agent/planner/1/task/t1", TaskPolicy.WithMaxDelegationDepth(0), parent: parent.GetCurrent())));
        Assert.Equal(DelegationError.DelegationNotPermitted, ex.Data["DelegationError"]);
        Assert.Contains("has delegation depth 0", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Issue_ParentWithoutPolicy_IsRefused()
    {
        await using var parent = await AgentCredential.CreateAsync(PlannerId, _ca, timeProvider: _time);
        var ex = Assert.Throws<CertificateIssuanceException>(() =>
            _ca.Issue(Delegated("spiffe://td.example/agent/planner/1/task/t1", TaskPolicy, parent: parent.GetCurrent())));
        Assert.Equal(DelegationError.MissingPolicy, ex.Data["DelegationError"]);
    }

    [Fact]
    public async Task Issue_ProofSignedByAnotherAgent_IsRefused()
    {
        // A sibling holding its own valid SVID presents the planner's certificate (public) as parent and signs with its own key.
        await using var sibling = await AgentCredential.CreateAsync(SpiffeId.Parse("spiffe://td.example/agent/planner/2"), _ca, new AgentCredentialOptions { Policy = PlannerPolicy }, _time);
        var ex = Assert.Throws<CertificateIssuanceException>(() =>
            _ca.Issue(Delegated("spiffe://td.example/agent/planner/1/task/t1", TaskPolicy, signer: sibling.GetCurrent())));
        Assert.Equal(DelegationError.InvalidProof, ex.Data["DelegationError"]);
        Assert.Contains("not signed by the key of 'spiffe://td.example/agent/planner/1'", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Issue_ParentFromForeignCa_IsRefused()
    {
        // A forged parent: a certificate for the planner's ID with a generous policy, signed by a CA the issuer does not trust.
        using var rogue = new PolicyTestCa(Td, _time.GetUtcNow());
        using var forgedCert = rogue.Issue(PlannerId.ToString(), _time.GetUtcNow().AddMinutes(-1), _time.GetUtcNow().AddHours(1), PlannerPolicy);
        var forged = new X509Svid(forgedCert);
        var ex = Assert.Throws<CertificateIssuanceException>(() =>
            _ca.Issue(Delegated("spiffe://td.example/agent/planner/1/task/t1", TaskPolicy, parent: forged)));
        Assert.Equal(DelegationError.InvalidCertificate, ex.Data["DelegationError"]);
        Assert.Contains("not a valid SVID of this issuer", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Issue_ExpiredParent_IsRefused()
    {
        var parent = _planner.GetCurrent();
        var request = Delegated("spiffe://td.example/agent/planner/1/task/t1", TaskPolicy, TimeSpan.FromMinutes(1), parent);
        await _planner.DisposeAsync(); // stop renewal so that time can pass the parent's expiry
        _time.Advance(TimeSpan.FromHours(2));
        var ex = Assert.Throws<CertificateIssuanceException>(() => _ca.Issue(request));
        Assert.Equal(DelegationError.InvalidCertificate, ex.Data["DelegationError"]);
        Assert.Contains("expired", ex.Message, StringComparison.Ordinal);
    }
}
