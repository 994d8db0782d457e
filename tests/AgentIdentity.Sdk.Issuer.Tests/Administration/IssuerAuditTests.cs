using System.Net;
using System.Text.Json;
using AgentIdentity.Audit;
using AgentIdentity.Issuer.Tests.ControlPlane;
using Microsoft.Extensions.DependencyInjection;

namespace AgentIdentity.Issuer.Tests.Administration;

/// <summary>§4 "every control-plane action is audited" and §8 "Escalation": a real issuer on Kestrel with its audit log on disk,
/// real mTLS callers; each test reads the entries back from a log that verifies against the issuer's bundle and own ID.</summary>
public sealed class IssuerAuditTests : IAsyncLifetime
{
    private readonly string _auditDirectory = Path.Combine(Path.GetTempPath(), "ai-issuer-audit-" + Guid.NewGuid().ToString("N"));
    private AdminIssuer _issuer = null!;

    public async Task InitializeAsync() => _issuer = await AdminIssuer.StartAsync(o => o.Audit.Directory = _auditDirectory);

    public async Task DisposeAsync()
    {
        await _issuer.DisposeAsync();
        Directory.Delete(_auditDirectory, recursive: true);
    }

    [Fact]
    public async Task Escalation_AgentWithoutTheAdminAction_CannotRevokeNorMintJoinTokens_AndTheRefusalsAreAudited()
    {
        await using var agent = await _issuer.EnrollAsync("planner", new AgentPolicy(actions: ["invoices:read"], tools: ["web.*"]));
        await using var victim = await _issuer.EnrollAsync("researcher", null);

        var (status, _) = await _issuer.RevokeAsync(agent.GetCurrent(), new { spiffeId = victim.Id.ToString(), reason = "keyCompromise" });
        Assert.Equal(HttpStatusCode.Forbidden, status);
        (status, _) = await _issuer.RevokeAsync(agent.GetCurrent(), new { serialNumber = victim.GetCurrent().SerialNumber });
        Assert.Equal(HttpStatusCode.Forbidden, status);
        (status, var body) = await _issuer.CreateJoinTokenAsync(agent.GetCurrent(), new { agentName = "evil" });
        Assert.Equal(HttpStatusCode.Forbidden, status);
        Assert.False(body.TryGetProperty("joinToken", out _));
        Assert.Equal(0, _issuer.Registry.LastSequence);

        var entries = ReadVerifiedLog();
        var refused = entries.Where(e => Kind(e) == "admin" && Outcome(e) == "denied").ToList();
        Assert.Equal(3, refused.Count);
        Assert.All(refused, e =>
        {
            Assert.Equal(agent.Id.ToString(), e.GetProperty("agent").GetString());
            Assert.Equal(agent.GetCurrent().SerialNumber, e.GetProperty("serial").GetString());
            Assert.Contains("Action not granted", e.GetProperty("reason").GetString(), StringComparison.Ordinal);
            Assert.Equal("403", Attribute(e, "http.status"));
        });
        Assert.Equal([IssuerAdminActions.Revoke, IssuerAdminActions.Revoke, IssuerAdminActions.JoinToken], refused.Select(e => e.GetProperty("action").GetString()));
        Assert.DoesNotContain(entries, e => Kind(e) == "revocation" || e.GetProperty("action").GetString() == "join-token:create");

        // Each refusal is one entry: the admin decision, not a second copy from the endpoint's refusal handler.
        Assert.Equal(3, entries.Count(e => Outcome(e) == "denied"));
    }

    [Fact]
    public async Task Escalation_TaskIdentityOfAnOperator_CannotRevokeNorMintJoinTokens_AndTheRefusalsNameItsChain()
    {
        await using var ops = await _issuer.EnrollOperatorAsync();
        await using var victim = await _issuer.EnrollAsync("researcher", null);
        await using var task = await ops.DelegateAsync("t1", new AgentPolicy(actions: [IssuerAdminActions.Status]));

        var (status, _) = await _issuer.RevokeAsync(task.GetCurrent(), new { spiffeId = victim.Id.ToString() });
        Assert.Equal(HttpStatusCode.Forbidden, status);
        (status, _) = await _issuer.CreateJoinTokenAsync(task.GetCurrent(), new { agentName = "evil" });
        Assert.Equal(HttpStatusCode.Forbidden, status);
        Assert.Equal(0, _issuer.Registry.LastSequence);

        var entries = ReadVerifiedLog();
        var delegation = Assert.Single(entries, e => Kind(e) == "issuance" && e.GetProperty("action").GetString() == "delegate");
        Assert.Equal(ops.Id.ToString(), delegation.GetProperty("agent").GetString());
        Assert.Equal(task.Id.ToString(), delegation.GetProperty("target").GetString());
        Assert.Equal(task.GetCurrent().SerialNumber, Attribute(delegation, "issued_serial"));

        var refused = entries.Where(e => Kind(e) == "admin" && Outcome(e) == "denied").ToList();
        Assert.Equal([IssuerAdminActions.Revoke, IssuerAdminActions.JoinToken], refused.Select(e => e.GetProperty("action").GetString()));
        Assert.All(refused, e =>
        {
            Assert.Equal(task.Id.ToString(), e.GetProperty("agent").GetString());
            Assert.Equal([ops.Id.ToString()], e.GetProperty("chain").EnumerateArray().Select(c => c.GetString()));
            Assert.Contains("Task identity not authorized", e.GetProperty("reason").GetString(), StringComparison.Ordinal);
        });
    }

    [Fact]
    public async Task Escalation_OperatorOfAnotherTrustDomain_IsRefused_AndAuditedUnderTheIssuerWithItsClaimedIdOnly()
    {
        var otherDomain = TrustDomain.Parse("other.org");
        using var foreignCa = DevelopmentCertificateAuthority.Create(otherDomain, null, _issuer.Host.Time);
        await using var foreign = await AgentCredential.CreateAsync(SpiffeId.ForAgent(otherDomain, "ops", "i-1"), foreignCa,
            new AgentCredentialOptions { Policy = AdminIssuer.OperatorPolicy }, _issuer.Host.Time);
        await using var victim = await _issuer.EnrollAsync("researcher", null);

        var (status, _) = await _issuer.RevokeAsync(foreign.GetCurrent(), new { spiffeId = victim.Id.ToString() });
        Assert.Equal(HttpStatusCode.Forbidden, status);
        (status, _) = await _issuer.CreateJoinTokenAsync(foreign.GetCurrent(), new { agentName = "evil" });
        Assert.Equal(HttpStatusCode.Forbidden, status);
        Assert.Equal(0, _issuer.Registry.LastSequence);

        var refused = ReadVerifiedLog().Where(e => Outcome(e) == "denied").ToList();
        Assert.Equal(2, refused.Count);
        Assert.All(refused, e =>
        {
            // An unvalidated certificate never becomes the entry's actor: its claim is an attribute.
            Assert.Equal(_issuer.Host.Issuer.ServerId.ToString(), e.GetProperty("agent").GetString());
            Assert.Equal(foreign.Id.ToString(), Attribute(e, "claimed_id"));
            Assert.StartsWith("unauthenticated certificate sha256:", Attribute(e, "caller"), StringComparison.Ordinal);
            Assert.Contains("Foreign trust domain", e.GetProperty("reason").GetString(), StringComparison.Ordinal);
            Assert.Equal("admin", Kind(e));
        });
    }

    [Fact]
    public async Task EveryControlPlaneAction_IsAudited_AllowedAndRefused()
    {
        await using var ops = await _issuer.EnrollOperatorAsync();
        var delegating = new AgentPolicy(tools: ["web.*"], maxDelegationDepth: 1, delegationTargets: ["spiffe://example.org/agent/planner/*"]);
        await using var agent = await _issuer.EnrollAsync("planner", delegating);
        var enrolledSerial = agent.GetCurrent().SerialNumber;
        var (status, _) = await ControlPlaneTestKit.RenewAsync(_issuer.Host, agent.GetCurrent());
        Assert.Equal(HttpStatusCode.OK, status);
        await using var task = await agent.DelegateAsync("t1", new AgentPolicy(tools: ["web.search"]));

        (status, var body) = await _issuer.CreateJoinTokenAsync(ops.GetCurrent(), new { agentName = "researcher", ttlSeconds = 60 });
        Assert.Equal(HttpStatusCode.OK, status);
        var token = body.GetProperty("joinToken").GetString()!;
        (status, _) = await ControlPlaneTestKit.EnrollRawAsync(_issuer.Host, IssuerHost.AgentId("researcher"), "aijt_not-a-token");
        Assert.Equal(HttpStatusCode.Unauthorized, status);
        (status, _) = await _issuer.RevokeAsync(ops.GetCurrent(), new { serialNumber = enrolledSerial, reason = "keyCompromise" });
        Assert.Equal(HttpStatusCode.OK, status);
        (status, _) = await ControlPlaneTestKit.RenewAsync(_issuer.Host, agent.GetCurrent()); // the revoked certificate
        Assert.Equal(HttpStatusCode.Forbidden, status);
        (status, _) = await _issuer.RevokeAsync(ops.GetCurrent(), new { serialNumber = "0ABC" });
        Assert.Equal(HttpStatusCode.NotFound, status);

        var entries = ReadVerifiedLog();
        var enrollments = entries.Where(e => e.GetProperty("action").GetString() == "enroll" && Outcome(e) == "success").ToList();
        Assert.Contains(enrollments, e => e.GetProperty("agent").GetString() == agent.Id.ToString() && Attribute(e, "issued_serial") == enrolledSerial);
        var renewals = entries.Where(e => e.GetProperty("action").GetString() == "renew").ToList();
        Assert.Equal(["success", "denied"], renewals.Select(Outcome));
        Assert.All(renewals, e => Assert.Equal(agent.Id.ToString(), e.GetProperty("agent").GetString()));
        Assert.All(renewals, e => Assert.Equal(enrolledSerial, e.GetProperty("serial").GetString()));
        Assert.Contains("Certificate revoked", renewals[1].GetProperty("reason").GetString(), StringComparison.Ordinal);
        Assert.Equal("403", Attribute(renewals[1], "http.status"));
        Assert.Single(entries, e => e.GetProperty("action").GetString() == "delegate" && e.GetProperty("target").GetString() == task.Id.ToString());

        var created = Assert.Single(entries, e => e.GetProperty("action").GetString() == "join-token:create");
        Assert.Equal(ops.Id.ToString(), created.GetProperty("agent").GetString());
        Assert.Equal("spiffe://example.org/agent/researcher/*", created.GetProperty("target").GetString());
        Assert.Equal(Convert.ToHexStringLower(AgentIdentityIssuer.HashToken(token)), Attribute(created, "join_token_sha256"));
        Assert.DoesNotContain(entries, e => e.ToString().Contains(token, StringComparison.Ordinal));

        var badToken = Assert.Single(entries, e => e.GetProperty("action").GetString() == "enroll" && Outcome(e) == "denied");
        Assert.Equal(_issuer.Host.Issuer.ServerId.ToString(), badToken.GetProperty("agent").GetString());
        Assert.Equal("no client certificate", Attribute(badToken, "caller"));
        Assert.Contains("Unknown join token", badToken.GetProperty("reason").GetString(), StringComparison.Ordinal);

        var revocation = Assert.Single(entries, e => Kind(e) == "revocation" && Outcome(e) == "success");
        Assert.Equal(ops.Id.ToString(), revocation.GetProperty("agent").GetString());
        Assert.Equal(RevocationEntry.NormalizeSerialNumber(enrolledSerial), revocation.GetProperty("target").GetString());
        Assert.Equal("keyCompromise", revocation.GetProperty("reason").GetString());
        Assert.Equal("1", Attribute(revocation, "revocation.sequence"));
        var unknownSerial = Assert.Single(entries, e => Kind(e) == "revocation" && Outcome(e) == "denied");
        Assert.Contains("Unknown serial number", unknownSerial.GetProperty("reason").GetString(), StringComparison.Ordinal);
        Assert.Equal("404", Attribute(unknownSerial, "http.status"));

        // The operator's two revoke calls and one join-token call were each authorized, and that is recorded with the grant.
        var allowed = entries.Where(e => Kind(e) == "admin" && Outcome(e) == "success" && e.GetProperty("action").GetString() != "join-token:create").ToList();
        Assert.Equal(3, allowed.Count);
        Assert.All(allowed, e => Assert.Equal("policy", Attribute(e, "grant")));
    }

    [Fact]
    public async Task Renewal_FromASupersededCertificate_IsAuditedAsLikelyKeyTheft()
    {
        await using var agent = await _issuer.EnrollAsync("planner", null);
        var stolen = agent.GetCurrent();
        Assert.Equal(HttpStatusCode.OK, (await ControlPlaneTestKit.RenewAsync(_issuer.Host, stolen)).Status);
        var (status, _) = await ControlPlaneTestKit.RenewAsync(_issuer.Host, stolen);
        Assert.Equal(HttpStatusCode.Forbidden, status);

        var refused = Assert.Single(ReadVerifiedLog(), e => e.GetProperty("action").GetString() == "renew" && Outcome(e) == "denied");
        Assert.Equal(agent.Id.ToString(), refused.GetProperty("agent").GetString());
        Assert.Equal("superseded-certificate: likely key theft", Attribute(refused, "alert"));
        Assert.Equal(stolen.SerialNumber, Attribute(refused, "presented_serial"));
        Assert.Contains("Superseded certificate", refused.GetProperty("reason").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Restart_ContinuesTheSameLog_AnotherOriginOrASecondProcessOnTheDirectoryIsRefused()
    {
        var directory = Path.Combine(Path.GetTempPath(), "ai-issuer-audit-restart-" + Guid.NewGuid().ToString("N"));
        var audit = Path.Combine(directory, "audit");
        try
        {
            long before;
            await using (var first = await IssuerHost.StartAsync(o => { o.Audit.Directory = audit; o.Audit.ReplicaId = "a"; }, directory))
            {
                await using var agent = await ControlPlaneTestKit.EnrollAsync(first);

                // A second issuer process on the same directory would interleave entries: it fails to start instead.
                var clash = await Assert.ThrowsAsync<InvalidOperationException>(() => IssuerHost.StartAsync(o => { o.Audit.Directory = audit; o.Audit.ReplicaId = "b"; }));
                Assert.Contains("in use by another process", clash.Message, StringComparison.Ordinal);
                before = first.Services.GetRequiredService<IssuerAudit>().Log!.TreeSize;
                Assert.True(before > 0);
            }

            await using (var again = await IssuerHost.StartAsync(o => { o.Audit.Directory = audit; o.Audit.ReplicaId = "a"; }, directory))
            {
                await using var agent = await ControlPlaneTestKit.EnrollAsync(again, "researcher");
                var log = again.Services.GetRequiredService<IssuerAudit>().Log!;
                Assert.True(log.TreeSize > before);
                Assert.Equal("example.org/agent-identity/issuer/a/audit", log.Origin);
                again.Services.GetRequiredService<IssuerAudit>().Checkpoint();
                var result = AuditLogVerifier.Verify(audit, new AuditLogVerificationOptions { TrustBundles = again.Issuer.GetBundle(), ExpectedSigner = again.Issuer.ServerId });
                Assert.True(result.IsValid, result.Message);
                Assert.True(result.CheckpointCount >= 2);
            }

            var renamed = await Assert.ThrowsAsync<InvalidOperationException>(() => IssuerHost.StartAsync(o => { o.Audit.Directory = audit; o.Audit.ReplicaId = "b"; }, directory));
            Assert.Contains("holds the log of origin 'example.org/agent-identity/issuer/a/audit'", renamed.Message, StringComparison.Ordinal);
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task Default_WithSqlite_AuditsBesideTheDatabase_AndOnlyAnExplicitOptOutRecordsNothing()
    {
        var directory = Path.Combine(Path.GetTempPath(), "ai-issuer-audit-default-" + Guid.NewGuid().ToString("N"));
        try
        {
            // No audit option at all: the log goes to "<database name>-audit" beside the database (IssuerHost uses issuer.db).
            await using (var issuer = await IssuerHost.StartAsync(directory: directory))
            {
                await using var agent = await ControlPlaneTestKit.EnrollAsync(issuer);
                var audit = issuer.Services.GetRequiredService<IssuerAudit>();
                Assert.NotNull(audit.Log);
                audit.Checkpoint();
                var result = AuditLogVerifier.Verify(Path.Combine(directory, "issuer-audit"), new AuditLogVerificationOptions { TrustBundles = issuer.Issuer.GetBundle(), ExpectedSigner = issuer.Issuer.ServerId });
                Assert.True(result.IsValid, result.Message);
                Assert.True(result.TreeSize >= 1, "the enrollment over HTTP is recorded");
            }

            var other = Path.Combine(Path.GetTempPath(), "ai-issuer-audit-off-" + Guid.NewGuid().ToString("N"));
            try
            {
                await using var unaudited = await IssuerHost.StartAsync(o => o.Audit.Enabled = false, other);
                await using var agent = await ControlPlaneTestKit.EnrollAsync(unaudited);
                Assert.Null(unaudited.Services.GetRequiredService<IssuerAudit>().Log);
                Assert.False(Directory.Exists(Path.Combine(other, "issuer-audit")));
            }
            finally
            {
                Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
                Directory.Delete(other, recursive: true);
            }
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(directory, recursive: true);
        }
    }

    [Theory]
    [InlineData("", "Audit.Directory is empty")]
    [InlineData("a/b", "Audit.ReplicaId 'a/b'")]
    public void InvalidAuditOptions_FailWithASpecificMessage(string value, string expected)
    {
        var options = new AgentIdentityIssuerOptions { TrustDomain = "example.org" };
        if (value.Length == 0)
        {
            options.Audit.Directory = value;
        }
        else
        {
            options.Audit.Directory = "audit";
            options.Audit.ReplicaId = value;
        }

        Assert.Contains(expected, options.Validate(), StringComparison.Ordinal);
    }

    /// <summary>Signs a checkpoint of everything so far, verifies the log (issuer's bundle, issuer's own ID as the only signer)
    /// and returns its entries, each read back through an inclusion proof in that checkpoint.</summary>
    private List<JsonElement> ReadVerifiedLog()
    {
        var host = _issuer.Host;
        Assert.NotNull(host.Services.GetRequiredService<IssuerAudit>().Checkpoint());
        var result = AuditLogVerifier.Verify(_auditDirectory, new AuditLogVerificationOptions { TrustBundles = host.Issuer.GetBundle(), ExpectedSigner = host.Issuer.ServerId });
        Assert.True(result.IsValid, result.Message);
        Assert.Equal([host.Issuer.ServerId], result.Signers);
        Assert.Equal("example.org/agent-identity/issuer/audit", result.LatestCheckpoint!.Checkpoint.Origin);
        var entries = new List<JsonElement>();
        for (long i = 0; i < result.TreeSize; i++)
        {
            var proof = AuditLogVerifier.CreateInclusionProof(_auditDirectory, i);
            Assert.True(proof.Verify());
            using var document = JsonDocument.Parse(proof.Entry);
            entries.Add(document.RootElement.Clone());
        }

        return entries;
    }

    private static string? Kind(JsonElement entry) => entry.GetProperty("kind").GetString();

    private static string? Outcome(JsonElement entry) => entry.GetProperty("outcome").GetString();

    private static string? Attribute(JsonElement entry, string name) =>
        entry.TryGetProperty("attributes", out var attributes) && attributes.TryGetProperty(name, out var value) ? value.GetString() : null;
}
