using System.CommandLine;
using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace AgentIdentity.Cli;

/// <summary><c>agentid inspect</c>: a certificate's identity, validity, key usages and AgentIdentity extensions.</summary>
internal static class InspectCommand
{
    /// <summary>Builds the <c>inspect</c> command.</summary>
    /// <returns>The command.</returns>
    public static Command Create()
    {
        var pem = new Argument<string>("pem") { Description = "A PEM file of one or more certificates." };
        var command = new Command("inspect", "Prints each certificate's SPIFFE ID, serial, validity, key usage and AgentIdentity policy extensions.")
        {
            pem,
        };
        command.SetAction(parse => Inspect(parse.GetRequiredValue(pem), parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error));
        return command;
    }

    private static int Inspect(string path, TextWriter stdout, TextWriter stderr)
    {
        var certificates = new X509Certificate2Collection();
        certificates.ImportFromPem(File.ReadAllText(path, Encoding.UTF8));
        if (certificates.Count == 0)
        {
            stderr.WriteLine($"agentid: '{path}' holds no PEM certificate (expected '-----BEGIN CERTIFICATE-----').");
            return AgentIdCommand.InputError;
        }

        for (var i = 0; i < certificates.Count; i++)
        {
            if (i > 0)
            {
                stdout.WriteLine();
            }

            Describe(certificates[i], i, stdout);
        }

        return AgentIdCommand.Ok;
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
                    if (oid.StartsWith(Oids.Arc + ".", StringComparison.Ordinal))
                    {
                        var name = oid[(Oids.Arc.Length + 1)..] switch
                        {
                            "1" => "agent policy",
                            "2" => "delegation chain",
                            _ => "unknown AgentIdentity extension",
                        };
                        stdout.WriteLine($"  {name} ({oid}){Critical(extension)}: {DescribeDer(extension.RawData)}");
                        WriteDecoded(stdout, oid[(Oids.Arc.Length + 1)..], extension.RawData);
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

    /// <summary>The URI SANs of <paramref name="certificate"/>.</summary>
    internal static List<string> SpiffeUris(X509Certificate2 certificate)
    {
        var uris = new List<string>();
        var uriTag = new Asn1Tag(TagClass.ContextSpecific, 6);
        foreach (var extension in certificate.Extensions)
        {
            if (extension.Oid?.Value != Oids.SubjectAltName)
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
}
