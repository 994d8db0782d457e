using System.Net;
using System.Net.Security;
using System.Runtime.CompilerServices;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;

namespace AgentIdentity.AspNetCore.Tests.Policy;

/// <summary>
/// The <c>services</c> axis of the certificate policy, enforced on both sides over real Kestrel mTLS: a task identity delegated
/// with <c>services: [svc/erp]</c> may call erp and not hr. The agent's HttpClient refuses hr during the TLS handshake (hr sees
/// no request), and hr's <c>RequireServiceAllowed</c> refuses a caller that bypasses the SDK.
/// </summary>
public sealed class ServicePolicyEnforcementTests : IAsyncLifetime
{
    private const string ErpId = "spiffe://corp.example/svc/erp";
    private const string HrId = "spiffe://corp.example/svc/hr";
    private readonly TestPki _pki = TestPki.ForCorp();
    private AgentCredential _planner = null!;
    private AgentCredential _task = null!;
    private Service _erp = null!;
    private Service _hr = null!;

    public async Task InitializeAsync()
    {
        _planner = await AgentCredential.CreateAsync(
            SpiffeId.Parse("spiffe://corp.example/agent/planner/1"),
            _pki.Ca,
            new AgentCredentialOptions { Policy = new AgentPolicy(services: ["spiffe://corp.example/svc/*"], actions: ["invoices:*"], maxDelegationDepth: 1, delegationTargets: ["spiffe://corp.example/agent/*"]) });
        _task = await _planner.DelegateAsync("t1", new AgentPolicy(services: [ErpId], actions: ["invoices:read"]));
        _erp = await Service.StartAsync(_pki, ErpId);
        _hr = await Service.StartAsync(_pki, HrId);
    }

    public async Task DisposeAsync()
    {
        await _erp.DisposeAsync();
        await _hr.DisposeAsync();
        await _task.DisposeAsync();
        await _planner.DisposeAsync();
        _pki.Dispose();
    }

    [Fact]
    public async Task AgentHttpClient_TaskCallsServiceOutsideItsServices_RefusedBeforeAnyRequest()
    {
        // The default server authorizer accepts any member of the trust domain: only the services axis refuses hr.
        using var client = new HttpClient(AgentHttpClient.CreateHandler(_task, o => o.TrustBundleSource = _pki.Bundles));

        var ex = await Assert.ThrowsAsync<PeerRejectedException>(() => client.GetAsync(new Uri(_hr.Address, "/any")));

        Assert.Equal(HrId, ex.Peer.ToString());
        Assert.Contains($"the effective (delegated) policy of '{_task.Id}' does not allow calling it (services [{ErpId}]); no request was sent", ex.Message, StringComparison.Ordinal);
        Assert.Equal(0, _hr.Requests);
    }

    [Fact]
    public async Task AgentHttpClient_TaskCallsAllowedService_Succeeds()
    {
        using var client = new HttpClient(AgentHttpClient.CreateHandler(_task, o => o.TrustBundleSource = _pki.Bundles));

        using var response = await client.GetAsync(new Uri(_erp.Address, "/service"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(1, _erp.Requests);
    }

    [Fact]
    public async Task AgentHttpClient_ParentWithWiderServices_MayCallBoth()
    {
        using var client = new HttpClient(AgentHttpClient.CreateHandler(_planner, o => o.TrustBundleSource = _pki.Bundles));

        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(new Uri(_erp.Address, "/service"))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(new Uri(_hr.Address, "/service"))).StatusCode);
    }

    [Fact]
    public async Task RequireServiceAllowed_CallerBypassingTheSdk_IsRefusedByTheService()
    {
        // A caller that does not use the SDK's HttpClient (no agent-side check) presents the task certificate to hr.
        using var hr = RawClient(_task.GetCurrent());
        using var erp = RawClient(_task.GetCurrent());

        using var refused = await hr.GetAsync(new Uri(_hr.Address, "/service"));
        using var allowed = await erp.GetAsync(new Uri(_erp.Address, "/service"));
        using var anyCaller = await hr.GetAsync(new Uri(_hr.Address, "/any"));

        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        Assert.Equal(HttpStatusCode.OK, allowed.StatusCode);
        Assert.Equal(HttpStatusCode.OK, anyCaller.StatusCode); // the endpoint without the requirement still serves it
        Assert.Contains(_hr.Logs.GetSnapshot(), r => r.Id.Id == 3007 &&
            r.Message.Contains($"the effective (delegated) policy of '{_task.Id}' does not allow calling service '{HrId}' (services [{ErpId}])", StringComparison.Ordinal));
    }

    [Fact]
    public async Task RequireServiceAllowed_CertificateWithoutPolicy_IsNotRestrictedByIt()
    {
        var plain = _pki.IssueSvid("spiffe://corp.example/agent/reporter/1");
        using var client = RawClient(plain);

        using var response = await client.GetAsync(new Uri(_hr.Address, "/service"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public void RequireServiceAllowed_NotAWorkloadId_ThrowsWithTheValue()
    {
        var ex = Assert.Throws<ArgumentException>(() => new AgentServiceRequirement("spiffe://corp.example"));

        Assert.Contains("'spiffe://corp.example' is not a SPIFFE ID with a path", ex.Message, StringComparison.Ordinal);
    }

    /// <summary>An mTLS client that presents <paramref name="svid"/> and accepts any server with a valid SVID, whatever its ID: no
    /// services check on the agent side (a caller that bypasses the SDK's HttpClient).</summary>
    private HttpClient RawClient(X509Svid svid) => new(new SocketsHttpHandler
    {
        SslOptions = new SslClientAuthenticationOptions
        {
            ClientCertificateContext = SslStreamCertificateContext.Create(svid.Certificate, [.. svid.Intermediates], offline: true),
            RemoteCertificateValidationCallback = (_, cert, chain, _) =>
                cert is X509Certificate2 leaf &&
                X509SvidValidator.Validate(leaf, chain?.ChainPolicy.ExtraStore.Cast<X509Certificate2>() ?? [], _pki.Bundles, DateTimeOffset.UtcNow).IsValid,
        },
    });

    /// <summary>A Kestrel mTLS service with its own SVID: <c>/service</c> requires the caller's policy to allow this service,
    /// <c>/any</c> any authenticated agent. Counts the requests that reach it.</summary>
    private sealed class Service : IAsyncDisposable
    {
        private readonly TestHost _host;
        private readonly StrongBox<int> _requests;

        private Service(TestHost host, StrongBox<int> requests)
        {
            _host = host;
            _requests = requests;
        }

        public int Requests => Volatile.Read(ref _requests.Value);

        public Uri Address => _host.LocalhostAddress;

        public FakeLogCollector Logs => _host.Services.GetFakeLogCollector();

        public static async Task<Service> StartAsync(TestPki pki, string id)
        {
            var svid = pki.IssueSvid(pki.Ca, id, dnsNames: ["localhost"]);
            var builder = TestHost.CreateAgentServiceBuilder(svid, () => pki.Bundles);
            builder.Logging.AddFakeLogging();
            var app = builder.Build();
            var requests = new StrongBox<int>();
            app.Use(async (context, next) =>
            {
                Interlocked.Increment(ref requests.Value);
                await next(context);
            });
            app.UseAuthentication();
            app.UseAuthorization();
            app.MapGet("/service", () => "ok").RequireAuthorization(p => p.RequireServiceAllowed(id));
            app.MapGet("/any", () => "ok").RequireAuthorization(p => p.RequireAgentCaller());
            return new Service(await TestHost.StartAsync(app), requests);
        }

        public ValueTask DisposeAsync() => _host.DisposeAsync();
    }
}
