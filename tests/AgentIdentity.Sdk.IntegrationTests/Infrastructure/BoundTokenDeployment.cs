using System.Collections.Concurrent;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.DependencyInjection;

namespace AgentIdentity.IntegrationTests.Infrastructure;

/// <summary>One RFC 8705 deployment on 127.0.0.1: the OpenIddict authorization server, the "erp" resource server (OpenIddict validation),
/// and the agent's "erp" HttpClient with bound tokens. PKI mode by default (CA-issued SVIDs, tls_client_auth); self-signed mode runs the
/// server with self_signed_tls_client_auth only and gives the agent self-signed certificates.</summary>
internal sealed class BoundTokenDeployment : IAsyncDisposable
{
    public const string EchoId = "spiffe://example.org/svc/echo";

    private BoundTokenDeployment(TestPki pki, SelfSignedSvidSource? selfSigned)
    {
        Pki = pki;
        SelfSigned = selfSigned;
    }

    public TestPki Pki { get; }

    /// <summary>Gets the agent's self-signed certificates, or null when the agent holds a CA-issued SVID (<see cref="Credential"/>).</summary>
    public SelfSignedSvidSource? SelfSigned { get; }

    public AgentCredential? Credential { get; private set; }

    public OpenIddictAuthorizationServer AuthorizationServer { get; private set; } = null!;

    public MtlsTestServer ResourceServer { get; private set; } = null!;

    /// <summary>Gets, per request carrying a token (recorded before validation), the TLS client certificate's and the token's x5t#S256.</summary>
    public ConcurrentQueue<(string CertificateX5t, string TokenX5t)> Seen { get; } = new();

    public ServiceProvider Services { get; private set; } = null!;

    public HttpClient Client { get; private set; } = null!;

    /// <summary>Gets the SHA-256 (hex) of the certificate the agent presents now.</summary>
    public string CurrentThumbprint => (SelfSigned?.GetCurrent() ?? Credential!.GetCurrent()).Thumbprint;

    /// <param name="selfSigned">Self-signed mode: the server enables self_signed_tls_client_auth only, the client uses it.</param>
    /// <param name="caIssuedAgent">In self-signed mode, the agent still presents its CA-issued SVID.</param>
    /// <param name="registerAgentCertificate">In self-signed mode, whether the agent's first certificate is in the client's key set
    /// (otherwise an unrelated certificate is).</param>
    /// <param name="method">The client's authentication method, when it differs from the server's mode.</param>
    /// <param name="revocations">The revocations the authorization server's token exchange enforces; <see langword="null"/> for none.</param>
    public static async Task<BoundTokenDeployment> StartAsync(
        TimeSpan accessTokenLifetime,
        bool selfSigned = false,
        bool caIssuedAgent = false,
        bool registerAgentCertificate = true,
        TlsClientAuthenticationMethod? method = null,
        string clientSpiffePattern = "spiffe://example.org/agent/planner/*",
        bool bindTokens = true,
        AgentPolicy? policy = null,
        RevocationSet? revocations = null)
    {
        var pki = TestPki.OnFakeClock();
        var deployment = new BoundTokenDeployment(pki, selfSigned && !caIssuedAgent ? new SelfSignedSvidSource(pki.Time) : null);
        try
        {
            X509Certificate2? registered = null;
            if (selfSigned)
            {
                registered = registerAgentCertificate && deployment.SelfSigned is { } source
                    ? source.GetCurrent().Certificate
                    : SelfSignedSvidSource.CreateCertificate(pki.Time);
            }

            deployment.AuthorizationServer = await OpenIddictAuthorizationServer.StartAsync(pki, accessTokenLifetime, clientSpiffePattern, bindTokens, registered, revocations);
            deployment.ResourceServer = await Infrastructure.ResourceServer.StartAsync(
                pki, deployment.AuthorizationServer, deployment.Seen, deployment.SelfSigned is null ? null : AcceptAnyClientCertificate);
            deployment.Services = AgentClient.Build(
                pki,
                deployment.ResourceServer.BaseAddress,
                ConfigureClient(deployment.AuthorizationServer, method ?? (selfSigned ? TlsClientAuthenticationMethod.SelfSignedTlsClientAuth : TlsClientAuthenticationMethod.TlsClientAuth)),
                source: deployment.SelfSigned,
                policy: policy);
            if (deployment.SelfSigned is null)
            {
                deployment.Credential = await AgentClient.ReadyAsync(deployment.Services);
            }

            deployment.Client = deployment.Services.GetRequiredService<IHttpClientFactory>().CreateClient(AgentClient.Name);
            return deployment;
        }
        catch
        {
            await deployment.DisposeAsync();
            throw;
        }
    }

    public static Action<IHttpClientBuilder> ConfigureClient(OpenIddictAuthorizationServer authorizationServer, TlsClientAuthenticationMethod method) =>
        b => b.AddAgentIdentity(o => ConfigureOptions(o, authorizationServer, method));

    /// <summary>The agent client's options for this deployment (also for stand-alone handlers of task identities).</summary>
    public static void ConfigureOptions(AgentHttpClientOptions o, OpenIddictAuthorizationServer authorizationServer, TlsClientAuthenticationMethod method = TlsClientAuthenticationMethod.TlsClientAuth)
    {
        o.ServerId = EchoId;
        o.Token.AuthenticationMethod = method;
        o.Token.Authority = authorizationServer.Issuer;
        o.Token.ClientId = OpenIddictAuthorizationServer.ClientId;
        o.Token.Scope = OpenIddictAuthorizationServer.Scope;
        o.Token.ServerId = "spiffe://example.org/svc/as";
        o.Token.RequestTimeout = TimeSpan.FromMinutes(3); // a safety net: a loaded machine answers OpenIddict's first requests slowly
    }

    /// <summary>Three calls on one token: each answered with the presented certificate, one token request to the mTLS alias, every call
    /// carrying a token bound to the certificate it travelled with.</summary>
    public async Task AssertBoundCallsAsync()
    {
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(CurrentThumbprint, await Client.GetStringAsync("/api/whoami"));
        }

        var tokenRequest = Assert.Single(AuthorizationServer.TokenRequests);
        Assert.Equal("/mtls/connect/token", tokenRequest.Path);
        Assert.Equal(CurrentThumbprint, tokenRequest.Thumbprint);
        Assert.Equal(3, Seen.Count);
        Assert.All(Seen, s => Assert.Equal(s.CertificateX5t, s.TokenX5t));
    }

    /// <summary>With self-signed agents the resource server's handshake takes any certificate; the bound token's cnf (checked by OpenIddict
    /// validation) is what ties the caller to it.</summary>
    private static bool AcceptAnyClientCertificate(X509Certificate2 certificate, X509Chain? chain) => true;

    public async ValueTask DisposeAsync()
    {
        if (Services is not null)
        {
            await Services.DisposeAsync();
        }

        if (ResourceServer is not null)
        {
            await ResourceServer.DisposeAsync();
        }

        if (AuthorizationServer is not null)
        {
            await AuthorizationServer.DisposeAsync();
        }

        SelfSigned?.Dispose();
        Pki.Dispose();
    }
}
