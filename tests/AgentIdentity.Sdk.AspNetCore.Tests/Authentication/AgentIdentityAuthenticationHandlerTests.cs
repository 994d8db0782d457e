using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography.X509Certificates;
using AgentIdentity.AspNetCore.Tests.TestInfrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace AgentIdentity.AspNetCore.Tests.Authentication;

public sealed class AgentIdentityAuthenticationHandlerTests : IDisposable
{
    private readonly TestPki _pki = TestPki.ForCorp();

    public void Dispose() => _pki.Dispose();

    [Fact]
    public async Task Authenticate_ValidSvidOverMtls_BuildsPrincipalWithAgentClaims()
    {
        await using var server = await AgentTestServer.StartAsync(_pki);
        var svid = _pki.IssueSvid("spiffe://corp.example/agent/planner/7f3a");
        using var client = server.CreateClient(svid, _pki.Bundles);

        var claims = await client.GetFromJsonAsync<Dictionary<string, string?>>("/whoami");

        Assert.NotNull(claims);
        Assert.Equal("spiffe://corp.example/agent/planner/7f3a", claims["spiffe_id"]);
        Assert.Equal("spiffe://corp.example/agent/planner/7f3a", claims["name"]);
        Assert.Equal("spiffe://corp.example/agent/planner/7f3a", claims["caller"]);
        Assert.Equal("planner", claims["agent_name"]);
        Assert.Equal("7f3a", claims["agent_instance"]);
        Assert.Equal("corp.example", claims["trust_domain"]);
        Assert.Equal(svid.SerialNumber, claims["serial"]);
        Assert.Equal(System.Buffers.Text.Base64Url.EncodeToString(svid.GetCertificateHash()), claims["thumbprint"]);
        Assert.Null(claims["policy"]);
    }

    [Fact]
    public async Task Authenticate_PolicyAndDelegationExtensions_ExposesRawDerAsClaims()
    {
        await using var server = await AgentTestServer.StartAsync(_pki);
        byte[] policy = [0x30, 0x03, 0x02, 0x01, 0x01];
        byte[] delegation = [0x30, 0x00];
        using var leaf = _pki.CreateCraftedLeaf(
            ["spiffe://corp.example/agent/planner/1"],
            extra: [new X509Extension(AgentPolicyExtension.PolicyOid, policy, false), new X509Extension(AgentPolicyExtension.DelegationChainOid, delegation, false)]);
        using var client = server.CreateClient(leaf, null, _pki.Bundles);

        var claims = await client.GetFromJsonAsync<Dictionary<string, string?>>("/whoami");

        Assert.Equal(Convert.ToBase64String(policy), claims!["policy"]);
        Assert.Equal(Convert.ToBase64String(delegation), claims["delegation"]);
    }

    public static TheoryData<string, string> RejectedCertificates => new()
    {
        { "unknown-ca", "UntrustedChain" },
        { "ca-as-leaf", "LeafIsCertificateAuthority" },
        { "name-constraint", "NameConstraintViolation" },
        { "wrong-trust-domain", "UnknownTrustDomain" },
        { "missing-uri-san", "MissingUriSan" },
        { "two-uri-sans", "MultipleUriSans" },
        { "expired", "Expired" },
        { "not-yet-valid", "NotYetValid" },
    };

    [Theory]
    [MemberData(nameof(RejectedCertificates))]
    public async Task Authenticate_BadCertificate_Returns401WithReasonInLogsOnly(string kind, string expectedError)
    {
        await using var server = await AgentTestServer.StartAsync(_pki, o => o.ClockSkew = TimeSpan.FromSeconds(30));
        var now = DateTimeOffset.UtcNow;
        X509Certificate2 leaf;
        X509Certificate2[] intermediates = [];
        switch (kind)
        {
            case "unknown-ca":
                leaf = TestPki.CreateLeaf(_pki.UnknownRoot, ["spiffe://corp.example/agent/planner/1"], now.AddMinutes(-5), now.AddHours(1));
                break;
            case "ca-as-leaf":
                leaf = TestPki.CreateLeaf(_pki.CraftedRoot, ["spiffe://corp.example/agent/planner/1"], now.AddMinutes(-5), now.AddHours(1), isCa: true);
                break;
            case "name-constraint":
                var constrained = TestPki.CreateCa("CN=Constrained to other.example", _pki.CraftedRoot, now.AddMinutes(-5), now.AddDays(1), nameConstraint: "other.example");
                leaf = TestPki.CreateLeaf(constrained, ["spiffe://corp.example/agent/planner/1"], now.AddMinutes(-5), now.AddHours(1));
                intermediates = [TestPki.Public(constrained)];
                break;
            case "wrong-trust-domain":
                var other = _pki.IssueSvid(_pki.OtherCa, "spiffe://other.example/agent/planner/1");
                leaf = other.Certificate;
                intermediates = [.. other.Intermediates];
                break;
            case "missing-uri-san":
                leaf = _pki.CreateCraftedLeaf([]);
                break;
            case "two-uri-sans":
                leaf = _pki.CreateCraftedLeaf(["spiffe://corp.example/agent/planner/1", "spiffe://corp.example/agent/admin/1"]);
                break;
            case "expired":
                leaf = _pki.CreateCraftedLeaf(["spiffe://corp.example/agent/planner/1"], now.AddHours(-2), now.AddMinutes(-5));
                break;
            case "not-yet-valid":
                leaf = _pki.CreateCraftedLeaf(["spiffe://corp.example/agent/planner/1"], now.AddMinutes(5), now.AddHours(1));
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(kind));
        }

        using var client = server.CreateClient(leaf, intermediates, _pki.Bundles);
        using var response = await client.GetAsync("/whoami");

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        var body = await response.Content.ReadAsStringAsync();
        Assert.DoesNotContain("Exception", body, StringComparison.Ordinal);
        Assert.DoesNotContain(" at ", body, StringComparison.Ordinal);
        Assert.Empty(body);
        Assert.Contains(response.Headers.WwwAuthenticate, h => h.Scheme == "AgentIdentity" && h.Parameter == "error=\"invalid_client_certificate\"");
        var rejected = server.Logs.GetSnapshot().Where(r => r.Id.Id == 3001).ToList();
        Assert.Contains(rejected, r => r.Message.Contains($"({expectedError})", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Authenticate_NotYetValidWithinSkew_Succeeds()
    {
        await using var server = await AgentTestServer.StartAsync(_pki, o => o.ClockSkew = TimeSpan.FromMinutes(2));
        var now = DateTimeOffset.UtcNow;
        using var leaf = _pki.CreateCraftedLeaf(["spiffe://corp.example/agent/planner/1"], now.AddSeconds(60), now.AddHours(1));
        using var client = server.CreateClient(leaf, null, _pki.Bundles);

        using var response = await client.GetAsync("/whoami");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task Authenticate_RevokedThroughHook_Returns401EvenOnCacheHit()
    {
        var revocation = new TestRevocationChecker();
        await using var server = await AgentTestServer.StartAsync(_pki, services: s => s.AddSingleton<IAgentRevocationChecker>(revocation));
        var svid = _pki.IssueSvid("spiffe://corp.example/agent/planner/1");
        using var client = server.CreateClient(svid, _pki.Bundles);

        using (var first = await client.GetAsync("/whoami"))
        {
            Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        }

        revocation.Revoke(svid.SerialNumber);
        using var second = await client.GetAsync("/whoami");

        Assert.Equal(HttpStatusCode.Unauthorized, second.StatusCode);
        Assert.Equal(2, revocation.Calls);
        Assert.Contains(server.Logs.GetSnapshot(), r => r.Id.Id == 3002 && r.Message.Contains("revoked by test", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Authenticate_RepeatedConnections_ValidatesChainOnce()
    {
        // The checker reads the cached certificates on every request: they must outlive the connection they came from.
        var revocation = new TestRevocationChecker();
        await using var server = await AgentTestServer.StartAsync(_pki, services: s => s.AddSingleton<IAgentRevocationChecker>(revocation));
        var svid = _pki.IssueSvid("spiffe://corp.example/agent/planner/1");

        for (var i = 0; i < 3; i++)
        {
            using var client = server.CreateClient(svid, _pki.Bundles); // a new connection each time
            using var response = await client.GetAsync("/whoami");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        var authenticated = server.Logs.GetSnapshot().Where(r => r.Id.Id == 3000).Select(r => r.Message).ToList();
        Assert.Equal(3, authenticated.Count);
        Assert.Single(authenticated, m => m.EndsWith("cached validation: False.", StringComparison.Ordinal));
        Assert.Equal(3, revocation.Calls);
    }

    [Fact]
    public async Task Authenticate_NoIntermediatesPresentedButCached_StillSucceeds()
    {
        // The leaf was validated once with its chain; a later connection presenting only the leaf is the same key.
        await using var server = await AgentTestServer.StartAsync(_pki);
        var svid = _pki.IssueSvid("spiffe://corp.example/agent/planner/1");
        using (var withChain = server.CreateClient(svid, _pki.Bundles))
        {
            Assert.Equal(HttpStatusCode.OK, (await withChain.GetAsync("/whoami")).StatusCode);
        }

        using var leafOnly = server.CreateClient(svid.Certificate, null, _pki.Bundles);
        Assert.Equal(HttpStatusCode.OK, (await leafOnly.GetAsync("/whoami")).StatusCode);
    }

    [Fact]
    public async Task Authenticate_LeafWithoutIntermediates_Returns401()
    {
        await using var server = await AgentTestServer.StartAsync(_pki);
        var svid = _pki.IssueSvid("spiffe://corp.example/agent/planner/1");
        using var leafOnly = server.CreateClient(svid.Certificate, null, _pki.Bundles);

        using var response = await leafOnly.GetAsync("/whoami");

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Contains(server.Logs.GetSnapshot(), r => r.Id.Id == 3001 && r.Message.Contains("(UntrustedChain)", StringComparison.Ordinal));
    }

    private sealed class TestRevocationChecker : IAgentRevocationChecker
    {
        private readonly System.Collections.Concurrent.ConcurrentDictionary<string, bool> _revoked = new();
        private int _calls;

        public int Calls => _calls;

        public void Revoke(string serial) => _revoked[serial] = true;

        public bool IsRevoked(AgentCaller caller, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out string? reason)
        {
            Interlocked.Increment(ref _calls);
            Assert.True(caller.Certificate.RawDataMemory.Length > 0);
            Assert.StartsWith("CN=AgentIdentity Development Root CA", caller.VerifiedChain[^1].Subject, StringComparison.Ordinal);
            reason = _revoked.ContainsKey(caller.SerialNumber) ? "revoked by test" : null;
            return reason is not null;
        }
    }
}
