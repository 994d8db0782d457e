using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using AgentIdentity.AspNetCore.Tests.TestInfrastructure;

namespace AgentIdentity.AspNetCore.Tests.Policy;

/// <summary>
/// The service verifies the delegation-chain extension before it enforces a policy: a CA of a trusted bundle that signs a chain
/// breaking the delegation rules gets its caller refused (401), the effective policy is computed once per certificate, its
/// intersection is capped, and the policy extensions of other trust domains are ignored unless configured. Real Kestrel mTLS,
/// certificates signed by a trusted root (<see cref="TestPki.CraftedRoot"/>) or by a federated partner's root.
/// </summary>
public sealed class DelegationChainVerificationTests : IDisposable
{
    private const string Planner = "spiffe://corp.example/agent/planner/1";
    private static readonly AgentPolicy PlannerPolicy = new(services: ["spiffe://corp.example/svc/*"], actions: ["invoices:*"], maxDelegationDepth: 1, delegationTargets: ["spiffe://corp.example/agent/*"]);
    private readonly TestPki _pki = TestPki.ForCorp();
    private readonly X509Certificate2 _partnerRoot;

    public DelegationChainVerificationTests() =>
        _partnerRoot = TestPki.CreateCa("CN=Partner Root", null, DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30), nameConstraint: null);

    public void Dispose()
    {
        _partnerRoot.Dispose();
        _pki.Dispose();
    }

    [Fact]
    public async Task Authenticate_ValidChain_EffectivePolicyIsEnforced()
    {
        await using var server = await AgentTestServer.StartAsync(_pki);
        using var leaf = CorpTask(new AgentPolicy(services: ["spiffe://corp.example/svc/erp"], actions: ["invoices:read"], taskId: "t"));
        using var client = server.CreateClient(leaf, null, _pki.Bundles);

        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/invoices")).StatusCode);
    }

    [Fact]
    public async Task Authenticate_PartnerCaNamesAnotherTrustDomainsAgentAsParent_Refused()
    {
        // Even when the partner's policies are honoured, its CA cannot claim a corp.example agent delegated to its workload.
        UseBundlesWithPartner();
        await using var server = await AgentTestServer.StartAsync(_pki, o =>
        {
            o.PolicyTrustDomains.Add(TestPki.Corp);
            o.PolicyTrustDomains.Add(TestPki.Other);
        });
        using var leaf = TestPki.CreateLeaf(
            _partnerRoot,
            ["spiffe://other.example/agent/planner/1/task/t"],
            DateTimeOffset.UtcNow.AddMinutes(-5),
            DateTimeOffset.UtcNow.AddHours(1),
            extra: Extensions(new AgentPolicy(actions: ["invoices:read"], taskId: "t"), Link(Planner, DateTimeOffset.UtcNow.AddHours(2), PlannerPolicy)));
        using var client = server.CreateClient(leaf, null, _pki.Bundles);

        using var response = await client.GetAsync("/whoami");

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        AssertRejected(server, DelegationError.NotATaskOfParent, $"chain link 0 '{Planner}' is in another trust domain");
    }

    [Fact]
    public async Task Authenticate_DepthNotDecreasing_Refused()
    {
        await using var server = await AgentTestServer.StartAsync(_pki);
        using var leaf = CorpTask(new AgentPolicy(actions: ["invoices:read"], maxDelegationDepth: 1, delegationTargets: ["spiffe://corp.example/agent/*"], taskId: "t"));
        using var client = server.CreateClient(leaf, null, _pki.Bundles);

        using var response = await client.GetAsync("/whoami");

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        AssertRejected(server, DelegationError.DepthNotDecreasing, "must be at most 0 (one less than its parent's), not 1");
    }

    [Fact]
    public async Task Authenticate_ChildOutlivesParent_Refused()
    {
        await using var server = await AgentTestServer.StartAsync(_pki);
        using var leaf = CorpTask(new AgentPolicy(actions: ["invoices:read"], taskId: "t"), parentNotAfter: DateTimeOffset.UtcNow.AddMinutes(10));
        using var client = server.CreateClient(leaf, null, _pki.Bundles);

        using var response = await client.GetAsync("/invoices");

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        AssertRejected(server, DelegationError.LifetimeExceedsParent, $"after its parent '{Planner}' expires at");
    }

    [Fact]
    public async Task Authenticate_ThreeLinksOf64CrossingWildcards_RefusedByTheRulesAndCappedWhenOnlyDecoded()
    {
        await using var server = await AgentTestServer.StartAsync(_pki);
        var notAfter = DateTimeOffset.UtcNow.AddHours(2);
        string[] Patterns(Func<int, string> pattern) => [.. Enumerable.Range(0, AgentPolicy.MaxListLength).Select(pattern)];
        var x = $"{Planner}/task/x";
        var y = $"{x}/task/y";
        using var leaf = _pki.CreateCraftedLeaf(
            [$"{y}/task/z"],
            extra: Extensions(
                new AgentPolicy(actions: ["*:*:*"], taskId: "z"),
                Link(Planner, notAfter, new AgentPolicy(actions: Patterns(i => $"a{i}:*:*"), maxDelegationDepth: 3, delegationTargets: ["spiffe://corp.example/agent/*"])),
                Link(x, notAfter, new AgentPolicy(actions: Patterns(i => $"*:b{i}:*"), maxDelegationDepth: 2, delegationTargets: ["spiffe://corp.example/agent/*"], taskId: "x")),
                Link(y, notAfter, new AgentPolicy(actions: Patterns(i => $"*:*:c{i}"), maxDelegationDepth: 1, delegationTargets: ["spiffe://corp.example/agent/*"], taskId: "y"))));
        using var client = server.CreateClient(leaf, null, _pki.Bundles);

        using var response = await client.GetAsync("/invoices");

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        AssertRejected(server, DelegationError.PolicyEscalation, "link 0 → link 1 is invalid");

        // The decode-only path (CertificatePolicy.Read) meets the same chain: the intersection is refused at the cap, not computed.
        var ex = Assert.Throws<PolicyFormatException>(() => CertificatePolicy.Read(leaf));
        Assert.Contains($"The intersection of the actions lists ({AgentPolicy.MaxListLength} and {AgentPolicy.MaxListLength} patterns) has more than {AgentPolicy.MaxIntersectionLength} patterns", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Authenticate_ConcurrentRequestsWithOneCertificate_ComputeThePolicyOnce()
    {
        // No validation cache, so that every request reaches the policy computation.
        await using var server = await AgentTestServer.StartAsync(_pki, o => o.ValidationCacheSize = 0);
        using var leaf = CorpTask(new AgentPolicy(actions: ["invoices:read"], taskId: "t"));
        var clients = Enumerable.Range(0, 16).Select(_ => server.CreateClient(leaf, null, _pki.Bundles)).ToArray();
        try
        {
            var responses = await Task.WhenAll(clients.Select(c => c.GetAsync("/invoices")));

            Assert.All(responses, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
            Assert.Single(server.Logs.GetSnapshot(), r => r.Id.Id == 3016);
        }
        finally
        {
            foreach (var client in clients)
            {
                client.Dispose();
            }
        }
    }

    [Fact]
    public async Task Authenticate_PartnerPolicyNotHonoured_IsIgnored()
    {
        UseBundlesWithPartner();
        await using var server = await AgentTestServer.StartAsync(_pki, o => o.PolicyTrustDomains.Add(TestPki.Corp));
        var policy = new X509Extension(AgentPolicyExtension.PolicyOid, new AgentPolicy(actions: ["invoices:read"]).ToDer(), false);
        using var partner = TestPki.CreateLeaf(_partnerRoot, ["spiffe://other.example/agent/planner/1"], DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddHours(1), extra: [policy]);
        using var corp = _pki.CreateCraftedLeaf([Planner], extra: [policy]);
        using var partnerClient = server.CreateClient(partner, null, _pki.Bundles);
        using var corpClient = server.CreateClient(corp, null, _pki.Bundles);

        var claims = await partnerClient.GetFromJsonAsync<Dictionary<string, string?>>("/whoami");
        using var partnerInvoices = await partnerClient.GetAsync("/invoices");
        using var corpInvoices = await corpClient.GetAsync("/invoices");

        Assert.Null(claims!["policy"]);
        Assert.Equal(HttpStatusCode.Forbidden, partnerInvoices.StatusCode);
        Assert.Equal(HttpStatusCode.OK, corpInvoices.StatusCode);
        Assert.Contains(server.Logs.GetSnapshot(), r => r.Id.Id == 3017 && r.Message.Contains("trust domain 'other.example'", StringComparison.Ordinal));
        Assert.Contains(server.Logs.GetSnapshot(), r => r.Id.Id == 3007 && r.Message.Contains("nothing grants 'invoices:read'", StringComparison.Ordinal));
    }

    [Fact]
    public void Intersect_CrossingWildcardLists_RefusedAtTheCap()
    {
        var a = new AgentPolicy(actions: Enumerable.Range(0, 64).Select(i => $"a{i}:*"));
        var b = new AgentPolicy(actions: Enumerable.Range(0, 64).Select(i => $"*:b{i}"));

        var ex = Assert.Throws<InvalidOperationException>(() => a.Intersect(b));

        Assert.Equal(256, AgentPolicy.MaxIntersectionLength);
        Assert.Contains("The intersection of the actions lists (64 and 64 patterns) has more than 256 patterns", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Intersect_CrossingListsWithinTheCap_StillComputed()
    {
        var a = new AgentPolicy(actions: Enumerable.Range(0, 16).Select(i => $"a{i}:*"));
        var b = new AgentPolicy(actions: Enumerable.Range(0, 16).Select(i => $"*:b{i}"));

        Assert.Equal(256, a.Intersect(b).Actions.Count);
    }

    private static void AssertRejected(AgentTestServer server, DelegationError error, string detail) =>
        Assert.Contains(server.Logs.GetSnapshot(), r => r.Id.Id == 3015 &&
            r.Message.Contains($"The delegation chain of the client certificate is invalid ({error})", StringComparison.Ordinal) &&
            r.Message.Contains(detail, StringComparison.Ordinal));

    /// <summary>A task of the planner signed by a trusted root, with <paramref name="policy"/> and a one-link chain.</summary>
    private X509Certificate2 CorpTask(AgentPolicy policy, DateTimeOffset? parentNotAfter = null) =>
        _pki.CreateCraftedLeaf([$"{Planner}/task/t"], extra: Extensions(policy, Link(Planner, parentNotAfter ?? DateTimeOffset.UtcNow.AddHours(2), PlannerPolicy)));

    private void UseBundlesWithPartner() =>
        _pki.Bundles = new TrustBundleSet([new TrustBundle(TestPki.Corp, [_pki.Ca.RootCertificate, TestPki.Public(_pki.CraftedRoot)]), new TrustBundle(TestPki.Other, [TestPki.Public(_partnerRoot)])]);

    private static DelegationLink Link(string id, DateTimeOffset notAfter, AgentPolicy policy) =>
        new(SpiffeId.Parse(id), RandomNumberGenerator.GetBytes(32), notAfter, policy);

    private static X509Extension[] Extensions(AgentPolicy policy, params DelegationLink[] links) =>
    [
        new X509Extension(AgentPolicyExtension.PolicyOid, policy.ToDer(), false),
        new X509Extension(AgentPolicyExtension.DelegationChainOid, new DelegationChain(links).ToDer(), false),
    ];
}
