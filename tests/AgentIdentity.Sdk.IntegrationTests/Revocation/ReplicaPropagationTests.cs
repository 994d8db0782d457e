using System.Net;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using AgentIdentity.AspNetCore;
using AgentIdentity.Issuer;
using AgentIdentity.Issuer.Tests;
using AgentIdentity.Issuer.Tests.ControlPlane;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using static AgentIdentity.Issuer.Tests.ReplicaTestKit;

namespace AgentIdentity.IntegrationTests.Revocation;

/// <summary>
/// §3 and §8 end to end: two issuer replicas on one real PostgreSQL; a service (Kestrel, AgentIdentity authentication,
/// <c>AddAgentIdentityRevocationFeed</c> + <c>UseAgentIdentityRevocation</c>) subscribed to replica B's feed; revocations made on
/// replica A; nginx enforcing the CRL fetched from B. The issuer clock is fake and not advanced, so only PostgreSQL's
/// notification carries a revocation from A to B.
/// </summary>
public sealed class ReplicaPropagationTests(PostgreSqlServer server) : IClassFixture<PostgreSqlServer>
{
    private static readonly TimeSpan Safety = TimeSpan.FromSeconds(30);

    private async Task<(IssuerHost A, IssuerHost B)> StartReplicasAsync(ObservableTimeProvider? clock = null)
    {
        var connectionString = await server.CreateDatabaseAsync();
        var a = await IssuerHost.StartAsync(store: s => s.UsePostgreSql(connectionString), time: clock?.Fake, services: NoSafetyNet, clock: clock);
        var b = await IssuerHost.StartAsync(store: s => s.UsePostgreSql(connectionString), time: a.Time, services: NoSafetyNet, clock: clock);
        clock?.DiscardTimers();
        return (a, b);
    }

    private static async Task StopAsync(params IAsyncDisposable[] parts)
    {
        foreach (var part in parts)
        {
            await part.DisposeAsync();
            (part as IssuerHost)?.DeleteDirectory();
        }
    }

    /// <summary>The trust a client of <paramref name="issuer"/> needs: the issuer's server SVID validated against its bundle.</summary>
    private static SocketsHttpHandler IssuerTrust(IssuerHost issuer)
    {
        var handler = new SocketsHttpHandler();
        handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, chain, _) =>
            certificate is X509Certificate2 leaf
            && X509SvidValidator.Validate(leaf, chain?.ChainPolicy.ExtraStore, issuer.Issuer.GetBundle(), TimeProvider.System.GetUtcNow()) is { IsValid: true } result
            && result.Id == issuer.Issuer.ServerId;
        return handler;
    }

    /// <summary>A service authenticating agents of the issuer's trust domain, subscribed to <paramref name="feedReplica"/>'s revocation feed.</summary>
    private static async Task<TestHost> StartServiceAsync(IssuerHost feedReplica, AgentCredential serverCredential)
    {
        var builder = TestHost.CreateAgentServiceBuilder(serverCredential.GetCurrent(), () => feedReplica.Issuer.GetBundle(), listen: lo =>
        {
            lo.UseAgentIdentityHttps(serverCredential);
            lo.UseAgentIdentityRevocation();
        });
        builder.Services.AddAgentIdentityRevocationFeed(o =>
        {
            o.FeedUri = new Uri(feedReplica.Address, "revocation/feed");
            o.SignerCertificate = feedReplica.Registry.SignerCertificate;
            o.TrustDomain = IssuerHost.TrustDomain.Name;
        }).ConfigurePrimaryHttpMessageHandler(() => IssuerTrust(feedReplica));
        var app = builder.Build();
        app.UseAuthentication();
        app.UseAuthorization();
        app.MapGet("/whoami", (HttpContext context) => context.User.FindFirst(AgentIdentityClaimTypes.SpiffeId)?.Value).RequireAuthorization(p => p.RequireAgentCaller());
        var host = await TestHost.StartAsync(app);
        await host.Services.GetRequiredService<AgentRevocationFeedService>().Subscriber!.WaitConnectedAsync(Safety);
        return host;
    }

    private static HttpClient Client(TestHost service, X509Svid agent, TrustBundle trust, SpiffeId serverId)
    {
        var handler = new SocketsHttpHandler
        {
            SslOptions = new SslClientAuthenticationOptions
            {
                ClientCertificateContext = SslStreamCertificateContext.Create(agent.Certificate, [.. agent.Intermediates], offline: true),
                RemoteCertificateValidationCallback = (_, cert, chain, _) =>
                    cert is X509Certificate2 leaf
                    && X509SvidValidator.Validate(leaf, chain?.ChainPolicy.ExtraStore, trust, TimeProvider.System.GetUtcNow()) is { IsValid: true } r && r.Id == serverId,
                AllowTlsResume = false,
            },
        };
        return new HttpClient(handler) { BaseAddress = new Uri(service.Address, "/"), Timeout = Safety };
    }

    private static async Task<bool> IsAcceptedAsync(HttpClient client)
    {
        try
        {
            using var response = await client.GetAsync("/whoami");
            return response.StatusCode switch
            {
                HttpStatusCode.OK => true,
                HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden => false,
                var other => throw new InvalidOperationException($"Unexpected status {other}."),
            };
        }
        catch (HttpRequestException)
        {
            return false; // the connection was aborted, or the handshake refused the certificate
        }
    }

    [Fact]
    public async Task RevokeOnA_ServiceSubscribedToB_RejectsTheCertificateAndAbortsItsOpenConnection_AndBRefusesItsRenewal()
    {
        var (a, b) = await StartReplicasAsync();
        await using var serverCredential = await ControlPlaneTestKit.EnrollAsync(a, "erp");
        await using var agent = await ControlPlaneTestKit.EnrollAsync(a, "planner");
        await using var other = await ControlPlaneTestKit.EnrollAsync(a, "planner");
        var service = await StartServiceAsync(b, serverCredential);
        try
        {
            var bundle = a.Issuer.GetBundle();
            using var agentClient = Client(service, agent.GetCurrent(), bundle, serverCredential.Id);
            using var otherClient = Client(service, other.GetCurrent(), bundle, serverCredential.Id);
            Assert.True(await IsAcceptedAsync(agentClient)); // opens a keep-alive connection
            Assert.True(await IsAcceptedAsync(otherClient));

            var entry = await a.Registry.RevokeIdentityAsync(agent.Id, X509RevocationReason.KeyCompromise);

            await service.Services.GetRequiredService<RevocationSet>().WaitForSequenceAsync(entry.Sequence).WaitAsync(Safety);
            Assert.True(service.Services.GetRequiredService<AgentRevocationConnectionTracker>().AbortedConnections >= 1, "the revoked agent's open connection is aborted");
            Assert.False(await IsAcceptedAsync(agentClient));
            Assert.True(await IsAcceptedAsync(otherClient));

            var (status, problem) = await ControlPlaneTestKit.RenewAsync(b, agent.GetCurrent());
            Assert.Equal(HttpStatusCode.Forbidden, status);
            Assert.Equal("Identity revoked", ControlPlaneTestKit.Title(problem));
            Assert.Contains(entry.ToString(), IssuerHost.Detail(problem), StringComparison.Ordinal);
        }
        finally
        {
            await StopAsync(service, b, a);
        }
    }

    [Fact]
    public async Task PostgreSqlRestartWhileSubscribed_NextRevocationOnA_ReachesTheServiceOfB_WithNoGap()
    {
        var clock = new ObservableTimeProvider(DateTimeOffset.UtcNow);
        var (a, b) = await StartReplicasAsync(clock);
        await using var serverCredential = await ControlPlaneTestKit.EnrollAsync(a, "erp");
        await using var first = await ControlPlaneTestKit.EnrollAsync(a, "planner");
        await using var second = await ControlPlaneTestKit.EnrollAsync(a, "planner");
        var service = await StartServiceAsync(b, serverCredential);
        try
        {
            var set = service.Services.GetRequiredService<RevocationSet>();
            var one = await a.Registry.RevokeIdentityAsync(first.Id);
            await set.WaitForSequenceAsync(one.Sequence).WaitAsync(Safety);
            var connections = (A: Sync(a).Listener!.Connections, B: Sync(b).Listener!.Connections);

            await server.RestartAsync();
            await AdvanceUntilReconnectedAsync(clock, (a, connections.A), (b, connections.B));
            var two = await a.Registry.RevokeIdentityAsync(second.Id);

            await set.WaitForSequenceAsync(two.Sequence).WaitAsync(Safety);
            Assert.Equal(two.Sequence, set.LastSequence);
            Assert.True(set.IsIdentityRevoked(first.Id, out _));
            Assert.True(set.IsIdentityRevoked(second.Id, out _));
        }
        finally
        {
            await StopAsync(service, b, a);
        }
    }

    [Fact]
    public async Task Nginx_CrlFetchedFromB_AfterRevocationOnA_RejectsTheCertificate()
    {
        if (NginxServer.FindExecutable() is null)
        {
            throw new InvalidOperationException("nginx is not installed: run eng/test.sh (it installs the Debian package).");
        }

        var (a, b) = await StartReplicasAsync();
        await using var serverCredential = await ControlPlaneTestKit.EnrollAsync(a, "nginx");
        await using var agent = await ControlPlaneTestKit.EnrollAsync(a, "planner");
        await using var other = await ControlPlaneTestKit.EnrollAsync(a, "planner");
        try
        {
            var rootCrl = await BuildRootCrlAsync(a);
            await using (var before = await StartNginxAsync(serverCredential.GetCurrent(), a.Issuer.GetBundle(), await FetchCrlAsync(b), rootCrl))
            {
                Assert.Equal(HttpStatusCode.OK, await CallAsync(before, agent.GetCurrent(), a.Issuer.GetBundle(), serverCredential.Id));
            }

            await a.Registry.RevokeIdentityAsync(agent.Id, X509RevocationReason.KeyCompromise);

            await using var after = await StartNginxAsync(serverCredential.GetCurrent(), a.Issuer.GetBundle(), await FetchCrlAsync(b), rootCrl);
            Assert.Equal(HttpStatusCode.BadRequest, await CallAsync(after, agent.GetCurrent(), a.Issuer.GetBundle(), serverCredential.Id));
            Assert.Contains("certificate revoked", after.ErrorLog, StringComparison.Ordinal);
            Assert.Equal(HttpStatusCode.OK, await CallAsync(after, other.GetCurrent(), a.Issuer.GetBundle(), serverCredential.Id));
        }
        finally
        {
            await StopAsync(b, a);
        }
    }

    private static async Task<byte[]> FetchCrlAsync(IssuerHost replica)
    {
        using var http = new HttpClient(IssuerTrust(replica)) { BaseAddress = replica.Address };
        return await http.GetByteArrayAsync("revocation/crl");
    }

    /// <summary>The root's (empty) CRL: OpenSSL checks a CRL for every CA of the chain. An operator signs it with the root key; the
    /// test decrypts the stored root key with the key-encryption key.</summary>
    private static async Task<byte[]> BuildRootCrlAsync(IssuerHost issuer)
    {
        var authority = (await issuer.Issuer.Store.GetCertificateAuthoritiesAsync()).Single(c => c.State == CertificateAuthorityState.Active);
        using var key = ECDsa.Create();
        key.ImportEncryptedPkcs8PrivateKey(IssuerHost.Kek, authority.EncryptedRootKey, out _);
        using var root = X509CertificateLoader.LoadCertificate(authority.RootCertificate);
        using var signing = root.CopyWithPrivateKey(key);
        var now = TimeProvider.System.GetUtcNow();
        return new CertificateRevocationListBuilder().Build(signing, System.Numerics.BigInteger.One, now.AddDays(1), HashAlgorithmName.SHA256, thisUpdate: now.AddMinutes(-5));
    }

    private static async Task<NginxServer> StartNginxAsync(X509Svid server, TrustBundle bundle, byte[] crl, byte[] rootCrl)
    {
        var password = Convert.ToHexString(RandomNumberGenerator.GetBytes(16));
        using var key = server.Certificate.GetECDsaPrivateKey()!;
        var files = new Dictionary<string, string>
        {
            ["server.pem"] = server.ExportCertificatesPem(),
            ["server.key"] = NginxServer.EncryptedKeyPem(key, password),
            ["server.pass"] = password + "\n",
            ["ca.pem"] = string.Concat(bundle.X509Authorities.Select(r => r.ExportCertificatePem() + "\n")),
            ["crl.pem"] = PemEncoding.WriteString("X509 CRL", crl) + "\n" + PemEncoding.WriteString("X509 CRL", rootCrl) + "\n",
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

    private static async Task<HttpStatusCode> CallAsync(NginxServer nginx, X509Svid client, TrustBundle trust, SpiffeId serverId)
    {
        using var handler = new SocketsHttpHandler
        {
            SslOptions = new SslClientAuthenticationOptions
            {
                ClientCertificateContext = SslStreamCertificateContext.Create(client.Certificate, [.. client.Intermediates], offline: true),
                RemoteCertificateValidationCallback = (_, cert, chain, _) =>
                    X509SvidValidator.Validate((X509Certificate2)cert!, chain?.ChainPolicy.ExtraStore, trust, TimeProvider.System.GetUtcNow()) is { IsValid: true } r && r.Id == serverId,
                AllowTlsResume = false,
            },
        };
        using var http = new HttpClient(handler) { BaseAddress = nginx.BaseAddress, Timeout = Safety };
        using var response = await http.GetAsync("/");
        return response.StatusCode;
    }
}
