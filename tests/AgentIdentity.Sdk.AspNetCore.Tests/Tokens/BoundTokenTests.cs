using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using AgentIdentity.AspNetCore.Tests.TestInfrastructure;

namespace AgentIdentity.AspNetCore.Tests.Tokens;

public sealed class BoundTokenTests : IAsyncLifetime, IDisposable
{
    private readonly TestPki _pki = TestPki.ForCorp();
    private TestAuthorizationServer _as = null!;

    public async Task InitializeAsync() => _as = await TestAuthorizationServer.StartAsync(_pki);

    public async Task DisposeAsync() => await _as.DisposeAsync();

    public void Dispose() => _pki.Dispose();

    private Task<AgentTestServer> StartResourceServerAsync(AgentAccessTokenMode mode, bool introspection = false) =>
        AgentTestServer.StartAsync(_pki, o =>
        {
            o.AccessTokens.Mode = mode;
            o.AccessTokens.Validator = introspection
                ? new IntrospectionAccessTokenValidator(new IntrospectionAccessTokenValidatorOptions
                {
                    Endpoint = _as.IntrospectionEndpoint,
                    ClientId = TestAuthorizationServer.IntrospectionClientId,
                    ClientSecret = TestAuthorizationServer.IntrospectionSecret,
                    Audience = TestAuthorizationServer.Audience,
                    Backchannel = TestAuthorizationServer.CreateBackchannel(_pki.Bundles),
                })
                : new JwtAccessTokenValidator(new JwtAccessTokenValidatorOptions
                {
                    MetadataAddress = _as.MetadataAddress,
                    Audiences = { TestAuthorizationServer.Audience },
                    Backchannel = TestAuthorizationServer.CreateBackchannel(_pki.Bundles),
                });
        });

    private static async Task<HttpResponseMessage> GetWithTokenAsync(HttpClient client, string path, string? token)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        return await client.SendAsync(request);
    }

    private static void AssertInvalidToken(HttpResponseMessage response, string descriptionPart)
    {
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        var challenge = Assert.Single(response.Headers.WwwAuthenticate);
        Assert.Equal("Bearer", challenge.Scheme);
        Assert.StartsWith("error=\"invalid_token\", error_description=\"", challenge.Parameter, StringComparison.Ordinal);
        Assert.Contains(descriptionPart, challenge.Parameter, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Authenticate_JwtBoundToPresentedCertificate_SucceedsWithScopes()
    {
        await using var server = await StartResourceServerAsync(AgentAccessTokenMode.Required);
        var svid = _pki.IssueSvid("spiffe://corp.example/agent/planner/1");
        using var client = server.CreateClient(svid, _pki.Bundles);
        var token = _as.CreateToken(TestAuthorizationServer.Thumbprint(svid.Certificate), scope: "invoices:read invoices:write");

        using var response = await GetWithTokenAsync(client, "/whoami", token);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var claims = await response.Content.ReadFromJsonAsync<Dictionary<string, string?>>();
        Assert.Equal("invoices:read invoices:write", claims!["scopes"]);
    }

    [Fact]
    public async Task Authenticate_JwtBoundToOtherCertificate_Returns401InvalidToken()
    {
        await using var server = await StartResourceServerAsync(AgentAccessTokenMode.Optional);
        var svid = _pki.IssueSvid("spiffe://corp.example/agent/planner/1");
        var other = _pki.IssueSvid("spiffe://corp.example/agent/planner/1");
        using var client = server.CreateClient(svid, _pki.Bundles);
        var token = _as.CreateToken(TestAuthorizationServer.Thumbprint(other.Certificate));

        using var response = await GetWithTokenAsync(client, "/whoami", token);

        AssertInvalidToken(response, "cnf.x5t#S256 mismatch");
        Assert.Empty(await response.Content.ReadAsStringAsync());
        Assert.Contains(server.Logs.GetSnapshot(), r => r.Id.Id == 3003 && r.Message.Contains("different certificate", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Authenticate_JwtWithoutCnfWhereBindingRequired_Returns401InvalidToken()
    {
        await using var server = await StartResourceServerAsync(AgentAccessTokenMode.Optional);
        var svid = _pki.IssueSvid("spiffe://corp.example/agent/planner/1");
        using var client = server.CreateClient(svid, _pki.Bundles);

        using var response = await GetWithTokenAsync(client, "/whoami", _as.CreateToken(boundThumbprint: null));

        AssertInvalidToken(response, "not certificate-bound");
    }

    [Theory]
    [InlineData("audience", "audience mismatch")]
    [InlineData("issuer", "untrusted issuer")]
    [InlineData("signature", "signature is invalid")]
    [InlineData("garbage", "malformed")]
    public async Task Authenticate_InvalidJwt_Returns401InvalidTokenWithSpecificDescription(string defect, string description)
    {
        await using var server = await StartResourceServerAsync(AgentAccessTokenMode.Optional);
        var svid = _pki.IssueSvid("spiffe://corp.example/agent/planner/1");
        using var client = server.CreateClient(svid, _pki.Bundles);
        var thumbprint = TestAuthorizationServer.Thumbprint(svid.Certificate);
        var token = defect switch
        {
            "audience" => _as.CreateToken(thumbprint, audience: "spiffe://corp.example/svc/other"),
            "issuer" => _as.CreateToken(thumbprint, issuer: "https://evil.example/"),
            "signature" => _as.CreateToken(thumbprint)[..^4] + "AAAA",
            _ => "not-a-jwt",
        };

        using var response = await GetWithTokenAsync(client, "/whoami", token);

        AssertInvalidToken(response, description);
    }

    [Fact]
    public async Task Authenticate_TokenRequiredButMissing_Returns401BearerChallenge()
    {
        await using var server = await StartResourceServerAsync(AgentAccessTokenMode.Required);
        var svid = _pki.IssueSvid("spiffe://corp.example/agent/planner/1");
        using var client = server.CreateClient(svid, _pki.Bundles);

        using var response = await GetWithTokenAsync(client, "/whoami", token: null);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("Bearer", Assert.Single(response.Headers.WwwAuthenticate).ToString());
    }

    [Fact]
    public async Task Authenticate_IntrospectedBoundToken_ChecksCnf()
    {
        await using var server = await StartResourceServerAsync(AgentAccessTokenMode.Required, introspection: true);
        var svid = _pki.IssueSvid("spiffe://corp.example/agent/planner/1");
        var other = _pki.IssueSvid("spiffe://corp.example/agent/planner/2");
        using var client = server.CreateClient(svid, _pki.Bundles);

        using var good = await GetWithTokenAsync(client, "/invoices", _as.RegisterOpaqueToken(TestAuthorizationServer.Thumbprint(svid.Certificate)));
        using var mismatch = await GetWithTokenAsync(client, "/invoices", _as.RegisterOpaqueToken(TestAuthorizationServer.Thumbprint(other.Certificate)));
        using var inactive = await GetWithTokenAsync(client, "/invoices", _as.RegisterOpaqueToken(TestAuthorizationServer.Thumbprint(svid.Certificate), active: false));

        Assert.Equal(HttpStatusCode.OK, good.StatusCode);
        AssertInvalidToken(mismatch, "cnf.x5t#S256 mismatch");
        AssertInvalidToken(inactive, "not active");
    }
}
