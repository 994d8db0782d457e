using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using AgentIdentity.Audit;

namespace AgentIdentity.Cli;

/// <summary><c>agentid audit verify</c> and <c>agentid audit prove</c>.</summary>
internal static class AuditCommand
{
    /// <summary>Builds the <c>audit</c> group. Without a subcommand it is a usage error that shows the group's help.</summary>
    /// <returns>The command.</returns>
    public static Command Create() => new("audit", "Verifies an agent's tamper-evident audit log and prints inclusion proofs.")
    {
        CreateVerify(),
        CreateProve(),
    };

    private static Command CreateVerify()
    {
        var directory = new Argument<string>("dir") { Description = "The audit log directory." };
        var bundle = new Option<string>("--bundle")
        {
            HelpName = "file",
            Description = "Trust bundle (SPIFFE JSON or PEM roots) that signer certificates must chain to.",
        };
        var trustDomain = new Option<TrustDomain?>("--trust-domain")
        {
            HelpName = "name",
            Description = "Trust domain of the bundle (default: the signer's).",
            CustomParser = ParseTrustDomain,
        };
        var signer = new Option<SpiffeId?>("--signer")
        {
            HelpName = "spiffe-id",
            Description = "The agent expected to have signed the log (same trust domain and agent name).",
            CustomParser = ParseSigner,
        };
        var checkpoint = new Option<string>("--checkpoint")
        {
            HelpName = "file",
            Description = "A signed checkpoint obtained out of band (e.g. from a witness) that the log must contain.",
        };

        var command = new Command("verify", "Recomputes the Merkle tree of the audit log in <dir>, checks every checkpoint's signature, signer and consistency, and names the first altered, removed or reordered entry.")
        {
            directory,
            bundle,
            trustDomain,
            signer,
            checkpoint,
        };
        command.SetAction(parse => Verify(
            parse.GetRequiredValue(directory),
            parse.GetValue(bundle),
            parse.GetValue(trustDomain),
            parse.GetValue(signer),
            parse.GetValue(checkpoint),
            parse.InvocationConfiguration.Output,
            parse.InvocationConfiguration.Error));
        return command;
    }

    private static Command CreateProve()
    {
        var directory = new Argument<string>("dir") { Description = "The audit log directory." };
        var index = new Argument<long>("index")
        {
            Description = "The entry index (0-based).",
            CustomParser = ParseIndex,
        };
        var command = new Command("prove", "Prints the inclusion proof of entry <index> in the latest signed checkpoint.")
        {
            directory,
            index,
        };
        command.SetAction(parse => Prove(
            parse.GetRequiredValue(directory),
            parse.GetValue(index),
            parse.InvocationConfiguration.Output,
            parse.InvocationConfiguration.Error));
        return command;
    }

    private static TrustDomain? ParseTrustDomain(ArgumentResult result)
    {
        var text = result.Tokens[0].Value;
        if (TrustDomain.TryParse(text, out var domain, out var reason))
        {
            return domain;
        }

        result.AddError($"--trust-domain '{text}' is not a trust domain: {reason}");
        return null;
    }

    private static SpiffeId? ParseSigner(ArgumentResult result)
    {
        var text = result.Tokens[0].Value;
        if (SpiffeId.TryParse(text, out var id, out var reason))
        {
            return id;
        }

        result.AddError($"--signer '{text}' is not a SPIFFE ID: {reason}");
        return null;
    }

    private static long ParseIndex(ArgumentResult result)
    {
        var text = result.Tokens[0].Value;
        if (long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var index))
        {
            return index;
        }

        result.AddError($"'{text}' is not an entry index (a non-negative integer)");
        return 0;
    }

    private static int Verify(string directory, string? bundlePath, TrustDomain? trustDomain, SpiffeId? signer, string? checkpointPath, TextWriter stdout, TextWriter stderr)
    {
        if (!Directory.Exists(directory))
        {
            stderr.WriteLine($"agentid: audit log directory '{directory}' does not exist.");
            return AgentIdCommand.InputError;
        }

        var verification = new AuditLogVerificationOptions { ExpectedSigner = signer };
        if (checkpointPath is not null)
        {
            verification.TrustedCheckpoint = SignedCheckpoint.Parse(File.ReadAllText(checkpointPath, Encoding.UTF8));
        }

        if (bundlePath is not null)
        {
            verification.TrustBundles = LoadBundle(bundlePath, trustDomain, directory, verification.TrustedCheckpoint);
        }

        var result = AuditLogVerifier.Verify(directory, verification);
        if (!result.IsValid)
        {
            stdout.WriteLine($"FAILED ({result.Problem}): {result.Message}");
            if (result.FirstBadIndex is { } first)
            {
                stdout.WriteLine(result.BadRangeEnd is { } end
                    ? $"first bad entry: {first} (range {first}–{end - 1})"
                    : $"first bad entry: {first}");
            }

            stdout.WriteLine($"entries read before the problem: {result.TreeSize}; checkpoints verified: {result.CheckpointCount}");
            return AgentIdCommand.VerificationFailed;
        }

        stdout.WriteLine($"OK: {result.Message}");
        stdout.WriteLine($"tree size: {result.TreeSize}");
        stdout.WriteLine($"root hash: {Convert.ToBase64String(result.RootHash)}");
        if (result.LatestCheckpoint is { } latest)
        {
            stdout.WriteLine($"origin: {latest.Checkpoint.Origin}");
            stdout.WriteLine($"latest checkpoint: size {latest.Checkpoint.TreeSize} at {latest.Time:O}");
        }

        foreach (var id in result.Signers)
        {
            stdout.WriteLine($"signer: {id}");
        }

        if (!result.SignersValidated && result.CheckpointCount > 0)
        {
            stderr.WriteLine("agentid: warning: signer certificates were not checked against a trust bundle; pass --bundle to check that the signer held a valid SVID.");
        }

        return AgentIdCommand.Ok;
    }

    private static TrustBundle LoadBundle(string path, TrustDomain? domainName, string directory, SignedCheckpoint? trusted)
    {
        var text = File.ReadAllText(path, Encoding.UTF8);
        TrustDomain domain;
        if (domainName is { } given)
        {
            domain = given;
        }
        else
        {
            // Default to the trust domain of the log's signer, from the published or trusted checkpoint.
            var checkpointFile = Path.Combine(directory, "checkpoint");
            var checkpoint = trusted ?? (File.Exists(checkpointFile) ? SignedCheckpoint.Parse(File.ReadAllText(checkpointFile, Encoding.UTF8)) : null)
                ?? throw new ArgumentException("the log has no published checkpoint to take the trust domain from; pass --trust-domain.");
            var uri = InspectCommand.SpiffeUris(checkpoint.Certificate).FirstOrDefault()
                ?? throw new ArgumentException("the checkpoint signer's certificate has no SPIFFE ID; pass --trust-domain.");
            domain = SpiffeId.Parse(uri).TrustDomain;
        }

        if (text.TrimStart().StartsWith('{'))
        {
            return TrustBundle.Parse(domain, text);
        }

        var roots = new X509Certificate2Collection();
        roots.ImportFromPem(text);
        if (roots.Count == 0)
        {
            throw new FormatException($"'{path}' holds no PEM certificates and is not a SPIFFE JSON bundle.");
        }

        return new TrustBundle(domain, roots);
    }

    private static int Prove(string directory, long index, TextWriter stdout, TextWriter stderr)
    {
        if (!Directory.Exists(directory))
        {
            stderr.WriteLine($"agentid: audit log directory '{directory}' does not exist.");
            return AgentIdCommand.InputError;
        }

        var proof = AuditLogVerifier.CreateInclusionProof(directory, index);
        if (!proof.Verify() || !proof.Checkpoint.TryVerifySignature(out _))
        {
            stdout.WriteLine($"FAILED: the proof of entry {index} does not verify against the latest checkpoint; run 'agentid audit verify'.");
            return AgentIdCommand.VerificationFailed;
        }

        var checkpoint = proof.Checkpoint.Checkpoint;
        stdout.WriteLine($"index: {proof.Index}");
        stdout.WriteLine($"tree size: {checkpoint.TreeSize}");
        stdout.WriteLine($"leaf hash: {Convert.ToHexStringLower(proof.LeafHash)}");
        stdout.WriteLine($"root hash: {Convert.ToBase64String(checkpoint.RootHash)}");
        stdout.WriteLine("proof:");
        foreach (var node in proof.Proof)
        {
            stdout.WriteLine($"  {Convert.ToHexStringLower(node)}");
        }

        stdout.WriteLine($"entry: {Encoding.UTF8.GetString(proof.Entry)}");
        stdout.WriteLine("checkpoint:");
        stdout.Write(proof.Checkpoint.Note.ToString());
        return AgentIdCommand.Ok;
    }
}
