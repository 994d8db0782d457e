using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;

namespace AgentIdentity.Issuer.Tests.Hosting;

public sealed class IssuerAdminAndDelegationTests : IAsyncLifetime
{
    private IssuerHost _host = null!;

    public async Task InitializeAsync() => _host = await IssuerHost.StartAsync();

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync();
        _host.DeleteDirectory();
    }

    private async Task<(HttpStatusCode Status, JsonElement Body)> CreateTokenAsync(string? key, object body)
    {
        using var http = _host.CreateHttpClient();
        if (key is not null)
        {
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }

        return await IssuerHost.PostAsync(http, "v1/join-tokens", body);
    }

    [Fact]
    public async Task CreateJoinToken_WithAdminKey_ReturnsTokenThatEnrollsWithItsPolicy()
    {
        var (status, body) = await CreateTokenAsync(IssuerHost.AdminKey, new
        {
            agentName = "researcher",
            ttlSeconds = 120,
            policy = new { services = new[] { "spiffe://example.org/svc/search" }, tools = new[] { "web.*" }, maxDelegationDepth = 1 },
        });
        Assert.Equal(HttpStatusCode.OK, status);
        var token = body.GetProperty("joinToken").GetString()!;
        Assert.StartsWith("aijt_", token, StringComparison.Ordinal);

        await using var credential = await AgentCredential.CreateAsync(IssuerHost.AgentId("researcher"), new IssuerClient(_host.ClientOptions(token), _host.Time), timeProvider: _host.Time);
        var policy = credential.GetCurrent().Policy!;
        Assert.Equal(1, policy.MaxDelegationDepth);
        Assert.True(policy.AllowsTool("web.search"));
        Assert.False(policy.AllowsTool("shell.exec"));
    }

    [Theory]
    [InlineData(null, HttpStatusCode.Unauthorized, "Authorization: Bearer")]
    [InlineData("wrong-key-0123456789abcdef0123456789", HttpStatusCode.Unauthorized, "Authorization: Bearer")]
    public async Task CreateJoinToken_WithoutValidAdminKey_Returns401(string? key, HttpStatusCode expected, string message)
    {
        var (status, body) = await CreateTokenAsync(key, new { agentName = "researcher" });
        Assert.Equal(expected, status);
        Assert.Contains(message, IssuerHost.Detail(body), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{\"agentName\":\"bad name\"}", "may contain only")]
    [InlineData("{\"agentName\":\"ok\",\"ttlSeconds\":999999}", "'ttlSeconds' must be at most")]
    [InlineData("{\"agentName\":\"ok\",\"policy\":{\"services\":[\"not a spiffe pattern\"]}}", "'policy' is invalid")]
    [InlineData("{\"agentName\":\"ok\",\"policy\":{\"tools\":[1]}}", "must contain only strings")]
    [InlineData("{}", "'agentName' is required")]
    public async Task CreateJoinToken_BadInput_Returns400(string json, string message)
    {
        using var http = _host.CreateHttpClient();
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", IssuerHost.AdminKey);
        using var response = await http.PostAsync("v1/join-tokens", new StringContent(json, System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Contains(message, IssuerHost.Detail(problem.RootElement), StringComparison.Ordinal);
    }

    [Fact]
    public async Task DelegateAsync_NarrowerPolicy_IssuesTaskIdentityWithChain()
    {
        var parentPolicy = new AgentPolicy(services: ["spiffe://example.org/svc/*"], tools: ["web.*", "files.read"], maxDelegationDepth: 1, delegationTargets: ["spiffe://example.org/agent/planner/*"]);
        var token = await _host.Issuer.CreateJoinTokenAsync("planner", parentPolicy, TimeSpan.FromMinutes(5));
        await using var parent = await AgentCredential.CreateAsync(IssuerHost.AgentId("planner"), new IssuerClient(_host.ClientOptions(token), _host.Time),
            new AgentCredentialOptions { Lifetime = TimeSpan.FromMinutes(30) }, _host.Time);

        await using var task = await parent.DelegateAsync("t1", new AgentPolicy(services: ["spiffe://example.org/svc/search"], tools: ["web.search"]));
        var svid = task.GetCurrent();
        Assert.Equal(parent.Id.Append("task", "t1"), svid.Id);
        Assert.Equal(parent.Id, Assert.Single(svid.DelegationChain!).Id);
        var record = await _host.Issuer.Store.FindCertificateAsync(svid.SerialNumber);
        Assert.Equal("delegate", record!.Kind);
        Assert.Equal(parent.Id.ToString(), (await _host.Issuer.Store.FindIdentityAsync(svid.Id.ToString()))!.ParentId);
    }

    [Fact]
    public async Task DelegateAsync_WiderPolicy_IsRefusedWith403()
    {
        var parentPolicy = new AgentPolicy(tools: ["web.search"], maxDelegationDepth: 1, delegationTargets: ["spiffe://example.org/agent/planner/*"]);
        var token = await _host.Issuer.CreateJoinTokenAsync("planner", parentPolicy, TimeSpan.FromMinutes(5));
        await using var parent = await AgentCredential.CreateAsync(IssuerHost.AgentId("planner"), new IssuerClient(_host.ClientOptions(token), _host.Time), timeProvider: _host.Time);

        var ex = await Assert.ThrowsAsync<CertificateIssuanceException>(() => parent.DelegateAsync("t1", new AgentPolicy(tools: ["shell.exec"])));
        Assert.Contains("403", ex.Message, StringComparison.Ordinal);
        Assert.Contains("by delegation (PolicyEscalation)", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DelegateAsync_ParentWithoutDelegationRight_IsRefused()
    {
        var token = await _host.Issuer.CreateJoinTokenAsync("planner", new AgentPolicy(tools: ["web.search"]), TimeSpan.FromMinutes(5));
        await using var parent = await AgentCredential.CreateAsync(IssuerHost.AgentId("planner"), new IssuerClient(_host.ClientOptions(token), _host.Time), timeProvider: _host.Time);
        var ex = await Assert.ThrowsAsync<CertificateIssuanceException>(() => parent.DelegateAsync("t1", new AgentPolicy(tools: ["web.search"])));
        Assert.Contains("403", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DelegateAsync_MalformedPolicyOrSignature_Returns400Or403()
    {
        var token = await _host.Issuer.CreateJoinTokenAsync("planner", new AgentPolicy(tools: ["web.*"], maxDelegationDepth: 1, delegationTargets: ["spiffe://example.org/agent/planner/*"]), TimeSpan.FromMinutes(5));
        await using var parent = await AgentCredential.CreateAsync(IssuerHost.AgentId("planner"), new IssuerClient(_host.ClientOptions(token), _host.Time), timeProvider: _host.Time);
        using var http = _host.CreateHttpClient(parent.GetCurrent());
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var child = parent.Id.Append("task", "t1");
        var csr = Convert.ToBase64String(TestPki.Csr(child, key));

        var (status, body) = await IssuerHost.PostAsync(http, "v1/delegate", new { spiffeId = child.ToString(), csr, policy = Convert.ToBase64String([1, 2, 3]), proofSignature = "AAAA" });
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("not a valid DER agent policy", IssuerHost.Detail(body), StringComparison.Ordinal);

        var policy = Convert.ToBase64String(new AgentPolicy(tools: ["web.search"]).WithTaskId("t1").ToDer());
        (status, body) = await IssuerHost.PostAsync(http, "v1/delegate", new { spiffeId = child.ToString(), csr, policy, proofSignature = "AAAA" });
        Assert.Equal(HttpStatusCode.Forbidden, status);
        Assert.Contains("InvalidProof", IssuerHost.Detail(body), StringComparison.Ordinal);
    }

    [Fact]
    public async Task BundleAsync_OverRateLimit_Returns429PerCaller()
    {
        await using var limited = await IssuerHost.StartAsync(o => o.RateLimitPermits = 3);
        try
        {
            using var http = limited.CreateHttpClient();
            var statuses = new List<HttpStatusCode>();
            for (var i = 0; i < 5; i++)
            {
                using var response = await http.GetAsync("v1/bundle");
                statuses.Add(response.StatusCode);
                if (response.StatusCode == HttpStatusCode.TooManyRequests)
                {
                    Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
                    Assert.Contains("exceeded 3 requests", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
                }
            }

            Assert.Equal([HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.TooManyRequests, HttpStatusCode.TooManyRequests], statuses);
        }
        finally
        {
            limited.DeleteDirectory();
        }
    }
}
