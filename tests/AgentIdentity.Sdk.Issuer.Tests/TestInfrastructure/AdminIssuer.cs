using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace AgentIdentity.Issuer.Tests;

/// <summary>A real issuer (<see cref="IssuerHost"/>) with an in-memory revocation registry for its trust domain, the revocation
/// feed mapped at <c>/revocation</c>, and helpers to enroll operators and agents with a chosen policy.</summary>
internal sealed class AdminIssuer : IAsyncDisposable
{
    public static readonly AgentPolicy OperatorPolicy = new(
        actions: [IssuerAdminActions.Revoke, IssuerAdminActions.JoinToken, IssuerAdminActions.Status],
        maxDelegationDepth: 1,
        delegationTargets: ["spiffe://example.org/agent/ops/*"]);

    private readonly DevelopmentCertificateAuthority _feedCa;
    private readonly List<AgentCredential> _credentials = [];

    private AdminIssuer(IssuerHost host, DevelopmentCertificateAuthority feedCa, InMemoryRevocationRegistry registry)
    {
        Host = host;
        _feedCa = feedCa;
        Registry = registry;
    }

    public IssuerHost Host { get; }

    public InMemoryRevocationRegistry Registry { get; }

    public static async Task<AdminIssuer> StartAsync(Action<AgentIdentityIssuerOptions>? configure = null)
    {
        // The registry's signer is a separate CA of the same trust domain: these tests are about who may revoke, not about
        // which key signs the feed (the store-backed registry signs with the issuer's own CA).
        var feedCa = DevelopmentCertificateAuthority.Create(IssuerHost.TrustDomain);
        var registry = new InMemoryRevocationRegistry(feedCa.CreateRevocationSigner());
        var host = await IssuerHost.StartAsync(configure, services: s => s.AddSingleton<IRevocationRegistry>(registry), map: app => app.MapAgentIdentityRevocation());
        return new AdminIssuer(host, feedCa, registry);
    }

    /// <summary>Enrolls an instance of <paramref name="agentName"/> with <paramref name="policy"/> through a join token.</summary>
    public async Task<AgentCredential> EnrollAsync(string agentName, AgentPolicy? policy)
    {
        var token = await Host.Issuer.CreateJoinTokenAsync(agentName, policy, TimeSpan.FromMinutes(5));
        var credential = await AgentCredential.CreateAsync(IssuerHost.AgentId(agentName), new IssuerClient(Host.ClientOptions(token), Host.Time),
            new AgentCredentialOptions { Lifetime = TimeSpan.FromMinutes(30) }, Host.Time);
        _credentials.Add(credential);
        return credential;
    }

    public Task<AgentCredential> EnrollOperatorAsync() => EnrollAsync("ops", OperatorPolicy);

    public async Task<(HttpStatusCode Status, JsonElement Body)> RevokeAsync(X509Svid? caller, object body)
    {
        using var http = Host.CreateHttpClient(caller);
        return await IssuerHost.PostAsync(http, "v1/revoke", body);
    }

    public async Task<(HttpStatusCode Status, JsonElement Body)> CreateJoinTokenAsync(X509Svid? caller, object body, string? bearer = null)
    {
        using var http = Host.CreateHttpClient(caller);
        if (bearer is not null)
        {
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
        }

        return await IssuerHost.PostAsync(http, "v1/join-tokens", body);
    }

    public async Task<(HttpStatusCode Status, JsonElement Body)> StatusAsync(X509Svid? caller, SpiffeId id)
    {
        using var http = Host.CreateHttpClient(caller);
        using var response = await http.GetAsync("v1/status?id=" + Uri.EscapeDataString(id.ToString()));
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return (response.StatusCode, document.RootElement.Clone());
    }

    /// <summary>The feed as a subscriber sees it: <c>GET /revocation/feed/poll</c>, each entry verified with the signer's certificate.</summary>
    public async Task<IReadOnlyList<RevocationEntry>> ReadFeedAsync()
    {
        using var http = Host.CreateHttpClient();
        var json = await http.GetStringAsync(new Uri(Host.Address, "/revocation/feed/poll?after=0"));
        using var verifier = new RevocationFeedVerifier(Registry.SignerCertificate, IssuerHost.TrustDomain);
        return JsonSerializer.Deserialize<string[]>(json)!.Select(verifier.Verify).ToList();
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var credential in _credentials)
        {
            await credential.DisposeAsync();
        }

        await Host.DisposeAsync();
        Host.DeleteDirectory();
        _feedCa.Dispose();
    }
}
