using System.Security.Cryptography;
using AgentIdentity.Audit;

namespace AgentIdentity.SemanticKernel.Tests.TestInfrastructure;

/// <summary>The test PKI's development CA for corp.example and helpers that issue real agent credentials with policies. Keys are generated per run.</summary>
internal sealed class TestAgents : IAsyncDisposable
{
    public static readonly TrustDomain Corp = TestPki.Corp;

    private readonly List<IAsyncDisposable> _owned = [];
    private readonly TestPki _pki;

    public TestAgents(TimeProvider? time = null) => _pki = TestPki.ForCorp(time);

    public TimeProvider Time => _pki.Time;

    public DevelopmentCertificateAuthority Ca => _pki.Ca;

    /// <summary>The policy of the test agents: may read invoices through the Erp plugin and call the Imported and Clock tools.</summary>
    public static AgentPolicy ReaderPolicy { get; } = new(
        services: ["spiffe://corp.example/svc/*"],
        actions: ["invoices:read"],
        tools: ["Erp.GetInvoice", "Erp.Fail", "Erp.WhoAmI", "Imported.*", "Clock.*"]);

    public async Task<AgentCredential> CreateAsync(string name, AgentPolicy? policy = null, string? instance = null)
    {
        var id = SpiffeId.Parse($"spiffe://corp.example/agent/{name}/{instance ?? Guid.NewGuid().ToString("N")[..12]}");
        var credential = await AgentCredential.CreateAsync(id, Ca, new AgentCredentialOptions { Policy = policy ?? ReaderPolicy }, Time)
            .WaitAsync(TimeSpan.FromSeconds(30));
        _owned.Add(credential);
        return credential;
    }

    /// <summary>Issues a fixed SVID (no rotation) through a CSR; released when the agents are disposed.</summary>
    public X509Svid IssueSvid(string id, TimeSpan lifetime, AgentPolicy? policy = null) => _pki.IssueSvid(id, lifetime, policy: policy);

    /// <summary>Issues a fixed SVID (no rotation) through a CSR, optionally with DNS names (for servers); the caller disposes the owner.</summary>
    public X509SvidOwner IssueOwnedSvid(string id, TimeSpan lifetime, AgentPolicy? policy = null, string[]? dnsNames = null) =>
        _pki.IssueOwnedSvid(null, id, lifetime, dnsNames, policy);

    public static string Sha256Hex(string text) => Convert.ToHexStringLower(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(text)));

    public static AuditEvent Single(InMemoryAuditSink sink, string tool) => Assert.Single(sink.Events, e => e.Tool == tool);

    public async ValueTask DisposeAsync()
    {
        foreach (var owned in _owned)
        {
            await owned.DisposeAsync();
        }

        _pki.Dispose();
    }
}
