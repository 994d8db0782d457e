using System.Net;

namespace AgentIdentity.Issuer.Tests.Administration;

/// <summary>The static admin key: an opt-in for bootstrap only (AdminApiKey), accepted by v1/join-tokens alone.</summary>
public sealed class BootstrapAdminKeyTests
{
    [Fact]
    public async Task AdminKey_NotConfigured_IsRejected_EvenTheRightValue()
    {
        await using var issuer = await AdminIssuer.StartAsync(o => o.AdminApiKey = null);

        var (status, body) = await issuer.CreateJoinTokenAsync(null, new { agentName = "ops" }, bearer: IssuerHost.AdminKey);

        Assert.Equal(HttpStatusCode.Unauthorized, status);
        Assert.Equal("Client certificate required", body.GetProperty("title").GetString());
        Assert.DoesNotContain("Authorization: Bearer", IssuerHost.Detail(body), StringComparison.Ordinal);
    }

    [Fact]
    public async Task AdminKey_OptedIn_MintsTheFirstOperatorsToken_AndAWrongKeyIs401()
    {
        await using var issuer = await AdminIssuer.StartAsync(o => o.AdminApiKey = IssuerHost.AdminKey);

        var (status, body) = await issuer.CreateJoinTokenAsync(null, new { agentName = "ops", policy = new { actions = new[] { "agentidentity:*" } } }, bearer: IssuerHost.AdminKey);
        Assert.Equal(HttpStatusCode.OK, status);
        var token = body.GetProperty("joinToken").GetString()!;
        await using var ops = await AgentCredential.CreateAsync(IssuerHost.AgentId("ops"), new IssuerClient(issuer.Host.ClientOptions(token), issuer.Host.Time), timeProvider: issuer.Host.Time);
        Assert.True(ops.GetCurrent().Policy!.AllowsAction(IssuerAdminActions.Revoke));

        (status, body) = await issuer.CreateJoinTokenAsync(null, new { agentName = "ops" }, bearer: "wrong-key-0123456789abcdef0123456789");
        Assert.Equal(HttpStatusCode.Unauthorized, status);
        Assert.Equal("Admin key rejected", body.GetProperty("title").GetString());

        // The operator it enrolled administers by identity from now on.
        (status, _) = await issuer.RevokeAsync(ops.GetCurrent(), new { spiffeId = IssuerHost.AgentId("planner").ToString() });
        Assert.Equal(HttpStatusCode.OK, status);
    }

    [Fact]
    public void OperatorIds_OutsideTheTrustDomainOrTheWholeDomain_FailValidation()
    {
        var options = new AgentIdentityIssuerOptions { TrustDomain = "example.org" };
        options.OperatorIds.Add("spiffe://other.org/ops/*");
        Assert.Contains("outside the issuer's trust domain", options.Validate(), StringComparison.Ordinal);

        options.OperatorIds.Clear();
        options.OperatorIds.Add("spiffe://example.org/*");
        Assert.Contains("every workload", options.Validate(), StringComparison.Ordinal);

        options.OperatorIds.Clear();
        options.OperatorIds.Add("spiffe://example.org/operator/*");
        Assert.Null(options.Validate());
    }
}
