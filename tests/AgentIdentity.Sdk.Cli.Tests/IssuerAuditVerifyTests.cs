using System.Buffers.Binary;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using AgentIdentity.Audit;
using AgentIdentity.Cli;
using AgentIdentity.Issuer;
using AgentIdentity.Issuer.Tests;

namespace AgentIdentity.Cli.Tests;

/// <summary><c>agentid audit verify --issuer-log</c> on a log written by a real issuer on Kestrel: the operator revokes with
/// <c>agentid revoke</c>, an agent without the admin action is refused, then the issuer stops (final checkpoint) and the CLI
/// verifies the intact log, a copy with one flipped byte and a truncated copy.</summary>
public sealed class IssuerAuditVerifyTests : IAsyncLifetime
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "agentid-issuer-audit-" + Guid.NewGuid().ToString("N"));
    private string _bundle = null!;

    private string AuditDirectory => Path.Combine(_directory, "audit");

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(_directory);
        await using var issuer = await AdminIssuer.StartAsync(o => o.Audit.Directory = AuditDirectory);
        var ops = await issuer.EnrollOperatorAsync();
        var agent = await issuer.EnrollAsync("planner", new AgentPolicy(tools: ["web.*"]));
        _bundle = Write("bundle.json", issuer.Host.Issuer.GetBundle().ToJsonString());
        string[] revoke = ["revoke", agent.Id.ToString(), "--reason", "keyCompromise", .. WriteSvid("ops", ops.GetCurrent(), issuer)];
        var (code, _, stderr) = await Task.Run(() => Run(revoke));
        Assert.True(code == AgentIdCommand.Ok, stderr);
        var victim = await issuer.EnrollAsync("researcher", null);
        string[] escalate = ["revoke", victim.Id.ToString(), .. WriteSvid("planner", (await issuer.EnrollAsync("planner", null)).GetCurrent(), issuer)];
        (code, _, _) = await Task.Run(() => Run(escalate));
        Assert.Equal(AgentIdCommand.Refused, code);
    }

    public Task DisposeAsync()
    {
        Directory.Delete(_directory, recursive: true);
        return Task.CompletedTask;
    }

    [Fact]
    public void Verify_IntactIssuerLog_ExitsZeroAndNamesTheIssuerAsTheOnlySigner()
    {
        var (code, stdout, stderr) = Run(["audit", "verify", AuditDirectory, "--bundle", _bundle, "--issuer-log"]);

        Assert.Equal(string.Empty, stderr);
        Assert.Equal(AgentIdCommand.Ok, code);
        Assert.Matches(@"OK: \d+ entries verified; \d+ checkpoint\(s\) verified\.", stdout);
        Assert.Contains("origin: example.org/agent-identity/issuer/audit", stdout, StringComparison.Ordinal);
        Assert.Contains("issuer log: trust domain example.org, replica (single node)", stdout, StringComparison.Ordinal);
        Assert.Contains("signer: spiffe://example.org/agent-identity/issuer" + Environment.NewLine, stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("signer: spiffe://example.org/agent/", stdout, StringComparison.Ordinal);

        // The revocation and the refused escalation are in it.
        var entries = Entries(AuditDirectory).Select(e => Encoding.UTF8.GetString(e.Payload)).ToList();
        Assert.Contains(entries, e => e.Contains("\"kind\":\"revocation\"", StringComparison.Ordinal) && e.Contains("\"reason\":\"keyCompromise\"", StringComparison.Ordinal));
        Assert.Contains(entries, e => e.Contains("\"outcome\":\"denied\"", StringComparison.Ordinal) && e.Contains("Action not granted", StringComparison.Ordinal));
    }

    [Fact]
    public void Verify_FlippedByteInAnEntry_FailsNamingThatEntry()
    {
        var copy = CopyLog("tampered");
        var target = Entries(copy).First(e => Encoding.UTF8.GetString(e.Payload).Contains("\"kind\":\"revocation\"", StringComparison.Ordinal));
        var bytes = File.ReadAllBytes(target.Segment);
        var at = (int)target.PayloadOffset + Encoding.UTF8.GetString(target.Payload).IndexOf("keyCompromise", StringComparison.Ordinal);
        bytes[at] ^= 0x20; // keyCompromise -> KeyCompromise
        File.WriteAllBytes(target.Segment, bytes);

        var (code, stdout, _) = Run(["audit", "verify", copy, "--bundle", _bundle, "--issuer-log"]);

        Assert.Equal(AgentIdCommand.VerificationFailed, code);
        Assert.Contains($"FAILED (AlteredEntry): Entry {target.Index} ", stdout, StringComparison.Ordinal);
        Assert.Contains($"first bad entry: {target.Index}{Environment.NewLine}", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void Verify_TruncatedLog_FailsNamingTheFirstMissingEntry()
    {
        var copy = CopyLog("truncated");
        var entries = Entries(copy);
        var cut = entries[entries.Count / 2];
        using (var stream = new FileStream(cut.Segment, FileMode.Open, FileAccess.Write))
        {
            stream.SetLength(cut.Offset);
        }

        var (code, stdout, _) = Run(["audit", "verify", copy, "--bundle", _bundle, "--issuer-log"]);

        Assert.Equal(AgentIdCommand.VerificationFailed, code);
        Assert.Contains("FAILED (Truncated): The log was truncated", stdout, StringComparison.Ordinal);
        Assert.Contains($"first bad entry: {cut.Index} (range {cut.Index}–", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Verify_LogThatClaimsTheIssuersOriginButIsSignedByAnAgent_Fails()
    {
        // Any SVID of the trust domain chains to the bundle: only the signer's ID tells the issuer's log from a forgery.
        await using var issuer = await AdminIssuer.StartAsync();
        var agent = await issuer.EnrollAsync("planner", null);
        var bundle = Write("forged-bundle.json", issuer.Host.Issuer.GetBundle().ToJsonString());
        var forged = Path.Combine(_directory, "forged");
        using (var log = AuditLog.Open(new AuditLogOptions { Directory = forged, Origin = "example.org/agent-identity/issuer/audit" }, agent, issuer.Host.Time))
        {
            log.Append(new AuditEvent { Kind = AuditEventKind.Revocation, Timestamp = issuer.Host.Time.GetUtcNow(), Agent = agent.Id, Action = IssuerAdminActions.Revoke });
        }

        var (code, stdout, _) = Run(["audit", "verify", forged, "--bundle", bundle]);
        Assert.Equal(AgentIdCommand.VerificationFailed, code);
        // The verifier itself now binds the origin to its signer (issue 18, defect 4): an agent's key cannot sign under the issuer's origin.
        Assert.Contains($"FAILED (SignerMismatch): The checkpoint at tree size 1 (audit-00000001.log, offset", stdout, StringComparison.Ordinal);
        Assert.Contains($"names origin 'example.org/agent-identity/issuer/audit', which is not the log of its signer '{agent.Id}'", stdout, StringComparison.Ordinal);

        (code, stdout, _) = Run(["audit", "verify", forged, "--bundle", bundle, "--issuer-log"]);
        Assert.Equal(AgentIdCommand.VerificationFailed, code);
        Assert.Contains("FAILED (SignerMismatch)", stdout, StringComparison.Ordinal);
        Assert.Contains("not by the log's signer 'spiffe://example.org/agent-identity/issuer'", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void Verify_IssuerLogWithoutBundle_IsAUsageError()
    {
        var (code, _, stderr) = Run(["audit", "verify", AuditDirectory, "--issuer-log"]);
        Assert.Equal(AgentIdCommand.UsageError, code);
        Assert.Contains("--issuer-log needs --bundle", stderr, StringComparison.Ordinal);
    }

    /// <summary>The event records of a log, read by its documented format (magic, then u32 length ‖ u64 index ‖ u8 type ‖ payload ‖ checksum).</summary>
    private static List<(string Segment, long Offset, long PayloadOffset, long Index, byte[] Payload)> Entries(string directory)
    {
        var entries = new List<(string, long, long, long, byte[])>();
        foreach (var segment in Directory.GetFiles(directory, "audit-*.log").Order(StringComparer.Ordinal))
        {
            var bytes = File.ReadAllBytes(segment);
            var offset = 8;
            while (offset < bytes.Length)
            {
                var length = (int)BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(offset));
                var index = BinaryPrimitives.ReadInt64BigEndian(bytes.AsSpan(offset + 4));
                if (bytes[offset + 12] == 0)
                {
                    entries.Add((segment, offset, offset + 13, index, bytes.AsSpan(offset + 13, length).ToArray()));
                }

                offset += 13 + length + 32;
            }
        }

        return entries;
    }

    private string CopyLog(string name)
    {
        var copy = Path.Combine(_directory, name);
        Directory.CreateDirectory(copy);
        foreach (var file in Directory.GetFiles(AuditDirectory))
        {
            File.Copy(file, Path.Combine(copy, Path.GetFileName(file)));
        }

        return copy;
    }

    private string Write(string name, string content)
    {
        var path = Path.Combine(_directory, name);
        File.WriteAllText(path, content);
        return path;
    }

    private string[] WriteSvid(string name, X509Svid svid, AdminIssuer issuer)
    {
        var pem = new StringBuilder(svid.Certificate.ExportCertificatePem()).AppendLine();
        foreach (var intermediate in svid.Intermediates)
        {
            pem.AppendLine(intermediate.ExportCertificatePem());
        }

        var cert = Write(name + ".pem", pem.ToString());
        var key = Write(name + ".key", svid.Certificate.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem());
        return ["--issuer", issuer.Host.Address.ToString(), "--cert", cert, "--key", key, "--bundle", _bundle];
    }

    private static (int Code, string Stdout, string Stderr) Run(string[] args)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var code = AgentIdCommand.Run(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }
}
