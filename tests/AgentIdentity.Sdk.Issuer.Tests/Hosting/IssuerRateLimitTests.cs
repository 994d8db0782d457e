using System.Net;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.DependencyInjection;

namespace AgentIdentity.Issuer.Tests.Hosting;

/// <summary>
/// The issuer's rate limits on a real Kestrel issuer: keyed on the validated SPIFFE ID, else on the address prefix (a certificate the
/// issuer did not sign is no identity), plus one global limit on the anonymous endpoints. Windows follow the issuer's fake clock.
/// </summary>
public sealed class IssuerRateLimitTests
{
    [Fact]
    public async Task SelfSignedCertificatePerConnection_SharesTheAddressLimit()
    {
        await using var host = await IssuerHost.StartAsync(o => o.RateLimitPermits = 3);
        try
        {
            var statuses = new List<HttpStatusCode>();
            string? detail = null;
            for (var i = 0; i < 5; i++)
            {
                using var http = SelfSignedClient(host);
                using var response = await http.GetAsync("v1/bundle");
                statuses.Add(response.StatusCode);
                if (response.StatusCode == HttpStatusCode.TooManyRequests)
                {
                    detail = await DetailAsync(response);
                    Assert.True(response.Headers.RetryAfter?.Delta > TimeSpan.Zero);
                }
            }

            Assert.Equal([HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.TooManyRequests, HttpStatusCode.TooManyRequests], statuses);
            Assert.Contains("'net:127.0.0.1/32' exceeded 3 requests", detail, StringComparison.Ordinal);
        }
        finally
        {
            host.DeleteDirectory();
        }
    }

    [Fact]
    public async Task BootstrapKeyGuessing_WithFreshSelfSignedCertificates_IsLimited()
    {
        await using var host = await IssuerHost.StartAsync(o => o.RateLimitPermits = 3);
        try
        {
            var statuses = new List<HttpStatusCode>();
            for (var i = 0; i < 5; i++)
            {
                using var http = SelfSignedClient(host);
                http.DefaultRequestHeaders.Authorization = new("Bearer", "guess-" + i.ToString(System.Globalization.CultureInfo.InvariantCulture).PadRight(32, 'x'));
                statuses.Add((await IssuerHost.PostAsync(http, "v1/join-tokens", new { agentName = "planner" })).Status);
            }

            Assert.All(statuses[..3], s => Assert.NotEqual(HttpStatusCode.TooManyRequests, s));
            Assert.Equal([HttpStatusCode.TooManyRequests, HttpStatusCode.TooManyRequests], statuses[3..]);
        }
        finally
        {
            host.DeleteDirectory();
        }
    }

    [Fact]
    public async Task ValidatedAgents_AreLimitedPerSpiffeIdIndependently()
    {
        await using var host = await IssuerHost.StartAsync(o => o.RateLimitPermits = 3);
        try
        {
            var a = await EnrollAsync(host);
            var b = await EnrollAsync(host);
            host.Time.Advance(TimeSpan.FromMinutes(1)); // a new window: the enrollments counted against the address

            using var httpA = host.CreateHttpClient(a.GetCurrent());
            using var httpB = host.CreateHttpClient(b.GetCurrent());
            using var anonymous = host.CreateHttpClient();
            var statusesA = new List<HttpStatusCode>();
            string? detail = null;
            for (var i = 0; i < 4; i++)
            {
                using var response = await httpA.GetAsync("v1/bundle");
                statusesA.Add(response.StatusCode);
                detail = await DetailAsync(response);
            }

            Assert.Equal([HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.TooManyRequests], statusesA);
            Assert.Contains($"'id:{a.Id}' exceeded 3 requests", detail, StringComparison.Ordinal);
            for (var i = 0; i < 3; i++)
            {
                Assert.Equal(HttpStatusCode.OK, (await httpB.GetAsync("v1/bundle")).StatusCode); // B has its own limit
            }

            Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("v1/bundle")).StatusCode); // so has the address

            // The window ends on the issuer's clock, not the wall clock.
            host.Time.Advance(TimeSpan.FromMinutes(1));
            Assert.Equal(HttpStatusCode.OK, (await httpA.GetAsync("v1/bundle")).StatusCode);
        }
        finally
        {
            host.DeleteDirectory();
        }
    }

    [Fact]
    public async Task AnonymousEndpoints_ShareOneGlobalLimit_ReplenishedByTheIssuersClock()
    {
        await using var host = await IssuerHost.StartAsync(o =>
        {
            o.RateLimitPermits = 100;
            o.AnonymousRateLimitPermits = 4;
        });
        try
        {
            var a = await EnrollAsync(host);
            var b = await EnrollAsync(host);
            host.Time.Advance(TimeSpan.FromMinutes(1));
            using var httpA = host.CreateHttpClient(a.GetCurrent());
            using var httpB = host.CreateHttpClient(b.GetCurrent());
            using var anonymous = host.CreateHttpClient();

            // Four callers' requests to four anonymous endpoints take the four global permits.
            Assert.Equal(HttpStatusCode.OK, (await httpA.GetAsync("v1/bundle")).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await httpB.GetAsync("revocation/crl")).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("revocation/ocsp/AA%3D%3D")).StatusCode);
            using (var other = host.CreateHttpClient(SelfSigned(host)))
            using (var ocsp = new ByteArrayContent([0x30, 0x00]))
            {
                ocsp.Headers.ContentType = new("application/ocsp-request");
                Assert.Equal(HttpStatusCode.OK, (await other.PostAsync("revocation/ocsp", ocsp)).StatusCode);
            }

            // A fifth caller, and enrollment, are refused by the global limit, although each is far below its own.
            var c = host.CreateHttpClient(SelfSigned(host));
            using var refused = await c.GetAsync("revocation/crl");
            Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
            Assert.Contains("global limit of 4 requests", await DetailAsync(refused), StringComparison.Ordinal);
            var token = await host.Issuer.CreateJoinTokenAsync("worker", null, TimeSpan.FromMinutes(5));
            var (status, problem) = await IssuerHost.PostAsync(anonymous, "v1/issue", new { spiffeId = IssuerHost.AgentId("worker").ToString(), csr = "AAAA", joinToken = token });
            Assert.Equal(HttpStatusCode.TooManyRequests, status);
            Assert.Contains("anonymous endpoints", IssuerHost.Detail(problem), StringComparison.Ordinal);

            // Authenticated endpoints are not under it: A still renews.
            using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            (status, _) = await IssuerHost.PostAsync(httpA, "v1/renew", new { spiffeId = a.Id.ToString(), csr = Convert.ToBase64String(TestPki.Csr(a.Id, key)) });
            Assert.Equal(HttpStatusCode.OK, status);

            // The next window on the issuer's clock gives the permits back.
            host.Time.Advance(TimeSpan.FromMinutes(1));
            Assert.Equal(HttpStatusCode.OK, (await c.GetAsync("revocation/crl")).StatusCode);
            c.Dispose();
        }
        finally
        {
            host.DeleteDirectory();
        }
    }

    [Theory]
    [InlineData("192.0.2.77", 32, 64, "192.0.2.77/32")]
    [InlineData("192.0.2.77", 24, 64, "192.0.2.0/24")]
    [InlineData("::ffff:192.0.2.77", 24, 64, "192.0.2.0/24")]
    [InlineData("2001:db8:1:2:3:4:5:6", 32, 64, "2001:db8:1:2::/64")]
    [InlineData("2001:db8:1:2:3:4:5:6", 32, 48, "2001:db8:1::/48")]
    public void AddressPrefix_GroupsAddressesByTheConfiguredPrefix(string address, int ipv4, int ipv6, string expected) =>
        Assert.Equal(expected, IssuerRateLimiter.AddressPrefix(IPAddress.Parse(address), ipv4, ipv6));

    [Theory]
    [InlineData(33, 64, "RateLimitIPv4PrefixLength")]
    [InlineData(7, 64, "RateLimitIPv4PrefixLength")]
    [InlineData(32, 129, "RateLimitIPv6PrefixLength")]
    public void Options_PrefixLengths_AreValidated(int ipv4, int ipv6, string expected)
    {
        var options = new AgentIdentityIssuerOptions { TrustDomain = "example.org", RateLimitIPv4PrefixLength = ipv4, RateLimitIPv6PrefixLength = ipv6 };
        Assert.Contains(expected, options.Validate(), StringComparison.Ordinal);
    }

    [Fact]
    public void Options_AnonymousRateLimitPermits_IsValidated()
    {
        var options = new AgentIdentityIssuerOptions { TrustDomain = "example.org", AnonymousRateLimitPermits = 0 };
        Assert.Contains("AnonymousRateLimitPermits must be at least 1", options.Validate(), StringComparison.Ordinal);
    }

    private static async Task<AgentCredential> EnrollAsync(IssuerHost host)
    {
        var token = await host.Issuer.CreateJoinTokenAsync("worker", null, TimeSpan.FromMinutes(5));
        return await AgentCredential.CreateAsync(IssuerHost.AgentId("worker"), new IssuerClient(host.ClientOptions(token), host.Time), timeProvider: host.Time);
    }

    /// <summary>A fresh self-signed client certificate with a SPIFFE ID of the issuer's trust domain: not an SVID of the issuer.</summary>
    private static X509Svid SelfSigned(IssuerHost host)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var id = IssuerHost.AgentId("worker");
        var request = new CertificateRequest("CN=self-signed", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddUri(new Uri(id.ToString()));
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, critical: true));
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, critical: true));
        var now = host.Time.GetUtcNow();
        using var certificate = request.CreateSelfSigned(now.AddDays(-1), now.AddDays(1));
        return new X509Svid(X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pkcs12), null));
    }

    private static async Task<string> DetailAsync(HttpResponseMessage response)
    {
        using var problem = System.Text.Json.JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return IssuerHost.Detail(problem.RootElement);
    }

    private static HttpClient SelfSignedClient(IssuerHost host) => host.CreateHttpClient(SelfSigned(host));
}
