using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace AgentIdentity.Issuer.Tests.Hosting;

public sealed class IssuerEndpointsTests : IAsyncLifetime
{
    private IssuerHost _host = null!;

    public async Task InitializeAsync() => _host = await IssuerHost.StartAsync();

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync();
        _host.DeleteDirectory();
    }

    private static object IssueBody(SpiffeId id, byte[] csr, string token) => new { spiffeId = id.ToString(), csr = Convert.ToBase64String(csr), joinToken = token, lifetimeSeconds = 600 };

    [Fact]
    public async Task UseIssuer_EnrollsWithJoinTokenAndRenewsOverMtls()
    {
        var policy = new AgentPolicy(services: ["spiffe://example.org/svc/*"], actions: ["read"]);
        var token = await _host.Issuer.CreateJoinTokenAsync("planner", policy, TimeSpan.FromMinutes(5));
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton<TimeProvider>(_host.Time);
        services.AddAgentIdentity(o =>
        {
            o.TrustDomain = "example.org";
            o.AgentName = "planner";
            o.Credential.Lifetime = TimeSpan.FromMinutes(10);
            o.Credential.RenewalJitter = 0;
        }).UseIssuer(_host.Address, token, o =>
        {
            o.ServerId = _host.Issuer.ServerId;
            o.ServerTrustBundle = _host.Issuer.GetBundle();
        });
        await using var provider = services.BuildServiceProvider();
        foreach (var hosted in provider.GetServices<IHostedService>())
        {
            await hosted.StartAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));
        }

        var credential = provider.GetRequiredService<AgentCredential>();
        var first = credential.GetCurrent();
        Assert.True(first.Id.TryGetAgent(out var name, out _));
        Assert.Equal("planner", name);
        Assert.Equal(policy, first.Policy);
        Assert.Equal("enroll", (await _host.Issuer.Store.FindCertificateAsync(first.SerialNumber))!.Kind);

        var rotated = new TaskCompletionSource();
        using var registration = first.ChangeToken.RegisterChangeCallback(_ => rotated.TrySetResult(), null);
        _host.Time.Advance(TimeSpan.FromMinutes(6));
        await rotated.Task.WaitAsync(TimeSpan.FromSeconds(30));

        var second = credential.GetCurrent();
        Assert.NotEqual(first.SerialNumber, second.SerialNumber);
        Assert.Equal(first.Id, second.Id);
        Assert.Equal(policy, second.Policy);
        Assert.Equal("renew", (await _host.Issuer.Store.FindCertificateAsync(second.SerialNumber))!.Kind);
    }

    [Fact]
    public async Task IssueAsync_JoinTokenReplayed_SecondIsRefused()
    {
        var token = await _host.Issuer.CreateJoinTokenAsync("worker", null, TimeSpan.FromMinutes(5));
        using var client = new IssuerClient(_host.ClientOptions(token), _host.Time);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var id = IssuerHost.AgentId("worker");
        var issuance = await client.IssueAsync(new X509SvidRequest(id, TestPki.Csr(id, key), TimeSpan.FromMinutes(5)));
        Assert.Equal(id, SpiffeId.Parse(issuance.Certificate.GetNameInfo(System.Security.Cryptography.X509Certificates.X509NameType.UrlName, false)));

        using var http = _host.CreateHttpClient();
        var again = IssuerHost.AgentId("worker");
        var (status, problem) = await IssuerHost.PostAsync(http, "v1/issue", IssueBody(again, TestPki.Csr(again, key), token));
        Assert.Equal(HttpStatusCode.Unauthorized, status);
        Assert.Contains("already redeemed", IssuerHost.Detail(problem), StringComparison.Ordinal);
    }

    [Fact]
    public async Task IssueAsync_JoinTokenExpired_IsRefused()
    {
        var token = await _host.Issuer.CreateJoinTokenAsync("worker", null, TimeSpan.FromMinutes(1));
        _host.Time.Advance(TimeSpan.FromMinutes(2));
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var id = IssuerHost.AgentId("worker");
        using var http = _host.CreateHttpClient();
        var (status, problem) = await IssuerHost.PostAsync(http, "v1/issue", IssueBody(id, TestPki.Csr(id, key), token));
        Assert.Equal(HttpStatusCode.Unauthorized, status);
        Assert.Contains("expired", IssuerHost.Detail(problem), StringComparison.Ordinal);
    }

    [Fact]
    public async Task IssueAsync_ConcurrentRedemptions_ExactlyOneSucceeds()
    {
        var token = await _host.Issuer.CreateJoinTokenAsync("worker", null, TimeSpan.FromMinutes(5));
        using var http = _host.CreateHttpClient();
        var attempts = Enumerable.Range(0, 24).Select(async _ =>
        {
            using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var id = IssuerHost.AgentId("worker");
            return (await IssuerHost.PostAsync(http, "v1/issue", IssueBody(id, TestPki.Csr(id, key), token))).Status;
        });
        var statuses = await Task.WhenAll(attempts);
        Assert.Equal(1, statuses.Count(s => s == HttpStatusCode.OK));
        Assert.All(statuses.Where(s => s != HttpStatusCode.OK), s => Assert.Equal(HttpStatusCode.Unauthorized, s));
        Assert.Equal(1, await _host.Issuer.Store.CountCertificatesAsync());
    }

    [Fact]
    public async Task IssueAsync_IdOfAnotherAgent_IsRefusedAndTokenStaysUnused()
    {
        var token = await _host.Issuer.CreateJoinTokenAsync("worker", null, TimeSpan.FromMinutes(5));
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var other = IssuerHost.AgentId("admin");
        using var http = _host.CreateHttpClient();
        var (status, problem) = await IssuerHost.PostAsync(http, "v1/issue", IssueBody(other, TestPki.Csr(other, key), token));
        Assert.Equal(HttpStatusCode.Forbidden, status);
        Assert.Contains("enrolls an instance of agent 'worker'", IssuerHost.Detail(problem), StringComparison.Ordinal);
        Assert.Null((await _host.Issuer.Store.FindJoinTokenAsync(AgentIdentityIssuer.HashToken(token)))!.RedeemedAt);
    }

    [Theory]
    [InlineData("mismatched-san", HttpStatusCode.BadRequest, "different identity")]
    [InlineData("extra-san", HttpStatusCode.BadRequest, "more than the one requested SPIFFE ID")]
    [InlineData("malformed-csr", HttpStatusCode.BadRequest, "not a valid DER PKCS#10")]
    [InlineData("bad-signature", HttpStatusCode.BadRequest, "signature does not verify")]
    [InlineData("spki-without-key", HttpStatusCode.BadRequest, "the CSR's public key cannot be decoded")]
    [InlineData("spki-trailing-data", HttpStatusCode.BadRequest, "has data after its key")]
    [InlineData("not-base64", HttpStatusCode.BadRequest, "'csr' is not valid base64")]
    [InlineData("bad-id", HttpStatusCode.BadRequest, "'spiffeId' is not a valid SPIFFE ID")]
    [InlineData("foreign-domain", HttpStatusCode.Forbidden, "serves trust domain 'example.org'")]
    [InlineData("no-token", HttpStatusCode.BadRequest, "'joinToken' is required")]
    [InlineData("unknown-token", HttpStatusCode.Unauthorized, "not known to this issuer")]
    [InlineData("bad-lifetime", HttpStatusCode.BadRequest, "'lifetimeSeconds' must be a positive")]
    public async Task IssueAsync_BadInput_ReturnsProblemDetails(string kind, HttpStatusCode expected, string message)
    {
        var token = await _host.Issuer.CreateJoinTokenAsync("worker", null, TimeSpan.FromMinutes(5));
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var id = IssuerHost.AgentId("worker");
        var csr = TestPki.Csr(id, key);
        object body = kind switch
        {
            "mismatched-san" => IssueBody(id, TestPki.Csr(IssuerHost.AgentId("worker"), key), token),
            "extra-san" => IssueBody(id, TestPki.Csr(id, key, "evil.example.com"), token),
            "malformed-csr" => IssueBody(id, [0x30, 0x03, 0x02, 0x01], token),
            "bad-signature" => IssueBody(id, Tamper(csr), token),
            "spki-without-key" => IssueBody(id, TestPki.CsrWithPublicKeyInfo(id, key, TestPki.MalformedPublicKeyInfos(key).WithoutKey), token),
            "spki-trailing-data" => IssueBody(id, TestPki.CsrWithPublicKeyInfo(id, key, TestPki.MalformedPublicKeyInfos(key).WithTrailingData), token),
            "not-base64" => new { spiffeId = id.ToString(), csr = "%%%", joinToken = token },
            "bad-id" => new { spiffeId = "spiffe://Example.org/x", csr = Convert.ToBase64String(csr), joinToken = token },
            "foreign-domain" => new { spiffeId = "spiffe://other.org/agent/worker/1", csr = Convert.ToBase64String(csr), joinToken = token },
            "no-token" => new { spiffeId = id.ToString(), csr = Convert.ToBase64String(csr) },
            "unknown-token" => IssueBody(id, csr, "aijt_unknown"),
            "bad-lifetime" => new { spiffeId = id.ToString(), csr = Convert.ToBase64String(csr), joinToken = token, lifetimeSeconds = -5 },
            _ => throw new ArgumentOutOfRangeException(nameof(kind)),
        };
        using var http = _host.CreateHttpClient();
        using var response = await http.PostAsync("v1/issue", new StringContent(JsonSerializer.Serialize(body), System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(expected, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal((int)expected, problem.RootElement.GetProperty("status").GetInt32());
        Assert.Contains(message, IssuerHost.Detail(problem.RootElement), StringComparison.Ordinal);
        Assert.Equal(0, await _host.Issuer.Store.CountCertificatesAsync());
        Assert.Null((await _host.Issuer.Store.FindJoinTokenAsync(AgentIdentityIssuer.HashToken(token)))!.RedeemedAt);
    }

    [Fact]
    public void IssuerCaCertificates_UriSan_ParsesAsTheTrustDomainSpiffeId()
    {
        // System.Uri would write spiffe://example.org/ (trailing slash), which is not a SPIFFE ID (issue 18, defect 14).
        var state = _host.Issuer.State;
        X509Certificate2[] authorities = [.. _host.Issuer.GetBundle().X509Authorities, .. state.Signer.Intermediates];
        Assert.True(authorities.Length >= 2);
        foreach (var certificate in authorities)
        {
            var uri = Assert.Single(CertificateExtensions.ReadUriSans(certificate, out _)!);
            Assert.Equal("spiffe://example.org", uri);
            Assert.True(SpiffeId.TryParse(uri, out var id) && id.IsTrustDomainId, uri);
        }
    }

    [Fact]
    public async Task IssueAsync_MalformedJson_Returns400()
    {
        using var http = _host.CreateHttpClient();
        using var response = await http.PostAsync("v1/issue", new StringContent("{\"spiffeId\":", System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("not valid JSON", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task RenewAsync_WithoutClientCertificate_Returns401()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var id = IssuerHost.AgentId("worker");
        using var http = _host.CreateHttpClient();
        var (status, problem) = await IssuerHost.PostAsync(http, "v1/renew", new { spiffeId = id.ToString(), csr = Convert.ToBase64String(TestPki.Csr(id, key)) });
        Assert.Equal(HttpStatusCode.Unauthorized, status);
        Assert.Contains("mTLS with the current SVID", IssuerHost.Detail(problem), StringComparison.Ordinal);
    }

    [Fact]
    public async Task RenewAsync_ForAnotherIdentity_Returns403()
    {
        var token = await _host.Issuer.CreateJoinTokenAsync("worker", null, TimeSpan.FromMinutes(5));
        await using var credential = await AgentCredential.CreateAsync(IssuerHost.AgentId("worker"), new IssuerClient(_host.ClientOptions(token), _host.Time), timeProvider: _host.Time);
        using var http = _host.CreateHttpClient(credential.GetCurrent());
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var other = IssuerHost.AgentId("worker");
        var (status, problem) = await IssuerHost.PostAsync(http, "v1/renew", new { spiffeId = other.ToString(), csr = Convert.ToBase64String(TestPki.Csr(other, key)) });
        Assert.Equal(HttpStatusCode.Forbidden, status);
        Assert.Contains("can renew only itself", IssuerHost.Detail(problem), StringComparison.Ordinal);
    }

    [Fact]
    public async Task RenewAsync_WithForeignCertificate_Returns401()
    {
        using var foreign = DevelopmentCertificateAuthority.Create(IssuerHost.TrustDomain);
        await using var credential = await AgentCredential.CreateAsync(IssuerHost.AgentId("worker"), foreign);
        using var http = _host.CreateHttpClient(credential.GetCurrent());
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var (status, problem) = await IssuerHost.PostAsync(http, "v1/renew", new { spiffeId = credential.Id.ToString(), csr = Convert.ToBase64String(TestPki.Csr(credential.Id, key)) });
        Assert.Equal(HttpStatusCode.Unauthorized, status);
        Assert.Contains("not a valid SVID of this issuer", IssuerHost.Detail(problem), StringComparison.Ordinal);
    }

    [Fact]
    public async Task BundleAsync_ReturnsSpiffeBundleOfTheIssuer()
    {
        using var http = _host.CreateHttpClient();
        using var response = await http.GetAsync("v1/bundle");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var bundle = TrustBundle.Parse(IssuerHost.TrustDomain, await response.Content.ReadAsStringAsync());
        Assert.Equal(_host.Issuer.GetBundle().X509Authorities.Single().RawData, bundle.X509Authorities.Single().RawData);
        Assert.NotNull(bundle.SequenceNumber);
    }

    [Fact]
    public async Task IssuerClient_ServerWithUnexpectedId_IsRejected()
    {
        var options = _host.ClientOptions("aijt_whatever");
        options.ServerId = SpiffeId.Parse("spiffe://example.org/someone-else");
        using var client = new IssuerClient(options, _host.Time);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var id = IssuerHost.AgentId("worker");
        var ex = await Assert.ThrowsAsync<CertificateIssuanceException>(async () => await client.IssueAsync(new X509SvidRequest(id, TestPki.Csr(id, key), TimeSpan.FromMinutes(5))));
        Assert.Contains("must be 'spiffe://example.org/someone-else'", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task IssuerClient_NoJoinTokenLeft_FailsWithActionableMessage()
    {
        var token = await _host.Issuer.CreateJoinTokenAsync("worker", null, TimeSpan.FromMinutes(5));
        using var client = new IssuerClient(_host.ClientOptions(token), _host.Time);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var id = IssuerHost.AgentId("worker");
        await client.IssueAsync(new X509SvidRequest(id, TestPki.Csr(id, key), TimeSpan.FromMinutes(5)));
        var ex = await Assert.ThrowsAsync<CertificateIssuanceException>(async () => await client.IssueAsync(new X509SvidRequest(id, TestPki.Csr(id, key), TimeSpan.FromMinutes(5))));
        Assert.Contains("JoinTokenCallback", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AgentCredential_AfterExpiry_RecoversThroughJoinTokenCallback()
    {
        var first = await _host.Issuer.CreateJoinTokenAsync("worker", null, TimeSpan.FromMinutes(5));
        var callbacks = 0;
        var options = _host.ClientOptions(first);
        options.JoinTokenCallback = async (id, ct) =>
        {
            Interlocked.Increment(ref callbacks);
            return await _host.Issuer.CreateJoinTokenAsync(id, null, TimeSpan.FromMinutes(5), ct); // bound to the instance it re-enrolls
        };
        using var client = new IssuerClient(options, _host.Time);
        var id = IssuerHost.AgentId("worker");
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var issued = await client.IssueAsync(new X509SvidRequest(id, TestPki.Csr(id, key), TimeSpan.FromMinutes(5)));

        // The SVID has expired (no mTLS renewal possible): a request without an authenticating SVID enrolls again with a fresh token.
        using var key2 = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var again = await client.IssueAsync(new X509SvidRequest(id, TestPki.Csr(id, key2), TimeSpan.FromMinutes(5)));
        Assert.Equal(1, callbacks);
        Assert.NotEqual(issued.Certificate.SerialNumber, again.Certificate.SerialNumber);
    }

    private static byte[] Tamper(byte[] csr)
    {
        var copy = (byte[])csr.Clone();
        copy[^5] ^= 0x01;
        return copy;
    }
}
