using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace AgentIdentity;

/// <summary>Reads and writes the certificate extensions the SPIFFE profile needs and the BCL has no type for.</summary>
internal static class CertificateExtensions
{

    private static readonly Asn1Tag UriTag = new(TagClass.ContextSpecific, 6);
    private static readonly Asn1Tag PermittedTag = new(TagClass.ContextSpecific, 0, isConstructed: true);
    private static readonly Asn1Tag ExcludedTag = new(TagClass.ContextSpecific, 1, isConstructed: true);

    public static X509Extension? Find(X509Certificate2 certificate, string oid)
    {
        foreach (var extension in certificate.Extensions)
        {
            if (extension.Oid?.Value == oid)
            {
                return extension;
            }
        }

        return null;
    }

    /// <summary>Returns the URI SANs of a certificate, or <see langword="null"/> when the SAN extension cannot be decoded.</summary>
    public static List<string>? ReadUriSans(X509Certificate2 certificate, out bool sanCritical)
    {
        var uris = new List<string>(1);
        sanCritical = false;
        var san = Find(certificate, Oids.SubjectAltName);
        if (san is null)
        {
            return uris;
        }

        sanCritical = san.Critical;
        try
        {
            var reader = new AsnReader(san.RawData, AsnEncodingRules.DER);
            var names = reader.ReadSequence();
            reader.ThrowIfNotEmpty();
            while (names.HasData)
            {
                var tag = names.PeekTag();
                if (tag == UriTag)
                {
                    uris.Add(names.ReadCharacterString(UniversalTagNumber.IA5String, UriTag));
                }
                else
                {
                    names.ReadEncodedValue();
                }
            }

            return uris;
        }
        catch (AsnContentException)
        {
            return null;
        }
    }

    /// <summary>
    /// Builds a subject-alternative-name extension holding exactly one URI: <paramref name="id"/>'s own string. Never through
    /// <see cref="Uri"/>, which turns the trust-domain ID <c>spiffe://td</c> into the invalid <c>spiffe://td/</c>.
    /// </summary>
    public static X509Extension BuildUriSan(SpiffeId id, bool critical)
    {
        if (id.IsEmpty)
        {
            throw new ArgumentException("The SPIFFE ID is empty.", nameof(id));
        }

        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            writer.WriteCharacterString(UniversalTagNumber.IA5String, id.ToString(), UriTag);
        }

        return new X509Extension(Oids.SubjectAltName, writer.Encode(), critical);
    }

    /// <summary>Builds a critical name-constraints extension that permits URIs whose host is exactly <paramref name="trustDomain"/>.</summary>
    public static X509Extension BuildUriNameConstraints(TrustDomain trustDomain)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            using (writer.PushSequence(PermittedTag))
            {
                using (writer.PushSequence())
                {
                    writer.WriteCharacterString(UniversalTagNumber.IA5String, trustDomain.Name, UriTag);
                }
            }
        }

        return new X509Extension(Oids.NameConstraints, writer.Encode(), critical: true);
    }

    /// <summary>Reads the URI subtrees of a name-constraints extension. Returns false when the extension cannot be decoded.</summary>
    public static bool TryReadUriNameConstraints(X509Extension extension, out List<string> permitted, out List<string> excluded)
    {
        permitted = [];
        excluded = [];
        try
        {
            var reader = new AsnReader(extension.RawData, AsnEncodingRules.DER);
            var sequence = reader.ReadSequence();
            reader.ThrowIfNotEmpty();
            if (sequence.HasData && sequence.PeekTag() == PermittedTag)
            {
                ReadSubtrees(sequence.ReadSequence(PermittedTag), permitted);
            }

            if (sequence.HasData && sequence.PeekTag() == ExcludedTag)
            {
                ReadSubtrees(sequence.ReadSequence(ExcludedTag), excluded);
            }

            sequence.ThrowIfNotEmpty();
            return true;
        }
        catch (AsnContentException)
        {
            return false;
        }
    }

    private static void ReadSubtrees(AsnReader subtrees, List<string> into)
    {
        while (subtrees.HasData)
        {
            var subtree = subtrees.ReadSequence();
            if (subtree.PeekTag() == UriTag)
            {
                into.Add(subtree.ReadCharacterString(UniversalTagNumber.IA5String, UriTag));
            }
            else
            {
                subtree.ReadEncodedValue();
            }
        }
    }

    /// <summary>RFC 5280 §4.2.1.10 URI matching: "host" matches exactly; ".host" matches any subdomain.</summary>
    public static bool UriHostMatches(string host, string constraint)
    {
        if (constraint.StartsWith('.'))
        {
            return host.Length > constraint.Length && host.EndsWith(constraint, StringComparison.OrdinalIgnoreCase);
        }

        return string.Equals(host, constraint, StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>Lowercase hex SHA-256 of the DER certificate.</summary>
    public static string Sha256Hex(X509Certificate2 certificate) =>
        Convert.ToHexStringLower(certificate.GetCertHash(HashAlgorithmName.SHA256));

    /// <summary>Splits concatenated DER certificates (as the Workload API and issuer responses carry them).</summary>
    public static List<X509Certificate2> SplitConcatenatedDer(ReadOnlySpan<byte> der)
    {
        var certificates = new List<X509Certificate2>();
        while (!der.IsEmpty)
        {
            AsnDecoder.ReadEncodedValue(der, AsnEncodingRules.DER, out _, out _, out var consumed);
            certificates.Add(X509CertificateLoader.LoadCertificate(der[..consumed]));
            der = der[consumed..];
        }

        return certificates;
    }
}
