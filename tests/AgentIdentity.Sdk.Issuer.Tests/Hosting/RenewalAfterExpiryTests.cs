using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;

namespace AgentIdentity.Issuer.Tests.Hosting;

/// <summary>
/// Renewal after expiry (<see cref="AgentIdentityIssuerOptions.RenewalAfterExpiryGrace"/>, <c>v1/renew-expired</c>) on a real Kestrel issuer
/// with SQLite: the agent's host "sleeps" past its SVID's expiry (the fake clock jumps), and the real <see cref="IssuerClient"/> renews by
/// proof of possession of the expired key, without a join token. Each bad input gets its own refusal.
/// </summary>
public sealed class RenewalAfterExpiryTests
{
    private static readonly TimeSpan Grace = TimeSpan.FromHours(24);

    [Fact]
    public async Task AgentCredential_HostSleptPastExpiry_RenewsByProofOfPossessionWithoutJoinToken()
    {
        await using var host = await IssuerHost.StartAsync(o => o.RenewalAfterExpiryGrace = Grace);
        try
        {
            var token = await host.Issuer.CreateJoinTokenAsync("worker", new AgentPolicy(tools: ["web.search"]), TimeSpan.FromMinutes(5));
            var callbacks = 0;
            var options = host.ClientOptions(token);
            options.JoinTokenCallback = (_, _) =>
            {
                Interlocked.Increment(ref callbacks);
                return ValueTask.FromResult<string?>(null);
            };
            await using var credential = await AgentCredential.CreateAsync(
                IssuerHost.AgentId("worker"), new IssuerClient(options, host.Time), new AgentCredentialOptions { Lifetime = TimeSpan.FromMinutes(10), RenewalJitter = 0 }, host.Time);
            var first = credential.GetCurrent();
            var rotated = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            using var registration = first.ChangeToken.RegisterChangeCallback(_ => rotated.TrySetResult(), null);

            // The host sleeps through the renewal point and the expiry: the renewal runs with an expired SVID.
            host.Time.Advance(TimeSpan.FromHours(3));
            await rotated.Task.WaitAsync(TimeSpan.FromSeconds(30));

            var second = credential.GetCurrent();
            Assert.Equal(first.Id, second.Id);
            Assert.NotEqual(first.SerialNumber, second.SerialNumber);
            Assert.False(second.IsExpired(host.Time.GetUtcNow()));
            Assert.Equal(first.Policy, second.Policy); // the recorded policy, not one the agent asked for
            Assert.Equal("renew", (await host.Issuer.Store.FindCertificateAsync(second.SerialNumber))!.Kind);
            Assert.Equal(0, callbacks); // no join token was needed
        }
        finally
        {
            host.DeleteDirectory();
        }
    }

    [Fact]
    public async Task AgentCredential_GraceOff_FallsBackToJoinTokenCallback()
    {
        await using var host = await IssuerHost.StartAsync();
        try
        {
            var token = await host.Issuer.CreateJoinTokenAsync("worker", null, TimeSpan.FromMinutes(5));
            var callbacks = 0;
            var options = host.ClientOptions(token);
            options.JoinTokenCallback = async (id, ct) =>
            {
                Interlocked.Increment(ref callbacks);
                return await host.Issuer.CreateJoinTokenAsync(id, null, TimeSpan.FromMinutes(5), ct);
            };
            await using var credential = await AgentCredential.CreateAsync(
                IssuerHost.AgentId("worker"), new IssuerClient(options, host.Time), new AgentCredentialOptions { Lifetime = TimeSpan.FromMinutes(10), RenewalJitter = 0 }, host.Time);
            var first = credential.GetCurrent();
            var rotated = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            using var registration = first.ChangeToken.RegisterChangeCallback(_ => rotated.TrySetResult(), null);

            host.Time.Advance(TimeSpan.FromHours(3));
            await rotated.Task.WaitAsync(TimeSpan.FromSeconds(30));

            Assert.Equal(1, callbacks);
            Assert.Equal("enroll", (await host.Issuer.Store.FindCertificateAsync(credential.GetCurrent().SerialNumber))!.Kind);
        }
        finally
        {
            host.DeleteDirectory();
        }
    }

    [Fact]
    public async Task RenewExpired_GraceOff_IsRefusedAsDisabled()
    {
        await using var host = await IssuerHost.StartAsync();
        try
        {
            var expired = await EnrollAndExpireAsync(host, TimeSpan.FromMinutes(10));
            var (status, problem) = await PostAsync(host, Body(host, expired, NewCsr(expired.Id)));
            Assert.Equal(HttpStatusCode.Forbidden, status);
            Assert.Equal("Renewal after expiry disabled", problem.GetProperty("title").GetString());
            Assert.Contains("RenewalAfterExpiryGrace is off", IssuerHost.Detail(problem), StringComparison.Ordinal);
        }
        finally
        {
            host.DeleteDirectory();
        }
    }

    [Fact]
    public async Task RenewExpired_BeyondTheGrace_IsRefused()
    {
        await using var host = await IssuerHost.StartAsync(o => o.RenewalAfterExpiryGrace = TimeSpan.FromHours(1));
        try
        {
            var expired = await EnrollAndExpireAsync(host, TimeSpan.FromMinutes(30));
            var (status, problem) = await PostAsync(host, Body(host, expired, NewCsr(expired.Id)));
            Assert.Equal(HttpStatusCode.OK, status); // within the grace

            var again = await EnrollAndExpireAsync(host, TimeSpan.FromHours(2));
            (status, problem) = await PostAsync(host, Body(host, again, NewCsr(again.Id)));
            Assert.Equal(HttpStatusCode.Forbidden, status);
            Assert.Equal("Expired beyond the renewal grace", problem.GetProperty("title").GetString());
            Assert.Contains("beyond this issuer's renewal grace of 01:00:00", IssuerHost.Detail(problem), StringComparison.Ordinal);
        }
        finally
        {
            host.DeleteDirectory();
        }
    }

    [Fact]
    public async Task RenewExpired_SignedByAnotherKey_IsRefused()
    {
        await using var host = await IssuerHost.StartAsync(o => o.RenewalAfterExpiryGrace = Grace);
        try
        {
            var expired = await EnrollAndExpireAsync(host, TimeSpan.FromMinutes(30));
            using var thief = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var csr = NewCsr(expired.Id);
            var (status, problem) = await PostAsync(host, Body(host, expired, csr, signer: thief));
            Assert.Equal(HttpStatusCode.Unauthorized, status);
            Assert.Equal("Invalid proof of possession", problem.GetProperty("title").GetString());
            Assert.Contains($"not a signature by the key of the expired certificate (serial {expired.SerialNumber})", IssuerHost.Detail(problem), StringComparison.Ordinal);
        }
        finally
        {
            host.DeleteDirectory();
        }
    }

    [Fact]
    public async Task RenewExpired_ReplayedProof_IsRefused()
    {
        await using var host = await IssuerHost.StartAsync(o => o.RenewalAfterExpiryGrace = Grace);
        try
        {
            var expired = await EnrollAndExpireAsync(host, TimeSpan.FromMinutes(30));
            var csr = NewCsr(expired.Id);
            var body = Body(host, expired, csr);
            Assert.Equal(HttpStatusCode.OK, (await PostAsync(host, body)).Status);

            // The same proof again: the expired certificate was superseded by the renewal it bought.
            var (status, problem) = await PostAsync(host, body);
            Assert.Equal(HttpStatusCode.Forbidden, status);
            Assert.Equal("Superseded certificate", problem.GetProperty("title").GetString());
            Assert.Contains($"expired certificate (serial {expired.SerialNumber})", IssuerHost.Detail(problem), StringComparison.Ordinal);

            // The captured signature with the replayer's own CSR: the proof names the CSR.
            var other = await EnrollAndExpireAsync(host, TimeSpan.FromMinutes(30));
            var signed = Body(host, other, NewCsr(other.Id));
            var swapped = signed with { Csr = NewCsr(other.Id) };
            (status, problem) = await PostAsync(host, swapped);
            Assert.Equal(HttpStatusCode.Unauthorized, status);
            Assert.Equal("Invalid proof of possession", problem.GetProperty("title").GetString());

            // An unused proof kept for later: stale once the issuer's clock moved past its window.
            host.Time.Advance(ExpiredRenewalProof.MaxAge + TimeSpan.FromSeconds(1));
            (status, problem) = await PostAsync(host, signed);
            Assert.Equal(HttpStatusCode.Unauthorized, status);
            Assert.Equal("Stale proof", problem.GetProperty("title").GetString());
        }
        finally
        {
            host.DeleteDirectory();
        }
    }

    [Fact]
    public async Task RenewExpired_CertificateOfAnotherCa_IsRefused()
    {
        await using var host = await IssuerHost.StartAsync(o => o.RenewalAfterExpiryGrace = Grace);
        try
        {
            using var foreign = DevelopmentCertificateAuthority.Create(IssuerHost.TrustDomain, timeProvider: host.Time);
            var id = IssuerHost.AgentId("worker");
            using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var issuance = foreign.Issue(new X509SvidRequest(id, TestPki.Csr(id, key), TimeSpan.FromMinutes(5)));
            var svid = new X509Svid(issuance.Certificate.CopyWithPrivateKey(key), issuance.Intermediates);
            host.Time.Advance(TimeSpan.FromMinutes(10));

            var (status, problem) = await PostAsync(host, Body(host, svid, NewCsr(id)));
            Assert.Equal(HttpStatusCode.Unauthorized, status);
            Assert.Equal("Certificate not issued by this issuer", problem.GetProperty("title").GetString());
        }
        finally
        {
            host.DeleteDirectory();
        }
    }

    [Fact]
    public async Task RenewExpired_SignedByThisCaButNotRecorded_IsRefused()
    {
        await using var host = await IssuerHost.StartAsync(o => o.RenewalAfterExpiryGrace = Grace);
        try
        {
            var enrolled = await EnrollAndExpireAsync(host, TimeSpan.Zero);
            using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var issuance = host.Issuer.State.Signer.Issue(new X509SvidRequest(enrolled.Id, TestPki.Csr(enrolled.Id, key), TimeSpan.FromMinutes(5)));
            var unrecorded = new X509Svid(issuance.Certificate.CopyWithPrivateKey(key), issuance.Intermediates);
            host.Time.Advance(TimeSpan.FromMinutes(10));

            var (status, problem) = await PostAsync(host, Body(host, unrecorded, NewCsr(enrolled.Id)));
            Assert.Equal(HttpStatusCode.Forbidden, status);
            Assert.Equal("Certificate not recorded", problem.GetProperty("title").GetString());
        }
        finally
        {
            host.DeleteDirectory();
        }
    }

    [Fact]
    public async Task RenewExpired_RevokedSerialOrIdentity_IsRefusedNamingTheRevocation()
    {
        await using var host = await IssuerHost.StartAsync(o => o.RenewalAfterExpiryGrace = Grace);
        try
        {
            var bySerial = await EnrollAndExpireAsync(host, TimeSpan.Zero);
            var serialEntry = await host.Registry.RevokeCertificateAsync(bySerial.SerialNumber, X509RevocationReason.KeyCompromise);
            var byIdentity = await EnrollAndExpireAsync(host, TimeSpan.FromMinutes(30));
            var identityEntry = await host.Registry.RevokeIdentityAsync(byIdentity.Id, X509RevocationReason.KeyCompromise);

            var (status, problem) = await PostAsync(host, Body(host, bySerial, NewCsr(bySerial.Id)));
            Assert.Equal(HttpStatusCode.Forbidden, status);
            Assert.Equal("Certificate revoked", problem.GetProperty("title").GetString());
            Assert.Contains($"revoked by revocation {serialEntry}", IssuerHost.Detail(problem), StringComparison.Ordinal);

            (status, problem) = await PostAsync(host, Body(host, byIdentity, NewCsr(byIdentity.Id)));
            Assert.Equal(HttpStatusCode.Forbidden, status);
            Assert.Equal("Identity revoked", problem.GetProperty("title").GetString());
            Assert.Contains(identityEntry.ToString(), IssuerHost.Detail(problem), StringComparison.Ordinal);
        }
        finally
        {
            host.DeleteDirectory();
        }
    }

    [Fact]
    public void Options_RenewalAfterExpiryGrace_IsValidated()
    {
        var options = new AgentIdentityIssuerOptions { TrustDomain = "example.org", RenewalAfterExpiryGrace = TimeSpan.FromSeconds(-1) };
        Assert.Contains("RenewalAfterExpiryGrace", options.Validate(), StringComparison.Ordinal);
        options.RenewalAfterExpiryGrace = TimeSpan.FromDays(400);
        Assert.Contains("at most CertificateAuthorityLifetime", options.Validate(), StringComparison.Ordinal);
        options.RenewalAfterExpiryGrace = TimeSpan.FromDays(7);
        Assert.Null(options.Validate());
    }

    /// <summary>Enrolls a new instance of <c>worker</c> (5-minute SVID) and moves the clock until it is <paramref name="overdue"/> past its expiry.</summary>
    private static async Task<X509Svid> EnrollAndExpireAsync(IssuerHost host, TimeSpan overdue)
    {
        var token = await host.Issuer.CreateJoinTokenAsync("worker", null, TimeSpan.FromMinutes(5));
        using var client = new IssuerClient(host.ClientOptions(token), host.Time);
        var id = IssuerHost.AgentId("worker");
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var issuance = await client.IssueAsync(new X509SvidRequest(id, TestPki.Csr(id, key), TimeSpan.FromMinutes(5)));
        var svid = new X509Svid(issuance.Certificate.CopyWithPrivateKey(key), issuance.Intermediates);
        host.Time.Advance(svid.NotAfter - host.Time.GetUtcNow() + overdue);
        return svid;
    }

    private static byte[] NewCsr(SpiffeId id)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        return TestPki.Csr(id, key);
    }

    /// <summary>The request the real client sends, signed by <paramref name="signer"/> (by default the expired SVID's own key).</summary>
    private static IssuerRenewExpiredRequest Body(IssuerHost host, X509Svid expired, byte[] csr, ECDsa? signer = null)
    {
        var proofTime = host.Time.GetUtcNow().ToUnixTimeSeconds();
        var content = ExpiredRenewalProof.BuildContent(IssuerHost.TrustDomain, expired.Id, expired.SerialNumber, proofTime, csr);
        var signature = signer is null ? CertificateKeySignature.Sign(expired.Certificate, content)! : signer.SignData(content, HashAlgorithmName.SHA256);
        return new IssuerRenewExpiredRequest
        {
            SpiffeId = expired.Id.ToString(),
            Csr = csr,
            Certificates = [expired.Certificate.RawData, .. expired.Intermediates.Select(i => i.RawData)],
            ProofTime = proofTime,
            ProofSignature = signature,
        };
    }

    private static async Task<(HttpStatusCode Status, JsonElement Body)> PostAsync(IssuerHost host, IssuerRenewExpiredRequest body)
    {
        using var http = host.CreateHttpClient();
        using var content = new ByteArrayContent(JsonSerializer.SerializeToUtf8Bytes(body, IssuerJsonContext.Default.IssuerRenewExpiredRequest));
        content.Headers.ContentType = new("application/json");
        using var response = await http.PostAsync("v1/renew-expired", content);
        var text = await response.Content.ReadAsStringAsync();
        using var document = JsonDocument.Parse(text.Length == 0 ? "{}" : text);
        return (response.StatusCode, document.RootElement.Clone());
    }
}
