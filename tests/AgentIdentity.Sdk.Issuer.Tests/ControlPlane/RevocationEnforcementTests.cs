using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace AgentIdentity.Issuer.Tests.ControlPlane;

/// <summary>§2 and §7 (1, 2, 4): the issuer enforces revocation at every issuance, over the real endpoints and mTLS.</summary>
public sealed class RevocationEnforcementTests : IAsyncLifetime
{
    private IssuerHost _host = null!;

    public async Task InitializeAsync() => _host = await IssuerHost.StartAsync();

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync();
        _host.DeleteDirectory();
    }

    [Fact]
    public async Task Renew_RevokedSerial_Is403NamingTheRevocation()
    {
        await using var agent = await ControlPlaneTestKit.EnrollAsync(_host);
        var svid = agent.GetCurrent();
        var entry = await _host.Registry.RevokeCertificateAsync(svid.SerialNumber, X509RevocationReason.KeyCompromise);

        var (status, problem) = await ControlPlaneTestKit.RenewAsync(_host, svid);
        Assert.Equal(HttpStatusCode.Forbidden, status);
        Assert.Equal("Certificate revoked", ControlPlaneTestKit.Title(problem));
        Assert.Contains($"#{entry.Sequence}", IssuerHost.Detail(problem), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Renew_RevokedIdentityOrDescendant_Is403()
    {
        await using var agent = await ControlPlaneTestKit.EnrollAsync(_host);
        await using var task = await agent.DelegateAsync("t1", new AgentPolicy(tools: ["web.search"]));
        var entry = await _host.Registry.RevokeIdentityAsync(agent.Id, X509RevocationReason.KeyCompromise);

        var (status, problem) = await ControlPlaneTestKit.RenewAsync(_host, agent.GetCurrent());
        Assert.Equal(HttpStatusCode.Forbidden, status);
        Assert.Equal("Identity revoked", ControlPlaneTestKit.Title(problem));
        Assert.Contains(entry.ToString(), IssuerHost.Detail(problem), StringComparison.Ordinal);

        // The descendant (a task identity below it) is refused as well; the store's flag is set for both.
        (status, problem) = await ControlPlaneTestKit.RenewAsync(_host, task.GetCurrent());
        Assert.Equal(HttpStatusCode.Forbidden, status);
        Assert.Equal("Identity revoked", ControlPlaneTestKit.Title(problem));
        Assert.Contains(entry.ToString(), IssuerHost.Detail(problem), StringComparison.Ordinal);
        Assert.True((await _host.Issuer.Store.FindIdentityAsync(agent.Id.ToString()))!.Revoked);
        Assert.True((await _host.Issuer.Store.FindIdentityAsync(task.Id.ToString()))!.Revoked);
    }

    [Fact]
    public async Task Delegate_FromRevokedParent_Is403()
    {
        await using var agent = await ControlPlaneTestKit.EnrollAsync(_host);
        await _host.Registry.RevokeIdentityAsync(agent.Id);
        var ex = await Assert.ThrowsAsync<CertificateIssuanceException>(() => agent.DelegateAsync("t1", new AgentPolicy(tools: ["web.search"])));
        Assert.Contains("403", ex.Message, StringComparison.Ordinal);
        Assert.Contains("revoked", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RevokingASerial_ReachesTaskCertificatesMintedWithIt_AtAnyDepth()
    {
        await using var agent = await ControlPlaneTestKit.EnrollAsync(_host);
        await using var task = await agent.DelegateAsync("t1", new AgentPolicy(tools: ["web.search"], maxDelegationDepth: 1, delegationTargets: ["spiffe://example.org/agent/planner/*"]));
        await using var grandchild = await task.DelegateAsync("t2", new AgentPolicy(tools: ["web.search"]), TimeSpan.FromMinutes(5));
        var entry = await _host.Registry.RevokeCertificateAsync(agent.GetCurrent().SerialNumber, X509RevocationReason.KeyCompromise);

        Assert.Equal(entry.Sequence, (await _host.Registry.GetCertificateRevocationAsync(task.GetCurrent().SerialNumber))?.Sequence);
        Assert.Equal(entry.Sequence, (await _host.Registry.GetCertificateRevocationAsync(grandchild.GetCurrent().SerialNumber))?.Sequence);
        var listed = StoreRevocationRegistryTests.ReadCrl(await _host.Registry.GetCrlAsync(), out _);
        Assert.Contains(grandchild.GetCurrent().SerialNumber, listed);

        // The task minted with the revoked certificate can no longer delegate.
        var ex = await Assert.ThrowsAsync<CertificateIssuanceException>(() => task.DelegateAsync("t3", new AgentPolicy(tools: ["web.search"])));
        Assert.Contains($"is revoked by revocation {entry}; a revoked parent cannot delegate", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Enroll_JoinTokenForRevokedPattern_IsVoidedAndRefused()
    {
        var outstanding = await _host.Issuer.CreateJoinTokenAsync("planner", null, TimeSpan.FromMinutes(5));
        var entry = await _host.Registry.RevokeIdentityAsync(SpiffeId.Parse("spiffe://example.org/agent/planner"), X509RevocationReason.CessationOfOperation);

        var (status, problem) = await ControlPlaneTestKit.EnrollRawAsync(_host, IssuerHost.AgentId("planner"), outstanding);
        Assert.Equal(HttpStatusCode.Forbidden, status);
        Assert.Equal("Join token voided by revocation", ControlPlaneTestKit.Title(problem));
        Assert.Contains($"#{entry.Sequence}", IssuerHost.Detail(problem), StringComparison.Ordinal);

        // A token created after the revocation is refused at enrollment, naming the revocation.
        var later = await _host.Issuer.CreateJoinTokenAsync("planner", null, TimeSpan.FromMinutes(5));
        (status, problem) = await ControlPlaneTestKit.EnrollRawAsync(_host, IssuerHost.AgentId("planner"), later);
        Assert.Equal(HttpStatusCode.Forbidden, status);
        Assert.Equal("Identity revoked", ControlPlaneTestKit.Title(problem));
        Assert.Contains(entry.ToString(), IssuerHost.Detail(problem), StringComparison.Ordinal);

        // Tokens of other agents are untouched.
        var worker = await _host.Issuer.CreateJoinTokenAsync("worker", null, TimeSpan.FromMinutes(5));
        Assert.Equal(HttpStatusCode.OK, (await ControlPlaneTestKit.EnrollRawAsync(_host, IssuerHost.AgentId("worker"), worker)).Status);
    }

    [Fact]
    public async Task Enroll_TokenCannotTakeOverOrUnrevokeAnEnrolledInstance()
    {
        await using var victim = await ControlPlaneTestKit.EnrollAsync(_host);
        var token = await _host.Issuer.CreateJoinTokenAsync("planner", null, TimeSpan.FromMinutes(5));
        var (status, problem) = await ControlPlaneTestKit.EnrollRawAsync(_host, victim.Id, token);
        Assert.Equal(HttpStatusCode.Conflict, status);
        Assert.Equal("Identity already enrolled", ControlPlaneTestKit.Title(problem));
        Assert.Equal(ControlPlaneTestKit.DelegatingPolicy.ToDer(), (await _host.Issuer.Store.FindIdentityAsync(victim.Id.ToString()))!.Policy); // policy not replaced

        // A revoked instance stays revoked, even with a token bound to it.
        await _host.Registry.RevokeIdentityAsync(victim.Id);
        var bound = await _host.Issuer.CreateJoinTokenAsync(victim.Id, null, TimeSpan.FromMinutes(5));
        (status, problem) = await ControlPlaneTestKit.EnrollRawAsync(_host, victim.Id, bound);
        Assert.Equal(HttpStatusCode.Forbidden, status);
        Assert.True((await _host.Issuer.Store.FindIdentityAsync(victim.Id.ToString()))!.Revoked);
    }

    [Fact]
    public async Task Enroll_ChainlessTaskIdentityUnderAnotherInstance_IsRefused()
    {
        await using var victim = await ControlPlaneTestKit.EnrollAsync(_host);
        var token = await _host.Issuer.CreateJoinTokenAsync("planner", null, TimeSpan.FromMinutes(5));
        var (status, problem) = await ControlPlaneTestKit.EnrollRawAsync(_host, victim.Id.Append("task", "x"), token);
        Assert.Equal(HttpStatusCode.Forbidden, status);
        Assert.Contains("exactly one agent instance", IssuerHost.Detail(problem), StringComparison.Ordinal);
        Assert.Null(await _host.Issuer.Store.FindIdentityAsync(victim.Id.Append("task", "x").ToString()));
    }

    [Fact]
    public async Task Renew_FromSupersededCertificate_IsRefusedAsLikelyKeyTheft()
    {
        await using var agent = await ControlPlaneTestKit.EnrollAsync(_host);
        var stolen = agent.GetCurrent();
        var (status, _) = await ControlPlaneTestKit.RenewAsync(_host, stolen); // the real agent renews
        Assert.Equal(HttpStatusCode.OK, status);

        var (again, problem) = await ControlPlaneTestKit.RenewAsync(_host, stolen); // the thief renews with the old certificate
        Assert.Equal(HttpStatusCode.Forbidden, again);
        Assert.Equal("Superseded certificate", ControlPlaneTestKit.Title(problem));
        Assert.Contains("key theft", IssuerHost.Detail(problem), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Renew_FromSupersededCertificate_AllowAndAlert_Renews()
    {
        await using var host = await IssuerHost.StartAsync(o => o.SupersededRenewal = SupersededRenewalPolicy.AllowAndAlert);
        try
        {
            await using var agent = await ControlPlaneTestKit.EnrollAsync(host);
            var old = agent.GetCurrent();
            Assert.Equal(HttpStatusCode.OK, (await ControlPlaneTestKit.RenewAsync(host, old)).Status);
            Assert.Equal(HttpStatusCode.OK, (await ControlPlaneTestKit.RenewAsync(host, old)).Status);
        }
        finally
        {
            host.DeleteDirectory();
        }
    }

    [Fact]
    public async Task Ocsp_AnswersUnknownForNeverIssuedAndOversizedSerials()
    {
        await using var agent = await ControlPlaneTestKit.EnrollAsync(_host);
        var ocsp = (OcspResponder)_host.Services.GetService(typeof(OcspResponder))!;
        var issuer = new Org.BouncyCastle.X509.X509CertificateParser().ReadCertificate(_host.Registry.SignerCertificate.RawData);

        Assert.IsType<Org.BouncyCastle.Ocsp.UnknownStatus>(await StatusAsync(ocsp, issuer, new Org.BouncyCastle.Math.BigInteger("4A0B0C0D0E0F", 16)));
        Assert.IsType<Org.BouncyCastle.Ocsp.UnknownStatus>(await StatusAsync(ocsp, issuer, new Org.BouncyCastle.Math.BigInteger(1, RandomNumberGenerator.GetBytes(65))));
        Assert.Null(await StatusAsync(ocsp, issuer, new Org.BouncyCastle.Math.BigInteger(agent.GetCurrent().SerialNumber, 16))); // good
    }

    private static async Task<object?> StatusAsync(OcspResponder ocsp, Org.BouncyCastle.X509.X509Certificate issuer, Org.BouncyCastle.Math.BigInteger serial)
    {
        var generator = new Org.BouncyCastle.Ocsp.OcspReqGenerator();
        generator.AddRequest(new Org.BouncyCastle.Ocsp.CertificateID(Org.BouncyCastle.Ocsp.CertificateID.DigestSha1, issuer, serial));
        var response = new Org.BouncyCastle.Ocsp.OcspResp(await ocsp.RespondAsync(generator.Generate().GetEncoded()));
        Assert.Equal(0, response.Status);
        var basic = (Org.BouncyCastle.Ocsp.BasicOcspResp)response.GetResponseObject();
        return basic.Responses.Single().GetCertStatus();
    }
}
