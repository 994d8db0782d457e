using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using AgentIdentity.Audit;

namespace AgentIdentity.Tests.Audit;

public sealed class SignedNoteTests
{
    [Fact]
    public void Parse_C2spExampleNote_ReadsKeyIdAndText()
    {
        // The official signed-note.md vector (Ed25519; .NET has no Ed25519, so only its framing and key ID are checked here).
        var note = SignedNote.Parse("This is an example message.\n\n\u2014 example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n");

        Assert.Equal("This is an example message.\n", note.Text);
        var signature = Assert.Single(note.Signatures);
        Assert.Equal("example.com/foo", signature.KeyName);
        Assert.Equal(0x530d903aU, signature.KeyId);
        Assert.Equal(64, signature.Signature.Length);

        // The vkey's key ID is SHA-256(name || 0x0A || 0x01 || public key)[:4].
        var vkey = Convert.FromBase64String("AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k");
        var id = SHA256.HashData([.. "example.com/foo"u8, 0x0A, .. vkey]);
        Assert.Equal("530d903a", Convert.ToHexStringLower(id.AsSpan(0, 4)));
    }

    [Fact]
    public void SignEcdsa_RoundTrip_VerifiesAndUsesSpkiKeyId()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var note = SignedNote.SignEcdsa("example.org/agent/planner/audit\n5\nAAAA\n", "example.org/agent/planner/audit", key);

        var parsed = SignedNote.Parse(note.ToString());

        Assert.Equal(note.Text, parsed.Text);
        Assert.True(parsed.TryVerifyEcdsa("example.org/agent/planner/audit", key, out var error), error);
        var expectedId = Convert.ToHexStringLower(SHA256.HashData(key.ExportSubjectPublicKeyInfo()).AsSpan(0, 4));
        Assert.Equal(expectedId, parsed.Signatures[0].KeyId.ToString("x8", System.Globalization.CultureInfo.InvariantCulture));
        Assert.StartsWith("\u2014 example.org/agent/planner/audit ", note.ToString().Split('\n')[^2], StringComparison.Ordinal);
        Assert.Equal(0xE2, Encoding.UTF8.GetBytes(note.ToString().Split('\n')[^2])[0]);
    }

    [Fact]
    public void FormatEcdsaVerifierKey_HasNameIdAndTypedSpki()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);

        var vkey = SignedNote.FormatEcdsaVerifierKey("log.example", key);

        var parts = vkey.Split('+', 3);
        Assert.Equal("log.example", parts[0]);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(key.ExportSubjectPublicKeyInfo()).AsSpan(0, 4)), parts[1]);
        var blob = Convert.FromBase64String(parts[2]);
        Assert.Equal(SignedNote.EcdsaSignatureType, blob[0]);
        Assert.Equal(key.ExportSubjectPublicKeyInfo(), blob[1..]);
    }

    [Fact]
    public void TryVerifyEcdsa_AlteredText_Fails()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var text = SignedNote.SignEcdsa("origin\n5\nAAAA\n", "origin", key).ToString().Replace("\n5\n", "\n6\n", StringComparison.Ordinal);

        Assert.False(SignedNote.Parse(text).TryVerifyEcdsa("origin", key, out var error));
        Assert.Contains("does not verify", error, StringComparison.Ordinal);
    }

    [Fact]
    public void TryVerifyEcdsa_SignedByAnotherKey_ReportsNoSignatureOfTheKey()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var other = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var note = SignedNote.SignEcdsa("origin\n5\nAAAA\n", "origin", other);

        Assert.False(note.TryVerifyEcdsa("origin", key, out var error));
        Assert.Contains("has no signature of key", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("text\n", "blank line")]
    [InlineData("text\n\nno dash\n", "em dash")]
    [InlineData("text\n\n\u2014 name !!!\n", "not base64")]
    [InlineData("text\n\n\u2014 name AAAA\n", "too short")]
    [InlineData("te\u0001xt\n\n\u2014 name AAAAAAAA\n", "control characters")]
    [InlineData("text\n\n\u2014 name AAAAAAAA", "end with a line feed")]
    public void Parse_MalformedNote_ThrowsSpecificError(string note, string expected)
    {
        var ex = Assert.Throws<FormatException>(() => SignedNote.Parse(note));
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Checkpoint_FormatAndParse_RoundTrip()
    {
        var root = MerkleTree.HashLeaf([]);
        var checkpoint = new Checkpoint("example.org/log", 42, root, ["ext line"]);

        var body = checkpoint.ToBody();
        var parsed = Checkpoint.Parse(body);

        Assert.Equal("example.org/log\n42\nbjQLnP+zepicpUTmu3gKLHiQHT+zNzh2hRGjBhevoB0=\next line\n", body);
        Assert.Equal(42, parsed.TreeSize);
        Assert.Equal(root, parsed.RootHash);
        Assert.Equal(["ext line"], parsed.Extensions);
    }

    [Theory]
    [InlineData("o\n042\nbjQLnP+zepicpUTmu3gKLHiQHT+zNzh2hRGjBhevoB0=\n", "leading zeros")]
    [InlineData("o\n-1\nbjQLnP+zepicpUTmu3gKLHiQHT+zNzh2hRGjBhevoB0=\n", "decimal number")]
    [InlineData("o\n1\nAAAA\n", "32 bytes")]
    [InlineData("o\n1\n", "at least 3 lines")]
    [InlineData("o p\n1\nbjQLnP+zepicpUTmu3gKLHiQHT+zNzh2hRGjBhevoB0=\n", "not a valid origin")]
    [InlineData("o\n1\nbjQLnP+zepicpUTmu3gKLHiQHT+zNzh2hRGjBhevoB0=", "line feed")]
    public void Checkpoint_ParseMalformed_ThrowsSpecificError(string body, string expected)
    {
        var ex = Assert.Throws<FormatException>(() => Checkpoint.Parse(body));
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void SignedCheckpoint_SignWithSvid_RecordsCertificateAndVerifies()
    {
        using var fixture = new AuditFixture();
        var root = MerkleTree.HashLeaf([]);

        var signed = SignedCheckpoint.Sign("example.org/agent/planner/audit", 1, root, fixture.Time.GetUtcNow(), fixture.Svid);
        var parsed = SignedCheckpoint.Parse(signed.ToString());

        Assert.True(parsed.TryVerifySignature(out var error), error);
        Assert.Equal(fixture.Svid.Certificate.RawData, parsed.Certificate.RawData);
        Assert.Equal(fixture.Time.GetUtcNow(), parsed.Time);
        Assert.Equal(fixture.Svid.Intermediates.Count, parsed.Intermediates.Count);
        Assert.Contains("agentid-time 2026-01-01T00:00:00.000000Z\n", parsed.Note.Text, StringComparison.Ordinal);
        Assert.True(X509SvidValidator.Validate(parsed.Certificate, parsed.Intermediates, fixture.Ca, parsed.Time).IsValid);
    }

    [Fact]
    public void SignedCheckpoint_RsaSvid_ThrowsActionableError()
    {
        using var fixture = new AuditFixture();
        var id = SpiffeId.ForAgent(AuditFixture.Domain, "legacy", "i-1");
        using var key = RSA.Create(2048);
        var issued = fixture.Ca.Issue(new X509SvidRequest(id, AuditFixture.CreateSigningRequest(id, new CertificateRequest(string.Empty, key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1)), TimeSpan.FromHours(1)));
        using var certificate = issued.Certificate.CopyWithPrivateKey(key);
        var svid = new X509Svid(certificate, issued.Intermediates);

        var ex = Assert.Throws<ArgumentException>(() => SignedCheckpoint.Sign("o", 0, MerkleTree.GetEmptyRootHash(), fixture.Time.GetUtcNow(), svid));
        Assert.Contains("KeyAlgorithm.EcdsaP256", ex.Message, StringComparison.Ordinal);
    }
}
