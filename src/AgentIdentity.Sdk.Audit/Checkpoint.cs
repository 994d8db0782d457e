using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace AgentIdentity.Audit;

/// <summary>
/// A C2SP <c>tlog-checkpoint</c> body: origin line, tree size, base64 root hash, then optional extension lines.
/// </summary>
/// <remarks>Immutable; thread-safe.</remarks>
public sealed class Checkpoint
{
    private readonly byte[] _rootHash;

    /// <summary>Initializes a new instance of the <see cref="Checkpoint"/> class.</summary>
    /// <param name="origin">The log's origin: non-empty, no spaces or <c>+</c> (a schema-less URL such as <c>example.org/agent/planner/audit</c>).</param>
    /// <param name="treeSize">The tree size.</param>
    /// <param name="rootHash">The 32-byte RFC 6962 root hash.</param>
    /// <param name="extensions">Optional non-empty extension lines.</param>
    /// <exception cref="ArgumentException">An argument breaks the C2SP format.</exception>
    public Checkpoint(string origin, long treeSize, ReadOnlySpan<byte> rootHash, IReadOnlyList<string>? extensions = null)
    {
        ValidateKeyName(origin, nameof(origin));
        ArgumentOutOfRangeException.ThrowIfNegative(treeSize);
        if (rootHash.Length != MerkleTree.HashSize)
        {
            throw new ArgumentException($"A checkpoint root hash is {MerkleTree.HashSize} bytes; got {rootHash.Length}.", nameof(rootHash));
        }

        foreach (var line in extensions ?? [])
        {
            if (string.IsNullOrEmpty(line) || line.Any(char.IsControl))
            {
                throw new ArgumentException("Checkpoint extension lines must be non-empty and contain no control characters.", nameof(extensions));
            }
        }

        Origin = origin;
        TreeSize = treeSize;
        _rootHash = rootHash.ToArray();
        Extensions = extensions is null ? [] : [.. extensions];
    }

    /// <summary>Gets the origin line.</summary>
    public string Origin { get; }

    /// <summary>Gets the tree size.</summary>
    public long TreeSize { get; }

    /// <summary>Gets a copy of the root hash.</summary>
    public byte[] RootHash => (byte[])_rootHash.Clone();

    /// <summary>Gets the extension lines.</summary>
    public IReadOnlyList<string> Extensions { get; }

    internal ReadOnlySpan<byte> RootHashSpan => _rootHash;

    /// <summary>Formats the checkpoint body: each line ends in a line feed.</summary>
    /// <returns>The note text to sign.</returns>
    public string ToBody()
    {
        var sb = new StringBuilder();
        sb.Append(Origin).Append('\n')
          .Append(TreeSize.ToString(CultureInfo.InvariantCulture)).Append('\n')
          .Append(Convert.ToBase64String(_rootHash)).Append('\n');
        foreach (var line in Extensions)
        {
            sb.Append(line).Append('\n');
        }

        return sb.ToString();
    }

    /// <summary>Parses a checkpoint body.</summary>
    /// <param name="body">The note text.</param>
    /// <returns>The checkpoint.</returns>
    /// <exception cref="FormatException">The text is not a C2SP checkpoint.</exception>
    public static Checkpoint Parse(string body)
    {
        ArgumentNullException.ThrowIfNull(body);
        if (!body.EndsWith('\n'))
        {
            throw new FormatException("A checkpoint body must end with a line feed.");
        }

        var lines = body[..^1].Split('\n');
        if (lines.Length < 3)
        {
            throw new FormatException($"A checkpoint has at least 3 lines (origin, tree size, root hash); got {lines.Length}.");
        }

        var sizeText = lines[1];
        if (sizeText.Length == 0 || sizeText.Length > 19 || !sizeText.All(char.IsAsciiDigit) || (sizeText.Length > 1 && sizeText[0] == '0')
            || !long.TryParse(sizeText, NumberStyles.None, CultureInfo.InvariantCulture, out var size))
        {
            throw new FormatException($"Checkpoint tree size '{sizeText}' is not a decimal number without leading zeros.");
        }

        byte[] root;
        try
        {
            root = Convert.FromBase64String(lines[2]);
        }
        catch (FormatException ex)
        {
            throw new FormatException($"Checkpoint root hash '{lines[2]}' is not standard base64.", ex);
        }

        if (root.Length != MerkleTree.HashSize || Convert.ToBase64String(root) != lines[2])
        {
            throw new FormatException($"Checkpoint root hash '{lines[2]}' is not the canonical base64 of 32 bytes.");
        }

        try
        {
            return new Checkpoint(lines[0], size, root, lines.Length > 3 ? lines[3..] : null);
        }
        catch (ArgumentException ex)
        {
            throw new FormatException($"Invalid checkpoint: {ex.Message}", ex);
        }
    }

    internal static void ValidateKeyName(string name, string paramName)
    {
        if (DescribeInvalidKeyName(name) is { } error)
        {
            throw new ArgumentException(error, paramName);
        }
    }

    /// <summary>Says why <paramref name="name"/> is not a valid origin or key name, or returns <see langword="null"/>.</summary>
    internal static string? DescribeInvalidKeyName(string name) =>
        string.IsNullOrEmpty(name) || name.Any(c => char.IsWhiteSpace(c) || c == '+' || char.IsControl(c))
            ? $"'{name}' is not a valid origin or key name: it must be non-empty with no spaces, '+' or control characters."
            : null;
}

/// <summary>One signature line of a signed note.</summary>
/// <param name="KeyName">The key name.</param>
/// <param name="KeyId">The 32-bit key ID.</param>
/// <param name="Signature">The signature bytes (after the key ID).</param>
public sealed record NoteSignature(string KeyName, uint KeyId, byte[] Signature);

/// <summary>
/// A C2SP <c>signed-note</c>: text ending in a line feed, a blank line, then signature lines
/// <c>— &lt;key name&gt; base64(key ID ‖ signature)</c>. Signs and verifies with ECDSA (signature type <c>0x02</c>, as
/// implemented by transparency-dev/witness: ASN.1 DER ECDSA over SHA-256 of the text; key ID = the first four bytes of
/// SHA-256 of the DER SubjectPublicKeyInfo).
/// </summary>
/// <remarks>Immutable; thread-safe.</remarks>
public sealed class SignedNote
{
    /// <summary>The signed-note signature type byte of ECDSA.</summary>
    public const byte EcdsaSignatureType = 0x02;

    private const string Dash = "\u2014 ";

    private SignedNote(string text, IReadOnlyList<NoteSignature> signatures)
    {
        Text = text;
        Signatures = signatures;
    }

    /// <summary>Gets the note text, including its final line feed.</summary>
    public string Text { get; }

    /// <summary>Gets the signatures.</summary>
    public IReadOnlyList<NoteSignature> Signatures { get; }

    /// <summary>Signs <paramref name="text"/> with an ECDSA key.</summary>
    /// <param name="text">The note text; must end in a line feed and contain no control characters other than line feeds.</param>
    /// <param name="keyName">The key name (for a log, its origin).</param>
    /// <param name="key">The private key.</param>
    /// <returns>The signed note.</returns>
    public static SignedNote SignEcdsa(string text, string keyName, ECDsa key)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(key);
        Checkpoint.ValidateKeyName(keyName, nameof(keyName));
        ValidateText(text);
        var signature = key.SignData(Encoding.UTF8.GetBytes(text), HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);
        return new SignedNote(text, [new NoteSignature(keyName, ComputeEcdsaKeyId(key.ExportSubjectPublicKeyInfo()), signature)]);
    }

    /// <summary>Computes the signed-note key ID of an ECDSA key: the first four bytes (big-endian) of SHA-256 of its DER SubjectPublicKeyInfo.</summary>
    /// <param name="subjectPublicKeyInfo">The DER SPKI.</param>
    /// <returns>The key ID.</returns>
    public static uint ComputeEcdsaKeyId(ReadOnlySpan<byte> subjectPublicKeyInfo)
    {
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(subjectPublicKeyInfo, hash);
        return BinaryPrimitives.ReadUInt32BigEndian(hash);
    }

    /// <summary>Formats the verifier key (<c>vkey</c>) of an ECDSA key: <c>&lt;name&gt;+&lt;hex key ID&gt;+base64(0x02 ‖ SPKI)</c>.</summary>
    /// <param name="keyName">The key name.</param>
    /// <param name="publicKey">The public key.</param>
    /// <returns>The verifier key text.</returns>
    public static string FormatEcdsaVerifierKey(string keyName, ECDsa publicKey)
    {
        ArgumentNullException.ThrowIfNull(publicKey);
        Checkpoint.ValidateKeyName(keyName, nameof(keyName));
        var spki = publicKey.ExportSubjectPublicKeyInfo();
        var bytes = new byte[spki.Length + 1];
        bytes[0] = EcdsaSignatureType;
        spki.CopyTo(bytes, 1);
        return $"{keyName}+{ComputeEcdsaKeyId(spki):x8}+{Convert.ToBase64String(bytes)}";
    }

    /// <summary>Verifies the note with an ECDSA public key named <paramref name="keyName"/>.</summary>
    /// <param name="keyName">The expected key name.</param>
    /// <param name="publicKey">The public key.</param>
    /// <param name="error">Why verification failed.</param>
    /// <returns><see langword="true"/> when a signature of that key verifies and none of that key fails (signatures of other keys are ignored).</returns>
    public bool TryVerifyEcdsa(string keyName, ECDsa publicKey, out string? error)
    {
        ArgumentNullException.ThrowIfNull(publicKey);
        var keyId = ComputeEcdsaKeyId(publicKey.ExportSubjectPublicKeyInfo());
        var data = Encoding.UTF8.GetBytes(Text);
        var verified = false;
        foreach (var signature in Signatures)
        {
            if (signature.KeyName != keyName || signature.KeyId != keyId)
            {
                continue; // Unknown key: ignored, as the spec requires.
            }

            if (!publicKey.VerifyData(data, signature.Signature, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence))
            {
                error = $"the signature of key '{keyName}+{keyId:x8}' does not verify: the note was altered or signed with another key";
                return false;
            }

            verified = true;
        }

        error = verified ? null : $"the note has no signature of key '{keyName}+{keyId:x8}' (it was signed by {string.Join(", ", Signatures.Select(s => $"'{s.KeyName}+{s.KeyId:x8}'"))})";
        return verified;
    }

    /// <summary>Parses a signed note.</summary>
    /// <param name="note">The note: text, blank line, signature lines.</param>
    /// <returns>The note.</returns>
    /// <exception cref="FormatException">The note is malformed.</exception>
    public static SignedNote Parse(string note)
    {
        ArgumentNullException.ThrowIfNull(note);
        if (note.Any(c => c < 0x20 && c != '\n'))
        {
            throw new FormatException("A signed note must not contain control characters other than line feeds.");
        }

        if (!note.EndsWith('\n'))
        {
            throw new FormatException("A signed note must end with a line feed.");
        }

        var split = note.LastIndexOf("\n\n", StringComparison.Ordinal);
        if (split < 0)
        {
            throw new FormatException("A signed note needs a blank line between the text and the signatures.");
        }

        var text = note[..(split + 1)];
        var lines = note[(split + 2)..^1].Split('\n');
        var signatures = new List<NoteSignature>(lines.Length);
        foreach (var line in lines)
        {
            if (!line.StartsWith(Dash, StringComparison.Ordinal))
            {
                throw new FormatException($"Signature line '{line}' does not start with an em dash and a space.");
            }

            var rest = line[Dash.Length..];
            var space = rest.LastIndexOf(' ');
            if (space <= 0)
            {
                throw new FormatException($"Signature line '{line}' has no key name or no signature.");
            }

            byte[] blob;
            try
            {
                blob = Convert.FromBase64String(rest[(space + 1)..]);
            }
            catch (FormatException ex)
            {
                throw new FormatException($"Signature line '{line}' is not base64.", ex);
            }

            if (blob.Length < 5)
            {
                throw new FormatException($"Signature line '{line}' is too short for a key ID and a signature.");
            }

            signatures.Add(new NoteSignature(rest[..space], BinaryPrimitives.ReadUInt32BigEndian(blob), blob[4..]));
        }

        if (signatures.Count == 0)
        {
            throw new FormatException("A signed note needs at least one signature.");
        }

        return new SignedNote(text, signatures);
    }

    /// <summary>Formats the note: text, blank line, signature lines.</summary>
    /// <returns>The signed note text.</returns>
    public override string ToString()
    {
        var sb = new StringBuilder(Text).Append('\n');
        foreach (var signature in Signatures)
        {
            var blob = new byte[4 + signature.Signature.Length];
            BinaryPrimitives.WriteUInt32BigEndian(blob, signature.KeyId);
            signature.Signature.CopyTo(blob, 4);
            sb.Append(Dash).Append(signature.KeyName).Append(' ').Append(Convert.ToBase64String(blob)).Append('\n');
        }

        return sb.ToString();
    }

    private static void ValidateText(string text)
    {
        if (!text.EndsWith('\n') || text.Any(c => c < 0x20 && c != '\n'))
        {
            throw new ArgumentException("Note text must end with a line feed and contain no control characters other than line feeds.", nameof(text));
        }
    }
}

/// <summary>
/// A checkpoint signed with an agent's SVID key, together with the signing certificate and its intermediates so that a
/// verifier can check the signer held a valid SVID at <see cref="Time"/>.
/// </summary>
/// <remarks>
/// The signed body carries the extension line <c>agentid-time &lt;RFC 3339 UTC&gt;</c> so that the signing time is covered
/// by the signature. The serialized form is the signed note followed by the PEM certificates, leaf first.
/// Immutable; thread-safe.
/// </remarks>
public sealed class SignedCheckpoint
{
    /// <summary>The prefix of the extension line that carries the signing time.</summary>
    public const string TimeExtensionPrefix = "agentid-time ";

    private SignedCheckpoint(SignedNote note, Checkpoint checkpoint, DateTimeOffset time, X509Certificate2 certificate, IReadOnlyList<X509Certificate2> intermediates)
    {
        Note = note;
        Checkpoint = checkpoint;
        Time = time;
        Certificate = certificate;
        Intermediates = intermediates;
    }

    /// <summary>Gets the signed note.</summary>
    public SignedNote Note { get; }

    /// <summary>Gets the checkpoint.</summary>
    public Checkpoint Checkpoint { get; }

    /// <summary>Gets the signed signing time.</summary>
    public DateTimeOffset Time { get; }

    /// <summary>Gets the signer's leaf certificate (public part).</summary>
    public X509Certificate2 Certificate { get; }

    /// <summary>Gets the signer's intermediates.</summary>
    public IReadOnlyList<X509Certificate2> Intermediates { get; }

    /// <summary>Signs a checkpoint with an SVID's ECDSA key; the key name is the origin.</summary>
    /// <param name="origin">The log origin.</param>
    /// <param name="treeSize">The tree size.</param>
    /// <param name="rootHash">The root hash.</param>
    /// <param name="time">The signing time.</param>
    /// <param name="svid">The signer's SVID (ECDSA key).</param>
    /// <returns>The signed checkpoint.</returns>
    /// <exception cref="ArgumentException">The SVID key is not ECDSA.</exception>
    public static SignedCheckpoint Sign(string origin, long treeSize, ReadOnlySpan<byte> rootHash, DateTimeOffset time, X509Svid svid)
    {
        ArgumentNullException.ThrowIfNull(svid);
        using var key = svid.Certificate.GetECDsaPrivateKey()
            ?? throw new ArgumentException($"The SVID of '{svid.Id}' has no ECDSA private key; audit checkpoints are signed with ECDSA (signed-note type 0x02). Use KeyAlgorithm.EcdsaP256.", nameof(svid));
        var leaf = X509CertificateLoader.LoadCertificate(svid.Certificate.RawData);
        var intermediates = svid.Intermediates.Select(c => X509CertificateLoader.LoadCertificate(c.RawData)).ToArray();
        return Sign(origin, treeSize, rootHash, time, key, leaf, intermediates);
    }

    /// <summary>Signs with a key the caller holds, recording <paramref name="leaf"/> and <paramref name="intermediates"/> (public parts, owned by the result).</summary>
    internal static SignedCheckpoint Sign(string origin, long treeSize, ReadOnlySpan<byte> rootHash, DateTimeOffset time, ECDsa key, X509Certificate2 leaf, X509Certificate2[] intermediates)
    {
        var checkpoint = new Checkpoint(origin, treeSize, rootHash, [TimeExtensionPrefix + AuditTime.Format(time)]);
        var note = SignedNote.SignEcdsa(checkpoint.ToBody(), origin, key);
        return new SignedCheckpoint(note, checkpoint, ParseTime(checkpoint), leaf, intermediates);
    }

    /// <summary>Checks the signature with the recorded certificate's public key.</summary>
    /// <param name="error">Why it failed.</param>
    /// <returns><see langword="true"/> when the recorded certificate's key signed the note under the origin's name.</returns>
    public bool TryVerifySignature(out string? error)
    {
        using var key = Certificate.GetECDsaPublicKey();
        if (key is null)
        {
            error = "the signing certificate has no ECDSA public key";
            return false;
        }

        return Note.TryVerifyEcdsa(Checkpoint.Origin, key, out error);
    }

    /// <summary>Serializes the signed note followed by the PEM certificates (the form of the checkpoint records inside segments).
    /// The published <c>checkpoint</c> file holds <see cref="Note"/> alone, for standard signed-note parsers, and its certificates
    /// are in <c>checkpoint.pem</c> (<see cref="ExportCertificatesPem"/>).</summary>
    /// <returns>The text form.</returns>
    public override string ToString() => Note.ToString() + ExportCertificatesPem();

    /// <summary>Exports the signer's certificate and its intermediates as PEM, leaf first.</summary>
    /// <returns>The PEM text.</returns>
    public string ExportCertificatesPem()
    {
        var sb = new StringBuilder();
        sb.Append(Certificate.ExportCertificatePem()).Append('\n');
        foreach (var intermediate in Intermediates)
        {
            sb.Append(intermediate.ExportCertificatePem()).Append('\n');
        }

        return sb.ToString();
    }

    /// <summary>Parses a checkpoint published as two files: the signed note alone and the PEM certificates beside it. The signature is not checked here.</summary>
    /// <param name="note">The signed note (a standard C2SP <c>signed-note</c> holding a <c>tlog-checkpoint</c>).</param>
    /// <param name="certificatesPem">The signer's certificate and intermediates, leaf first.</param>
    /// <returns>The signed checkpoint.</returns>
    /// <exception cref="FormatException">Either text is malformed, or the note is followed by anything.</exception>
    public static SignedCheckpoint Parse(string note, string certificatesPem)
    {
        ArgumentNullException.ThrowIfNull(note);
        ArgumentNullException.ThrowIfNull(certificatesPem);
        if (note.Contains("-----BEGIN", StringComparison.Ordinal))
        {
            throw new FormatException("The checkpoint note must hold the signed note alone; its certificates belong in their own file.");
        }

        if (!certificatesPem.TrimStart().StartsWith("-----BEGIN CERTIFICATE-----", StringComparison.Ordinal))
        {
            throw new FormatException("The checkpoint's certificates file does not start with a PEM certificate.");
        }

        return Parse(note + certificatesPem);
    }

    /// <summary>Parses the text form written by <see cref="ToString"/>. The signature is not checked here.</summary>
    /// <param name="text">The text.</param>
    /// <returns>The signed checkpoint.</returns>
    /// <exception cref="FormatException">The text is malformed.</exception>
    public static SignedCheckpoint Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var pem = text.IndexOf("-----BEGIN CERTIFICATE-----", StringComparison.Ordinal);
        if (pem < 0)
        {
            throw new FormatException("The signed checkpoint has no signing certificate (PEM) after the note.");
        }

        var note = SignedNote.Parse(text[..pem]);
        var checkpoint = Checkpoint.Parse(note.Text);
        var certificates = new X509Certificate2Collection();
        try
        {
            certificates.ImportFromPem(text.AsSpan(pem));
        }
        catch (CryptographicException ex)
        {
            throw new FormatException($"The signing certificates of the checkpoint are not valid PEM: {ex.Message}", ex);
        }

        if (certificates.Count == 0)
        {
            throw new FormatException("The signed checkpoint has no signing certificate.");
        }

        return new SignedCheckpoint(note, checkpoint, ParseTime(checkpoint), certificates[0], [.. certificates.Skip(1)]);
    }

    private static DateTimeOffset ParseTime(Checkpoint checkpoint)
    {
        foreach (var line in checkpoint.Extensions)
        {
            if (line.StartsWith(TimeExtensionPrefix, StringComparison.Ordinal)
                && DateTimeOffset.TryParseExact(line[TimeExtensionPrefix.Length..], "yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'ffffff'Z'", CultureInfo.InvariantCulture,
                    DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var time))
            {
                return time;
            }
        }

        throw new FormatException($"The checkpoint has no '{TimeExtensionPrefix.Trim()}' extension line; its signing time is unknown.");
    }
}
