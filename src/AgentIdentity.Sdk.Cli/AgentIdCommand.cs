using System.Formats.Asn1;
using System.Globalization;
using System.Reflection;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using AgentIdentity.Audit;

namespace AgentIdentity.Cli;

/// <summary>
/// The <c>agentid</c> commands, with a small hand-written argument parser (no reflection, AOT-friendly).
/// Exit codes: 0 success, 1 verification failed (tampering found), 2 usage error, 3 unreadable input.
/// </summary>
internal static class AgentIdCommand
{
    public const int Ok = 0;
    public const int VerificationFailed = 1;
    public const int UsageError = 2;
    public const int InputError = 3;

    /// <summary>The OID arc of AgentIdentity's certificate extensions (.1 agent policy, .2 delegation chain).</summary>
    public const string PolicyArc = "2.25.13125575335917636297664607662684948779";

    private const string Usage = """
        Usage:
          agentid audit verify <dir> [--bundle <file>] [--trust-domain <name>] [--signer <spiffe-id>] [--checkpoint <file>]
              Recomputes the Merkle tree of the audit log in <dir>, checks every checkpoint's signature, signer and
              consistency, and names the first altered, removed or reordered entry.
              --bundle        trust bundle (SPIFFE JSON or PEM roots) that signer certificates must chain to
              --trust-domain  trust domain of the bundle (default: the signer's)
              --signer        the agent expected to have signed the log (same trust domain and agent name)
              --checkpoint    a signed checkpoint obtained out of band (e.g. from a witness) that the log must contain
          agentid audit prove <dir> <index>
              Prints the inclusion proof of entry <index> in the latest signed checkpoint.
          agentid inspect <pem>
              Prints each certificate's SPIFFE ID, serial, validity, key usage and AgentIdentity policy extensions.
          agentid --version | --help
        Exit codes: 0 success, 1 verification failed, 2 usage error, 3 unreadable input.
        """;

    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(stdout);
        ArgumentNullException.ThrowIfNull(stderr);
        try
        {
            return args switch
            {
                [] or ["--help" or "-h" or "help"] => Help(stdout),
                ["--version"] => Version(stdout),
                ["audit", "verify", .. var rest] => AuditVerify(rest, stdout, stderr),
                ["audit", "prove", .. var rest] => AuditProve(rest, stdout, stderr),
                ["inspect", .. var rest] => Inspect(rest, stdout, stderr),
                _ => UsageFailure(stderr, $"unknown command '{string.Join(' ', args)}'"),
            };
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or CryptographicException or AuditLogException or ArgumentException or AsnContentException)
        {
            stderr.WriteLine($"agentid: {ex.Message}");
            return InputError;
        }
    }

    private static int Help(TextWriter stdout)
    {
        stdout.WriteLine(Usage);
        return Ok;
    }

    private static int Version(TextWriter stdout)
    {
        stdout.WriteLine(typeof(AgentIdCommand).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown");
        return Ok;
    }

    private static int UsageFailure(TextWriter stderr, string message)
    {
        stderr.WriteLine($"agentid: {message}");
        stderr.WriteLine(Usage);
        return UsageError;
    }

    private static int AuditVerify(string[] args, TextWriter stdout, TextWriter stderr)
    {
        if (!TryParse(args, ["--bundle", "--trust-domain", "--signer", "--checkpoint"], out var positional, out var options, out var error))
        {
            return UsageFailure(stderr, error);
        }

        if (positional.Count != 1)
        {
            return UsageFailure(stderr, "audit verify takes exactly one directory");
        }

        var directory = positional[0];
        if (!Directory.Exists(directory))
        {
            stderr.WriteLine($"agentid: audit log directory '{directory}' does not exist.");
            return InputError;
        }

        var verification = new AuditLogVerificationOptions();
        if (options.TryGetValue("--signer", out var signer))
        {
            if (!SpiffeId.TryParse(signer, out var id, out var reason))
            {
                return UsageFailure(stderr, $"--signer '{signer}' is not a SPIFFE ID: {reason}");
            }

            verification.ExpectedSigner = id;
        }

        if (options.TryGetValue("--checkpoint", out var checkpointPath))
        {
            verification.TrustedCheckpoint = SignedCheckpoint.Parse(File.ReadAllText(checkpointPath, Encoding.UTF8));
        }

        if (options.TryGetValue("--bundle", out var bundlePath))
        {
            options.TryGetValue("--trust-domain", out var domainName);
            verification.TrustBundles = LoadBundle(bundlePath, domainName, directory, verification.TrustedCheckpoint);
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
            return VerificationFailed;
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

        return Ok;
    }

    private static TrustBundle LoadBundle(string path, string? domainName, string directory, SignedCheckpoint? trusted)
    {
        var text = File.ReadAllText(path, Encoding.UTF8);
        TrustDomain domain;
        if (domainName is not null)
        {
            domain = TrustDomain.Parse(domainName);
        }
        else
        {
            // Default to the trust domain of the log's signer, from the published or trusted checkpoint.
            var checkpointFile = Path.Combine(directory, "checkpoint");
            var checkpoint = trusted ?? (File.Exists(checkpointFile) ? SignedCheckpoint.Parse(File.ReadAllText(checkpointFile, Encoding.UTF8)) : null)
                ?? throw new ArgumentException("the log has no published checkpoint to take the trust domain from; pass --trust-domain.");
            var uri = SpiffeUris(checkpoint.Certificate).FirstOrDefault()
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

    private static int AuditProve(string[] args, TextWriter stdout, TextWriter stderr)
    {
        if (args.Length != 2)
        {
            return UsageFailure(stderr, "audit prove takes a directory and an entry index");
        }

        if (!long.TryParse(args[1], NumberStyles.None, CultureInfo.InvariantCulture, out var index))
        {
            return UsageFailure(stderr, $"'{args[1]}' is not an entry index (a non-negative integer)");
        }

        if (!Directory.Exists(args[0]))
        {
            stderr.WriteLine($"agentid: audit log directory '{args[0]}' does not exist.");
            return InputError;
        }

        var proof = AuditLogVerifier.CreateInclusionProof(args[0], index);
        if (!proof.Verify() || !proof.Checkpoint.TryVerifySignature(out _))
        {
            stdout.WriteLine($"FAILED: the proof of entry {index} does not verify against the latest checkpoint; run 'agentid audit verify'.");
            return VerificationFailed;
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
        return Ok;
    }

    private static int Inspect(string[] args, TextWriter stdout, TextWriter stderr)
    {
        if (args.Length != 1)
        {
            return UsageFailure(stderr, "inspect takes one PEM file");
        }

        var certificates = new X509Certificate2Collection();
        certificates.ImportFromPem(File.ReadAllText(args[0], Encoding.UTF8));
        if (certificates.Count == 0)
        {
            stderr.WriteLine($"agentid: '{args[0]}' holds no PEM certificate (expected '-----BEGIN CERTIFICATE-----').");
            return InputError;
        }

        for (var i = 0; i < certificates.Count; i++)
        {
            if (i > 0)
            {
                stdout.WriteLine();
            }

            Describe(certificates[i], i, stdout);
        }

        return Ok;
    }

    private static void Describe(X509Certificate2 certificate, int position, TextWriter stdout)
    {
        stdout.WriteLine($"certificate {position}:");
        var uris = SpiffeUris(certificate);
        stdout.WriteLine($"  SPIFFE ID: {(uris.Count == 0 ? "(none)" : string.Join(", ", uris))}");
        stdout.WriteLine($"  subject: {(certificate.Subject.Length == 0 ? "(empty)" : certificate.Subject)}");
        stdout.WriteLine($"  issuer: {certificate.Issuer}");
        stdout.WriteLine($"  serial: {certificate.SerialNumber}");
        stdout.WriteLine($"  valid: {certificate.NotBefore.ToUniversalTime():yyyy-MM-ddTHH:mm:ssZ} to {certificate.NotAfter.ToUniversalTime():yyyy-MM-ddTHH:mm:ssZ}");
        stdout.WriteLine($"  key: {certificate.PublicKey.Oid.FriendlyName ?? certificate.PublicKey.Oid.Value}");
        stdout.WriteLine($"  sha256: {Convert.ToHexStringLower(certificate.GetCertHash(HashAlgorithmName.SHA256))}");
        foreach (var extension in certificate.Extensions)
        {
            switch (extension)
            {
                case X509KeyUsageExtension ku:
                    stdout.WriteLine($"  key usage: {ku.KeyUsages}{Critical(ku)}");
                    break;
                case X509EnhancedKeyUsageExtension eku:
                    stdout.WriteLine($"  extended key usage: {string.Join(", ", eku.EnhancedKeyUsages.Cast<Oid>().Select(o => o.FriendlyName ?? o.Value))}{Critical(eku)}");
                    break;
                case X509BasicConstraintsExtension bc:
                    stdout.WriteLine($"  basic constraints: CA={bc.CertificateAuthority}{(bc.HasPathLengthConstraint ? $", path length {bc.PathLengthConstraint}" : string.Empty)}{Critical(bc)}");
                    break;
                default:
                    var oid = extension.Oid?.Value ?? string.Empty;
                    if (oid.StartsWith(PolicyArc + ".", StringComparison.Ordinal))
                    {
                        var name = oid[(PolicyArc.Length + 1)..] switch
                        {
                            "1" => "agent policy",
                            "2" => "delegation chain",
                            _ => "unknown AgentIdentity extension",
                        };
                        stdout.WriteLine($"  {name} ({oid}){Critical(extension)}: {DescribeDer(extension.RawData)}");
                        WriteDecoded(stdout, oid[(PolicyArc.Length + 1)..], extension.RawData);
                        stdout.WriteLine($"    DER: {Convert.ToHexStringLower(extension.RawData)}");
                    }

                    break;
            }
        }
    }

    private static void WriteDecoded(TextWriter stdout, string arc, byte[] der)
    {
        try
        {
            switch (arc)
            {
                case "1":
                    var policy = AgentPolicy.FromDer(der);
                    stdout.WriteLine($"    services: {List(policy.Services)}");
                    stdout.WriteLine($"    actions: {List(policy.Actions)}");
                    stdout.WriteLine($"    tools: {List(policy.Tools)}");
                    stdout.WriteLine($"    delegation: depth {policy.MaxDelegationDepth}, targets {List(policy.DelegationTargets)}");
                    if (policy.TaskId is { } task)
                    {
                        stdout.WriteLine($"    task: {task}");
                    }

                    break;
                case "2":
                    foreach (var link in DelegationChain.FromDer(der))
                    {
                        stdout.WriteLine($"    ancestor: {link}");
                    }

                    break;
            }
        }
        catch (PolicyFormatException ex)
        {
            stdout.WriteLine($"    INVALID: {ex.Message}");
        }

        static string List(IReadOnlyList<string> items) => items.Count == 0 ? "(none)" : string.Join(", ", items);
    }

    private static string Critical(X509Extension extension) => extension.Critical ? " (critical)" : string.Empty;

    private static string DescribeDer(byte[] der)
    {
        // The policy codec lives elsewhere; show the outer structure so the value can still be checked by eye.
        try
        {
            var reader = new AsnReader(der, AsnEncodingRules.DER);
            var tag = reader.PeekTag();
            return $"{der.Length} bytes, outer tag {tag}";
        }
        catch (AsnContentException)
        {
            return $"{der.Length} bytes, not valid DER";
        }
    }

    private static List<string> SpiffeUris(X509Certificate2 certificate)
    {
        var uris = new List<string>();
        var uriTag = new Asn1Tag(TagClass.ContextSpecific, 6);
        foreach (var extension in certificate.Extensions)
        {
            if (extension.Oid?.Value != "2.5.29.17")
            {
                continue;
            }

            var names = new AsnReader(extension.RawData, AsnEncodingRules.DER).ReadSequence();
            while (names.HasData)
            {
                if (names.PeekTag() == uriTag)
                {
                    uris.Add(names.ReadCharacterString(UniversalTagNumber.IA5String, uriTag));
                }
                else
                {
                    names.ReadEncodedValue();
                }
            }
        }

        return uris;
    }

    private static bool TryParse(string[] args, string[] valueOptions, out List<string> positional, out Dictionary<string, string> options, out string error)
    {
        positional = [];
        options = new Dictionary<string, string>(StringComparer.Ordinal);
        error = string.Empty;
        for (var i = 0; i < args.Length; i++)
        {
            var arg = args[i];
            if (!arg.StartsWith("--", StringComparison.Ordinal))
            {
                positional.Add(arg);
                continue;
            }

            if (!valueOptions.Contains(arg))
            {
                error = $"unknown option '{arg}'";
                return false;
            }

            if (i + 1 >= args.Length)
            {
                error = $"option '{arg}' needs a value";
                return false;
            }

            if (!options.TryAdd(arg, args[++i]))
            {
                error = $"option '{arg}' is given twice";
                return false;
            }
        }

        return true;
    }
}
