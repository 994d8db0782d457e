using System.Net;
using System.Security.Cryptography;
using System.Text.Json;

namespace AgentIdentity.Issuer.Tests.ControlPlane;

/// <summary>Helpers of the control-plane tests: enroll over the real endpoints, renew over mTLS.</summary>
internal static class ControlPlaneTestKit
{
    public static readonly AgentPolicy DelegatingPolicy = new(tools: ["web.*"], maxDelegationDepth: 2, delegationTargets: ["spiffe://example.org/agent/planner/*"]);

    public static async Task<AgentCredential> EnrollAsync(IssuerHost host, string name = "planner", AgentPolicy? policy = null)
    {
        var token = await host.Issuer.CreateJoinTokenAsync(name, policy ?? DelegatingPolicy, TimeSpan.FromMinutes(5));
        return await AgentCredential.CreateAsync(IssuerHost.AgentId(name), new IssuerClient(host.ClientOptions(token), host.Time),
            new AgentCredentialOptions { Lifetime = TimeSpan.FromMinutes(30) }, host.Time);
    }

    /// <summary>POST v1/renew with <paramref name="svid"/> as the client certificate.</summary>
    public static async Task<(HttpStatusCode Status, JsonElement Body)> RenewAsync(IssuerHost host, X509Svid svid)
    {
        using var http = host.CreateHttpClient(svid);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        return await IssuerHost.PostAsync(http, "v1/renew", new { spiffeId = svid.Id.ToString(), csr = Convert.ToBase64String(TestPki.Csr(svid.Id, key)) });
    }

    public static async Task<(HttpStatusCode Status, JsonElement Body)> EnrollRawAsync(IssuerHost host, SpiffeId id, string token)
    {
        using var http = host.CreateHttpClient();
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        return await IssuerHost.PostAsync(http, "v1/issue", new { spiffeId = id.ToString(), csr = Convert.ToBase64String(TestPki.Csr(id, key)), joinToken = token });
    }

    public static string Title(JsonElement problem) => problem.TryGetProperty("title", out var t) ? t.GetString() ?? string.Empty : string.Empty;
}
