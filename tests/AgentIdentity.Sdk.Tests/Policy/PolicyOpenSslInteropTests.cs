using System.Diagnostics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.RegularExpressions;

namespace AgentIdentity.Tests.Policy;

/// <summary>OpenSSL 3 (the real peer) reads task certificates with policy and chain extensions and accepts them in TLS.</summary>
public sealed partial class PolicyOpenSslInteropTests : IAsyncLifetime
{
    private static readonly TrustDomain Td = TrustDomain.Parse("td.example");
    private readonly string _dir = Directory.CreateTempSubdirectory("agentid-policy-").FullName;
    private readonly string _keyPassword = Convert.ToHexString(RandomNumberGenerator.GetBytes(16));
    private DevelopmentCertificateAuthority _ca = null!;
    private AgentCredential _planner = null!;
    private AgentCredential _task = null!;

    private static readonly AgentPolicy PlannerPolicy = new(
        services: ["spiffe://td.example/svc/*"], actions: ["invoices:*"], tools: ["Erp.*"],
        maxDelegationDepth: 1, delegationTargets: ["spiffe://td.example/agent/planner/*"]);

    public async Task InitializeAsync()
    {
        _ca = DevelopmentCertificateAuthority.Create(Td);
        _planner = await AgentCredential.CreateAsync(SpiffeId.Parse("spiffe://td.example/agent/planner/1"), _ca, new AgentCredentialOptions { Policy = PlannerPolicy });
        _task = await _planner.DelegateAsync("t1", new AgentPolicy(services: ["spiffe://td.example/svc/erp"], actions: ["invoices:read"]));
        File.WriteAllText(Path.Combine(_dir, "root.pem"), _ca.RootCertificate.ExportCertificatePem());
        File.WriteAllText(Path.Combine(_dir, "intermediate.pem"), _ca.IntermediateCertificate.ExportCertificatePem());
    }

    public async Task DisposeAsync()
    {
        await _planner.DisposeAsync();
        _ca.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    private string Write(string name, X509Svid svid)
    {
        File.WriteAllText(Path.Combine(_dir, name + ".pem"), svid.Certificate.ExportCertificatePem());
        using var key = svid.Certificate.GetECDsaPrivateKey()!;
        // Encrypted at rest, even in a temp dir.
        File.WriteAllText(Path.Combine(_dir, name + ".key"), key.ExportEncryptedPkcs8PrivateKeyPem(_keyPassword, new PbeParameters(PbeEncryptionAlgorithm.Aes256Cbc, HashAlgorithmName.SHA256, 10_000)));
        return Path.Combine(_dir, name + ".pem");
    }

    [Fact]
    public async Task OpenSsl_X509Text_ShowsNonCriticalPolicyAndChainExtensions()
    {
        var leaf = Write("task", _task.GetCurrent());
        var (code, output) = await RunAsync("x509", "-in", leaf, "-noout", "-text");
        Assert.Equal(0, code);
        foreach (var suffix in new[] { ".1", ".2" })
        {
            var line = output.Split('\n').Single(l => l.Contains(AgentPolicyExtension.ArcOid + suffix + ":", StringComparison.Ordinal));
            Assert.DoesNotContain("critical", line, StringComparison.Ordinal);
        }

        Assert.Contains("URI:spiffe://td.example/agent/planner/1/task/t1", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task OpenSsl_Asn1Parse_ReadsPolicyValue()
    {
        var leaf = Write("task", _task.GetCurrent());
        var (code, output) = await RunAsync("asn1parse", "-in", leaf);
        Assert.Equal(0, code);
        Assert.Contains(":" + AgentPolicyExtension.PolicyOid, output, StringComparison.Ordinal);

        var policyDer = Path.Combine(_dir, "policy.der");
        File.WriteAllBytes(policyDer, _task.GetCurrent().Certificate.Extensions.Single(e => e.Oid?.Value == AgentPolicyExtension.PolicyOid).RawData);
        (code, output) = await RunAsync("asn1parse", "-inform", "DER", "-in", policyDer);
        Assert.Equal(0, code);
        Assert.Contains("IA5STRING         :spiffe://td.example/svc/erp", output, StringComparison.Ordinal);
        Assert.Contains("IA5STRING         :invoices:read", output, StringComparison.Ordinal);

        var chainDer = Path.Combine(_dir, "chain.der");
        File.WriteAllBytes(chainDer, _task.GetCurrent().Certificate.Extensions.Single(e => e.Oid?.Value == AgentPolicyExtension.DelegationChainOid).RawData);
        (code, output) = await RunAsync("asn1parse", "-inform", "DER", "-in", chainDer);
        Assert.Equal(0, code);
        Assert.Contains("IA5STRING         :spiffe://td.example/agent/planner/1", output, StringComparison.Ordinal);
        Assert.Contains("GENERALIZEDTIME", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task OpenSsl_VerifyStrict_AcceptsTaskCertificate()
    {
        var leaf = Write("task", _task.GetCurrent());
        var (code, output) = await RunAsync("verify", "-x509_strict", "-CAfile", Path.Combine(_dir, "root.pem"), "-untrusted", Path.Combine(_dir, "intermediate.pem"), leaf);
        Assert.True(code == 0, output);
        Assert.Contains(": OK", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task OpenSsl_MutualTls_BetweenTwoTaskCertificates_Succeeds()
    {
        await using var client = await _planner.DelegateAsync("t2", new AgentPolicy(actions: ["invoices:read"]));
        var (code, output) = await HandshakeAsync(Write("server", _task.GetCurrent()), Write("client", client.GetCurrent()));
        Assert.True(code == 0, output);
        Assert.Contains("Verify return code: 0 (ok)", output, StringComparison.Ordinal);
        Assert.Contains("New, TLSv1.2, Cipher is ECDHE-ECDSA-", output, StringComparison.Ordinal); // the handshake completed
    }

    [Fact]
    public async Task OpenSsl_MutualTls_ClientFromOtherCa_Fails()
    {
        // The control: the same handshake with a client certificate from another CA is refused, so the test above can fail.
        using var otherCa = DevelopmentCertificateAuthority.Create(Td);
        await using var stranger = await AgentCredential.CreateAsync(SpiffeId.Parse("spiffe://td.example/agent/stranger/1"), otherCa);
        var (code, _) = await HandshakeAsync(Write("server", _task.GetCurrent()), Write("stranger", stranger.GetCurrent()));
        Assert.NotEqual(0, code);
    }

    private async Task<(int Code, string Output)> HandshakeAsync(string serverPem, string clientPem)
    {
        var root = Path.Combine(_dir, "root.pem");
        var chain = Path.Combine(_dir, "intermediate.pem");
        // s_server keeps its stdin open: it drops the connection when its stdin ends.
        using var server = Start(
            closeInput: false,
            "s_server", "-accept", "127.0.0.1:0", "-naccept", "1", "-tls1_2", "-cert", serverPem, "-key", Path.ChangeExtension(serverPem, ".key"),
            "-pass", "pass:" + _keyPassword, "-cert_chain", chain, "-CAfile", root, "-Verify", "1", "-verify_return_error", "-x509_strict");
        try
        {
            string? line;
            var port = 0;
            while ((line = await server.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30))) is not null)
            {
                if (AcceptLine().Match(line) is { Success: true } match)
                {
                    port = int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
                    break;
                }
            }

            Assert.True(port > 0, "s_server did not report its port");
            return await RunAsync(
                "s_client", "-connect", $"127.0.0.1:{port}", "-tls1_2", "-cert", clientPem, "-key", Path.ChangeExtension(clientPem, ".key"),
                "-pass", "pass:" + _keyPassword, "-cert_chain", chain, "-CAfile", root, "-verify_return_error", "-x509_strict");
        }
        finally
        {
            if (!server.HasExited)
            {
                server.Kill();
            }

            await server.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        }
    }

    private static Process Start(params string[] args) => Start(closeInput: true, args);

    private static Process Start(bool closeInput, params string[] args)
    {
        var info = new ProcessStartInfo("openssl") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        var process = Process.Start(info)!;
        if (closeInput)
        {
            process.StandardInput.Close(); // s_client: hang up right after the handshake
        }

        return process;
    }

    private static async Task<(int Code, string Output)> RunAsync(params string[] args)
    {
        using var process = Start(args);
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        return (process.ExitCode, await stdout + await stderr);
    }

    [GeneratedRegex(@"^ACCEPT .*:(\d+)$")]
    private static partial Regex AcceptLine();
}
