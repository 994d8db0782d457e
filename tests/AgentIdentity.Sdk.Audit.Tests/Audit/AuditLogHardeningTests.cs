using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using AgentIdentity.Audit;

namespace AgentIdentity.Tests.Audit;

/// <summary>Issue 18, defects 4, 12 and 13: who may sign a log, rollback, unsigned logs, and the published checkpoint's format.</summary>
public sealed class AuditLogHardeningTests : IDisposable
{
    private readonly AuditFixture _fixture = new();

    private void Write(IX509SvidSource signer, int count, string? origin = null, int from = 0)
    {
        using var log = _fixture.Open(o => o.Origin = origin, signer);
        for (var i = from; i < from + count; i++)
        {
            log.Append(_fixture.Event(i));
        }
    }

    [Fact]
    public void Verify_LogResignedByAnotherAgentUnderTheVictimsOrigin_IsASignerMismatch()
    {
        // Agent 'mallory' of the same trust domain rewrites planner's log and signs it under planner's origin.
        var mallory = _fixture.IssueSvid(SpiffeId.ForAgent(AuditFixture.Domain, "mallory", "i-1"));
        Write(mallory, 5, origin: "example.org/agent/planner/audit");

        var result = _fixture.Verify(); // No expected signer: the origin itself must name the signer.

        Assert.Equal(AuditLogProblem.SignerMismatch, result.Problem);
        Assert.Contains("not the log of its signer 'spiffe://example.org/agent/mallory/i-1'", result.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Verify_AnotherInstanceOfTheAgent_RefusedByDefault_AcceptedWithAnyInstance()
    {
        Write(_fixture.Svid, 3);
        Write(_fixture.IssueSvid(SpiffeId.ForAgent(AuditFixture.Domain, "planner", "i-2")), 3, from: 3);

        var exact = _fixture.Verify(o => o.ExpectedSigner = _fixture.Svid.Id);
        var firstSigner = _fixture.Verify();
        var anyInstance = _fixture.Verify(o => { o.ExpectedSigner = _fixture.Svid.Id; o.AllowAnyInstance = true; });

        Assert.Equal(AuditLogProblem.SignerMismatch, exact.Problem);
        Assert.Contains("signed by 'spiffe://example.org/agent/planner/i-2', not by the log's signer 'spiffe://example.org/agent/planner/i-1'", exact.Message, StringComparison.Ordinal);
        Assert.Equal(AuditLogProblem.SignerMismatch, firstSigner.Problem);
        Assert.True(anyInstance.IsValid, anyInstance.Message);
        Assert.Equal(2, anyInstance.Signers.Count);
    }

    [Fact]
    public void Verify_TaskIdentityOfTheAgent_RefusedUnlessAllowed()
    {
        var task = _fixture.IssueSvid(SpiffeId.Parse("spiffe://example.org/agent/planner/i-1/task/t1"));
        Write(task, 3);

        var refused = _fixture.Verify(o => { o.ExpectedSigner = _fixture.Svid.Id; o.AllowAnyInstance = true; });
        var allowed = _fixture.Verify(o => o.AllowTaskSigners = true);

        Assert.Equal(AuditLogProblem.SignerMismatch, refused.Problem);
        Assert.Contains("task identity", refused.Message, StringComparison.Ordinal);
        Assert.True(allowed.IsValid, allowed.Message);
    }

    [Fact]
    public void Verify_SignerRevoked_IsARevokedSigner()
    {
        Write(_fixture.Svid, 3);
        var serial = _fixture.Svid.SerialNumber;

        var revoked = _fixture.Verify(o => o.RevokedSerialNumbers = ["0102", serial.ToLowerInvariant()]);
        var other = _fixture.Verify(o => o.RevokedSerialNumbers = ["0102"]);

        Assert.Equal(AuditLogProblem.RevokedSigner, revoked.Problem);
        Assert.Contains(serial, revoked.Message, StringComparison.Ordinal);
        Assert.True(other.IsValid, other.Message);
    }

    [Fact]
    public void Verify_RolledBackToAnEarlierConsistentState_FailsAgainstTheTrustedCheckpoint()
    {
        Write(_fixture.Svid, 4);
        var earlier = Snapshot();
        Write(_fixture.Svid, 4, from: 4);
        var trusted = AuditFixture.ReadPublished(_fixture.Directory); // The auditor's copy from the last verification.

        // The attacker puts back the earlier segments and checkpoint: a consistent, validly signed, shorter log.
        Restore(earlier);
        Assert.True(_fixture.Verify().IsValid);

        var result = _fixture.Verify(o => o.TrustedCheckpoint = trusted);

        Assert.Equal(AuditLogProblem.Truncated, result.Problem);
        Assert.Equal(4, result.FirstBadIndex);
    }

    [Fact]
    public void Verify_NoSignedCheckpoint_FailsWhenASignerOrBundleIsDemanded()
    {
        Write(_fixture.Svid, 3);
        StripCheckpoints();

        var bundle = _fixture.Verify();
        var signer = AuditLogVerifier.Verify(_fixture.Directory, new AuditLogVerificationOptions { ExpectedSigner = _fixture.Svid.Id });
        var tail = _fixture.Verify(o => o.AllowUnsignedTail = true); // Never enough for a log with no checkpoint at all.
        var nothingDemanded = AuditLogVerifier.Verify(_fixture.Directory);

        Assert.Equal(AuditLogProblem.UnsignedEntries, bundle.Problem);
        Assert.Contains("3 entries but no signed checkpoint", bundle.Message, StringComparison.Ordinal);
        Assert.Equal(AuditLogProblem.UnsignedEntries, signer.Problem);
        Assert.Equal(AuditLogProblem.UnsignedEntries, tail.Problem);
        Assert.True(nothingDemanded.IsValid, nothingDemanded.Message);
    }

    [Fact]
    public void Verify_UnsignedTail_FailsUnlessAllowed()
    {
        Dictionary<string, byte[]> published;
        using (var log = _fixture.Open())
        {
            log.Append(_fixture.Event(0));
            log.Checkpoint();
            published = Snapshot();
            log.Append(_fixture.Event(1));
        }

        // As the log stood before its final checkpoint: entry 1 after the last signed checkpoint.
        var path = _fixture.Segment();
        var bytes = File.ReadAllBytes(path);
        var last = AuditFixture.Records(bytes)[^1];
        Assert.Equal(2, last.Type);
        File.WriteAllBytes(path, bytes[..last.Offset]);
        File.WriteAllBytes(Path.Combine(_fixture.Directory, "checkpoint"), published["checkpoint"]);
        File.WriteAllBytes(Path.Combine(_fixture.Directory, "checkpoint.pem"), published["checkpoint.pem"]);

        var strict = _fixture.Verify();
        var live = _fixture.Verify(o => o.AllowUnsignedTail = true);

        Assert.Equal(AuditLogProblem.UnsignedEntries, strict.Problem);
        Assert.Contains("Entry 1 after the last signed checkpoint (size 1) is not signed", strict.Message, StringComparison.Ordinal);
        Assert.True(live.IsValid, live.Message);
        Assert.Equal(1, live.UncoveredEntries);
    }

    [Fact]
    public void PublishedCheckpoint_IsAStandardSignedNote_ThatAnIndependentParserVerifies()
    {
        Write(_fixture.Svid, 3);
        var note = File.ReadAllText(Path.Combine(_fixture.Directory, "checkpoint"));
        var certificates = new X509Certificate2Collection();
        certificates.ImportFromPem(File.ReadAllText(Path.Combine(_fixture.Directory, "checkpoint.pem")));

        using var key = certificates[0].GetECDsaPublicKey()!;
        var checkpoint = IndependentNote.ParseCheckpoint(note, "example.org/agent/planner/audit", key);

        Assert.Equal("example.org/agent/planner/audit", checkpoint.Origin);
        Assert.Equal(3, checkpoint.Size);
        Assert.Equal(_fixture.Verify().RootHash, checkpoint.Root);
        Assert.Equal(2, certificates.Count); // Leaf, then the intermediate.
    }

    [Fact]
    public void PublishedCheckpoint_InTheOldCombinedForm_IsRejectedByTheIndependentParser_ButStillReadByOurs()
    {
        Write(_fixture.Svid, 3);
        var published = AuditFixture.ReadPublished(_fixture.Directory);
        using var key = published.Certificate.GetECDsaPublicKey()!;

        Assert.Throws<FormatException>(() => IndependentNote.ParseCheckpoint(published.ToString(), published.Checkpoint.Origin, key));

        // A log written before the split keeps verifying.
        File.WriteAllText(Path.Combine(_fixture.Directory, "checkpoint"), published.ToString());
        File.Delete(Path.Combine(_fixture.Directory, "checkpoint.pem"));
        Assert.True(_fixture.Verify().IsValid);
    }

    [Fact]
    public void PublishedCheckpoint_CertificatesFileMissing_IsMalformed()
    {
        Write(_fixture.Svid, 3);
        File.Delete(Path.Combine(_fixture.Directory, "checkpoint.pem"));

        var result = _fixture.Verify();

        Assert.Equal(AuditLogProblem.Malformed, result.Problem);
        Assert.Contains("'checkpoint.pem' is missing", result.Message, StringComparison.Ordinal);
    }

    private Dictionary<string, byte[]> Snapshot() =>
        Directory.GetFiles(_fixture.Directory).ToDictionary(p => Path.GetFileName(p), File.ReadAllBytes);

    private void Restore(Dictionary<string, byte[]> files)
    {
        foreach (var path in Directory.GetFiles(_fixture.Directory))
        {
            File.Delete(path);
        }

        foreach (var (name, bytes) in files)
        {
            File.WriteAllBytes(Path.Combine(_fixture.Directory, name), bytes);
        }
    }

    /// <summary>Removes every checkpoint record from the segment and the published checkpoint files.</summary>
    private void StripCheckpoints()
    {
        var path = _fixture.Segment();
        var bytes = File.ReadAllBytes(path);
        var kept = new List<byte>(bytes.AsSpan(0, 8).ToArray());
        foreach (var (offset, length, type, _) in AuditFixture.Records(bytes))
        {
            if (type == 0)
            {
                kept.AddRange(bytes.AsSpan(offset, length).ToArray());
            }
        }

        File.WriteAllBytes(path, [.. kept]);
        File.Delete(Path.Combine(_fixture.Directory, "checkpoint"));
        File.Delete(Path.Combine(_fixture.Directory, "checkpoint.pem"));
    }

    public void Dispose() => _fixture.Dispose();

    /// <summary>
    /// A minimal signed-note and tlog-checkpoint reader written from the C2SP text alone (/work/shared/specs/SPECS.md §10.4,
    /// C2SP signed-note.md and tlog-checkpoint.md), sharing no code with the SDK: what a standard consumer does with the file.
    /// </summary>
    private static class IndependentNote
    {
        public static (string Origin, long Size, byte[] Root) ParseCheckpoint(string note, string keyName, ECDsa key)
        {
            if (note.Any(c => c < 0x20 && c != '\n') || !note.EndsWith('\n'))
            {
                throw new FormatException("control characters, or no final newline");
            }

            var split = note.LastIndexOf("\n\n", StringComparison.Ordinal);
            if (split < 0)
            {
                throw new FormatException("no blank line");
            }

            var text = note[..(split + 1)];
            var keyId = SHA256.HashData(key.ExportSubjectPublicKeyInfo()).AsSpan(0, 4).ToArray(); // Type 0x02: over the DER SPKI.
            var verified = false;
            foreach (var line in note[(split + 2)..^1].Split('\n'))
            {
                if (!line.StartsWith("\u2014 ", StringComparison.Ordinal))
                {
                    throw new FormatException($"not a signature line: {line}");
                }

                var parts = line[2..].Split(' ');
                if (parts.Length != 2)
                {
                    throw new FormatException("a signature line is '<name> <base64>'");
                }

                var blob = Convert.FromBase64String(parts[1]);
                if (parts[0] == keyName && blob.AsSpan(0, 4).SequenceEqual(keyId))
                {
                    verified = key.VerifyData(Encoding.UTF8.GetBytes(text), blob.AsSpan(4), HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence)
                        ? true
                        : throw new FormatException("a known key's signature does not verify");
                }
            }

            if (!verified)
            {
                throw new FormatException("no signature of the known key");
            }

            var lines = text.Split('\n');
            return (lines[0], long.Parse(lines[1], System.Globalization.CultureInfo.InvariantCulture), Convert.FromBase64String(lines[2]));
        }
    }
}
