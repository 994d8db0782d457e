using System.Security.Cryptography;
using System.Formats.Asn1;
using System.Globalization;
using System.Security.Cryptography.X509Certificates;

namespace AgentIdentity;

/// <summary>What a <see cref="RevocationEntry"/> revokes.</summary>
public enum RevocationKind
{
    /// <summary>One certificate, by serial number.</summary>
    Serial = 0,

    /// <summary>An identity: every certificate of that SPIFFE ID, of every ID below it, and of every certificate whose delegation chain names it.</summary>
    Identity = 1,
}

/// <summary>
/// One entry of the signed, sequenced revocation feed: sequence number, what is revoked, when and why, signed by the issuer.
/// </summary>
/// <remarks>
/// <para>Wire form (DER, see <c>docs/revocation.md</c>):</para>
/// <code>
/// RevocationFeedEntry ::= SEQUENCE {
///   tbs SEQUENCE {
///     type        OBJECT IDENTIFIER,  -- 2.25.13125575335917636297664607662684948779.3.1 (domain separation)
///     version     INTEGER (1 | 2),
///     logId       OCTET STRING (SIZE (16)),  -- version 2 only: the feed's epoch
///     trustDomain UTF8String,
///     sequence    INTEGER (1..MAX),   -- 1, 2, 3 ... without gaps
///     kind        ENUMERATED { serial(0), identity(1) },
///     subject     UTF8String,         -- serial number as uppercase hex, or a SPIFFE ID
///     revokedAt   GeneralizedTime,
///     reason      ENUMERATED },       -- RFC 5280 CRLReason
///   signatureAlgorithm AlgorithmIdentifier,  -- ecdsa-with-SHA256
///   signature   BIT STRING }
/// </code>
/// <para>Version 2 adds the <c>logId</c>: a random identifier of one sequence of entries (an epoch). A registry that restarts its
/// numbering (reset, restore from a backup) starts a new log ID, so subscribers that are ahead resynchronise instead of silently
/// dropping the new entries. Version 1 entries (no log ID) are still read, strictly.</para>
/// <para>Immutable and thread-safe.</para>
/// </remarks>
public sealed class RevocationEntry
{
    /// <summary>The OID that starts every signed entry, so that a signature over it can never be mistaken for one over a certificate or CRL.</summary>
    public const string EntryTypeOid = Oids.RevocationEntryType;

    /// <summary>The length of a log ID in bytes.</summary>
    public const int LogIdLength = 16;

    private const int Version1 = 1;
    private const int Version2 = 2;
    private readonly byte[] _encoded;

    private RevocationEntry(string? logId, TrustDomain trustDomain, long sequence, RevocationKind kind, string? serialNumber, SpiffeId id, DateTimeOffset revokedAt, X509RevocationReason reason, byte[] encoded)
    {
        LogId = logId;
        TrustDomain = trustDomain;
        Sequence = sequence;
        Kind = kind;
        SerialNumber = serialNumber;
        Id = id;
        RevokedAt = revokedAt;
        Reason = reason;
        _encoded = encoded;
    }

    /// <summary>Gets the signed log ID (epoch) as 32 lowercase hex digits, or <see langword="null"/> for a version 1 entry, which
    /// has none. Sequence numbers count within one log ID.</summary>
    public string? LogId { get; }

    /// <summary>Gets the trust domain whose issuer signed the entry.</summary>
    public TrustDomain TrustDomain { get; }

    /// <summary>Gets the sequence number: 1 for the first entry, each next entry one higher.</summary>
    public long Sequence { get; }

    /// <summary>Gets what the entry revokes.</summary>
    public RevocationKind Kind { get; }

    /// <summary>Gets the revoked serial number (normalized uppercase hex) for <see cref="RevocationKind.Serial"/>; otherwise <see langword="null"/>.</summary>
    public string? SerialNumber { get; }

    /// <summary>Gets the revoked identity for <see cref="RevocationKind.Identity"/>; otherwise the default (empty) value.</summary>
    public SpiffeId Id { get; }

    /// <summary>Gets when the issuer recorded the revocation (whole seconds, issuer clock). Subscribers apply an entry when they
    /// receive it, whatever their own clock says.</summary>
    public DateTimeOffset RevokedAt { get; }

    /// <summary>Gets the RFC 5280 reason.</summary>
    public X509RevocationReason Reason { get; }

    /// <summary>Gets the subject as written in the entry: the serial number or the SPIFFE ID.</summary>
    public string Subject => SerialNumber ?? Id.ToString();

    /// <summary>Gets a copy of the signed DER encoding.</summary>
    /// <returns>The bytes that <see cref="RevocationFeedVerifier.Verify(ReadOnlySpan{byte})"/> accepts.</returns>
    public byte[] GetEncoded() => (byte[])_encoded.Clone();

    internal ReadOnlySpan<byte> Encoded => _encoded;

    /// <summary>Normalizes a hex serial number: uppercase, no leading zero bytes (DER may prepend one to keep it positive).</summary>
    /// <param name="serialNumber">Hex, as in <see cref="X509Certificate2.SerialNumber"/>.</param>
    /// <returns>The normalized form.</returns>
    /// <exception cref="FormatException">The value is not an even number of hex digits.</exception>
    public static string NormalizeSerialNumber(string serialNumber)
    {
        ArgumentNullException.ThrowIfNull(serialNumber);
        if (serialNumber.Length == 0 || serialNumber.Length % 2 != 0 || serialNumber.Length > 128 || !IsHex(serialNumber))
        {
            throw new FormatException($"Serial number '{Truncate(serialNumber)}' is not a hex string of 1 to 64 bytes; pass X509Certificate2.SerialNumber or X509Svid.SerialNumber.");
        }

        var start = 0;
        while (start < serialNumber.Length - 2 && serialNumber[start] == '0' && serialNumber[start + 1] == '0')
        {
            start += 2;
        }

        return serialNumber[start..].ToUpperInvariant();
    }

    internal static bool TryNormalizeSerialNumber(ReadOnlySpan<char> serialNumber, Span<char> destination, out int written)
    {
        written = 0;
        if (serialNumber.Length == 0 || serialNumber.Length % 2 != 0 || serialNumber.Length > destination.Length)
        {
            return false;
        }

        var start = 0;
        while (start < serialNumber.Length - 2 && serialNumber[start] == '0' && serialNumber[start + 1] == '0')
        {
            start += 2;
        }

        for (var i = start; i < serialNumber.Length; i++)
        {
            var c = serialNumber[i];
            if (c is >= 'a' and <= 'f')
            {
                c = (char)(c - 32);
            }
            else if (!char.IsAsciiHexDigitUpper(c) && !char.IsAsciiDigit(c))
            {
                return false;
            }

            destination[written++] = c;
        }

        return true;
    }

    private static bool IsHex(string value)
    {
        foreach (var c in value)
        {
            if (!char.IsAsciiHexDigit(c))
            {
                return false;
            }
        }

        return true;
    }

    private static string Truncate(string value) => value.Length <= 80 ? value : value[..80] + "...";

    /// <summary>Creates and signs an entry: what an issuer's revocation registry publishes.</summary>
    /// <param name="trustDomain">The trust domain of the issuer.</param>
    /// <param name="sequence">The entry's sequence number in the feed (from 1, without gaps).</param>
    /// <param name="kind">What is revoked.</param>
    /// <param name="serialNumber">The normalized serial number, for <see cref="RevocationKind.Serial"/>.</param>
    /// <param name="id">The revoked identity, or the SPIFFE ID of the certificate whose serial is revoked.</param>
    /// <param name="revokedAt">When it was revoked (truncated to whole seconds).</param>
    /// <param name="reason">The RFC 5280 reason.</param>
    /// <param name="signingKey">The feed signer's ECDSA private key (the issuing CA's key).</param>
    /// <returns>The signed entry.</returns>
    public static RevocationEntry Create(TrustDomain trustDomain, long sequence, RevocationKind kind, string? serialNumber, SpiffeId id, DateTimeOffset revokedAt, X509RevocationReason reason, ECDsa signingKey) =>
        Create(trustDomain, null, sequence, kind, serialNumber, id, revokedAt, reason, signingKey);

    /// <summary>Creates and signs a version 2 entry, which carries the log ID (epoch) of the registry's feed.</summary>
    /// <param name="trustDomain">The trust domain of the issuer.</param>
    /// <param name="logId">The log ID: <see cref="LogIdLength"/> random bytes that name this numbering of the feed.</param>
    /// <param name="sequence">The entry's sequence number within the log (from 1, without gaps).</param>
    /// <param name="kind">What is revoked.</param>
    /// <param name="serialNumber">The normalized serial number, for <see cref="RevocationKind.Serial"/>.</param>
    /// <param name="id">The revoked identity, or the SPIFFE ID of the certificate whose serial is revoked.</param>
    /// <param name="revokedAt">When it was revoked (truncated to whole seconds).</param>
    /// <param name="reason">The RFC 5280 reason.</param>
    /// <param name="signingKey">The feed signer's ECDSA private key (the issuing CA's key).</param>
    /// <returns>The signed entry.</returns>
    /// <exception cref="ArgumentException">The log ID is not <see cref="LogIdLength"/> bytes.</exception>
    public static RevocationEntry Create(TrustDomain trustDomain, ReadOnlySpan<byte> logId, long sequence, RevocationKind kind, string? serialNumber, SpiffeId id, DateTimeOffset revokedAt, X509RevocationReason reason, ECDsa signingKey)
    {
        if (logId.Length != LogIdLength)
        {
            throw new ArgumentException($"A revocation log ID is {LogIdLength} bytes; this one is {logId.Length}.", nameof(logId));
        }

        return Create(trustDomain, logId.ToArray(), sequence, kind, serialNumber, id, revokedAt, reason, signingKey);
    }

    private static RevocationEntry Create(TrustDomain trustDomain, byte[]? logId, long sequence, RevocationKind kind, string? serialNumber, SpiffeId id, DateTimeOffset revokedAt, X509RevocationReason reason, ECDsa signingKey)
    {
        ArgumentNullException.ThrowIfNull(signingKey);
        if (kind == RevocationKind.Serial && string.IsNullOrEmpty(serialNumber))
        {
            throw new ArgumentException("A serial-number revocation needs the serial number.", nameof(serialNumber));
        }

        revokedAt = new DateTimeOffset(revokedAt.UtcTicks - (revokedAt.UtcTicks % TimeSpan.TicksPerSecond), TimeSpan.Zero);
        var tbs = WriteTbs(logId, trustDomain, sequence, kind, kind == RevocationKind.Serial ? serialNumber! : id.ToString(), revokedAt, reason);
        var signature = signingKey.SignData(tbs, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);
        var writer = new AsnWriter(AsnEncodingRules.DER, tbs.Length + signature.Length + 32);
        using (writer.PushSequence())
        {
            writer.WriteEncodedValue(tbs);
            using (writer.PushSequence())
            {
                writer.WriteObjectIdentifier(Oids.EcdsaSha256);
            }

            writer.WriteBitString(signature);
        }

        return new RevocationEntry(logId is null ? null : Convert.ToHexStringLower(logId), trustDomain, sequence, kind, serialNumber, id, revokedAt, reason, writer.Encode());
    }

    private static byte[] WriteTbs(byte[]? logId, TrustDomain trustDomain, long sequence, RevocationKind kind, string subject, DateTimeOffset revokedAt, X509RevocationReason reason)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER, 256);
        using (writer.PushSequence())
        {
            writer.WriteObjectIdentifier(EntryTypeOid);
            writer.WriteInteger(logId is null ? Version1 : Version2);
            if (logId is not null)
            {
                writer.WriteOctetString(logId);
            }

            writer.WriteCharacterString(UniversalTagNumber.UTF8String, trustDomain.Name);
            writer.WriteInteger(sequence);
            writer.WriteEnumeratedValue(kind);
            writer.WriteCharacterString(UniversalTagNumber.UTF8String, subject);
            writer.WriteGeneralizedTime(revokedAt, omitFractionalSeconds: true);
            writer.WriteEnumeratedValue(reason);
        }

        return writer.Encode();
    }

    /// <summary>Parses the signed form strictly (DER); returns the to-be-signed bytes and the signature for the caller to verify.</summary>
    internal static RevocationEntry Decode(ReadOnlySpan<byte> encoded, out ReadOnlySpan<byte> tbs, out byte[] signature)
    {
        var bytes = encoded.ToArray();
        try
        {
            var reader = new AsnReader(bytes, AsnEncodingRules.DER);
            var outer = reader.ReadSequence();
            reader.ThrowIfNotEmpty();
            var tbsMemory = outer.ReadEncodedValue();
            var algorithm = outer.ReadSequence();
            var oid = algorithm.ReadObjectIdentifier();
            algorithm.ThrowIfNotEmpty();
            if (oid != Oids.EcdsaSha256)
            {
                throw new RevocationFeedException($"The revocation entry is signed with algorithm {oid}; only ecdsa-with-SHA256 ({Oids.EcdsaSha256}) is accepted.");
            }

            signature = outer.ReadBitString(out var unused);
            outer.ThrowIfNotEmpty();
            if (unused != 0)
            {
                throw new RevocationFeedException("The revocation entry's signature BIT STRING has unused bits.");
            }

            var body = new AsnReader(tbsMemory, AsnEncodingRules.DER).ReadSequence();
            if (body.ReadObjectIdentifier() != EntryTypeOid)
            {
                throw new RevocationFeedException($"The signed structure is not a revocation feed entry (its type OID is not {EntryTypeOid}).");
            }

            if (!body.TryReadInt32(out var version) || version is not (Version1 or Version2))
            {
                throw new RevocationFeedException($"The revocation entry has version {version}; this SDK reads versions {Version1} and {Version2}. Upgrade the SDK.");
            }

            string? logId = null;
            if (version == Version2)
            {
                var logIdBytes = body.ReadOctetString();
                if (logIdBytes.Length != LogIdLength)
                {
                    throw new RevocationFeedException($"The revocation entry's log ID is {logIdBytes.Length} bytes; it must be {LogIdLength}.");
                }

                logId = Convert.ToHexStringLower(logIdBytes);
            }

            var domain = body.ReadCharacterString(UniversalTagNumber.UTF8String);
            if (!TrustDomain.TryParse(domain, out var trustDomain))
            {
                throw new RevocationFeedException($"The revocation entry names an invalid trust domain '{Truncate(domain)}'.");
            }

            if (!body.TryReadInt64(out var sequence) || sequence < 1)
            {
                throw new RevocationFeedException("The revocation entry's sequence number is not a positive 64-bit integer.");
            }

            var kind = body.ReadEnumeratedValue<RevocationKind>();
            var subject = body.ReadCharacterString(UniversalTagNumber.UTF8String);
            var revokedAt = body.ReadGeneralizedTime();
            var reason = body.ReadEnumeratedValue<X509RevocationReason>();
            body.ThrowIfNotEmpty();
            if (!Enum.IsDefined(kind) || !Enum.IsDefined(reason))
            {
                throw new RevocationFeedException($"The revocation entry {sequence} has an unknown kind ({(int)kind}) or reason ({(int)reason}).");
            }

            string? serial = null;
            SpiffeId id = default;
            if (kind == RevocationKind.Serial)
            {
                try
                {
                    serial = NormalizeSerialNumber(subject);
                }
                catch (FormatException ex)
                {
                    throw new RevocationFeedException($"The revocation entry {sequence} names an invalid serial number: {ex.Message}", ex);
                }
            }
            else if (!SpiffeId.TryParse(subject, out id, out var error) || id.IsTrustDomainId || !id.IsMemberOf(trustDomain))
            {
                throw new RevocationFeedException($"The revocation entry {sequence} names '{Truncate(subject)}', which is not a SPIFFE ID with a path in trust domain '{trustDomain}': {error ?? "wrong trust domain or no path"}.");
            }

            tbs = tbsMemory.Span;
            return new RevocationEntry(logId, trustDomain, sequence, kind, serial, id, revokedAt, reason, bytes);
        }
        catch (AsnContentException ex)
        {
            throw new RevocationFeedException($"The revocation entry is not valid DER: {ex.Message}", ex);
        }
    }

    /// <inheritdoc/>
    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"#{Sequence} revoke {Kind.ToString().ToLowerInvariant()} {Subject} at {RevokedAt:O} ({Reason})");
}
