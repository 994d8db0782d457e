using System.Net;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using AgentIdentity.AspNetCore.Tests.TestInfrastructure;
using Microsoft.AspNetCore.Hosting;

namespace AgentIdentity.AspNetCore.Tests.Hosting;

public sealed class AgentIdentityKestrelExtensionsTests : IDisposable
{
    private readonly TestPki _pki = TestPki.ForCorp();

    public void Dispose() => _pki.Dispose();

    [Fact]
    public async Task UseAgentIdentityHttps_SourceRotates_NewConnectionsGetNewSvid()
    {
        var first = _pki.IssueSvid(_pki.Ca, AgentTestServer.ServerId, dnsNames: ["localhost"]);
        var second = _pki.IssueSvid(_pki.Ca, AgentTestServer.ServerId, dnsNames: ["localhost"]);
        var source = new SwitchableSource(first);
        await using var server = await AgentTestServer.StartAsync(_pki, listen: (lo, _) => lo.UseAgentIdentityHttps(source));
        var client = _pki.IssueSvid("spiffe://corp.example/agent/planner/1");

        var before = await GetServerSerialAsync(server, client);
        source.Current = second;
        var after = await GetServerSerialAsync(server, client);

        Assert.Equal(first.SerialNumber, before);
        Assert.Equal(second.SerialNumber, after);
    }

    [Fact]
    public async Task RequireAgentClientCertificate_OnOwnServerCertificate_CapturesIntermediatesForHandler()
    {
        await using var server = await AgentTestServer.StartAsync(_pki, listen: (lo, svid) => lo.UseHttps(https =>
        {
            https.ServerCertificate = svid.Certificate;
            https.ServerCertificateChain = [.. svid.Intermediates];
            https.RequireAgentClientCertificate();
        }));
        var svid = _pki.IssueSvid("spiffe://corp.example/agent/planner/1");
        using var client = server.CreateClient(svid, _pki.Bundles);

        using var response = await client.GetAsync("/whoami");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task RequireAgentClientCertificates_OnKestrelDefaults_RequiresCertificate()
    {
        await using var server = await AgentTestServer.StartAsync(_pki, listen: (lo, svid) =>
        {
            lo.KestrelServerOptions.RequireAgentClientCertificates();
            lo.UseHttps(https =>
            {
                https.ServerCertificate = svid.Certificate;
                https.ServerCertificateChain = [.. svid.Intermediates];
            });
        });
        using var withoutCertificate = server.CreateClient(certificate: null, intermediates: null, _pki.Bundles);
        using var leaf = _pki.CreateCraftedLeaf(["spiffe://corp.example/agent/planner/1"]);
        using var withCertificate = server.CreateClient(leaf, null, _pki.Bundles);

        await Assert.ThrowsAsync<HttpRequestException>(() => withoutCertificate.GetAsync("/whoami"));
        Assert.Equal(HttpStatusCode.OK, (await withCertificate.GetAsync("/whoami")).StatusCode);
    }

    private static async Task<string?> GetServerSerialAsync(AgentTestServer server, X509Svid client)
    {
        string? serial = null;
        using var handler = new SocketsHttpHandler
        {
            SslOptions = new SslClientAuthenticationOptions
            {
                ClientCertificateContext = SslStreamCertificateContext.Create(client.Certificate, [.. client.Intermediates], offline: true),
                RemoteCertificateValidationCallback = (_, cert, chain, _) =>
                {
                    var leaf = (X509Certificate2)cert!;
                    serial = leaf.SerialNumber;
                    var presented = chain?.ChainPolicy.ExtraStore.Cast<X509Certificate2>() ?? [];
                    return X509SvidValidator.Validate(leaf, presented, server.ServerSvid.GetCurrent() is { } ? TrustFor(server) : null!, DateTimeOffset.UtcNow).IsValid;
                },
            },
        };
        using var http = new HttpClient(handler) { BaseAddress = server.BaseAddress };
        using var response = await http.GetAsync("/whoami");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return serial;
    }

    private static ITrustBundleSource TrustFor(AgentTestServer server) => (ITrustBundleSource)server.Services.GetService(typeof(ITrustBundleSource))!;

    private sealed class SwitchableSource(X509Svid initial) : IX509SvidSource
    {
        public X509Svid Current { get; set; } = initial;

        public X509Svid GetCurrent() => Current;
    }
}
