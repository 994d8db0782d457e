using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using AgentIdentity.AspNetCore.Tests.TestInfrastructure;

namespace AgentIdentity.AspNetCore.Tests.Revocation;

/// <summary>Standard TLS stacks: nginx enforcing the issuer's CRL (fetched from the CRL endpoint), and <c>openssl ocsp</c> against the responder.</summary>
public sealed class RevocationInteropTests : IAsyncLifetime, IDisposable
{
    private const string NginxId = "spiffe://corp.example/svc/nginx";
    private readonly TestPki _pki = TestPki.ForCorp();
    private readonly HttpClient _http = new();
    private readonly string _dir = Directory.CreateTempSubdirectory("agentidentity-ocsp-").FullName;
    private RevocationIssuerServer _issuer = null!;

    public async Task InitializeAsync() => _issuer = await RevocationIssuerServer.StartAsync(_pki.Ca);

    public async Task DisposeAsync() => await _issuer.DisposeAsync();

    public void Dispose()
    {
        _http.Dispose();
        _pki.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    private async Task<X509Svid> IssueRecordedAsync(string id)
    {
        var svid = _pki.IssueSvid(id);
        await _issuer.Registry.RecordIssuedAsync(svid.Certificate);
        return svid;
    }

    private async Task<NginxServer> StartNginxAsync(X509Svid server, byte[] crl)
    {
        var password = Convert.ToHexString(RandomNumberGenerator.GetBytes(16));
        using var key = server.Certificate.GetECDsaPrivateKey()!;
        var files = new Dictionary<string, string>
        {
            ["server.pem"] = server.ExportCertificatesPem(),
            ["server.key"] = NginxServer.EncryptedKeyPem(key, password),
            ["server.pass"] = password + "\n",
            ["ca.pem"] = _pki.Ca.RootCertificate.ExportCertificatePem() + "\n",
            ["crl.pem"] = PemEncoding.WriteString("X509 CRL", crl) + "\n" + PemEncoding.WriteString("X509 CRL", _pki.Ca.BuildRootCrl()) + "\n",
        };
        return await NginxServer.StartAsync(files, (port, dir) => $$"""
            server {
                listen 127.0.0.1:{{port}} ssl;
                server_name localhost;
                ssl_certificate {{dir}}/server.pem;
                ssl_certificate_key {{dir}}/server.key;
                ssl_password_file {{dir}}/server.pass;
                ssl_client_certificate {{dir}}/ca.pem;
                ssl_verify_client on;
                ssl_verify_depth 2;
                ssl_crl {{dir}}/crl.pem;
                location = / { return 200 "verify=$ssl_client_verify"; }
            }
            """);
    }

    private static async Task<HttpStatusCode> CallAsync(NginxServer nginx, X509Svid client, ITrustBundleSource trust)
    {
        using var handler = new SocketsHttpHandler
        {
            SslOptions = new SslClientAuthenticationOptions
            {
                ClientCertificateContext = SslStreamCertificateContext.Create(client.Certificate, [.. client.Intermediates], offline: true),
                RemoteCertificateValidationCallback = (_, cert, chain, _) =>
                    X509SvidValidator.Validate((X509Certificate2)cert!, chain?.ChainPolicy.ExtraStore.Cast<X509Certificate2>().ToArray() ?? [], trust, DateTimeOffset.UtcNow) is { IsValid: true } r && r.Id.ToString() == NginxId,
                AllowTlsResume = false,
            },
        };
        using var http = new HttpClient(handler) { BaseAddress = nginx.BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
        using var response = await http.GetAsync("/");
        return response.StatusCode;
    }

    [Fact]
    public async Task Nginx_AfterCrlRefresh_RejectsRevokedSvid_AndStillAcceptsOthers()
    {
        var server = _pki.IssueSvid(_pki.Ca, NginxId, dnsNames: ["localhost"]);
        var agent = await IssueRecordedAsync("spiffe://corp.example/agent/planner/1");
        var task = await IssueRecordedAsync("spiffe://corp.example/agent/planner/1/task/t1");
        var other = await IssueRecordedAsync("spiffe://corp.example/agent/planner/2");
        var crlUri = new Uri(_issuer.BaseAddress, "/revocation/crl");

        var before = await StartNginxAsync(server, await _http.GetByteArrayAsync(crlUri));
        await using (before)
        {
            Assert.Equal(HttpStatusCode.OK, await CallAsync(before, agent, _pki.Bundles));
        }

        await _issuer.Registry.RevokeIdentityAsync(agent.Id, X509RevocationReason.KeyCompromise);

        // CRL refresh: fetch the regenerated CRL from the distribution point and restart nginx with it.
        await using var after = await StartNginxAsync(server, await _http.GetByteArrayAsync(crlUri));
        Assert.Equal(HttpStatusCode.BadRequest, await CallAsync(after, agent, _pki.Bundles));
        Assert.Equal(HttpStatusCode.BadRequest, await CallAsync(after, task, _pki.Bundles));
        Assert.Contains("certificate revoked", after.ErrorLog, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, await CallAsync(after, other, _pki.Bundles));
    }

    [Fact]
    public async Task OpenSslOcsp_QueriesResponder_GetsGoodThenRevoked()
    {
        var agent = await IssueRecordedAsync("spiffe://corp.example/agent/planner/1");
        await File.WriteAllTextAsync(Path.Combine(_dir, "leaf.pem"), agent.Certificate.ExportCertificatePem() + "\n");
        await File.WriteAllTextAsync(Path.Combine(_dir, "issuer.pem"), _pki.Ca.IntermediateCertificate.ExportCertificatePem() + "\n");
        await File.WriteAllTextAsync(Path.Combine(_dir, "root.pem"), _pki.Ca.RootCertificate.ExportCertificatePem() + "\n");
        var url = new Uri(_issuer.BaseAddress, "/revocation/ocsp").ToString();

        var good = await RunOpenSslOcspAsync(url);
        Assert.Contains("leaf.pem: good", good, StringComparison.Ordinal);
        Assert.Contains("Response verify OK", good, StringComparison.Ordinal);

        await _issuer.Registry.RevokeCertificateAsync(agent.SerialNumber, X509RevocationReason.KeyCompromise);

        var revoked = await RunOpenSslOcspAsync(url);
        Assert.Contains("leaf.pem: revoked", revoked, StringComparison.Ordinal);
        Assert.Contains("keyCompromise", revoked, StringComparison.Ordinal);
        Assert.Contains("Response verify OK", revoked, StringComparison.Ordinal);
    }

    private async Task<string> RunOpenSslOcspAsync(string url)
    {
        using var process = Process.Start(new ProcessStartInfo("openssl")
        {
            ArgumentList = { "ocsp", "-issuer", "issuer.pem", "-cert", "leaf.pem", "-CAfile", "root.pem", "-url", url, "-resp_text" },
            WorkingDirectory = _dir,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        })!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        var output = await stdout + await stderr;
        Assert.True(process.ExitCode == 0, output);
        return output;
    }
}
