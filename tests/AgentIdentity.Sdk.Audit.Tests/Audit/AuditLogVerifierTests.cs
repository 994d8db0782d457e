using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using AgentIdentity.Audit;

namespace AgentIdentity.Tests.Audit;

public sealed class AuditLogVerifierTests : IDisposable
{
    private readonly AuditFixture _fixture = new();

    public AuditLogVerifierTests()
    {
        // 25 entries, checkpoints at 10, 20 and (on dispose) 25.
        using var log = _fixture.Open();
        for (var i = 0; i < 25; i++)
        {
            log.Append(_fixture.Event(i));
            _fixture.Time.Advance(TimeSpan.FromMilliseconds(10));
        }
    }

    [Fact]
    public void Verify_IntactLog_IsValidAndNamesTheSigner()
    {
        var result = _fixture.Verify();

        Assert.True(result.IsValid, result.Message);
        Assert.Equal(25, result.TreeSize);
        Assert.Equal(3, result.CheckpointCount);
        Assert.True(result.SignersValidated);
        Assert.Equal(_fixture.Svid.Id, Assert.Single(result.Signers));
        Assert.Equal(result.LatestCheckpoint!.Checkpoint.RootHash, result.RootHash);
    }

    [Fact]
    public void Verify_WithoutTrustBundle_SaysSignersWereNotChecked()
    {
        var result = AuditLogVerifier.Verify(_fixture.Directory);

        Assert.True(result.IsValid, result.Message);
        Assert.False(result.SignersValidated);
        Assert.Contains("not checked against a trust bundle", result.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void Verify_FlippedByte_NamesTheAlteredEntry()
    {
        Edit(bytes =>
        {
            var r = Record(bytes, 13);
            bytes[r.Offset + 30] ^= 0x04;
            return bytes;
        });

        var result = _fixture.Verify();

        Assert.Equal(AuditLogProblem.AlteredEntry, result.Problem);
        Assert.Equal(13, result.FirstBadIndex);
        Assert.Contains("entry 13", result.Message, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("altered", result.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void Verify_DeletedEntry_NamesTheMissingEntry()
    {
        Edit(bytes =>
        {
            var r = Record(bytes, 4);
            return [.. bytes[..r.Offset], .. bytes[(r.Offset + r.Length)..]];
        });

        var result = _fixture.Verify();

        Assert.Equal(AuditLogProblem.MissingEntry, result.Problem);
        Assert.Equal(4, result.FirstBadIndex);
        Assert.Contains("entry 4 is missing", result.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void Verify_ReorderedEntries_NamesTheFirstOutOfOrderEntry()
    {
        Edit(bytes =>
        {
            var a = Record(bytes, 6);
            var b = Record(bytes, 7);
            return [.. bytes[..a.Offset], .. bytes[b.Offset..(b.Offset + b.Length)], .. bytes[a.Offset..(a.Offset + a.Length)], .. bytes[(b.Offset + b.Length)..]];
        });

        var result = _fixture.Verify();

        Assert.Equal(AuditLogProblem.ReorderedEntry, result.Problem);
        Assert.Equal(6, result.FirstBadIndex);
        Assert.Contains("entry 6 is out of order", result.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void Verify_ReorderedEntriesWithRenumberedIndexes_DetectedByTheCheckpoint()
    {
        Edit(bytes =>
        {
            var a = Record(bytes, 16);
            var b = Record(bytes, 17);
            var first = Rewrite(bytes[b.Offset..(b.Offset + b.Length)], index: 16);
            var second = Rewrite(bytes[a.Offset..(a.Offset + a.Length)], index: 17);
            return [.. bytes[..a.Offset], .. first, .. second, .. bytes[(b.Offset + b.Length)..]];
        });

        var result = _fixture.Verify();

        Assert.Equal(AuditLogProblem.CheckpointMismatch, result.Problem);
        Assert.Equal(10, result.FirstBadIndex);
        Assert.Equal(20, result.BadRangeEnd);
        Assert.Contains("entries 10–19", result.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void Verify_EntryRewrittenWithRecomputedChecksum_LocatesTheCheckpointRange()
    {
        Edit(bytes =>
        {
            var r = Record(bytes, 3);
            var payload = Encoding.UTF8.GetString(bytes, r.Offset + 13, r.Length - 45).Replace("call-3", "call-X", StringComparison.Ordinal);
            return [.. bytes[..r.Offset], .. Build(0, 3, Encoding.UTF8.GetBytes(payload)), .. bytes[(r.Offset + r.Length)..]];
        });

        var result = _fixture.Verify();

        Assert.Equal(AuditLogProblem.CheckpointMismatch, result.Problem);
        Assert.Equal(0, result.FirstBadIndex);
        Assert.Equal(10, result.BadRangeEnd);
    }

    [Fact]
    public void Verify_Truncated_NamesTheFirstMissingEntry()
    {
        Edit(bytes => bytes[..Record(bytes, 15).Offset]);

        var result = _fixture.Verify();

        Assert.Equal(AuditLogProblem.Truncated, result.Problem);
        Assert.Equal(15, result.FirstBadIndex);
        Assert.Contains("entries 15–24 are missing", result.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void Verify_TruncatedWithPinnedCheckpoint_DetectedEvenWithoutThePublishedFile()
    {
        var pinned = AuditFixture.ReadPublished(_fixture.Directory);
        Edit(bytes => bytes[..Record(bytes, 15).Offset]);
        File.Delete(Path.Combine(_fixture.Directory, "checkpoint"));

        var result = _fixture.Verify(o => o.TrustedCheckpoint = pinned);

        Assert.Equal(AuditLogProblem.Truncated, result.Problem);
        Assert.Equal(15, result.FirstBadIndex);
    }

    [Fact]
    public void Verify_ReplacedCheckpoint_FailsItsSignature()
    {
        EditCheckpoint(20, text => text.Replace("\n20\n", "\n19\n", StringComparison.Ordinal));

        var result = _fixture.Verify();

        Assert.Equal(AuditLogProblem.BadSignature, result.Problem);
        Assert.Contains("the checkpoint at tree size 20", result.Message, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(10, result.FirstBadIndex);
    }

    [Fact]
    public void Verify_CheckpointResignedWithAnotherKey_IsRejected()
    {
        using var attacker = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        EditCheckpoint(10, text =>
        {
            var original = SignedCheckpoint.Parse(text);
            return SignedNote.SignEcdsa(original.Note.Text, original.Checkpoint.Origin, attacker) + Pem(original.Certificate, original.Intermediates);
        });

        var result = _fixture.Verify();

        Assert.Equal(AuditLogProblem.BadSignature, result.Problem);
        Assert.Contains("has no signature of key", result.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void Verify_CheckpointResignedWithSelfMadeCertificate_IsAnUntrustedSigner()
    {
        using var attacker = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName(string.Empty), attacker, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddUri(_fixture.Svid.Id.ToUri());
        request.CertificateExtensions.Add(san.Build(critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, critical: true));
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, critical: true));
        using var forged = request.CreateSelfSigned(_fixture.Time.GetUtcNow().AddHours(-1), _fixture.Time.GetUtcNow().AddHours(1));
        EditCheckpoint(10, text =>
        {
            var original = SignedCheckpoint.Parse(text);
            return SignedNote.SignEcdsa(original.Note.Text, original.Checkpoint.Origin, attacker) + Pem(forged, []);
        });

        var result = _fixture.Verify();

        Assert.Equal(AuditLogProblem.UntrustedSigner, result.Problem);
        Assert.Contains("not a valid SVID", result.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void Verify_CheckpointResignedByAnotherAgent_IsASignerMismatch()
    {
        var other = _fixture.IssueSvid(SpiffeId.ForAgent(AuditFixture.Domain, "intruder", "i-1"));
        EditCheckpoint(20, text =>
        {
            var original = SignedCheckpoint.Parse(text);
            using var key = other.Certificate.GetECDsaPrivateKey()!;
            return SignedNote.SignEcdsa(original.Note.Text, original.Checkpoint.Origin, key) + Pem(other.Certificate, other.Intermediates);
        });

        var result = _fixture.Verify();

        Assert.Equal(AuditLogProblem.SignerMismatch, result.Problem);
        Assert.Contains("intruder", result.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void Verify_ExpectedSignerIsAnotherAgent_IsASignerMismatch()
    {
        var result = _fixture.Verify(o => o.ExpectedSigner = SpiffeId.ForAgent(AuditFixture.Domain, "auditor", "x"));

        Assert.Equal(AuditLogProblem.SignerMismatch, result.Problem);
    }

    [Fact]
    public void Verify_SignerCertificateExpiredAtCheckpointTime_IsAnUntrustedSigner()
    {
        using var fixture = new AuditFixture();
        var shortLived = fixture.IssueSvid(fixture.Svid.Id, TimeSpan.FromMinutes(5));
        using (var log = fixture.Open(signer: shortLived))
        {
            log.Append(fixture.Event(0));
            fixture.Time.Advance(TimeSpan.FromMinutes(10)); // The SVID expired; the log still signs with it.
            log.Checkpoint();
        }

        var result = fixture.Verify();

        Assert.Equal(AuditLogProblem.UntrustedSigner, result.Problem);
    }

    [Fact]
    public void Verify_TrustedCheckpointOfAnotherHistory_IsAMismatch()
    {
        using var other = new AuditFixture();
        using (var log = AuditLog.Open(other.Options(), _fixture.Svid, _fixture.Time))
        {
            for (var i = 0; i < 10; i++)
            {
                log.Append(_fixture.Event(i + 100));
            }
        }

        var fork = AuditFixture.ReadPublished(other.Directory);
        var result = _fixture.Verify(o => o.TrustedCheckpoint = fork);

        Assert.Equal(AuditLogProblem.CheckpointMismatch, result.Problem);
        Assert.Contains("rewritten", result.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void CreateInclusionProof_CoveredEntry_VerifiesAgainstTheSignedRoot()
    {
        var proof = AuditLogVerifier.CreateInclusionProof(_fixture.Directory, 17);

        Assert.True(proof.Verify());
        Assert.Equal(25, proof.Checkpoint.Checkpoint.TreeSize);
        Assert.Contains("call-17", Encoding.UTF8.GetString(proof.Entry), StringComparison.Ordinal);
        Assert.True(proof.Checkpoint.TryVerifySignature(out _));
        var tampered = proof with { Index = 16 };
        Assert.False(tampered.Verify());
    }

    [Fact]
    public void CreateInclusionProof_UnknownEntry_ThrowsActionableError()
    {
        var ex = Assert.Throws<AuditLogException>(() => AuditLogVerifier.CreateInclusionProof(_fixture.Directory, 99));
        Assert.Contains("holds 25 entries", ex.Message, StringComparison.Ordinal);
    }

    private void Edit(Func<byte[], byte[]> edit)
    {
        var path = _fixture.Segment();
        File.WriteAllBytes(path, edit(File.ReadAllBytes(path)));
    }

    private void EditCheckpoint(long size, Func<string, string> edit) => Edit(bytes =>
    {
        var r = AuditFixture.Records(bytes).Single(x => x.Type == 2 && x.Index == size);
        var text = Encoding.UTF8.GetString(bytes, r.Offset + 13, r.Length - 45);
        return [.. bytes[..r.Offset], .. Build(2, size, Encoding.UTF8.GetBytes(edit(text))), .. bytes[(r.Offset + r.Length)..]];
    });

    private static (int Offset, int Length, byte Type, long Index) Record(byte[] bytes, long index) =>
        AuditFixture.Records(bytes).Single(r => r.Type == 0 && r.Index == index);

    private static byte[] Rewrite(byte[] record, long index)
    {
        var copy = (byte[])record.Clone();
        BinaryPrimitives.WriteInt64BigEndian(copy.AsSpan(4), index);
        return copy;
    }

    private static byte[] Build(byte type, long index, byte[] payload)
    {
        var record = new byte[13 + payload.Length + 32];
        BinaryPrimitives.WriteUInt32BigEndian(record, (uint)payload.Length);
        BinaryPrimitives.WriteInt64BigEndian(record.AsSpan(4), index);
        record[12] = type;
        payload.CopyTo(record, 13);
        SHA256.HashData(record.AsSpan(12, 1 + payload.Length), record.AsSpan(13 + payload.Length));
        return record;
    }

    private static string Pem(X509Certificate2 leaf, IEnumerable<X509Certificate2> intermediates) =>
        string.Concat(new[] { leaf }.Concat(intermediates).Select(c => c.ExportCertificatePem() + "\n"));

    public void Dispose() => _fixture.Dispose();
}
