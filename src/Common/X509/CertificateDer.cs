using System.Formats.Asn1;

namespace AgentIdentity;

/// <summary>Reads fields of a DER certificate without loading it into an <c>X509Certificate2</c> (on OpenSSL 3 decoding and
/// freeing one costs more CPU than signing it): for servers that handle certificates they produced themselves.</summary>
internal static class CertificateDer
{
    private static readonly Asn1Tag Version = new(TagClass.ContextSpecific, 0, isConstructed: true);
    private static readonly Asn1Tag Extensions = new(TagClass.ContextSpecific, 3, isConstructed: true);

    /// <summary>Finds the extension <paramref name="oid"/> in the RFC 5280 certificate <paramref name="certificate"/>.</summary>
    /// <param name="certificate">The DER certificate.</param>
    /// <param name="oid">The extension's OID.</param>
    /// <param name="value">The first such extension's value (the OCTET STRING's contents); empty when there is none.</param>
    /// <param name="critical">Whether the first such extension is marked critical.</param>
    /// <returns>How many extensions with <paramref name="oid"/> the certificate carries.</returns>
    /// <exception cref="AsnContentException">The certificate is not DER of the RFC 5280 shape.</exception>
    public static int FindExtension(ReadOnlyMemory<byte> certificate, string oid, out ReadOnlyMemory<byte> value, out bool critical)
    {
        value = ReadOnlyMemory<byte>.Empty;
        critical = false;
        var outer = new AsnReader(certificate, AsnEncodingRules.DER);
        var tbs = outer.ReadSequence().ReadSequence();
        if (tbs.HasData && tbs.PeekTag().HasSameClassAndValue(Version))
        {
            tbs.ReadEncodedValue();
        }

        for (var field = 0; field < 6; field++)
        {
            tbs.ReadEncodedValue(); // serial, signature, issuer, validity, subject, subjectPublicKeyInfo
        }

        var found = 0;
        while (tbs.HasData)
        {
            if (!tbs.PeekTag().HasSameClassAndValue(Extensions))
            {
                tbs.ReadEncodedValue(); // issuerUniqueID [1], subjectUniqueID [2]
                continue;
            }

            var list = tbs.ReadSequence(Extensions).ReadSequence();
            while (list.HasData)
            {
                var extension = list.ReadSequence();
                var id = extension.ReadObjectIdentifier();
                var isCritical = extension.PeekTag().HasSameClassAndValue(Asn1Tag.Boolean) && extension.ReadBoolean();
                var contents = extension.ReadOctetString();
                if (id == oid && found++ == 0)
                {
                    value = contents;
                    critical = isCritical;
                }
            }
        }

        return found;
    }
}
