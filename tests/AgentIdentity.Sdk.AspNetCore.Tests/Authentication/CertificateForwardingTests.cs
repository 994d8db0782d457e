using System.Net;
using AgentIdentity.AspNetCore.Tests.TestInfrastructure;

namespace AgentIdentity.AspNetCore.Tests.Authentication;

public sealed class CertificateForwardingTests : IDisposable
{
    private readonly TestPki _pki = TestPki.ForCorp();

    public void Dispose() => _pki.Dispose();

    private Task<AgentTestServer> StartBehindProxyAsync(bool enabled, IPAddress trustedProxy) =>
        AgentTestServer.StartAsync(
            _pki,
            o =>
            {
                o.CertificateForwarding.Enabled = enabled;
                o.CertificateForwarding.KnownProxies.Add(trustedProxy);
            },
            listen: (_, _) => { }); // plain HTTP: a proxy terminates TLS

    private static async Task<HttpResponseMessage> GetAsync(AgentTestServer server, string? header)
    {
        using var client = new HttpClient { BaseAddress = server.BaseAddress };
        using var request = new HttpRequestMessage(HttpMethod.Get, "/whoami");
        if (header is not null)
        {
            request.Headers.TryAddWithoutValidation("X-Client-Cert", header);
        }

        return await client.SendAsync(request);
    }

    [Theory]
    [InlineData("escaped-pem")]
    [InlineData("base64-der")]
    public async Task Authenticate_ForwardedFromTrustedProxy_Succeeds(string format)
    {
        await using var server = await StartBehindProxyAsync(enabled: true, IPAddress.Loopback);
        using var leaf = _pki.CreateCraftedLeaf(["spiffe://corp.example/agent/planner/1"]);
        var header = format == "escaped-pem" ? Uri.EscapeDataString(leaf.ExportCertificatePem()) : Convert.ToBase64String(leaf.RawData);

        using var response = await GetAsync(server, header);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task Authenticate_ForwardedFromUntrustedAddress_IsIgnoredWithWarning()
    {
        await using var server = await StartBehindProxyAsync(enabled: true, IPAddress.Parse("10.9.9.9"));
        using var leaf = _pki.CreateCraftedLeaf(["spiffe://corp.example/agent/planner/1"]);

        using var response = await GetAsync(server, Uri.EscapeDataString(leaf.ExportCertificatePem()));

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Contains(server.Logs.GetSnapshot(), r => r.Id.Id == 3005 && r.Message.Contains("not a configured trusted proxy", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Authenticate_ForwardingOffByDefault_IgnoresHeader()
    {
        await using var server = await AgentTestServer.StartAsync(_pki, listen: (_, _) => { });
        using var leaf = _pki.CreateCraftedLeaf(["spiffe://corp.example/agent/planner/1"]);

        using var response = await GetAsync(server, Convert.ToBase64String(leaf.RawData));

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("AgentIdentity error=\"client_certificate_required\"", Assert.Single(response.Headers.WwwAuthenticate).ToString());
    }

    [Fact]
    public async Task Authenticate_MalformedForwardedHeader_Returns401WithReason()
    {
        await using var server = await StartBehindProxyAsync(enabled: true, IPAddress.Loopback);

        using var response = await GetAsync(server, "not a certificate");

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Contains(server.Logs.GetSnapshot(), r => r.Id.Id == 3006 && r.Message.Contains("neither PEM nor base64 DER", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Authenticate_ForwardedInvalidCertificate_StillValidated()
    {
        await using var server = await StartBehindProxyAsync(enabled: true, IPAddress.Loopback);
        using var leaf = TestPki.CreateLeaf(_pki.UnknownRoot, ["spiffe://corp.example/agent/planner/1"], DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddHours(1));

        using var response = await GetAsync(server, Convert.ToBase64String(leaf.RawData));

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Contains(server.Logs.GetSnapshot(), r => r.Id.Id == 3001 && r.Message.Contains("(UntrustedChain)", StringComparison.Ordinal));
    }

    [Fact]
    public void Validate_ForwardingWithoutTrustedProxies_Throws()
    {
        var options = new AgentIdentityAuthenticationOptions { TrustBundleSource = _pki.Bundles };
        options.CertificateForwarding.Enabled = true;

        var error = Assert.Throws<InvalidOperationException>(options.Validate);

        Assert.Contains("KnownProxies", error.Message, StringComparison.Ordinal);
    }
}
