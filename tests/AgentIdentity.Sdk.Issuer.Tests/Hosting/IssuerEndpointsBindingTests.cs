using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace AgentIdentity.Issuer.Tests.Hosting;

/// <summary>The endpoints bind their bodies to the wire records; a missing, misspelled (unknown) or mistyped member gets the
/// same specific problem (status, title and detail) that the hand-written JSON reader gave before the records existed.</summary>
public sealed class IssuerEndpointsBindingTests : IAsyncLifetime
{
    private IssuerHost _host = null!;

    public async Task InitializeAsync() => _host = await IssuerHost.StartAsync();

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync();
        _host.DeleteDirectory();
    }

    [Theory]
    [InlineData("""{"spiffeId":"{id}","csr":"{csr}","joinTokn":"{token}"}""", "Missing joinToken", "'joinToken' is required and must be a non-empty string.")]
    [InlineData("""{"spiffeId":"{id}","csr":"{csr}"}""", "Missing joinToken", "'joinToken' is required and must be a non-empty string.")]
    [InlineData("""{"spiffeId":"{id}","csr":"{csr}","joinToken":5}""", "Missing joinToken", "'joinToken' is required and must be a non-empty string.")]
    [InlineData("""{"spiffeId":"{id}","csr":"{csr}","joinToken":""}""", "Missing joinToken", "'joinToken' is required and must be a non-empty string.")]
    [InlineData("""{"SpiffeId":"{id}","csr":"{csr}","joinToken":"{token}"}""", "Missing spiffeId", "'spiffeId' is required and must be a non-empty string.")]
    [InlineData("""{"spiffeId":true,"csr":"{csr}","joinToken":"{token}"}""", "Missing spiffeId", "'spiffeId' is required and must be a non-empty string.")]
    [InlineData("""{"spiffeId":"{id}","joinToken":"{token}"}""", "Missing csr", "'csr' is required and must be a non-empty string.")]
    [InlineData("""{"spiffeId":"{id}","csr":12,"joinToken":"{token}"}""", "Missing csr", "'csr' is required and must be a non-empty string.")]
    [InlineData("""{"spiffeId":"{id}","csr":"%%%","joinToken":"{token}"}""", "Invalid csr", "'csr' is not valid base64.")]
    [InlineData("""{"spiffeId":"{id}","csr":"{csr}","joinToken":"{token}","lifetimeSeconds":"600"}""", "Invalid lifetimeSeconds", "'lifetimeSeconds' must be a positive 32-bit integer.")]
    [InlineData("""{"spiffeId":"{id}","csr":"{csr}","joinToken":"{token}","lifetimeSeconds":1.5}""", "Invalid lifetimeSeconds", "'lifetimeSeconds' must be a positive 32-bit integer.")]
    [InlineData("""{"spiffeId":"{id}","csr":"{csr}","joinToken":"{token}","lifetimeSeconds":3000000000}""", "Invalid lifetimeSeconds", "'lifetimeSeconds' must be a positive 32-bit integer.")]
    [InlineData("""{"spiffeId":"{id}","csr":"{csr}","joinToken":"{token}","lifetimeSeconds":0}""", "Invalid lifetimeSeconds", "'lifetimeSeconds' must be a positive 32-bit integer.")]
    public async Task IssueAsync_MissingUnknownOrMistypedMember_ReturnsTheSpecific400(string template, string title, string detail)
    {
        var token = await _host.Issuer.CreateJoinTokenAsync("worker", null, TimeSpan.FromMinutes(5));
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var id = IssuerHost.AgentId("worker");
        var json = template.Replace("{id}", id.ToString(), StringComparison.Ordinal)
            .Replace("{csr}", Convert.ToBase64String(TestPki.Csr(id, key)), StringComparison.Ordinal)
            .Replace("{token}", token, StringComparison.Ordinal);
        using var http = _host.CreateHttpClient();
        await AssertProblemAsync(http, "v1/issue", json, title, detail);
        Assert.Null((await _host.Issuer.Store.FindJoinTokenAsync(AgentIdentityIssuer.HashToken(token)))!.RedeemedAt);
        Assert.Equal(0, await _host.Issuer.Store.CountCertificatesAsync());
    }

    [Fact]
    public async Task IssueAsync_UnknownMemberBesideTheRequiredOnes_IsIgnored()
    {
        var token = await _host.Issuer.CreateJoinTokenAsync("worker", null, TimeSpan.FromMinutes(5));
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var id = IssuerHost.AgentId("worker");
        using var http = _host.CreateHttpClient();
        var (status, body) = await IssuerHost.PostAsync(http, "v1/issue", new
        {
            spiffeId = id.ToString(),
            csr = Convert.ToBase64String(TestPki.Csr(id, key)),
            joinToken = token,
            attestation = new { kind = "future" },
        });
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(id.ToString(), body.GetProperty("spiffeId").GetString());
        Assert.Equal(2, body.GetProperty("certificates").GetArrayLength());
    }

    [Theory]
    [InlineData("""{"agentNam":"researcher"}""", "Missing agentName", "'agentName' is required and must be a non-empty string.")]
    [InlineData("""{"agentName":7}""", "Missing agentName", "'agentName' is required and must be a non-empty string.")]
    [InlineData("""{"agentName":"ok","ttlSeconds":"60"}""", "Invalid ttlSeconds", "'ttlSeconds' must be a positive 32-bit integer.")]
    [InlineData("""{"agentName":"ok","ttlSeconds":-60}""", "Invalid ttlSeconds", "'ttlSeconds' must be a positive 32-bit integer.")]
    [InlineData("""{"agentName":"ok","policy":"tools"}""", "Invalid policy", "'policy' must be an object with 'services', 'actions', 'tools', 'delegationTargets' (string arrays) and 'maxDelegationDepth' (integer).")]
    [InlineData("""{"agentName":"ok","policy":{"tools":"web.*"}}""", "Invalid policy", "'policy.tools' must be an array of strings.")]
    [InlineData("""{"agentName":"ok","policy":{"services":["spiffe://example.org/a",3]}}""", "Invalid policy", "'policy.services' must contain only strings.")]
    [InlineData("""{"agentName":"ok","policy":{"actions":["read",null]}}""", "Invalid policy", "'policy.actions' must contain only strings.")]
    [InlineData("""{"agentName":"ok","policy":{"maxDelegationDepth":-1}}""", "Invalid policy.maxDelegationDepth", "'policy.maxDelegationDepth' must be a non-negative 32-bit integer.")]
    [InlineData("""{"agentName":"ok","policy":{"maxDelegationDepth":"1"}}""", "Invalid policy.maxDelegationDepth", "'policy.maxDelegationDepth' must be a non-negative 32-bit integer.")]
    public async Task CreateJoinToken_MissingUnknownOrMistypedMember_ReturnsTheSpecific400(string json, string title, string detail)
    {
        using var http = _host.CreateHttpClient();
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", IssuerHost.AdminKey);
        await AssertProblemAsync(http, "v1/join-tokens", json, title, detail);
    }

    [Fact]
    public async Task CreateJoinToken_MistypedMemberWithoutAdminKey_IsRefusedForTheKeyFirst()
    {
        using var http = _host.CreateHttpClient();
        using var response = await http.PostAsync("v1/join-tokens", Json("""{"agentName":7}"""));
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Fact]
    public async Task RenewAsync_MistypedMemberWithoutClientCertificate_IsRefusedForTheCertificateFirst()
    {
        using var http = _host.CreateHttpClient();
        using var response = await http.PostAsync("v1/renew", Json("""{"spiffeId":1,"csr":2}"""));
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Contains("mTLS with the current SVID", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"spiffeId":"{id}","csr":"{csr}","proofSignature":"AAAA"}""", "Missing policy", "'policy' is required and must be a non-empty string.")]
    [InlineData("""{"spiffeId":"{id}","csr":"{csr}","policy":{"tools":[]},"proofSignature":"AAAA"}""", "Missing policy", "'policy' is required and must be a non-empty string.")]
    [InlineData("""{"spiffeId":"{id}","csr":"{csr}","policy":"%%","proofSignature":"AAAA"}""", "Invalid policy", "'policy' is not valid base64.")]
    [InlineData("""{"spiffeId":"{id}","csr":"{csr}","policy":"{policy}"}""", "Missing proofSignature", "'proofSignature' is required and must be a non-empty string.")]
    [InlineData("""{"spiffeId":"{id}","csr":"{csr}","policy":"{policy}","proofSignature":"!"}""", "Invalid proofSignature", "'proofSignature' is not valid base64.")]
    public async Task DelegateAsync_MissingOrMistypedMember_ReturnsTheSpecific400(string template, string title, string detail)
    {
        var token = await _host.Issuer.CreateJoinTokenAsync("planner", new AgentPolicy(tools: ["web.*"], maxDelegationDepth: 1, delegationTargets: ["spiffe://example.org/agent/planner/*"]), TimeSpan.FromMinutes(5));
        await using var parent = await AgentCredential.CreateAsync(IssuerHost.AgentId("planner"), new IssuerClient(_host.ClientOptions(token), _host.Time), timeProvider: _host.Time);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var child = parent.Id.Append("task", "t1");
        var json = template.Replace("{id}", child.ToString(), StringComparison.Ordinal)
            .Replace("{csr}", Convert.ToBase64String(TestPki.Csr(child, key)), StringComparison.Ordinal)
            .Replace("{policy}", Convert.ToBase64String(new AgentPolicy(tools: ["web.search"]).WithTaskId("t1").ToDer()), StringComparison.Ordinal);
        using var http = _host.CreateHttpClient(parent.GetCurrent());
        await AssertProblemAsync(http, "v1/delegate", json, title, detail);
    }

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    private static async Task AssertProblemAsync(HttpClient http, string path, string json, string title, string detail)
    {
        using var response = await http.PostAsync(path, Json(json));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal(400, problem.RootElement.GetProperty("status").GetInt32());
        Assert.Equal(title, problem.RootElement.GetProperty("title").GetString());
        Assert.Equal(detail, problem.RootElement.GetProperty("detail").GetString());
    }
}
