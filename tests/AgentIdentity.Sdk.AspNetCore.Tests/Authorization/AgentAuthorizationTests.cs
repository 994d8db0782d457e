using System.Diagnostics.CodeAnalysis;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography.X509Certificates;
using AgentIdentity.AspNetCore.Tests.TestInfrastructure;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;

namespace AgentIdentity.AspNetCore.Tests.Authorization;

public sealed class AgentAuthorizationTests : IDisposable
{
    private readonly TestPki _pki = TestPki.ForCorp();

    public void Dispose() => _pki.Dispose();

    [Theory]
    [InlineData("spiffe://corp.example/agent/planner/1", HttpStatusCode.OK)]
    [InlineData("spiffe://corp.example/agent/planner/1/task/9", HttpStatusCode.OK)]
    [InlineData("spiffe://corp.example/agent/planner2/1", HttpStatusCode.Forbidden)]
    [InlineData("spiffe://corp.example/agent/admin/1", HttpStatusCode.Forbidden)]
    public async Task RequireAgent_ThroughAuthorizeAttribute_MatchesPattern(string id, HttpStatusCode expected)
    {
        await using var server = await AgentTestServer.StartAsync(_pki);
        var svid = _pki.IssueSvid(id);
        using var client = server.CreateClient(svid, _pki.Bundles);

        using var response = await client.GetAsync("/planners");

        Assert.Equal(expected, response.StatusCode);
    }

    [Fact]
    public async Task RequireTrustDomain_CallerFromOtherTrustedDomain_Returns403()
    {
        _pki.Bundles = new TrustBundleSet([new TrustBundle(TestPki.Corp, [_pki.Ca.RootCertificate]), _pki.OtherCa.Bundle]);
        await using var server = await AgentTestServer.StartAsync(_pki);
        var corp = _pki.IssueSvid("spiffe://corp.example/agent/planner/1");
        var other = _pki.IssueSvid(_pki.OtherCa, "spiffe://other.example/agent/planner/1");
        using var corpClient = server.CreateClient(corp, _pki.Bundles);
        using var otherClient = server.CreateClient(other, _pki.Bundles);

        Assert.Equal(HttpStatusCode.OK, (await corpClient.GetAsync("/corp")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await otherClient.GetAsync("/whoami")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await otherClient.GetAsync("/corp")).StatusCode);
        Assert.Contains(server.Logs.GetSnapshot(), r => r.Id.Id == 3007 && r.Message.Contains("is not in trust domain corp.example", StringComparison.Ordinal));
    }

    [Fact]
    public async Task RequireAction_NoPolicyAndNoToken_Returns403()
    {
        await using var server = await AgentTestServer.StartAsync(_pki);
        var svid = _pki.IssueSvid("spiffe://corp.example/agent/planner/1");
        using var client = server.CreateClient(svid, _pki.Bundles);

        Assert.Equal(HttpStatusCode.Forbidden, (await client.GetAsync("/invoices")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await client.GetAsync("/invoices-attr")).StatusCode);
        Assert.Contains(server.Logs.GetSnapshot(), r => r.Id.Id == 3007 && r.Message.Contains("nothing grants 'invoices:read'", StringComparison.Ordinal));
    }

    [Fact]
    public async Task RequireAction_UnreadablePolicyExtension_FailsClosed()
    {
        await using var server = await AgentTestServer.StartAsync(_pki);
        using var leaf = CreateLeafWithPolicy();
        using var client = server.CreateClient(leaf, null, _pki.Bundles);

        using var response = await client.GetAsync("/invoices");

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Contains(server.Logs.GetSnapshot(), r => r.Id.Id == 3007 && r.Message.Contains("fail-closed", StringComparison.Ordinal));
    }

    [Fact]
    public async Task RequireAction_RealCertificatePolicy_DefaultEvaluatorEnforcesIt()
    {
        await using var server = await AgentTestServer.StartAsync(_pki);
        var reader = _pki.IssueSvid(_pki.Ca, "spiffe://corp.example/agent/planner/1", policy: new AgentPolicy(actions: ["invoices:*"]));
        var writerOnly = _pki.IssueSvid(_pki.Ca, "spiffe://corp.example/agent/planner/2", policy: new AgentPolicy(actions: ["invoices:write"]));
        using var readerClient = server.CreateClient(reader, _pki.Bundles);
        using var writerClient = server.CreateClient(writerOnly, _pki.Bundles);

        Assert.Equal(HttpStatusCode.OK, (await readerClient.GetAsync("/invoices")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await readerClient.GetAsync("/invoices-attr")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await writerClient.GetAsync("/invoices")).StatusCode);
        Assert.Contains(server.Logs.GetSnapshot(), r => r.Id.Id == 3007 && r.Message.Contains("does not allow action 'invoices:read'", StringComparison.Ordinal));
    }

    [Fact]
    public async Task RequireAction_PluggedPolicyEvaluator_DecidesFromCertificatePolicy()
    {
        await using var server = await AgentTestServer.StartAsync(_pki, services: s => s.AddSingleton<IAgentCertificatePolicyEvaluator, ReadOnlyInvoicesEvaluator>());
        using var leaf = CreateLeafWithPolicy();
        using var client = server.CreateClient(leaf, null, _pki.Bundles);

        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/invoices")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/invoices-attr")).StatusCode);
    }

    [Fact]
    public async Task RequireAction_TokenScopeLacksAction_Returns403InsufficientScope()
    {
        await using var authorizationServer = await TestAuthorizationServer.StartAsync(_pki);
        await using var server = await AgentTestServer.StartAsync(_pki, o =>
        {
            o.AccessTokens.Mode = AgentAccessTokenMode.Optional;
            o.AccessTokens.Validator = new JwtAccessTokenValidator(new JwtAccessTokenValidatorOptions
            {
                MetadataAddress = authorizationServer.MetadataAddress,
                Audiences = { TestAuthorizationServer.Audience },
                Backchannel = TestAuthorizationServer.CreateBackchannel(_pki.Bundles),
            });
        });
        var svid = _pki.IssueSvid("spiffe://corp.example/agent/planner/1");
        using var client = server.CreateClient(svid, _pki.Bundles);
        var thumbprint = TestAuthorizationServer.Thumbprint(svid.Certificate);

        using var granted = await SendAsync(client, "/invoices", authorizationServer.CreateToken(thumbprint, scope: "invoices:read"));
        using var denied = await SendAsync(client, "/invoices", authorizationServer.CreateToken(thumbprint, scope: "invoices:write"));

        Assert.Equal(HttpStatusCode.OK, granted.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, denied.StatusCode);
        var challenge = Assert.Single(denied.Headers.WwwAuthenticate);
        Assert.Equal("Bearer", challenge.Scheme);
        Assert.Equal("error=\"insufficient_scope\", scope=\"invoices:read\"", challenge.Parameter);
    }

    [Fact]
    public async Task Authenticate_NoClientCertificateOnOptionalEndpoint_Returns401()
    {
        await using var server = await AgentTestServer.StartAsync(_pki, listen: (lo, svid) => lo.UseAgentIdentityHttps(svid, requireClientCertificate: false));
        using var client = server.CreateClient(certificate: null, intermediates: null, _pki.Bundles);

        using var response = await client.GetAsync("/whoami");

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("AgentIdentity error=\"client_certificate_required\"", Assert.Single(response.Headers.WwwAuthenticate).ToString());
    }

    [Fact]
    public async Task UseAgentIdentityHttps_NoClientCertificate_FailsHandshake()
    {
        await using var server = await AgentTestServer.StartAsync(_pki);
        using var client = server.CreateClient(certificate: null, intermediates: null, _pki.Bundles);

        await Assert.ThrowsAsync<HttpRequestException>(() => client.GetAsync("/whoami"));
    }

    [Theory]
    [InlineData("spiffe://corp.example/agent/*", "spiffe://corp.example/agent/x/1", true)]
    [InlineData("spiffe://corp.example/agent/*", "spiffe://corp.example/agent", false)]
    [InlineData("spiffe://corp.example/agent/a", "spiffe://corp.example/agent/a", true)]
    [InlineData("spiffe://corp.example/agent/a", "spiffe://corp.example/agent/a/b", false)]
    [InlineData("spiffe://corp.example/agent/*", "spiffe://corp.example.evil/agent/x", false)]
    public void AgentIdRequirement_IsMatch_FollowsPatternRules(string pattern, string id, bool expected) =>
        Assert.Equal(expected, new AgentIdRequirement([pattern]).IsMatch(id));

    [Theory]
    [InlineData("corp.example/agent/*")]
    [InlineData("spiffe://Corp.Example/agent")]
    [InlineData("spiffe://corp.example/agent/**")]
    public void AgentIdRequirement_InvalidPattern_ThrowsWithPatternInMessage(string pattern)
    {
        var error = Assert.Throws<ArgumentException>(() => new AgentIdRequirement([pattern]));
        Assert.Contains(pattern, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AgentTrustDomainRequirement_InvalidName_Throws() =>
        Assert.Contains("'Not A Domain'", Assert.Throws<ArgumentException>(() => new AgentTrustDomainRequirement(["Not A Domain"])).Message, StringComparison.Ordinal);

    [Fact]
    public void AgentActionRequirement_Whitespace_Throws() =>
        Assert.Throws<ArgumentException>(() => new AgentActionRequirement("invoices read"));

    private static async Task<HttpResponseMessage> SendAsync(HttpClient client, string path, string token)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return await client.SendAsync(request);
    }

    private X509Certificate2 CreateLeafWithPolicy() => _pki.CreateCraftedLeaf(
        ["spiffe://corp.example/agent/planner/1"],
        extra: [new X509Extension(AgentPolicyExtension.PolicyOid, "invoices:read"u8.ToArray(), critical: false)]);

    /// <summary>A stand-in for the real policy codec: the test "policy" is the UTF-8 list of allowed actions.</summary>
    private sealed class ReadOnlyInvoicesEvaluator : IAgentCertificatePolicyEvaluator
    {
        public AuthorizationDecision? Evaluate(AgentCaller caller, string action) =>
            caller.PolicyExtension is not { } policy ? null
            : System.Text.Encoding.UTF8.GetString(policy.Span).Split(' ').Contains(action) ? AuthorizationDecision.Allowed
            : AuthorizationDecision.Denied($"policy does not allow '{action}'");
    }
}
