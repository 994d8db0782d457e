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
    /// <param name="console">Whether stderr is a terminal (for progress), and the clock.</param>
    /// <returns>The command.</returns>
    public static Command Create(CliConsole console) => new("audit", "Verifies a tamper-evident audit log (an agent's, or an issuer's control-plane log), prints inclusion proofs, and serves a read-only explorer over logs.")
    {
        CreateVerify(console),
        CreateProve(),
        CreateHashArgument(),
        AuditServeCommand.Create(),
    };

    private static Command CreateHashArgument()
    {
        var keyFile = new Option<string>("--key-file")
        {
            HelpName = "file",
            Description = "The log's argument key (AuditLogOptions.ArgumentKeyFile: base64 of at least 32 bytes).",
            Required = true,
        };
        var hash = new Option<string>("--hash")
        {
            HelpName = "hex",
            Description = "The hash recorded in the event's 'hmac-sha256' field: exit 0 when the value matches it, 1 when not.",
        };
        var value = new Argument<string?>("value")
        {
            Description = "The candidate value, exactly as the tool received it (JSON for structured values); read from the first line of stdin when absent, so it stays out of the shell history.",
            Arity = ArgumentArity.ZeroOrOne,
        };
        var command = new Command("hash-arg", "Computes the keyed hash (HMAC-SHA256) of an argument value as audit events record it, or checks a value against a recorded hash.")
        {
            keyFile,
            hash,
            value,
        };
        command.SetAction(parse => HashArgument(
            parse.GetRequiredValue(keyFile),
            parse.GetValue(hash),
            parse.GetValue(value),
            parse.InvocationConfiguration.Output,
            parse.InvocationConfiguration.Error));
        return command;
    }

    private static int HashArgument(string keyFile, string? hash, string? value, TextWriter stdout, TextWriter stderr)
    {
        if (!File.Exists(keyFile))
        {
            stderr.WriteLine($"agentid: argument key file '{keyFile}' does not exist.");
            return AgentIdCommand.InputError;
        }

        var key = AuditArgumentKey.FromFile(keyFile);
        value ??= Console.In.ReadLine() ?? string.Empty;
        if (hash is null)
        {
            stdout.WriteLine(key.Hash(value));
            return AgentIdCommand.Ok;
        }

        if (key.Matches(value, hash.Trim()))
        {
            stdout.WriteLine("MATCH: the value is the one recorded under this key.");
            return AgentIdCommand.Ok;
        }

        stdout.WriteLine("NO MATCH: the value is not the one recorded, or the hash was made under another key.");
        return AgentIdCommand.VerificationFailed;
    }

    private static Command CreateVerify(CliConsole console)
    {
        var directory = new Argument<string>("dir") { Description = "The audit log directory." };
        var bundle = new Option<string>("--bundle")
        {
            HelpName = "file",
            Description = "Trust bundle (SPIFFE JSON or PEM roots) that signer certificates must chain to. Its authorities' spiffe:// URI SANs name the trust domain.",
        };
        var trustDomain = new Option<TrustDomain?>("--trust-domain")
        {
            HelpName = "name",
            Description = "Trust domain of the bundle; needed when the bundle's authorities name no trust domain, or several. Never taken from the log under verification.",
            CustomParser = ParseTrustDomain,
        };
        var signer = new Option<SpiffeId?>("--signer")
        {
            HelpName = "spiffe-id",
            Description = "The identity expected to have signed the log: exactly this SPIFFE ID (with --any-instance, any instance of the same agent). Also names the trust domain when --trust-domain is absent and the bundle does not.",
            CustomParser = ParseSigner,
        };
        var anyInstance = new Option<bool>("--any-instance")
        {
            Description = "Accept checkpoints signed by any instance of the signer's agent (/agent/<name>/<any instance>), as a log kept across restarts needs. Task identities stay refused.",
        };
        var allowTaskSigners = new Option<bool>("--allow-task-signers")
        {
            Description = "Accept checkpoints signed by a task (delegated) identity. Off by default: a task identity of the agent could otherwise re-sign its log.",
        };
        var revoked = new Option<string>("--revoked")
        {
            HelpName = "file",
            Description = "Revoked certificate serial numbers (hex, one a line; # comments), from a revocation source you trust (the issuer's registry): a checkpoint signed by one fails as RevokedSigner.",
        };
        var allowUnsignedTail = new Option<bool>("--allow-unsigned-tail")
        {
            Description = "With --signer or --bundle, accept entries after the last signed checkpoint (a log still being written). A log with entries and no signed checkpoint always fails then.",
        };
        var checkpoint = new Option<string>("--since", "--checkpoint")
        {
            HelpName = "checkpoint-file",
            Description = "A checkpoint you already trust (a copy of the log's 'checkpoint' file, with its 'checkpoint.pem' copied beside it as '<file>.pem', from an earlier verification or a witness) that the log must contain: a log rolled back to an earlier state, or rewritten, fails.",
        };
        var issuerLog = new Option<bool>("--issuer-log")
        {
            Description = $"The log is an AgentIdentity issuer's control-plane log: its origin must be <td>{IssuerPath}[/<replica>]/audit and every checkpoint signed by the issuer's own SVID (spiffe://<bundle trust domain>{IssuerPath}, or --signer). Requires --bundle. A log whose origin claims to be an issuer's is held to this even without the flag.",
        };

        var progress = new Option<ProgressMode>("--progress")
        {
            HelpName = "auto|bar|lines|none",
            Description = "Progress on stderr: auto (the default) shows a bar when stderr is a terminal and a plain line every 10% when it is redirected, for logs of 4 MiB or more; bar, lines or none force one.",
            DefaultValueFactory = _ => ProgressMode.Auto,
            CustomParser = ParseProgress,
        };

        var command = new Command("verify", "Recomputes the Merkle tree of the audit log in <dir>, checks every checkpoint's signature, signer and consistency, and names the first altered, removed or reordered entry.")
        {
            directory,
            bundle,
            trustDomain,
            signer,
            anyInstance,
            allowTaskSigners,
            revoked,
            allowUnsignedTail,
            checkpoint,
            issuerLog,
            progress,
        };
        command.SetAction(parse => Verify(
            parse.GetRequiredValue(directory),
            parse.GetValue(bundle),
            parse.GetValue(trustDomain),
            parse.GetValue(signer),
            new VerifyFlags(parse.GetValue(anyInstance), parse.GetValue(allowTaskSigners), parse.GetValue(revoked), parse.GetValue(allowUnsignedTail)),
            parse.GetValue(checkpoint),
            parse.GetValue(issuerLog),
            parse.GetValue(progress),
            console,
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

    private static ProgressMode ParseProgress(ArgumentResult result)
    {
        var text = result.Tokens.Count == 0 ? "auto" : result.Tokens[0].Value;
        if (Enum.TryParse<ProgressMode>(text, ignoreCase: true, out var mode) && Enum.IsDefined(mode) && !char.IsDigit(text[0]))
        {
            return mode;
        }

        result.AddError($"--progress '{text}' is not one of auto, bar, lines, none.");
        return ProgressMode.Auto;
    }

    internal static TrustDomain? ParseTrustDomain(ArgumentResult result) =>
        Parse(result, "--trust-domain", "a trust domain", static (string text, out TrustDomain value, out string? reason) => TrustDomain.TryParse(text, out value, out reason));

    private static SpiffeId? ParseSigner(ArgumentResult result) =>
        Parse(result, "--signer", "a SPIFFE ID", static (string text, out SpiffeId value, out string? reason) => SpiffeId.TryParse(text, out value, out reason));

    private delegate bool TryParseWithReason<T>(string text, out T value, out string? reason);

    private static T? Parse<T>(ArgumentResult result, string option, string what, TryParseWithReason<T> tryParse)
        where T : struct
    {
        var text = result.Tokens[0].Value;
        if (tryParse(text, out var value, out var reason))
        {
            return value;
        }

        result.AddError($"{option} '{text}' is not {what}: {reason}");
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

    private sealed record VerifyFlags(bool AnyInstance, bool AllowTaskSigners, string? RevokedPath, bool AllowUnsignedTail);

    private static int Verify(string directory, string? bundlePath, TrustDomain? trustDomain, SpiffeId? signer, VerifyFlags flags, string? checkpointPath, bool issuerLog,
        ProgressMode progressMode, CliConsole console, TextWriter stdout, TextWriter stderr)
    {
        if (issuerLog && bundlePath is null)
        {
            throw new UsageException("--issuer-log needs --bundle: an issuer's log is authentic only if its checkpoints were signed by an SVID its CA issued to the issuer.");
        }

        if (!Directory.Exists(directory))
        {
            stderr.WriteLine($"agentid: audit log directory '{directory}' does not exist.");
            return AgentIdCommand.InputError;
        }

        var verification = new AuditLogVerificationOptions
        {
            ExpectedSigner = signer,
            AllowAnyInstance = flags.AnyInstance,
            AllowTaskSigners = flags.AllowTaskSigners,
            AllowUnsignedTail = flags.AllowUnsignedTail,
        };
        if (checkpointPath is not null)
        {
            verification.TrustedCheckpoint = AuditLog.ReadCheckpointFile(checkpointPath);
        }

        if (flags.RevokedPath is not null)
        {
            verification.RevokedSerialNumbers = ReadRevokedSerials(flags.RevokedPath);
        }

        TrustBundle? trust = null;
        if (bundlePath is not null)
        {
            // The trust domain comes from --trust-domain, the bundle's own authorities or --signer: never from the log or a checkpoint file.
            verification.TrustBundles = trust = LoadBundle(bundlePath, trustDomain, signer?.TrustDomain);
            if (signer is { } expected && expected.TrustDomain != trust.TrustDomain)
            {
                throw new UsageException($"--signer '{expected}' is of trust domain '{expected.TrustDomain}', but the bundle is used as '{trust.TrustDomain}'.");
            }
        }

        if (issuerLog && signer is null)
        {
            verification.ExpectedSigner = SpiffeId.Parse($"spiffe://{trust!.TrustDomain.Name}{IssuerPath}");
        }

        var totalBytes = AuditLogFormat.ListSegments(directory).Sum(segment => new FileInfo(segment.Path).Length);
        var progress = VerifyProgress.Create(progressMode, totalBytes, stderr, console);
        var result = AuditLogVerifier.Verify(directory, verification, progress is null ? null : progress.Report);
        progress?.Complete();
        if (result.IsValid && CheckIssuerLog(result, issuerLog, signer, trust) is { } issuerProblem)
        {
            stdout.WriteLine($"FAILED ({AuditLogProblem.SignerMismatch}): {char.ToUpperInvariant(issuerProblem[0])}{issuerProblem[1..]}");
            stdout.WriteLine($"entries read: {result.TreeSize}; checkpoints verified: {result.CheckpointCount}");
            return AgentIdCommand.VerificationFailed;
        }

        if (!result.IsValid)
        {
            stdout.WriteLine($"FAILED ({result.Problem}): {result.Message}");
            if (Location(result) is { } location)
            {
                stdout.WriteLine(location);
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
            if (IssuerOrigin(latest.Checkpoint.Origin) is { } origin)
            {
                stdout.WriteLine($"issuer log: trust domain {origin.TrustDomain}, replica {origin.Replica ?? "(single node)"}");
            }

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

    /// <summary>The path of the issuer's own SPIFFE ID, whose SVID signs the issuer's audit checkpoints.</summary>
    internal const string IssuerPath = "/agent-identity/issuer";

    /// <summary>
    /// Holds an issuer's log to its claim: with <c>--issuer-log</c>, or when its origin says it is an issuer's
    /// (<c>&lt;td&gt;/agent-identity/issuer[/&lt;replica&gt;]/audit</c>), every checkpoint must be signed by
    /// <c>spiffe://&lt;td&gt;/agent-identity/issuer</c> of that trust domain (and of the bundle's, when given). Otherwise any SVID of
    /// the trust domain, an agent's say, could sign a log that passes for the issuer's.
    /// </summary>
    /// <returns>What is wrong, or <see langword="null"/>.</returns>
    internal static string? CheckIssuerLog(AuditLogVerificationResult result, bool issuerLog, SpiffeId? signer, TrustBundle? trust)
    {
        if (result.LatestCheckpoint is not { } latest)
        {
            return issuerLog && result.TreeSize > 0
                ? $"the log has {result.TreeSize} entries but no signed checkpoint; nothing proves that the issuer wrote them."
                : null;
        }

        var originText = latest.Checkpoint.Origin;
        var origin = IssuerOrigin(originText);
        if (origin is null)
        {
            return issuerLog
                ? $"the log's origin '{originText}' is not an issuer's (<trust domain>{IssuerPath}[/<replica>]/audit); it is not an issuer's control-plane log."
                : null;
        }

        var expected = signer ?? SpiffeId.Parse($"spiffe://{origin.Value.TrustDomain}{IssuerPath}");
        if (trust is not null && origin.Value.TrustDomain != trust.TrustDomain.Name)
        {
            return $"the log's origin '{originText}' names trust domain '{origin.Value.TrustDomain}', but the bundle is of '{trust.TrustDomain}'.";
        }

        foreach (var id in result.Signers)
        {
            if (id != expected)
            {
                return $"the log's origin '{originText}' says it is an issuer's log, but its checkpoints were signed by '{id}', not by the issuer '{expected}'.";
            }
        }

        return null;
    }

    /// <summary>Parses an issuer log's origin: <c>&lt;td&gt;/agent-identity/issuer/audit</c> or <c>&lt;td&gt;/agent-identity/issuer/&lt;replica&gt;/audit</c>.</summary>
    internal static (string TrustDomain, string? Replica)? IssuerOrigin(string origin)
    {
        var slash = origin.IndexOf('/', StringComparison.Ordinal);
        if (slash <= 0 || !origin.EndsWith("/audit", StringComparison.Ordinal))
        {
            return null;
        }

        var domain = origin[..slash];
        var path = origin[slash..^"/audit".Length];
        if (!TrustDomain.TryParse(domain, out _, out _) || !path.StartsWith(IssuerPath, StringComparison.Ordinal))
        {
            return null;
        }

        var rest = path[IssuerPath.Length..];
        if (rest.Length == 0)
        {
            return (domain, null);
        }

        return rest[0] == '/' && rest.Length > 1 && rest.IndexOf('/', 1) < 0 ? (domain, rest[1..]) : null;
    }

    /// <summary>
    /// Names the entries at fault, when entries are: one entry for a damaged, missing, reordered or torn record and the first
    /// missing entry of a truncated log, a range for a checkpoint that does not match its entries. A checkpoint's own problem
    /// (signature, signer, origin, time, format) is no entry's fault; the message names the checkpoint.
    /// </summary>
    internal static string? Location(AuditLogVerificationResult result) => (result.Problem, result.FirstBadIndex, result.BadRangeEnd) switch
    {
        (AuditLogProblem.AlteredEntry or AuditLogProblem.MissingEntry or AuditLogProblem.ReorderedEntry or AuditLogProblem.TornTail, { } first, _) =>
            $"first bad entry: {first}",
        (AuditLogProblem.Truncated, { } first, { } end) when end > first =>
            $"first bad entry: {first} (range {first}–{end - 1})",
        (AuditLogProblem.CheckpointMismatch, { } first, { } end) when end > first =>
            $"bad entry range: {first}–{end - 1}",
        _ => null,
    };

    /// <summary>Reads revoked serial numbers: hexadecimal, one a line (colons allowed), blank lines and <c>#</c> comments ignored.</summary>
    internal static IReadOnlyCollection<string> ReadRevokedSerials(string path)
    {
        var serials = new List<string>();
        var number = 0;
        foreach (var raw in File.ReadLines(path, Encoding.UTF8))
        {
            number++;
            var line = raw.Split('#', 2)[0].Trim();
            if (line.Length == 0)
            {
                continue;
            }

            var hex = line.Replace(":", string.Empty, StringComparison.Ordinal);
            if (!hex.All(char.IsAsciiHexDigit))
            {
                throw new FormatException($"'{path}' line {number} is not a hexadecimal serial number (one a line; '#' starts a comment).");
            }

            serials.Add(hex);
        }

        return serials;
    }

    /// <summary>
    /// Reads a SPIFFE JSON or PEM bundle. Its trust domain is <paramref name="requested"/>, the one that its authorities'
    /// <c>spiffe://</c> URI SANs name, or else <paramref name="signerDomain"/> (the expected signer's): never the log's own claim
    /// nor a checkpoint file's, which are what is under verification.
    /// </summary>
    internal static TrustBundle LoadBundle(string path, TrustDomain? requested, TrustDomain? signerDomain = null)
    {
        var text = File.ReadAllText(path, Encoding.UTF8);
        IReadOnlyList<X509Certificate2> authorities;
        long? sequence = null;
        TimeSpan? refreshHint = null;
        if (text.TrimStart().StartsWith('{'))
        {
            // The document does not name its trust domain; parse it under the requested one, or a placeholder until the
            // authorities say which it is.
            var parsed = TrustBundle.Parse(requested ?? signerDomain ?? TrustDomain.Parse("unnamed"), text);
            authorities = parsed.X509Authorities;
            sequence = parsed.SequenceNumber;
            refreshHint = parsed.RefreshHint;
        }
        else
        {
            var roots = new X509Certificate2Collection();
            roots.ImportFromPem(text);
            if (roots.Count == 0)
            {
                throw new FormatException($"'{path}' holds no PEM certificates and is not a SPIFFE JSON bundle.");
            }

            authorities = [.. roots];
        }

        var named = authorities.Select(a => (Authority: a, Domains: NamedTrustDomains(a))).ToList();
        var all = named.SelectMany(n => n.Domains).Distinct().Order(StringComparer.Ordinal).ToList();
        TrustDomain domain;
        if (requested is { } given)
        {
            domain = given;
        }
        else if (all.Count == 1)
        {
            domain = TrustDomain.Parse(all[0]);
        }
        else if (signerDomain is { } fromSigner)
        {
            domain = fromSigner;
        }
        else if (all.Count == 0)
        {
            throw new UsageException($"the bundle '{path}' does not name its trust domain (no authority carries a spiffe:// URI SAN); pass --trust-domain.");
        }
        else
        {
            throw new UsageException($"the bundle '{path}' holds authorities of several trust domains ({string.Join(", ", all)}); pass --trust-domain to say which one the log's signer belongs to.");
        }

        // Authorities that name another trust domain are that domain's, not this one's: bundles are never merged.
        var selected = named.Where(n => n.Domains.Count == 0 || n.Domains.Contains(domain.Name)).Select(n => n.Authority).ToList();
        if (selected.Count == 0)
        {
            throw new ArgumentException(all.Count == 0
                ? $"the bundle '{path}' holds no X.509 authority."
                : $"the bundle '{path}' holds no authority of trust domain '{domain}'; its authorities are of {string.Join(", ", all)}.");
        }

        return new TrustBundle(domain, selected, sequence, refreshHint);
    }

    /// <summary>The trust domains that a CA certificate's <c>spiffe://</c> URI SANs name (SPIFFE X509-SVID §3: at most one, without a path).</summary>
    private static List<string> NamedTrustDomains(X509Certificate2 authority)
    {
        const string Scheme = "spiffe://";
        var domains = new List<string>();
        foreach (var uri in InspectCommand.SpiffeUris(authority))
        {
            if (!uri.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            var rest = uri.AsSpan(Scheme.Length);
            var slash = rest.IndexOf('/');
            if (TrustDomain.TryParse(slash < 0 ? rest : rest[..slash], out var domain) && !domains.Contains(domain.Name))
            {
                domains.Add(domain.Name);
            }
        }

        return domains;
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
