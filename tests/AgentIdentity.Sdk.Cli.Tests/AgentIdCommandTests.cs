using System.Buffers.Binary;
using System.Diagnostics;
using System.Formats.Asn1;
using System.Reflection;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using AgentIdentity.Audit;
using AgentIdentity.Cli;
using Microsoft.Extensions.Time.Testing;

namespace AgentIdentity.Cli.Tests;

public sealed class AgentIdCommandTests : IAsyncLifetime
{
    private static readonly TrustDomain Domain = TrustDomain.Parse("example.org");
    private readonly FakeTimeProvider _time = new(TimeProvider.System.GetUtcNow());
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "agentid-cli-" + Guid.NewGuid().ToString("N"));
    private DevelopmentCertificateAuthority _ca = null!;
    private AgentCredential _credential = null!;

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(_directory);
        _ca = DevelopmentCertificateAuthority.Create(Domain, null, _time);
        _credential = await AgentCredential.CreateAsync(SpiffeId.ForAgent(Domain, "planner", "i-1"), _ca, null, _time);
        using var log = AuditLog.Open(new AuditLogOptions { Directory = Path.Combine(_directory, "log"), CheckpointEveryEntries = 10 }, _credential, _time);
        for (var i = 0; i < 25; i++)
        {
            log.Append(new AuditEvent
            {
                Kind = AuditEventKind.ToolCall,
                Timestamp = _time.GetUtcNow(),
                Agent = _credential.Id,
                SerialNumber = _credential.GetCurrent().SerialNumber,
                Tool = "Erp.GetInvoice",
                RequestId = $"call-{i}",
            });
        }
    }

    private string LogDirectory => Path.Combine(_directory, "log");

    [Fact]
    public void AuditVerify_IntactLogWithBundle_ExitsZeroAndNamesTheSigner()
    {
        var bundle = Write("bundle.json", _ca.Bundle.ToJsonString());

        var (code, stdout, stderr) = Run("audit", "verify", LogDirectory, "--bundle", bundle);

        Assert.Equal(AgentIdCommand.Ok, code);
        Assert.Contains("OK: 25 entries verified; 3 checkpoint(s) verified.", stdout, StringComparison.Ordinal);
        Assert.Contains("signer: spiffe://example.org/agent/planner/i-1", stdout, StringComparison.Ordinal);
        Assert.Equal(string.Empty, stderr);
    }

    [Fact]
    public void AuditVerify_WithoutBundle_WarnsThatSignersWereNotChecked()
    {
        var (code, _, stderr) = Run("audit", "verify", LogDirectory);

        Assert.Equal(AgentIdCommand.Ok, code);
        Assert.Contains("not checked against a trust bundle", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void AuditVerify_FlippedByte_ExitsOneAndNamesTheEntry()
    {
        var segment = Path.Combine(LogDirectory, "audit-00000001.log");
        var bytes = File.ReadAllBytes(segment);
        var offset = 8;
        for (var i = 0; i < 7; i++)
        {
            offset += 13 + (int)BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(offset)) + 32;
        }

        bytes[offset + 40] ^= 0x20; // Entry 7 (no checkpoint before index 10 in between).
        File.WriteAllBytes(segment, bytes);

        var (code, stdout, _) = Run("audit", "verify", LogDirectory);

        Assert.Equal(AgentIdCommand.VerificationFailed, code);
        Assert.Contains("FAILED (AlteredEntry): Entry 7", stdout, StringComparison.Ordinal);
        Assert.Contains("first bad entry: 7", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void AuditVerify_BundleOfAnotherCa_ExitsOneAsUntrustedSigner()
    {
        using var other = DevelopmentCertificateAuthority.Create(Domain, null, _time);
        var bundle = Write("other.pem", other.RootCertificate.ExportCertificatePem());

        var (code, stdout, _) = Run("audit", "verify", LogDirectory, "--bundle", bundle);

        Assert.Equal(AgentIdCommand.VerificationFailed, code);
        Assert.Contains("FAILED (UntrustedSigner)", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void AuditVerify_WrongExpectedSigner_ExitsOne()
    {
        var (code, stdout, _) = Run("audit", "verify", LogDirectory, "--signer", "spiffe://example.org/agent/auditor/x");

        Assert.Equal(AgentIdCommand.VerificationFailed, code);
        Assert.Contains("FAILED (SignerMismatch)", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void AuditProve_CoveredEntry_PrintsAProofThatVerifies()
    {
        var (code, stdout, _) = Run("audit", "prove", LogDirectory, "12");

        Assert.Equal(AgentIdCommand.Ok, code);
        var lines = stdout.Split('\n');
        var size = long.Parse(Value(lines, "tree size: "), System.Globalization.CultureInfo.InvariantCulture);
        var leaf = Convert.FromHexString(Value(lines, "leaf hash: "));
        var root = Convert.FromBase64String(Value(lines, "root hash: "));
        var proofStart = Array.IndexOf(lines, "proof:") + 1;
        var proof = lines.Skip(proofStart).TakeWhile(l => l.StartsWith("  ", StringComparison.Ordinal)).Select(l => Convert.FromHexString(l.Trim())).ToList();
        var entry = Value(lines, "entry: ");

        Assert.Equal(25, size);
        Assert.Equal(MerkleTree.HashLeaf(System.Text.Encoding.UTF8.GetBytes(entry)), leaf);
        Assert.True(MerkleTree.VerifyInclusion(12, size, leaf, proof, root));
        Assert.Contains("call-12", entry, StringComparison.Ordinal);
        Assert.Contains("\u2014 example.org/agent/planner/audit ", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void AuditProve_UnknownEntry_ExitsThreeWithReason()
    {
        var (code, _, stderr) = Run("audit", "prove", LogDirectory, "500");

        Assert.Equal(AgentIdCommand.InputError, code);
        Assert.Contains("has no entry 500", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Inspect_SvidPem_PrintsIdentitySerialValidityAndKeyUsage()
    {
        var svid = _credential.GetCurrent();
        var pem = Write("svid.pem", svid.ExportCertificatesPem());

        var (code, stdout, _) = Run("inspect", pem);

        Assert.Equal(AgentIdCommand.Ok, code);
        Assert.Contains("SPIFFE ID: spiffe://example.org/agent/planner/i-1", stdout, StringComparison.Ordinal);
        Assert.Contains($"serial: {svid.SerialNumber}", stdout, StringComparison.Ordinal);
        Assert.Contains("key usage: DigitalSignature (critical)", stdout, StringComparison.Ordinal);
        Assert.Contains("certificate 1:", stdout, StringComparison.Ordinal); // The intermediate follows the leaf.
        Assert.Contains("basic constraints: CA=True", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void Inspect_PolicyExtension_PrintsOidAndHex()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=policy-test", key, HashAlgorithmName.SHA256);
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            writer.WriteInteger(1);
            writer.WriteCharacterString(UniversalTagNumber.UTF8String, "invoices:read");
        }

        var der = writer.Encode();
        request.CertificateExtensions.Add(new X509Extension(AgentPolicyExtension.ArcOid + ".1", der, critical: false));
        using var certificate = request.CreateSelfSigned(_time.GetUtcNow(), _time.GetUtcNow().AddHours(1));
        var pem = Write("policy.pem", certificate.ExportCertificatePem());

        var (code, stdout, _) = Run("inspect", pem);

        Assert.Equal(AgentIdCommand.Ok, code);
        Assert.Contains($"agent policy ({AgentPolicyExtension.ArcOid}.1)", stdout, StringComparison.Ordinal);
        Assert.Contains($"DER: {Convert.ToHexStringLower(der)}", stdout, StringComparison.Ordinal);
        Assert.Contains("INVALID:", stdout, StringComparison.Ordinal); // not a valid AgentIdentity policy encoding
    }

    [Fact]
    public void Inspect_RealPolicy_PrintsDecodedAllowLists()
    {
        var policy = new AgentPolicy(services: ["spiffe://corp.example/svc/erp"], actions: ["invoices:read"], tools: ["Erp.GetInvoice"], maxDelegationDepth: 1, delegationTargets: ["spiffe://corp.example/agent/planner/*"]);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=policy-test", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509Extension(AgentPolicyExtension.ArcOid + ".1", policy.ToDer(), critical: false));
        using var certificate = request.CreateSelfSigned(_time.GetUtcNow(), _time.GetUtcNow().AddHours(1));
        var pem = Write("real-policy.pem", certificate.ExportCertificatePem());

        var (code, stdout, _) = Run("inspect", pem);

        Assert.Equal(AgentIdCommand.Ok, code);
        Assert.Contains("actions: invoices:read", stdout, StringComparison.Ordinal);
        Assert.Contains("tools: Erp.GetInvoice", stdout, StringComparison.Ordinal);
        Assert.Contains("services: spiffe://corp.example/svc/erp", stdout, StringComparison.Ordinal);
        Assert.Contains("delegation: depth 1, targets spiffe://corp.example/agent/planner/*", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void Inspect_NotPem_ExitsThreeWithReason()
    {
        var path = Write("junk.pem", "not a certificate");

        var (code, _, stderr) = Run("inspect", path);

        Assert.Equal(AgentIdCommand.InputError, code);
        Assert.Contains("holds no PEM certificate", stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("frobnicate")]
    [InlineData("audit", "verify")]
    [InlineData("audit", "verify", "dir", "--bogus", "x")]
    [InlineData("audit", "verify", "dir", "--bundle")]
    [InlineData("audit", "prove", "dir", "-1")]
    public void Run_BadArguments_ExitsTwoWithUsage(params string[] args)
    {
        var (code, _, stderr) = Run(args);

        Assert.Equal(AgentIdCommand.UsageError, code);
        Assert.Contains("Usage:", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void NoArguments_PrintsUsageToStderrAndExitsTwo()
    {
        var (code, stdout, stderr) = Run();

        Assert.Equal(AgentIdCommand.UsageError, code);
        Assert.Contains("agentid [command] [options]", stderr, StringComparison.Ordinal);
        Assert.Contains("audit", stderr, StringComparison.Ordinal);
        Assert.Contains("inspect <pem>", stderr, StringComparison.Ordinal);
        Assert.Equal(string.Empty, stdout);
    }

    [Theory]
    [InlineData("--help")]
    [InlineData("-h")]
    [InlineData("help")]
    public void Help_OnRequest_PrintsUsageAndExitCodesToStdoutAndExitsZero(string help)
    {
        var (code, stdout, stderr) = Run(help);

        Assert.Equal(AgentIdCommand.Ok, code);
        Assert.Contains("agentid [command] [options]", stdout, StringComparison.Ordinal);
        Assert.Contains("2  usage error", stdout, StringComparison.Ordinal);
        Assert.Equal(string.Empty, stderr);
    }

    [Fact]
    public void Audit_WithoutSubcommand_ShowsTheAuditHelpAndExitsTwo()
    {
        var (code, stdout, stderr) = Run("audit");

        Assert.Equal(AgentIdCommand.UsageError, code);
        Assert.Contains("Required command was not provided.", stderr, StringComparison.Ordinal);
        Assert.Contains("agentid audit [command] [options]", stderr, StringComparison.Ordinal);
        Assert.Contains("verify <dir>", stderr, StringComparison.Ordinal);
        Assert.Contains("prove <dir> <index>", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("unknown command 'audit'", stderr, StringComparison.Ordinal);
        Assert.Equal(string.Empty, stdout);
    }

    [Theory]
    [InlineData("audit", "--help")]
    [InlineData("help", "audit")]
    public void Audit_HelpOnRequest_ShowsTheAuditHelpAndExitsZero(params string[] args)
    {
        var (code, stdout, stderr) = Run(args);

        Assert.Equal(AgentIdCommand.Ok, code);
        Assert.Contains("agentid audit [command] [options]", stdout, StringComparison.Ordinal);
        Assert.Contains("prove <dir> <index>", stdout, StringComparison.Ordinal);
        Assert.Equal(string.Empty, stderr);
    }

    [Theory]
    [InlineData("--help")]
    [InlineData("-h")]
    public void AuditVerify_Help_PrintsTheVerifyHelpAndExitsZero(string help)
    {
        var (code, stdout, stderr) = Run("audit", "verify", help);

        Assert.Equal(AgentIdCommand.Ok, code);
        Assert.Contains("agentid audit verify <dir> [options]", stdout, StringComparison.Ordinal);
        Assert.Contains("--bundle <file>", stdout, StringComparison.Ordinal);
        Assert.Contains("--trust-domain <name>", stdout, StringComparison.Ordinal);
        Assert.Contains("--signer <spiffe-id>", stdout, StringComparison.Ordinal);
        Assert.Contains("--checkpoint, --since <checkpoint-file>", stdout, StringComparison.Ordinal);
        Assert.Contains("--any-instance", stdout, StringComparison.Ordinal);
        Assert.Contains("--revoked <file>", stdout, StringComparison.Ordinal);
        Assert.Equal(string.Empty, stderr);
    }

    [Fact]
    public void Version_PrintsTheToolsInformationalVersion()
    {
        var expected = typeof(AgentIdCommand).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()!.InformationalVersion;

        var (code, stdout, _) = Run("--version");

        Assert.Equal(AgentIdCommand.Ok, code);
        Assert.Equal(expected, stdout.TrimEnd());
    }

    [Fact]
    public void AuditVerify_BadSignerOrTrustDomain_ExitsTwoNamingTheOption()
    {
        var (signerCode, _, signerError) = Run("audit", "verify", LogDirectory, "--signer", "not-an-id");
        var (domainCode, _, domainError) = Run("audit", "verify", LogDirectory, "--trust-domain", "Not A Domain");

        Assert.Equal(AgentIdCommand.UsageError, signerCode);
        Assert.Contains("--signer 'not-an-id' is not a SPIFFE ID", signerError, StringComparison.Ordinal);
        Assert.Equal(AgentIdCommand.UsageError, domainCode);
        Assert.Contains("--trust-domain 'Not A Domain' is not a trust domain", domainError, StringComparison.Ordinal);
    }

    [Fact]
    public void AuditVerify_BundleAndNoCheckpointFile_TakesTheTrustDomainFromTheBundle()
    {
        File.Delete(Path.Combine(LogDirectory, "checkpoint"));
        var bundle = Write("bundle.json", _ca.Bundle.ToJsonString());

        var (code, stdout, stderr) = Run("audit", "verify", LogDirectory, "--bundle", bundle);

        Assert.Equal(AgentIdCommand.Ok, code);
        Assert.Contains("OK: 25 entries verified; 3 checkpoint(s) verified.", stdout, StringComparison.Ordinal);
        Assert.Equal(string.Empty, stderr);
    }

    [Fact]
    public void AuditVerify_BundleOfSeveralTrustDomains_AsksForTrustDomain()
    {
        using var partner = DevelopmentCertificateAuthority.Create(TrustDomain.Parse("partner.example"), null, _time);
        var bundle = Write("federated.pem", _ca.RootCertificate.ExportCertificatePem() + "\n" + partner.RootCertificate.ExportCertificatePem());

        var (code, stdout, stderr) = Run("audit", "verify", LogDirectory, "--bundle", bundle);
        var (chosenCode, chosenStdout, _) = Run("audit", "verify", LogDirectory, "--bundle", bundle, "--trust-domain", "example.org");

        Assert.Equal(AgentIdCommand.UsageError, code);
        Assert.Contains("several trust domains (example.org, partner.example); pass --trust-domain", stderr, StringComparison.Ordinal);
        Assert.Equal(string.Empty, stdout);
        Assert.Equal(AgentIdCommand.Ok, chosenCode);
        Assert.Contains("OK: 25 entries verified", chosenStdout, StringComparison.Ordinal);
    }

    [Fact]
    public void AuditVerify_BundleThatNamesNoTrustDomain_NeverTakesItFromTheCheckpoint()
    {
        // A CA without a URI SAN: only --trust-domain can say whose it is, not the (untrusted) checkpoint under verification.
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=root without a SPIFFE ID", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, critical: true));
        using var root = request.CreateSelfSigned(_time.GetUtcNow().AddDays(-1), _time.GetUtcNow().AddDays(1));
        var bundle = Write("anonymous.pem", root.ExportCertificatePem());

        var (code, stdout, stderr) = Run("audit", "verify", LogDirectory, "--bundle", bundle);

        Assert.Equal(AgentIdCommand.UsageError, code);
        Assert.Contains("does not name its trust domain", stderr, StringComparison.Ordinal);
        Assert.Contains("pass --trust-domain", stderr, StringComparison.Ordinal);
        Assert.Equal(string.Empty, stdout);
    }

    [Fact]
    public void AuditVerify_TrustDomainTheBundleHasNoAuthorityFor_ExitsThree()
    {
        var bundle = Write("bundle.json", _ca.Bundle.ToJsonString());

        var (code, _, stderr) = Run("audit", "verify", LogDirectory, "--bundle", bundle, "--trust-domain", "other.example");

        Assert.Equal(AgentIdCommand.InputError, code);
        Assert.Contains("holds no authority of trust domain 'other.example'; its authorities are of example.org", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void AuditVerify_CheckpointProblem_NamesNoEntry()
    {
        using var other = DevelopmentCertificateAuthority.Create(Domain, null, _time);
        var bundle = Write("other.pem", other.RootCertificate.ExportCertificatePem());

        var (untrusted, untrustedOut, _) = Run("audit", "verify", LogDirectory, "--bundle", bundle);
        var (mismatch, mismatchOut, _) = Run("audit", "verify", LogDirectory, "--signer", "spiffe://example.org/agent/auditor/x");

        Assert.Equal(AgentIdCommand.VerificationFailed, untrusted);
        Assert.Contains("FAILED (UntrustedSigner)", untrustedOut, StringComparison.Ordinal);
        Assert.DoesNotContain("first bad entry", untrustedOut, StringComparison.Ordinal);
        Assert.Equal(AgentIdCommand.VerificationFailed, mismatch);
        Assert.Contains("FAILED (SignerMismatch)", mismatchOut, StringComparison.Ordinal);
        Assert.DoesNotContain("first bad entry", mismatchOut, StringComparison.Ordinal);
    }

    [Fact]
    public void AuditVerify_EntryRewrittenWithItsChecksum_NamesTheRangeNotAnEntry()
    {
        var segment = Path.Combine(LogDirectory, "audit-00000001.log");
        var bytes = File.ReadAllBytes(segment);
        var offset = RecordOffset(bytes, 12);
        var length = (int)BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(offset));
        bytes[offset + 13 + 40] ^= 0x20;
        SHA256.HashData(bytes.AsSpan(offset + 12, 1 + length), bytes.AsSpan(offset + 13 + length, 32)); // recompute the checksum

        File.WriteAllBytes(segment, bytes);

        var (code, stdout, _) = Run("audit", "verify", LogDirectory);

        Assert.Equal(AgentIdCommand.VerificationFailed, code);
        Assert.Contains("FAILED (CheckpointMismatch)", stdout, StringComparison.Ordinal);
        Assert.Contains("bad entry range: 10\u201319", stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("first bad entry", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void AuditVerify_MissingDirectory_ExitsThree()
    {
        var (code, _, stderr) = Run("audit", "verify", Path.Combine(_directory, "nope"));

        Assert.Equal(AgentIdCommand.InputError, code);
        Assert.Contains("does not exist", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AgentId_AsAProcess_VerifiesTheLog()
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "AgentIdentity.Sdk.Cli.dll"));
        start.ArgumentList.Add("audit");
        start.ArgumentList.Add("verify");
        start.ArgumentList.Add(LogDirectory);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));

        Assert.Equal(0, process.ExitCode);
        Assert.Contains("OK: 25 entries verified", await stdout, StringComparison.Ordinal);
        Assert.Contains("warning", await stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void AuditVerify_NoSignedCheckpointAndAnEntryRewrittenWithItsChecksum_ExitsOneWhenASignerIsDemanded()
    {
        // Issue 18, defect 12, exactly: remove every checkpoint record and the checkpoint file, rewrite an entry with its checksum.
        var segment = Path.Combine(LogDirectory, "audit-00000001.log");
        var bytes = File.ReadAllBytes(segment);
        var kept = new List<byte>(bytes[..8]);
        for (var offset = 8; offset < bytes.Length;)
        {
            var length = (int)BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(offset));
            var record = bytes.AsSpan(offset, 13 + length + 32).ToArray();
            if (record[12] == 0)
            {
                if (BinaryPrimitives.ReadInt64BigEndian(record.AsSpan(4)) == 12)
                {
                    record[13 + 40] ^= 0x20;
                    SHA256.HashData(record.AsSpan(12, 1 + length), record.AsSpan(13 + length, 32));
                }

                kept.AddRange(record);
            }

            offset += record.Length;
        }

        File.WriteAllBytes(segment, [.. kept]);
        File.Delete(Path.Combine(LogDirectory, "checkpoint"));
        File.Delete(Path.Combine(LogDirectory, "checkpoint.pem"));
        var bundle = Write("bundle.json", _ca.Bundle.ToJsonString());

        var (code, stdout, _) = Run("audit", "verify", LogDirectory, "--bundle", bundle, "--trust-domain", "example.org", "--signer", _credential.Id.ToString());
        var (tailCode, tailStdout, _) = Run("audit", "verify", LogDirectory, "--bundle", bundle, "--allow-unsigned-tail");
        var (plainCode, plainStdout, _) = Run("audit", "verify", LogDirectory);

        Assert.Equal(AgentIdCommand.VerificationFailed, code);
        Assert.Contains("FAILED (UnsignedEntries): The log holds 25 entries but no signed checkpoint", stdout, StringComparison.Ordinal);
        Assert.Equal(AgentIdCommand.VerificationFailed, tailCode);
        Assert.Contains("FAILED (UnsignedEntries)", tailStdout, StringComparison.Ordinal);
        Assert.Equal(AgentIdCommand.Ok, plainCode); // Nothing demanded: the note stays a note.
        Assert.Contains("0 checkpoint(s) verified", plainStdout, StringComparison.Ordinal);
    }

    [Fact]
    public void AuditVerify_Since_LogRolledBackToAnEarlierConsistentState_ExitsOne()
    {
        var earlier = Path.Combine(_directory, "earlier");
        CopyDirectory(LogDirectory, earlier);
        using (var log = AuditLog.Open(new AuditLogOptions { Directory = LogDirectory, CheckpointEveryEntries = 10 }, _credential, _time))
        {
            log.Append(new AuditEvent { Kind = AuditEventKind.ToolCall, Timestamp = _time.GetUtcNow(), Agent = _credential.Id, Tool = "Erp.PayInvoice" });
        }

        // The auditor keeps the checkpoint of this verification (both files), then the attacker puts the earlier state back.
        var saved = Path.Combine(_directory, "saved-checkpoint");
        File.Copy(Path.Combine(LogDirectory, "checkpoint"), saved);
        File.Copy(Path.Combine(LogDirectory, "checkpoint.pem"), saved + ".pem");
        Directory.Delete(LogDirectory, recursive: true);
        CopyDirectory(earlier, LogDirectory);
        var bundle = Write("bundle.json", _ca.Bundle.ToJsonString());

        var (plainCode, _, _) = Run("audit", "verify", LogDirectory, "--bundle", bundle);
        var (code, stdout, _) = Run("audit", "verify", LogDirectory, "--bundle", bundle, "--since", saved);

        Assert.Equal(AgentIdCommand.Ok, plainCode); // Consistent and validly signed: only a trusted earlier checkpoint tells.
        Assert.Equal(AgentIdCommand.VerificationFailed, code);
        Assert.Contains("FAILED (Truncated)", stdout, StringComparison.Ordinal);
        Assert.Contains("first bad entry: 25", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void AuditVerify_BundleThatNamesNoTrustDomain_TakesItFromTheSignerNeverFromTheCheckpoint()
    {
        // A root without a URI SAN: --signer (the auditor's input) may name the trust domain; the checkpoint under verification never does.
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=root without a SPIFFE ID", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, critical: true));
        using var root = request.CreateSelfSigned(_time.GetUtcNow().AddDays(-1), _time.GetUtcNow().AddDays(1));
        var anonymous = Write("anonymous.pem", root.ExportCertificatePem());
        var ours = Write("ours.pem", _ca.RootCertificate.ExportCertificatePem());

        var (code, stdout, stderr) = Run("audit", "verify", LogDirectory, "--bundle", anonymous, "--signer", _credential.Id.ToString());
        var (mismatchCode, _, mismatchError) = Run("audit", "verify", LogDirectory, "--bundle", ours, "--signer", "spiffe://other.example/agent/planner/i-1");

        Assert.Equal(AgentIdCommand.VerificationFailed, code); // Not a usage error: the trust domain came from --signer.
        Assert.Contains("FAILED (UntrustedSigner)", stdout, StringComparison.Ordinal);
        Assert.Empty(stderr);
        Assert.Equal(AgentIdCommand.UsageError, mismatchCode);
        Assert.Contains("--signer 'spiffe://other.example/agent/planner/i-1' is of trust domain 'other.example', but the bundle is used as 'example.org'", mismatchError, StringComparison.Ordinal);
    }

    [Fact]
    public void AuditHashArg_WithTheLogsKey_ComputesAndChecksTheKeyedHash()
    {
        var secret = RandomNumberGenerator.GetBytes(32);
        var keyFile = Write("argument.key", Convert.ToBase64String(secret));
        var recorded = AuditArgument.Create("pin", "1234", new AuditArgumentKey(secret)).Sha256;

        var (code, stdout, _) = Run("audit", "hash-arg", "--key-file", keyFile, "1234");
        var (matchCode, matchOut, _) = Run("audit", "hash-arg", "--key-file", keyFile, "--hash", recorded, "1234");
        var (missCode, missOut, _) = Run("audit", "hash-arg", "--key-file", keyFile, "--hash", recorded, "1235");
        var (otherCode, _, _) = Run("audit", "hash-arg", "--key-file", Write("other.key", Convert.ToBase64String(RandomNumberGenerator.GetBytes(32))), "--hash", recorded, "1234");
        var (missingCode, _, missingError) = Run("audit", "hash-arg", "--key-file", Path.Combine(_directory, "absent.key"), "1234");

        Assert.Equal(AgentIdCommand.Ok, code);
        Assert.Equal(recorded, stdout.Trim());
        Assert.Equal(AgentIdCommand.Ok, matchCode);
        Assert.StartsWith("MATCH", matchOut, StringComparison.Ordinal);
        Assert.Equal(AgentIdCommand.VerificationFailed, missCode);
        Assert.StartsWith("NO MATCH", missOut, StringComparison.Ordinal);
        Assert.Equal(AgentIdCommand.VerificationFailed, otherCode);
        Assert.Equal(AgentIdCommand.InputError, missingCode);
        Assert.Contains("does not exist", missingError, StringComparison.Ordinal);
    }

    private static void CopyDirectory(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.GetFiles(from))
        {
            File.Copy(file, Path.Combine(to, Path.GetFileName(file)));
        }
    }

    /// <summary>The offset of event record <paramref name="index"/> in a segment: u32 length, u64 index, u8 type, payload, 32-byte checksum.</summary>
    private static int RecordOffset(byte[] segment, long index)
    {
        var offset = 8; // the magic
        while (true)
        {
            var length = (int)BinaryPrimitives.ReadUInt32BigEndian(segment.AsSpan(offset));
            if (BinaryPrimitives.ReadInt64BigEndian(segment.AsSpan(offset + 4)) == index && segment[offset + 12] == 0)
            {
                return offset;
            }

            offset += 13 + length + 32;
        }
    }

    private static string Value(string[] lines, string prefix) => lines.Single(l => l.StartsWith(prefix, StringComparison.Ordinal))[prefix.Length..].TrimEnd('\r');

    private string Write(string name, string content)
    {
        var path = Path.Combine(_directory, name);
        File.WriteAllText(path, content);
        return path;
    }

    private static (int Code, string Stdout, string Stderr) Run(params string[] args)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var code = AgentIdCommand.Run(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    public async Task DisposeAsync()
    {
        await _credential.DisposeAsync();
        _ca.Dispose();
        Directory.Delete(_directory, recursive: true);
    }
}
