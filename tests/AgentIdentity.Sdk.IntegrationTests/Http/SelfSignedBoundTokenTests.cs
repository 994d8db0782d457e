using AgentIdentity.IntegrationTests.Infrastructure;

namespace AgentIdentity.IntegrationTests.Http;

/// <summary>RFC 8705 §2.2 self_signed_tls_client_auth against a real OpenIddict 7.8 authorization server: the agent's certificate is
/// registered in the client's key set (and the next one added on every rotation), and the bound tokens are checked by OpenIddict validation
/// on a real Kestrel resource server.</summary>
public sealed class SelfSignedBoundTokenTests
{
    [Fact]
    public async Task GetAsync_SelfSignedCertificateRegistered_BoundTokenOverMtlsAliasAcceptedByResourceServer()
    {
        await using var deployment = await BoundTokenDeployment.StartAsync(TimeSpan.FromMinutes(10), selfSigned: true);

        await deployment.AssertBoundCallsAsync();
    }

    [Fact]
    public async Task GetAsync_SelfSignedRotation_NewCertificateUsableOnceRegisteredAndOldTokenNeverSentWithIt()
    {
        await using var deployment = await BoundTokenDeployment.StartAsync(TimeSpan.FromHours(2), selfSigned: true);
        var (source, client, authorizationServer) = (deployment.SelfSigned!, deployment.Client, deployment.AuthorizationServer);
        var thumbprints = new List<string> { source.GetCurrent().Thumbprint };
        Assert.Equal(thumbprints[0], await client.GetStringAsync("/api/whoami"));

        // Rotated but not registered yet: the cached token (bound to the old certificate) is not used, and the new certificate is refused.
        var unregistered = source.Rotate();
        thumbprints.Add(unregistered.Thumbprint);
        var ex = await Assert.ThrowsAsync<BoundTokenException>(() => client.GetStringAsync("/api/whoami"));
        Assert.Contains("invalid_client", ex.Message, StringComparison.Ordinal);
        Assert.Single(deployment.Seen);

        // The deployment registers each new certificate. Within the failure's back-off (Polly's first delay, at most 1.4 s) the client fails fast without
        // asking the server again; after it, the next request gets a token bound to the new certificate (the failure is not kept).
        await authorizationServer.RegisterClientCertificateAsync(unregistered.Certificate);
        ex = await Assert.ThrowsAsync<BoundTokenException>(() => client.GetStringAsync("/api/whoami"));
        Assert.Contains("after 1 consecutive failure(s) the next attempt is made after", ex.Message, StringComparison.Ordinal);
        Assert.Equal(2, authorizationServer.TokenRequests.Count);
        deployment.Pki.Clock.Advance(TimeSpan.FromSeconds(1.5));
        thumbprints.Add(unregistered.Thumbprint);
        Assert.Equal(unregistered.Thumbprint, await client.GetStringAsync("/api/whoami"));
        var next = source.Rotate();
        await authorizationServer.RegisterClientCertificateAsync(next.Certificate);
        thumbprints.Add(next.Thumbprint);
        Assert.Equal(next.Thumbprint, await client.GetStringAsync("/api/whoami"));
        Assert.Equal(next.Thumbprint, await client.GetStringAsync("/api/whoami"));

        Assert.Equal(thumbprints, authorizationServer.TokenRequests.Select(r => r.Thumbprint));
        Assert.All(authorizationServer.TokenRequests, r => Assert.Equal("/mtls/connect/token", r.Path));
        Assert.Equal(4, deployment.Seen.Count);
        Assert.All(deployment.Seen, s => Assert.Equal(s.CertificateX5t, s.TokenX5t));
    }

    [Fact]
    public async Task GetAsync_SelfSignedCertificateNotInKeySet_InvalidClientAndNothingSent()
    {
        await using var deployment = await BoundTokenDeployment.StartAsync(TimeSpan.FromMinutes(10), selfSigned: true, registerAgentCertificate: false);

        var ex = await Assert.ThrowsAsync<BoundTokenException>(() => deployment.Client.GetStringAsync("/api/whoami"));

        Assert.Contains("refused the client-credentials request of client 'planner'", ex.Message, StringComparison.Ordinal);
        Assert.Contains("invalid_client", ex.Message, StringComparison.Ordinal);
        Assert.Contains("token_endpoint_auth_method self_signed_tls_client_auth", ex.Message, StringComparison.Ordinal);
        Assert.Equal(deployment.CurrentThumbprint, Assert.Single(deployment.AuthorizationServer.TokenRequests).Thumbprint);
        Assert.Equal(0, deployment.ResourceServer.RequestCount);
    }

    [Fact]
    public async Task GetAsync_SelfSignedMethodAgainstPkiOnlyServer_RefusedBeforeAnyTokenRequest()
    {
        await using var deployment = await BoundTokenDeployment.StartAsync(TimeSpan.FromMinutes(10), method: TlsClientAuthenticationMethod.SelfSignedTlsClientAuth);

        var ex = await Assert.ThrowsAsync<BoundTokenException>(() => deployment.Client.GetStringAsync("/api/whoami"));

        Assert.Contains("does not advertise token_endpoint_auth_method 'self_signed_tls_client_auth'", ex.Message, StringComparison.Ordinal);
        Assert.Empty(deployment.AuthorizationServer.TokenRequests);
        Assert.Equal(0, deployment.ResourceServer.RequestCount);
    }

    /// <summary>OpenIddict picks the method from the presented certificate, not from the registration: only a self-issued certificate
    /// (subject equal to issuer) takes the self-signed path. A CA-issued SVID is refused even when its certificate is in the key set.</summary>
    [Fact]
    public async Task GetAsync_CaIssuedSvidRegisteredInSelfSignedMode_RefusedByOpenIddict()
    {
        await using var deployment = await BoundTokenDeployment.StartAsync(TimeSpan.FromMinutes(10), selfSigned: true, caIssuedAgent: true);
        await deployment.AuthorizationServer.RegisterClientCertificateAsync(deployment.Credential!.GetCurrent().Certificate);

        var ex = await Assert.ThrowsAsync<BoundTokenException>(() => deployment.Client.GetStringAsync("/api/whoami"));

        Assert.Contains("invalid_request", ex.Message, StringComparison.Ordinal);
        Assert.Equal(deployment.CurrentThumbprint, Assert.Single(deployment.AuthorizationServer.TokenRequests).Thumbprint);
        Assert.Equal(0, deployment.ResourceServer.RequestCount);
    }
}
