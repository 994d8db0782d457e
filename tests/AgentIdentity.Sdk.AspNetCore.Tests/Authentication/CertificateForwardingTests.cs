using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using AgentIdentity.AspNetCore.Tests.TestInfrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.HttpOverrides;
using Microsoft.Extensions.DependencyInjection;

namespace AgentIdentity.AspNetCore.Tests.Authentication;

/// <summary>Client certificates forwarded by a TLS-terminating proxy, over real Kestrel and a real HttpClient: the proxy is recognised by
/// the transport peer address (never by X-Forwarded-For), and forwarding requires certificate-bound tokens.</summary>
public sealed class CertificateForwardingTests : IAsyncLifetime, IDisposable
{
    private readonly TestPki _pki = TestPki.ForCorp();
    private readonly ConcurrentQueue<IPAddress?> _seenRemoteAddresses = new();
    private TestAuthorizationServer _authorizationServer = null!;

    public async Task InitializeAsync() => _authorizationServer = await TestAuthorizationServer.StartAsync(_pki);

    public async Task DisposeAsync() => await _authorizationServer.DisposeAsync();

    public void Dispose() => _pki.Dispose();

    private void RequireBoundTokens(AgentIdentityAuthenticationOptions o)
    {
        o.AccessTokens.Mode = AgentAccessTokenMode.Required;
        o.AccessTokens.Validator = new JwtAccessTokenValidator(new JwtAccessTokenValidatorOptions
        {
            MetadataAddress = _authorizationServer.MetadataAddress,
            Audiences = { TestAuthorizationServer.Audience },
            Backchannel = TestAuthorizationServer.CreateBackchannel(_pki.Bundles),
        });
    }

    private Task<AgentTestServer> StartBehindProxyAsync(bool enabled, IPAddress trustedProxy, bool useForwardedHeaders = false) =>
        AgentTestServer.StartAsync(
            _pki,
            o =>
            {
                o.CertificateForwarding.Enabled = enabled;
                o.CertificateForwarding.KnownProxies.Add(trustedProxy);
                RequireBoundTokens(o);
            },
            listen: (_, _) => { }, // plain HTTP: a proxy terminates TLS
            beforeAuthentication: app =>
            {
                if (useForwardedHeaders)
                {
                    // The stock middleware trusts loopback peers, so it rewrites Connection.RemoteIpAddress from X-Forwarded-For.
                    app.UseForwardedHeaders(new ForwardedHeadersOptions { ForwardedHeaders = ForwardedHeaders.XForwardedFor });
                    app.Use(async (context, next) =>
                    {
                        _seenRemoteAddresses.Enqueue(context.Connection.RemoteIpAddress);
                        await next(context);
                    });
                }
            });

    private async Task<HttpResponseMessage> GetAsync(AgentTestServer server, string? header, System.Security.Cryptography.X509Certificates.X509Certificate2? boundTo = null, string? forwardedFor = null)
    {
        using var client = new HttpClient { BaseAddress = server.BaseAddress };
        using var request = new HttpRequestMessage(HttpMethod.Get, "/whoami");
        if (header is not null)
        {
            request.Headers.TryAddWithoutValidation("X-Client-Cert", header);
        }

        if (boundTo is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _authorizationServer.CreateToken(TestAuthorizationServer.Thumbprint(boundTo)));
        }

        if (forwardedFor is not null)
        {
            request.Headers.TryAddWithoutValidation("X-Forwarded-For", forwardedFor);
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

        using var response = await GetAsync(server, header, boundTo: leaf);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task Authenticate_ForwardedFromUntrustedAddress_IsIgnoredWithWarning()
    {
        await using var server = await StartBehindProxyAsync(enabled: true, IPAddress.Parse("10.9.9.9"));
        using var leaf = _pki.CreateCraftedLeaf(["spiffe://corp.example/agent/planner/1"]);

        using var response = await GetAsync(server, Uri.EscapeDataString(leaf.ExportCertificatePem()), boundTo: leaf);

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

    [Fact]
    public async Task Authenticate_SpoofedXForwardedForFromUntrustedPeer_IsIgnored()
    {
        // The configured proxy is 10.1.2.3; the client connects from 127.0.0.1 and claims to be it with X-Forwarded-For, which
        // UseForwardedHeaders copies into Connection.RemoteIpAddress. The transport peer is still 127.0.0.1: not trusted.
        var proxy = IPAddress.Parse("10.1.2.3");
        await using var server = await StartBehindProxyAsync(enabled: true, proxy, useForwardedHeaders: true);
        using var leaf = _pki.CreateCraftedLeaf(["spiffe://corp.example/agent/planner/1"]);

        using var response = await GetAsync(server, Uri.EscapeDataString(leaf.ExportCertificatePem()), boundTo: leaf, forwardedFor: proxy.ToString());

        Assert.Equal(proxy, Assert.Single(_seenRemoteAddresses)); // the spoof took effect at the ASP.NET Core layer
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Contains(server.Logs.GetSnapshot(), r => r.Id.Id == 3005 && r.Message.Contains("from 127.0.0.1: that address is not a configured trusted proxy", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Authenticate_TrustedProxyBehindForwardedHeaders_IsRecognisedByItsTransportAddress()
    {
        // The proxy (127.0.0.1) forwards for a client at 203.0.113.9: Connection.RemoteIpAddress becomes the client's address,
        // but the certificate header is still accepted because the socket's peer is the proxy.
        await using var server = await StartBehindProxyAsync(enabled: true, IPAddress.Loopback, useForwardedHeaders: true);
        using var leaf = _pki.CreateCraftedLeaf(["spiffe://corp.example/agent/planner/1"]);

        using var response = await GetAsync(server, Uri.EscapeDataString(leaf.ExportCertificatePem()), boundTo: leaf, forwardedFor: "203.0.113.9");

        Assert.Equal(IPAddress.Parse("203.0.113.9"), Assert.Single(_seenRemoteAddresses));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task Authenticate_ForwardedCertificateWithoutBoundToken_Returns401()
    {
        await using var server = await StartBehindProxyAsync(enabled: true, IPAddress.Loopback);
        using var leaf = _pki.CreateCraftedLeaf(["spiffe://corp.example/agent/planner/1"]);

        using var response = await GetAsync(server, Uri.EscapeDataString(leaf.ExportCertificatePem()));

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("Bearer", Assert.Single(response.Headers.WwwAuthenticate).ToString());
    }

    [Theory]
    [InlineData(AgentAccessTokenMode.Ignore, true)]
    [InlineData(AgentAccessTokenMode.Optional, true)]
    [InlineData(AgentAccessTokenMode.Required, false)]
    public async Task Start_ForwardingWithoutRequiredBoundTokens_RefusesToStart(AgentAccessTokenMode mode, bool requireBinding)
    {
        var serverSvid = _pki.IssueSvid(_pki.Ca, AgentTestServer.ServerId, dnsNames: ["localhost"]);
        var builder = TestHost.CreateAgentServiceBuilder(serverSvid, () => _pki.Bundles, o =>
        {
            o.CertificateForwarding.Enabled = true;
            o.CertificateForwarding.KnownProxies.Add(IPAddress.Loopback);
            RequireBoundTokens(o);
            o.AccessTokens.Mode = mode;
            o.AccessTokens.RequireCertificateBinding = requireBinding;
        }, listen: _ => { });
        await using var app = builder.Build();

        var ex = await Assert.ThrowsAsync<InvalidOperationException>(() => app.StartAsync());

        Assert.Contains("AgentIdentity certificate forwarding is enabled but certificate-bound access tokens are not required", ex.Message, StringComparison.Ordinal);
    }
}
