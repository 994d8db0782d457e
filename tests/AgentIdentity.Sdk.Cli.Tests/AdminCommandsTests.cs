using System.Security.Cryptography.X509Certificates;
using System.Text;
using AgentIdentity.Cli;
using AgentIdentity.Issuer;
using AgentIdentity.Issuer.Tests;

namespace AgentIdentity.Cli.Tests;

/// <summary><c>agentid revoke</c>, <c>join-token create</c> and <c>status</c>, run in process against a real issuer on Kestrel,
/// with the operator's SVID and key in PEM files and the issuer trusted through its bundle file.</summary>
public sealed class AdminCommandsTests : IAsyncLifetime
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "agentid-admin-" + Guid.NewGuid().ToString("N"));
    private AdminIssuer _issuer = null!;
    private string[] _operator = null!;
    private string _bundle = null!;

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(_directory);
        _issuer = await AdminIssuer.StartAsync(o => o.AdminApiKey = null);
        var ops = await _issuer.EnrollOperatorAsync();
        _bundle = Write("bundle.json", _issuer.Host.Issuer.GetBundle().ToJsonString());
        _operator = WriteSvid("ops", ops.GetCurrent());
    }

    public async Task DisposeAsync()
    {
        await _issuer.DisposeAsync();
        Directory.Delete(_directory, recursive: true);
    }

    [Fact]
    public async Task Revoke_ById_WithPemFiles_RevokesAndPrintsTheFeedSequence()
    {
        var agent = await _issuer.EnrollAsync("planner", null);

        var (code, stdout, stderr) = await RunAsync(["revoke", agent.Id.ToString(), "--reason", "keyCompromise", .. _operator]);

        Assert.Equal(string.Empty, stderr);
        Assert.Equal(AgentIdCommand.Ok, code);
        Assert.Contains($"revoked identity {agent.Id} (keyCompromise)", stdout, StringComparison.Ordinal);
        Assert.Contains("feed sequence 1", stdout, StringComparison.Ordinal);
        var entry = Assert.Single(await _issuer.ReadFeedAsync());
        Assert.Equal(agent.Id, entry.Id);
    }

    [Fact]
    public async Task Revoke_BySerial_RevokesThatCertificate()
    {
        var agent = await _issuer.EnrollAsync("planner", null);
        var serial = agent.GetCurrent().SerialNumber;

        var (code, stdout, _) = await RunAsync(["revoke", serial, "--reason", "superseded", .. _operator]);

        Assert.Equal(AgentIdCommand.Ok, code);
        Assert.Contains($"revoked serial {RevocationEntry.NormalizeSerialNumber(serial)} (superseded)", stdout, StringComparison.Ordinal);
        Assert.Equal(RevocationKind.Serial, Assert.Single(await _issuer.ReadFeedAsync()).Kind);
    }

    [Fact]
    public async Task Revoke_ByAnAgentWithoutTheAction_Exits4WithTheIssuersReason()
    {
        var agent = await _issuer.EnrollAsync("planner", new AgentPolicy(tools: ["web.*"]));
        var victim = await _issuer.EnrollAsync("researcher", null);

        var (code, stdout, stderr) = await RunAsync(["revoke", victim.Id.ToString(), .. WriteSvid("planner", agent.GetCurrent())]);

        Assert.Equal(AgentIdCommand.Refused, code);
        Assert.Equal(string.Empty, stdout);
        Assert.Contains("the issuer refused (403 Action not granted)", stderr, StringComparison.Ordinal);
        Assert.Contains("lacks the action 'agentidentity:revoke'", stderr, StringComparison.Ordinal);
        Assert.Equal(0, _issuer.Registry.LastSequence);
    }

    [Fact]
    public async Task Revoke_UnknownSerial_Exits6()
    {
        var (code, _, stderr) = await RunAsync(["revoke", "0ABCDEF0", .. _operator]);
        Assert.Equal(AgentIdCommand.RequestRejected, code);
        Assert.Contains("404", stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--reason", "certificateHold", "revocations are permanent")]
    [InlineData("--reason", "stolen", "not an RFC 5280 revocation reason")]
    public async Task Revoke_BadReason_IsAUsageErrorBeforeAnyRequest(string option, string value, string message)
    {
        var (code, _, stderr) = await RunAsync(["revoke", "spiffe://example.org/agent/x/1", option, value, .. _operator]);
        Assert.Equal(AgentIdCommand.UsageError, code);
        Assert.Contains(message, stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Revoke_WithoutBundleOrWithoutSvid_IsAUsageError()
    {
        var (code, _, stderr) = await RunAsync(["revoke", "spiffe://example.org/agent/x/1", "--issuer", _issuer.Host.Address.ToString(), "--cert", _operator[3], "--key", _operator[5]]);
        Assert.Equal(AgentIdCommand.UsageError, code);
        Assert.Contains("--bundle is required", stderr, StringComparison.Ordinal);

        (code, _, stderr) = await RunAsync(["revoke", "spiffe://example.org/agent/x/1", "--issuer", _issuer.Host.Address.ToString(), "--bundle", _bundle]);
        Assert.Equal(AgentIdCommand.UsageError, code);
        Assert.Contains("the operator's SVID is required", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Revoke_IssuerNotInTheBundle_Exits5WithoutSendingTheRequest()
    {
        using var otherCa = DevelopmentCertificateAuthority.Create(TrustDomain.Parse("example.org"));
        var otherBundle = Write("other-bundle.json", otherCa.Bundle.ToJsonString());
        var victim = await _issuer.EnrollAsync("researcher", null);
        string[] args = ["revoke", victim.Id.ToString(), .. _operator];
        args[Array.IndexOf(args, _bundle)] = otherBundle;

        var (code, _, stderr) = await RunAsync(args);

        Assert.Equal(AgentIdCommand.IssuerFailed, code);
        Assert.Contains("the issuer's certificate is not a trusted SVID", stderr, StringComparison.Ordinal);
        Assert.Equal(0, _issuer.Registry.LastSequence);
    }

    [Fact]
    public async Task JoinTokenCreate_WithPolicyFile_PrintsATokenThatEnrollsWithThatPolicy()
    {
        var policy = Write("policy.json", """{"tools":["web.*"],"services":["spiffe://example.org/svc/search"]}""");

        var (code, stdout, stderr) = await RunAsync(["join-token", "create", "planner", "--policy", policy, "--ttl", "120", .. _operator]);

        Assert.Equal(AgentIdCommand.Ok, code);
        var token = stdout.Trim();
        Assert.StartsWith("aijt_", token, StringComparison.Ordinal);
        Assert.Contains("agent 'planner'", stderr, StringComparison.Ordinal);
        await using var agent = await AgentCredential.CreateAsync(IssuerHost.AgentId("planner"), new IssuerClient(_issuer.Host.ClientOptions(token), _issuer.Host.Time), timeProvider: _issuer.Host.Time);
        Assert.True(agent.GetCurrent().Policy!.AllowsTool("web.search"));
        Assert.False(agent.GetCurrent().Policy!.AllowsTool("shell.exec"));
    }

    [Fact]
    public async Task JoinTokenCreate_InvalidPolicyFile_Exits3()
    {
        var policy = Write("policy.json", """{"services":["not a spiffe pattern"]}""");
        var (code, _, stderr) = await RunAsync(["join-token", "create", "planner", "--policy", policy, .. _operator]);
        Assert.Equal(AgentIdCommand.InputError, code);
        Assert.Contains("is not a valid policy", stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"Tools":["web.*"]}""", "Tools")]      // the shape is camelCase: a PascalCase member would drop the list
    [InlineData("""{"tools":["web.*"],"taskId":"t1"}""", "taskId")]
    public async Task JoinTokenCreate_PolicyFileWithUnknownMember_Exits3NamingIt(string json, string member)
    {
        var policy = Write("policy.json", json);

        var (code, _, stderr) = await RunAsync(["join-token", "create", "planner", "--policy", policy, .. _operator]);

        Assert.Equal(AgentIdCommand.InputError, code);
        Assert.Contains($"has the unknown member '{member}'", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task JoinTokenCreate_TheConfiguredAgentSamplePolicy_IsAccepted()
    {
        // The same file the schema test validates and whose shape configuration binds (samples/ConfiguredAgent/policy.json).
        var sample = Path.Combine(AppContext.BaseDirectory, "..", "..", "..", "..", "samples", "ConfiguredAgent", "policy.json");
        var policy = Write("policy.json", File.ReadAllText(sample));

        var (code, stdout, stderr) = await RunAsync(["join-token", "create", "planner", "--policy", policy, .. _operator]);

        Assert.True(code == AgentIdCommand.Ok, stderr);
        Assert.StartsWith("aijt_", stdout.Trim(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Status_ShowsCertificatesRevocationAndDescendants()
    {
        var planner = new AgentPolicy(tools: ["web.*"], maxDelegationDepth: 1, delegationTargets: ["spiffe://example.org/agent/planner/*"]);
        var agent = await _issuer.EnrollAsync("planner", planner);
        await using var task = await agent.DelegateAsync("t1", new AgentPolicy(tools: ["web.search"]));
        var serial = agent.GetCurrent().SerialNumber;

        var (code, stdout, _) = await RunAsync(["status", agent.Id.ToString(), .. _operator]);
        Assert.Equal(AgentIdCommand.Ok, code);
        Assert.Contains($"identity: {agent.Id}", stdout, StringComparison.Ordinal);
        Assert.Contains("revoked: no", stdout, StringComparison.Ordinal);
        Assert.Contains($"current: {serial}", stdout, StringComparison.Ordinal);
        Assert.Contains("certificates: 1 issued, 0 revoked", stdout, StringComparison.Ordinal);
        Assert.Contains($"descendants: 1{Environment.NewLine}    {task.Id}{Environment.NewLine}", stdout, StringComparison.Ordinal);

        Assert.Equal(AgentIdCommand.Ok, (await RunAsync(["revoke", agent.Id.ToString(), "--reason", "keyCompromise", .. _operator])).Code);
        (code, stdout, _) = await RunAsync(["status", agent.Id.ToString(), .. _operator]);
        Assert.Equal(AgentIdCommand.Ok, code);
        Assert.Contains($"revoked: yes, identity {agent.Id} (keyCompromise)", stdout, StringComparison.Ordinal);
        Assert.Contains("current: (none)", stdout, StringComparison.Ordinal);
        Assert.Contains("certificates: 1 issued, 1 revoked", stdout, StringComparison.Ordinal);
        Assert.Contains($"    {task.Id}  revoked", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Help_ListsTheAdminCommandsAndTheirExitCodes()
    {
        var (code, stdout, _) = await RunAsync(["revoke", "--help"]);
        Assert.Equal(AgentIdCommand.Ok, code);
        Assert.Contains("--workload-api", stdout, StringComparison.Ordinal);
        Assert.Contains("keyCompromise", stdout, StringComparison.Ordinal);
        Assert.Contains("4  refused by the issuer", stdout, StringComparison.Ordinal);
    }

    /// <summary>Writes the SVID (leaf and intermediates) and its key as PEM; returns the connection options for them.</summary>
    private string[] WriteSvid(string name, X509Svid svid)
    {
        var pem = new StringBuilder(svid.Certificate.ExportCertificatePem()).AppendLine();
        foreach (var intermediate in svid.Intermediates)
        {
            pem.AppendLine(intermediate.ExportCertificatePem());
        }

        var cert = Write(name + ".pem", pem.ToString());
        var key = Write(name + ".key", svid.Certificate.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem());
        return ["--issuer", _issuer.Host.Address.ToString(), "--cert", cert, "--key", key, "--bundle", _bundle];
    }

    private string Write(string name, string content)
    {
        var path = Path.Combine(_directory, name);
        File.WriteAllText(path, content);
        return path;
    }

    private static Task<(int Code, string Stdout, string Stderr)> RunAsync(string[] args) => Task.Run(() =>
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var code = AgentIdCommand.Run(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    });
}
