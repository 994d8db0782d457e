using System.Net;
using System.Net.Http.Json;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using AgentIdentity.AspNetCore.Tests.TestInfrastructure;

namespace AgentIdentity.AspNetCore.Tests.Interop;

/// <summary>
/// Interop with a real nginx: nginx verifies our SVIDs against the development CA's root with a CRL built by
/// <see cref="DevelopmentCertificateAuthority.BuildCrl"/>, and the SDK verifies nginx's dev-CA server certificate with
/// <see cref="X509SvidValidator"/>.
/// </summary>
public sealed class NginxInteropTests : IAsyncLifetime, IDisposable
{
    private const string NginxId = "spiffe://corp.example/svc/nginx";
    private readonly TestPki _pki = TestPki.ForCorp();
    private X509Svid _nginxSvid = null!;
    private X509Svid _revoked = null!;
    private NginxServer _nginx = null!;
    private AgentTestServer _backend = null!;
    private TestAuthorizationServer _authorizationServer = null!;

    public async Task InitializeAsync()
    {
        _nginxSvid = _pki.IssueSvid(_pki.Ca, NginxId, dnsNames: ["localhost"]);
        _revoked = _pki.IssueSvid("spiffe://corp.example/agent/planner/revoked");
        _authorizationServer = await TestAuthorizationServer.StartAsync(_pki);
        _backend = await AgentTestServer.StartAsync(
            _pki,
            o =>
            {
                o.CertificateForwarding.Enabled = true;
                o.CertificateForwarding.KnownProxies.Add(IPAddress.Loopback);
                o.CertificateForwarding.IntermediatesHeaderName = "X-Client-Cert-Chain";
                // Forwarding requires certificate-bound tokens: the forwarded certificate carries no proof of possession.
                o.AccessTokens.Mode = AgentAccessTokenMode.Required;
                o.AccessTokens.Validator = new JwtAccessTokenValidator(new JwtAccessTokenValidatorOptions
                {
                    MetadataAddress = _authorizationServer.MetadataAddress,
                    Audiences = { TestAuthorizationServer.Audience },
                    Backchannel = TestAuthorizationServer.CreateBackchannel(_pki.Bundles),
                });
            },
            listen: (_, _) => { }); // plain HTTP behind nginx, which terminates TLS

        var password = Convert.ToHexString(RandomNumberGenerator.GetBytes(16));
        using var nginxKey = _nginxSvid.Certificate.GetECDsaPrivateKey()!;
        var crl = PemEncoding.WriteString("X509 CRL", _pki.Ca.BuildCrl([_revoked.SerialNumber])) + "\n" + PemEncoding.WriteString("X509 CRL", _pki.Ca.BuildRootCrl()) + "\n";
        var files = new Dictionary<string, string>
        {
            ["server.pem"] = _nginxSvid.ExportCertificatesPem(),
            ["server.key"] = NginxServer.EncryptedKeyPem(nginxKey, password),
            ["server.pass"] = password + "\n",
            ["ca.pem"] = _pki.Ca.RootCertificate.ExportCertificatePem() + "\n",
            ["crl.pem"] = crl,
        };
        var intermediate = Uri.EscapeDataString(_pki.Ca.IntermediateCertificate.ExportCertificatePem());
        var backend = _backend.BaseAddress.Port;
        _nginx = await NginxServer.StartAsync(files, (port, dir) => $$"""
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
                location = / { return 200 "verify=$ssl_client_verify serial=$ssl_client_serial"; }
                location /backend/ {
                    proxy_pass http://127.0.0.1:{{backend}}/;
                    proxy_set_header X-Client-Cert $ssl_client_escaped_cert;
                    proxy_set_header X-Client-Cert-Chain "{{intermediate}}";
                }
            }
            """);
    }

    public async Task DisposeAsync()
    {
        await _nginx.DisposeAsync();
        await _backend.DisposeAsync();
        await _authorizationServer.DisposeAsync();
    }

    public void Dispose() => _pki.Dispose();

    private (HttpClient Client, List<X509SvidValidationResult> ServerChecks) CreateClient(X509Svid? svid, ITrustBundleSource trust)
    {
        var checks = new List<X509SvidValidationResult>();
        var handler = new SocketsHttpHandler
        {
            SslOptions = new SslClientAuthenticationOptions
            {
                ClientCertificateContext = svid is null ? null : SslStreamCertificateContext.Create(svid.Certificate, [.. svid.Intermediates], offline: true),
                RemoteCertificateValidationCallback = (_, cert, chain, _) =>
                {
                    var presented = chain?.ChainPolicy.ExtraStore.Cast<X509Certificate2>().ToArray() ?? [];
                    var result = X509SvidValidator.Validate((X509Certificate2)cert!, presented, trust, DateTimeOffset.UtcNow);
                    lock (checks)
                    {
                        checks.Add(result);
                    }

                    return result.IsValid && result.Id.ToString() == NginxId;
                },
                AllowTlsResume = false,
            },
        };
        return (new HttpClient(handler) { BaseAddress = _nginx.BaseAddress, Timeout = TimeSpan.FromSeconds(60) }, checks);
    }

    [Fact]
    public async Task Nginx_SdkClientWithSvid_IsVerifiedByNginx()
    {
        var svid = _pki.IssueSvid("spiffe://corp.example/agent/planner/1");
        var (client, _) = CreateClient(svid, _pki.Bundles);
        using (client)
        {
            var body = await client.GetStringAsync("/");

            Assert.Equal($"verify=SUCCESS serial={svid.SerialNumber}", body);
        }
    }

    [Fact]
    public async Task Nginx_CertificateListedInCrl_IsRejected()
    {
        var (client, _) = CreateClient(_revoked, _pki.Bundles);
        using (client)
        {
            using var response = await client.GetAsync("/");

            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.Contains("certificate revoked", _nginx.ErrorLog, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Nginx_CertificateFromOtherCa_IsRejected()
    {
        var other = _pki.IssueSvid(_pki.OtherCa, "spiffe://other.example/agent/planner/1");
        var (client, _) = CreateClient(other, _pki.Bundles);
        using (client)
        {
            using var response = await client.GetAsync("/");

            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        }
    }

    [Fact]
    public async Task Sdk_ValidatesNginxServerCertificate_WithX509SvidValidator()
    {
        var svid = _pki.IssueSvid("spiffe://corp.example/agent/planner/1");
        var (client, checks) = CreateClient(svid, _pki.Bundles);
        using (client)
        {
            using var response = await client.GetAsync("/");

            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var check = Assert.Single(checks);
            Assert.True(check.IsValid, check.Reason);
            Assert.Equal(NginxId, check.Id.ToString());
            Assert.Equal(3, check.VerifiedChain.Count);
        }
    }

    [Fact]
    public async Task Sdk_NginxCertificateNotInTrustedBundle_FailsHandshake()
    {
        var svid = _pki.IssueSvid("spiffe://corp.example/agent/planner/1");
        var (client, checks) = CreateClient(svid, _pki.OtherCa.Bundle);
        using (client)
        {
            await Assert.ThrowsAsync<HttpRequestException>(() => client.GetAsync("/"));
            Assert.Equal(X509SvidValidationError.UnknownTrustDomain, Assert.Single(checks).Error);
        }
    }

    [Fact]
    public async Task Nginx_ForwardsVerifiedCertificate_ToAgentIdentityBehindProxy()
    {
        var svid = _pki.IssueSvid("spiffe://corp.example/agent/planner/9");
        var (client, _) = CreateClient(svid, _pki.Bundles);
        using (client)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/backend/whoami");
            request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue(
                "Bearer", _authorizationServer.CreateToken(TestAuthorizationServer.Thumbprint(svid.Certificate)));
            using var response = await client.SendAsync(request);
            var claims = await response.Content.ReadFromJsonAsync<Dictionary<string, string?>>();

            Assert.Equal("spiffe://corp.example/agent/planner/9", claims!["spiffe_id"]);
            Assert.Equal(svid.SerialNumber, claims["serial"]);
        }
    }
}
