using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace AgentIdentity;

/// <summary>
/// A lean PKCS#10 writer and strict reader for SVID requests. It does in one pass what the CA needs — decode, check the key
/// type and the requested SAN, verify the signature once — instead of the BCL's general-purpose path, which decodes every
/// extension and imports the key several times (see docs/benchmarks.md).
/// </summary>
internal static class Pkcs10
{
    private static readonly Asn1Tag AttributesTag = new(TagClass.ContextSpecific, 0, isConstructed: true);
    private static readonly Asn1Tag UriTag = new(TagClass.ContextSpecific, 6);

    /// <summary>Writes a CSR with an empty subject and a critical URI SAN for <paramref name="id"/>, signed with <paramref name="key"/>.</summary>
    public static byte[] Create(SpiffeId id, AsymmetricAlgorithm key)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            writer.WriteInteger(0);
            using (writer.PushSequence())
            {
                // Empty subject: the identity is the SAN.
            }

            writer.WriteEncodedValue(key.ExportSubjectPublicKeyInfo());
            using (writer.PushSetOf(AttributesTag))
            using (writer.PushSequence())
            {
                writer.WriteObjectIdentifier(Oids.Pkcs9ExtensionRequest);
                using (writer.PushSetOf())
                using (writer.PushSequence())
                {
                    WriteExtension(writer, Oids.SubjectAltName, critical: true, SanValue([id.ToString()], []));
                }
            }
        }

        var info = writer.Encode();
        string algorithm;
        byte[] signature;
        switch (key)
        {
            case ECDsa ec:
                var hash = ec.KeySize > 256 ? HashAlgorithmName.SHA384 : HashAlgorithmName.SHA256;
                algorithm = ec.KeySize > 256 ? Oids.EcdsaSha384 : Oids.EcdsaSha256;
                signature = ec.SignData(info, hash, DSASignatureFormat.Rfc3279DerSequence);
                break;
            case RSA rsa:
                algorithm = Oids.RsaSha256;
                signature = rsa.SignData(info, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
                break;
            default:
                throw new ArgumentException("Unsupported key type.", nameof(key));
        }

        return Signed(info, algorithm, signature);
    }

    /// <summary>Wraps a to-be-signed structure with its signature: SEQUENCE { tbs, AlgorithmIdentifier, BIT STRING }.</summary>
    public static byte[] Signed(ReadOnlySpan<byte> toBeSigned, string signatureAlgorithmOid, ReadOnlySpan<byte> signature)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER, initialCapacity: toBeSigned.Length + signature.Length + 32);
        using (writer.PushSequence())
        {
            writer.WriteEncodedValue(toBeSigned);
            WriteAlgorithm(writer, signatureAlgorithmOid);
            writer.WriteBitString(signature);
        }

        return writer.Encode();
    }

    public static void WriteAlgorithm(AsnWriter writer, string oid)
    {
        using (writer.PushSequence())
        {
            writer.WriteObjectIdentifier(oid);
            if (oid.StartsWith("1.2.840.113549.1.1.", StringComparison.Ordinal))
            {
                writer.WriteNull(); // RSA algorithm identifiers carry explicit NULL parameters
            }
        }
    }

    public static void WriteExtension(AsnWriter writer, string oid, bool critical, ReadOnlySpan<byte> value)
    {
        using (writer.PushSequence())
        {
            writer.WriteObjectIdentifier(oid);
            if (critical)
            {
                writer.WriteBoolean(true);
            }

            writer.WriteOctetString(value);
        }
    }

    public static byte[] SanValue(IEnumerable<string> uris, IEnumerable<string> dnsNames)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            foreach (var dns in dnsNames)
            {
                writer.WriteCharacterString(UniversalTagNumber.IA5String, dns, new Asn1Tag(TagClass.ContextSpecific, 2));
            }

            foreach (var uri in uris)
            {
                writer.WriteCharacterString(UniversalTagNumber.IA5String, uri, UriTag);
            }
        }

        return writer.Encode();
    }

    /// <summary>Decodes and verifies a CSR for <paramref name="id"/>; throws <see cref="CertificateIssuanceException"/> saying what is wrong.</summary>
    public static ParsedRequest Read(ReadOnlyMemory<byte> der, SpiffeId id)
    {
        ReadOnlyMemory<byte> info, spki;
        string signatureAlgorithm;
        byte[] signature;
        List<string>? sanUris = null;
        var otherNames = false;
        try
        {
            AsnDecoder.ReadEncodedValue(der.Span, AsnEncodingRules.DER, out _, out _, out var consumed);
            if (consumed != der.Length)
            {
                throw Refuse(id, $"the CSR has {der.Length - consumed} bytes of trailing data");
            }

            var request = new AsnReader(der, AsnEncodingRules.DER).ReadSequence();

            info = request.ReadEncodedValue();
            var algorithm = request.ReadSequence();
            signatureAlgorithm = algorithm.ReadObjectIdentifier();
            signature = request.ReadBitString(out var unused);
            request.ThrowIfNotEmpty();
            if (unused != 0)
            {
                throw Refuse(id, "the CSR's signature BIT STRING has unused bits");
            }

            var body = new AsnReader(info, AsnEncodingRules.DER).ReadSequence();
            if (!body.TryReadInt32(out var version) || version != 0)
            {
                throw Refuse(id, "the CSR's version is not v1 (0)");
            }

            body.ReadEncodedValue(); // subject: ignored, the CA writes an empty one
            spki = body.ReadEncodedValue();
            if (body.HasData)
            {
                var attributes = body.ReadSetOf(AttributesTag);
                while (attributes.HasData)
                {
                    var attribute = attributes.ReadSequence();
                    var type = attribute.ReadObjectIdentifier();
                    var values = attribute.ReadSetOf();
                    if (type != Oids.Pkcs9ExtensionRequest)
                    {
                        continue;
                    }

                    var extensions = values.ReadSequence();
                    while (extensions.HasData)
                    {
                        var extension = extensions.ReadSequence();
                        var oid = extension.ReadObjectIdentifier();
                        if (extension.PeekTag().HasSameClassAndValue(Asn1Tag.Boolean))
                        {
                            extension.ReadBoolean();
                        }

                        var value = extension.ReadOctetString();
                        if (oid == Oids.SubjectAltName)
                        {
                            sanUris = ReadUris(value, out otherNames);
                        }
                    }
                }
            }

            body.ThrowIfNotEmpty();
        }
        catch (AsnContentException ex)
        {
            throw new CertificateIssuanceException($"Cannot issue '{id}': the CSR is not a valid DER PKCS#10 request ({ex.Message}).", ex);
        }

        if (sanUris is not null && sanUris.Any(uri => uri != id.ToString()))
        {
            throw Refuse(id, "the CSR's subject alternative names ask for a different identity");
        }

        var isRsa = CheckKey(spki, id);
        if (!Verify(info.Span, spki.Span, signatureAlgorithm, signature, isRsa))
        {
            throw Refuse(id, "the CSR is not a valid DER PKCS#10 request with a valid self-signature (the signature does not verify)");
        }

        return new ParsedRequest(spki, isRsa, otherNames || sanUris is { Count: > 1 });
    }

    /// <summary>Checks that the SubjectPublicKeyInfo is exactly one DER structure of a supported key (nothing inside it or after it
    /// that the CA would copy into the certificate unread); returns whether it is RSA.</summary>
    private static bool CheckKey(ReadOnlyMemory<byte> spki, SpiffeId id)
    {
        try
        {
            var outer = new AsnReader(spki, AsnEncodingRules.DER);
            var info = outer.ReadSequence();
            outer.ThrowIfNotEmpty();
            var algorithm = info.ReadSequence();
            var oid = algorithm.ReadObjectIdentifier();
            var key = info.ReadBitString(out var unusedBits);
            if (info.HasData)
            {
                throw Refuse(id, "the CSR's public key (SubjectPublicKeyInfo) has data after its key");
            }

            if (unusedBits != 0)
            {
                throw Refuse(id, "the CSR's public key BIT STRING has unused bits");
            }

            if (oid == Oids.EcPublicKey)
            {
                var curve = algorithm.HasData && algorithm.PeekTag().HasSameClassAndValue(Asn1Tag.ObjectIdentifier) ? algorithm.ReadObjectIdentifier() : null;
                if (curve is not (Oids.P256 or Oids.P384))
                {
                    throw Refuse(id, "EC keys must be on the P-256 or P-384 curve");
                }

                algorithm.ThrowIfNotEmpty();
                var size = curve == Oids.P384 ? 48 : 32;
                return key.Length == (2 * size) + 1 && key[0] == 0x04
                    ? false
                    : throw Refuse(id, "the CSR's EC public key is not an uncompressed point of its curve's size");
            }

            if (oid == Oids.RsaEncryption)
            {
                if (algorithm.HasData)
                {
                    algorithm.ReadNull();
                }

                algorithm.ThrowIfNotEmpty();
                using var rsa = RSA.Create();
                rsa.ImportSubjectPublicKeyInfo(spki.Span, out var read);
                if (read != spki.Length)
                {
                    throw Refuse(id, "the CSR's public key (SubjectPublicKeyInfo) has trailing data");
                }

                return rsa.KeySize >= 2048 ? true : throw Refuse(id, "RSA keys must be 2048 bits or longer");
            }

            throw Refuse(id, $"key algorithm {oid} is not supported; use ECDSA P-256/P-384 or RSA");
        }
        catch (Exception ex) when (ex is AsnContentException or CryptographicException)
        {
            throw new CertificateIssuanceException($"Cannot issue '{id}': the CSR's public key cannot be decoded ({ex.Message}).", ex);
        }
    }

    private static bool Verify(ReadOnlySpan<byte> info, ReadOnlySpan<byte> spki, string algorithm, byte[] signature, bool isRsa)
    {
        try
        {
            if (isRsa)
            {
                using var rsa = RSA.Create();
                rsa.ImportSubjectPublicKeyInfo(spki, out _);
                return algorithm switch
                {
                    Oids.RsaSha256 => rsa.VerifyData(info, signature, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1),
                    Oids.RsaSha384 => rsa.VerifyData(info, signature, HashAlgorithmName.SHA384, RSASignaturePadding.Pkcs1),
                    Oids.RsaSha512 => rsa.VerifyData(info, signature, HashAlgorithmName.SHA512, RSASignaturePadding.Pkcs1),
                    _ => false,
                };
            }

            // Build the key from its curve point rather than through ImportSubjectPublicKeyInfo: OpenSSL 3's generic DER
            // decoder made that import cost more than the signature check itself.
            using var ec = ECDsa.Create(EcParameters(spki));
            return algorithm switch
            {
                Oids.EcdsaSha256 => ec.VerifyData(info, signature, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence),
                Oids.EcdsaSha384 => ec.VerifyData(info, signature, HashAlgorithmName.SHA384, DSASignatureFormat.Rfc3279DerSequence),
                Oids.EcdsaSha512 => ec.VerifyData(info, signature, HashAlgorithmName.SHA512, DSASignatureFormat.Rfc3279DerSequence),
                _ => false,
            };
        }
        catch (Exception ex) when (ex is CryptographicException or AsnContentException)
        {
            return false;
        }
    }

    /// <summary>Reads a P-256/P-384 SubjectPublicKeyInfo (already checked by <see cref="CheckKey"/>) as an uncompressed point.</summary>
    private static ECParameters EcParameters(ReadOnlySpan<byte> spki)
    {
        var info = new AsnReader(spki.ToArray(), AsnEncodingRules.DER).ReadSequence();
        var algorithm = info.ReadSequence();
        algorithm.ReadObjectIdentifier();
        var curve = algorithm.ReadObjectIdentifier();
        var point = info.ReadBitString(out _);
        var size = curve == Oids.P384 ? 48 : 32;
        if (point.Length != (2 * size) + 1 || point[0] != 0x04)
        {
            throw new CryptographicException("The EC public key is not an uncompressed point of the expected size.");
        }

        return new ECParameters
        {
            Curve = curve == Oids.P384 ? ECCurve.NamedCurves.nistP384 : ECCurve.NamedCurves.nistP256,
            Q = new ECPoint { X = point[1..(size + 1)], Y = point[(size + 1)..] },
        };
    }

    private static List<string> ReadUris(ReadOnlyMemory<byte> san, out bool otherNames)
    {
        otherNames = false;
        var uris = new List<string>(1);
        var names = new AsnReader(san, AsnEncodingRules.DER).ReadSequence();
        while (names.HasData)
        {
            if (names.PeekTag() == UriTag)
            {
                uris.Add(names.ReadCharacterString(UniversalTagNumber.IA5String, UriTag));
            }
            else
            {
                otherNames = true;
                names.ReadEncodedValue();
            }
        }

        return uris;
    }

    private static CertificateIssuanceException Refuse(SpiffeId id, string why) => new($"Cannot issue '{id}': {why}.");
}

/// <summary>What the CA takes from a verified CSR: the public key, its type, and whether the SAN asked for more than one URI.</summary>
internal readonly record struct ParsedRequest(ReadOnlyMemory<byte> SubjectPublicKeyInfo, bool IsRsa, bool HasOtherNames = false);
