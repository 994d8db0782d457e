using System.Net;
using System.Security.Cryptography.X509Certificates;

namespace AgentIdentity.Issuer.Tests.Administration;

/// <summary>Administration by identity: v1/revoke, v1/join-tokens and v1/status over mTLS against a real issuer on Kestrel.</summary>
public sealed class AdminEndpointsTests : IAsyncLifetime
{
    private AdminIssuer _issuer = null!;

    public async Task InitializeAsync() => _issuer = await AdminIssuer.StartAsync();

    public async Task DisposeAsync() => await _issuer.DisposeAsync();

    [Fact]
    public async Task Revoke_ById_OperatorWithRevokeAction_RevokesAndTheFeedShowsTheEntry()
    {
        await using var ops = await _issuer.EnrollOperatorAsync();
        await using var agent = await _issuer.EnrollAsync("planner", new AgentPolicy(tools: ["web.*"]));

        var (status, body) = await _issuer.RevokeAsync(ops.GetCurrent(), new { spiffeId = agent.Id.ToString(), reason = "keyCompromise" });

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(1, body.GetProperty("sequence").GetInt64());
        Assert.Equal("identity", body.GetProperty("kind").GetString());
        Assert.Equal("keyCompromise", body.GetProperty("reason").GetString());
        Assert.True(body.GetProperty("known").GetBoolean());
        var entry = Assert.Single(await _issuer.ReadFeedAsync());
        Assert.Equal(RevocationKind.Identity, entry.Kind);
        Assert.Equal(agent.Id, entry.Id);
        Assert.Equal(X509RevocationReason.KeyCompromise, entry.Reason);
        Assert.NotNull(await _issuer.Registry.GetIdentityRevocationAsync(agent.Id.Append("task", "t9")));
    }

    [Fact]
    public async Task Revoke_BySerial_OperatorWithRevokeAction_RevokesThatCertificateOnly()
    {
        await using var ops = await _issuer.EnrollOperatorAsync();
        await using var agent = await _issuer.EnrollAsync("planner", null);
        var serial = agent.GetCurrent().SerialNumber;

        var (status, body) = await _issuer.RevokeAsync(ops.GetCurrent(), new { serialNumber = serial, reason = "superseded" });

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("serial", body.GetProperty("kind").GetString());
        var entry = Assert.Single(await _issuer.ReadFeedAsync());
        Assert.Equal(RevocationKind.Serial, entry.Kind);
        Assert.Equal(RevocationEntry.NormalizeSerialNumber(serial), entry.SerialNumber);
        Assert.Equal(entry.Sequence, body.GetProperty("sequence").GetInt64());
        Assert.Null(await _issuer.Registry.GetIdentityRevocationAsync(agent.Id));

        // Idempotent: the same revocation answers the first entry, and the feed does not grow.
        (status, body) = await _issuer.RevokeAsync(ops.GetCurrent(), new { serialNumber = serial });
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(entry.Sequence, body.GetProperty("sequence").GetInt64());
        Assert.Single(await _issuer.ReadFeedAsync());
    }

    [Theory]
    [InlineData("{\"reason\":\"keyCompromise\"}", HttpStatusCode.BadRequest, "exactly one of 'serialNumber'")]
    [InlineData("{\"serialNumber\":\"0A\",\"spiffeId\":\"spiffe://example.org/agent/x/1\"}", HttpStatusCode.BadRequest, "exactly one of 'serialNumber'")]
    [InlineData("{\"serialNumber\":\"0A\",\"reason\":\"certificateHold\"}", HttpStatusCode.BadRequest, "revocations are permanent")]
    [InlineData("{\"serialNumber\":\"0A\",\"reason\":\"stolen\"}", HttpStatusCode.BadRequest, "not an RFC 5280 revocation reason")]
    [InlineData("{\"serialNumber\":\"xyz\"}", HttpStatusCode.BadRequest, "is not a hex string")]
    [InlineData("{\"serialNumber\":\"0ABC\"}", HttpStatusCode.NotFound, "has not issued a certificate with serial number 0ABC")]
    [InlineData("{\"spiffeId\":\"spiffe://other.org/agent/x/1\"}", HttpStatusCode.Forbidden, "administers 'example.org' only")]
    [InlineData("{\"spiffeId\":\"spiffe://example.org\"}", HttpStatusCode.BadRequest, "rotate the CA")]
    public async Task Revoke_BadInput_IsRefusedWithASpecificProblem(string json, HttpStatusCode expected, string detail)
    {
        await using var ops = await _issuer.EnrollOperatorAsync();
        using var http = _issuer.Host.CreateHttpClient(ops.GetCurrent());
        using var response = await http.PostAsync("v1/revoke", new StringContent(json, System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(expected, response.StatusCode);
        using var problem = System.Text.Json.JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Contains(detail, IssuerHost.Detail(problem.RootElement), StringComparison.Ordinal);
        Assert.Equal(0, _issuer.Registry.LastSequence);
    }

    [Fact]
    public async Task AgentWithoutTheAction_CannotRevokeNorMintJoinTokensNorReadStatus_403NamesTheAction()
    {
        await using var agent = await _issuer.EnrollAsync("planner", new AgentPolicy(actions: ["invoices:read"], tools: ["web.*"]));
        await using var victim = await _issuer.EnrollAsync("researcher", null);

        var (status, body) = await _issuer.RevokeAsync(agent.GetCurrent(), new { spiffeId = victim.Id.ToString() });
        Assert.Equal(HttpStatusCode.Forbidden, status);
        Assert.Equal("Action not granted", body.GetProperty("title").GetString());
        Assert.Contains($"'{agent.Id}' lacks the action 'agentidentity:revoke'", IssuerHost.Detail(body), StringComparison.Ordinal);

        (status, body) = await _issuer.CreateJoinTokenAsync(agent.GetCurrent(), new { agentName = "evil" });
        Assert.Equal(HttpStatusCode.Forbidden, status);
        Assert.Contains("lacks the action 'agentidentity:join-token'", IssuerHost.Detail(body), StringComparison.Ordinal);

        (status, body) = await _issuer.StatusAsync(agent.GetCurrent(), victim.Id);
        Assert.Equal(HttpStatusCode.Forbidden, status);
        Assert.Contains("lacks the action 'agentidentity:status'", IssuerHost.Detail(body), StringComparison.Ordinal);

        Assert.Equal(0, _issuer.Registry.LastSequence);
    }

    [Fact]
    public async Task AgentWithoutAnyPolicy_IsRefused_403SaysItCarriesNoPolicy()
    {
        await using var agent = await _issuer.EnrollAsync("planner", null);
        var (status, body) = await _issuer.RevokeAsync(agent.GetCurrent(), new { spiffeId = agent.Id.ToString() });
        Assert.Equal(HttpStatusCode.Forbidden, status);
        Assert.Contains("its certificate carries no policy", IssuerHost.Detail(body), StringComparison.Ordinal);
        Assert.Null(await _issuer.Registry.GetIdentityRevocationAsync(agent.Id));
    }

    [Fact]
    public async Task TaskIdentityOfAnOperator_IsRefusedUnlessItsEffectivePolicyGrantsTheAction()
    {
        await using var ops = await _issuer.EnrollOperatorAsync();
        await using var victim = await _issuer.EnrollAsync("researcher", null);
        await using var narrowTask = await ops.DelegateAsync("t1", new AgentPolicy(actions: [IssuerAdminActions.Status]));

        var (status, body) = await _issuer.RevokeAsync(narrowTask.GetCurrent(), new { spiffeId = victim.Id.ToString() });
        Assert.Equal(HttpStatusCode.Forbidden, status);
        Assert.Equal("Task identity not authorized", body.GetProperty("title").GetString());
        Assert.Contains($"'{narrowTask.Id}' is a task identity delegated by '{ops.Id}'", IssuerHost.Detail(body), StringComparison.Ordinal);
        Assert.Contains("'agentidentity:revoke'", IssuerHost.Detail(body), StringComparison.Ordinal);
        Assert.Equal(0, _issuer.Registry.LastSequence);

        // The same task identity may use what its effective policy does grant.
        (status, _) = await _issuer.StatusAsync(narrowTask.GetCurrent(), victim.Id);
        Assert.Equal(HttpStatusCode.OK, status);

        await using var revokingTask = await ops.DelegateAsync("t2", new AgentPolicy(actions: [IssuerAdminActions.Revoke]));
        (status, _) = await _issuer.RevokeAsync(revokingTask.GetCurrent(), new { spiffeId = victim.Id.ToString() });
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.NotNull(await _issuer.Registry.GetIdentityRevocationAsync(victim.Id));
    }

    [Fact]
    public async Task OperatorOfAnotherTrustDomain_IsRefused_403NamesTheForeignTrustDomain()
    {
        using var foreignCa = DevelopmentCertificateAuthority.Create(TrustDomain.Parse("other.org"), null, _issuer.Host.Time);
        await using var foreign = await AgentCredential.CreateAsync(SpiffeId.ForAgent(TrustDomain.Parse("other.org"), "ops", "i-1"), foreignCa,
            new AgentCredentialOptions { Policy = AdminIssuer.OperatorPolicy }, _issuer.Host.Time);
        await using var victim = await _issuer.EnrollAsync("researcher", null);

        var (status, body) = await _issuer.RevokeAsync(foreign.GetCurrent(), new { spiffeId = victim.Id.ToString() });
        Assert.Equal(HttpStatusCode.Forbidden, status);
        Assert.Equal("Foreign trust domain", body.GetProperty("title").GetString());
        Assert.Contains("is of trust domain 'other.org'", IssuerHost.Detail(body), StringComparison.Ordinal);

        (status, body) = await _issuer.CreateJoinTokenAsync(foreign.GetCurrent(), new { agentName = "evil" });
        Assert.Equal(HttpStatusCode.Forbidden, status);
        Assert.Equal("Foreign trust domain", body.GetProperty("title").GetString());
        Assert.Equal(0, _issuer.Registry.LastSequence);
    }

    [Fact]
    public async Task NoClientCertificate_Is401_AndRevokeNeverAcceptsTheAdminKey()
    {
        await using var victim = await _issuer.EnrollAsync("researcher", null);

        var (status, body) = await _issuer.RevokeAsync(null, new { spiffeId = victim.Id.ToString() });
        Assert.Equal(HttpStatusCode.Unauthorized, status);
        Assert.Contains("requires mTLS with an operator SVID", IssuerHost.Detail(body), StringComparison.Ordinal);

        using var http = _issuer.Host.CreateHttpClient();
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", IssuerHost.AdminKey);
        (status, _) = await IssuerHost.PostAsync(http, "v1/revoke", new { spiffeId = victim.Id.ToString() });
        Assert.Equal(HttpStatusCode.Unauthorized, status);
        Assert.Null(await _issuer.Registry.GetIdentityRevocationAsync(victim.Id));
    }

    [Fact]
    public async Task RevokedOperator_AdministersNothing()
    {
        await using var ops = await _issuer.EnrollOperatorAsync();
        await _issuer.Registry.RevokeIdentityAsync(ops.Id, X509RevocationReason.KeyCompromise);

        var (status, body) = await _issuer.CreateJoinTokenAsync(ops.GetCurrent(), new { agentName = "planner" });
        Assert.Equal(HttpStatusCode.Forbidden, status);
        Assert.Equal("Operator revoked", body.GetProperty("title").GetString());
    }

    [Fact]
    public async Task JoinToken_OperatorWithTheAction_MintsATokenThatEnrolls()
    {
        await using var ops = await _issuer.EnrollOperatorAsync();

        var (status, body) = await _issuer.CreateJoinTokenAsync(ops.GetCurrent(), new { agentName = "planner", policy = new { tools = new[] { "web.*" } } });

        Assert.Equal(HttpStatusCode.OK, status);
        var token = body.GetProperty("joinToken").GetString()!;
        await using var agent = await AgentCredential.CreateAsync(IssuerHost.AgentId("planner"), new IssuerClient(_issuer.Host.ClientOptions(token), _issuer.Host.Time), timeProvider: _issuer.Host.Time);
        Assert.True(agent.GetCurrent().Policy!.AllowsTool("web.search"));
    }

    [Fact]
    public async Task JoinToken_PolicyWithAMemberOutsideThePolicyShape_IsRefusedNamingIt()
    {
        await using var ops = await _issuer.EnrollOperatorAsync();

        var (status, body) = await _issuer.CreateJoinTokenAsync(ops.GetCurrent(), new { agentName = "planner", policy = new { tools = new[] { "web.*" }, taskId = "t1" } });

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("Invalid policy", body.GetProperty("title").GetString());
        Assert.Contains("taskId", body.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.False(body.TryGetProperty("joinToken", out _));
    }

    [Fact]
    public async Task OperatorIdPattern_GrantsAnAgentIdentity_ButNotItsTaskIdentities()
    {
        await using var issuer = await AdminIssuer.StartAsync(o => o.OperatorIds.Add("spiffe://example.org/agent/ops/*"));
        var delegating = new AgentPolicy(tools: ["web.*"], maxDelegationDepth: 1, delegationTargets: ["spiffe://example.org/agent/ops/*"]);
        await using var ops = await issuer.EnrollAsync("ops", delegating);
        await using var other = await issuer.EnrollAsync("planner", delegating);
        await using var victim = await issuer.EnrollAsync("researcher", null);

        var (status, _) = await issuer.RevokeAsync(other.GetCurrent(), new { spiffeId = victim.Id.ToString() });
        Assert.Equal(HttpStatusCode.Forbidden, status);

        await using var task = await ops.DelegateAsync("t1", new AgentPolicy(tools: ["web.search"]));
        Assert.StartsWith("spiffe://example.org/agent/ops/", task.Id.ToString(), StringComparison.Ordinal);
        (status, var body) = await issuer.RevokeAsync(task.GetCurrent(), new { spiffeId = victim.Id.ToString() });
        Assert.Equal(HttpStatusCode.Forbidden, status);
        Assert.Contains("Operator ID patterns never extend to task identities", IssuerHost.Detail(body), StringComparison.Ordinal);

        (status, _) = await issuer.RevokeAsync(ops.GetCurrent(), new { spiffeId = victim.Id.ToString() });
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.NotNull(await issuer.Registry.GetIdentityRevocationAsync(victim.Id));
    }

    [Fact]
    public async Task Status_AnswersRevocationCertificatesAndDescendants()
    {
        await using var ops = await _issuer.EnrollOperatorAsync();
        var planner = new AgentPolicy(tools: ["web.*"], maxDelegationDepth: 1, delegationTargets: ["spiffe://example.org/agent/planner/*"]);
        await using var agent = await _issuer.EnrollAsync("planner", planner);
        await using var task = await agent.DelegateAsync("t1", new AgentPolicy(tools: ["web.search"]));
        var first = agent.GetCurrent().SerialNumber;

        var (status, body) = await _issuer.StatusAsync(ops.GetCurrent(), agent.Id);
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.True(body.GetProperty("enrolled").GetBoolean());
        Assert.False(body.TryGetProperty("revocation", out _));
        Assert.True(body.GetProperty("certificatesRecorded").GetBoolean());
        Assert.Equal(1, body.GetProperty("certificateCount").GetInt64());
        Assert.Equal(first, body.GetProperty("current").GetString());
        var certificate = Assert.Single(body.GetProperty("certificates").EnumerateArray());
        Assert.Equal("enroll", certificate.GetProperty("kind").GetString());
        Assert.Equal("current", certificate.GetProperty("state").GetString());
        var descendant = Assert.Single(body.GetProperty("descendants").EnumerateArray());
        Assert.Equal(task.Id.ToString(), descendant.GetProperty("spiffeId").GetString());
        Assert.Equal(agent.Id.ToString(), descendant.GetProperty("parentId").GetString());
        Assert.False(descendant.GetProperty("revoked").GetBoolean());

        (status, _) = await _issuer.RevokeAsync(ops.GetCurrent(), new { spiffeId = agent.Id.ToString(), reason = "keyCompromise" });
        Assert.Equal(HttpStatusCode.OK, status);
        (_, body) = await _issuer.StatusAsync(ops.GetCurrent(), agent.Id);
        Assert.Equal("keyCompromise", body.GetProperty("revocation").GetProperty("reason").GetString());
        Assert.False(body.TryGetProperty("current", out _));
        Assert.Equal("revoked", Assert.Single(body.GetProperty("certificates").EnumerateArray()).GetProperty("state").GetString());
        Assert.True(Assert.Single(body.GetProperty("descendants").EnumerateArray()).GetProperty("revoked").GetBoolean());
    }

    [Fact]
    public async Task Status_WithoutClientCertificate_Is401()
    {
        var (status, body) = await _issuer.StatusAsync(null, IssuerHost.AgentId("planner"));
        Assert.Equal(HttpStatusCode.Unauthorized, status);
        Assert.Contains("agentidentity:status", IssuerHost.Detail(body), StringComparison.Ordinal);
    }
}
