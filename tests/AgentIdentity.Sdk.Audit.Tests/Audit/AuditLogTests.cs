using System.Buffers.Binary;
using System.Security.Cryptography;
using AgentIdentity.Audit;

namespace AgentIdentity.Tests.Audit;

public sealed class AuditLogTests : IDisposable
{
    private readonly AuditFixture _fixture = new();

    [Fact]
    public void Append_EveryNEntries_WritesSignedCheckpointAndPublishesIt()
    {
        using (var log = _fixture.Open())
        {
            for (var i = 0; i < 25; i++)
            {
                Assert.Equal(i, log.Append(_fixture.Event(i)));
            }

            Assert.Equal(25, log.TreeSize);
            Assert.Equal(20, log.LatestCheckpoint!.Checkpoint.TreeSize);
            Assert.Equal("example.org/agent/planner/audit", log.Origin);
        }

        var published = AuditFixture.ReadPublished(_fixture.Directory);
        Assert.Equal(25, published.Checkpoint.TreeSize); // Dispose signs the tail.
        Assert.True(published.TryVerifySignature(out var error), error);
        var result = _fixture.Verify();
        Assert.True(result.IsValid, result.Message);
        Assert.Equal(3, result.CheckpointCount);
        Assert.Equal(0, result.UncoveredEntries);
    }

    [Fact]
    public void Checkpoint_RootHash_EqualsRecomputedTreeOfCanonicalEvents()
    {
        var events = Enumerable.Range(0, 7).Select(_fixture.Event).ToList();
        using var log = _fixture.Open(o => o.CheckpointEveryEntries = 1000);
        foreach (var e in events)
        {
            log.Append(e);
        }

        var checkpoint = log.Checkpoint();

        var expected = MerkleTree.ComputeRoot([.. events.Select(e => MerkleTree.HashLeaf(e.ToCanonicalJson()))], 7);
        Assert.Equal(expected, checkpoint.Checkpoint.RootHash);
        Assert.Equal(expected, log.GetRootHash());
        Assert.Same(checkpoint, log.Checkpoint()); // Nothing new: the latest is returned.
    }

    [Fact]
    public void Timer_IntervalElapses_SignsCheckpointOnlyWhenEntriesWait()
    {
        using var log = _fixture.Open(o => { o.CheckpointEveryEntries = 1000; o.CheckpointInterval = TimeSpan.FromSeconds(1); });
        log.Append(_fixture.Event(0));
        log.Append(_fixture.Event(1));
        Assert.Null(log.LatestCheckpoint);

        _fixture.Time.Advance(TimeSpan.FromSeconds(1));

        Assert.Equal(2, log.LatestCheckpoint!.Checkpoint.TreeSize);
        Assert.Equal(_fixture.Time.GetUtcNow(), log.LatestCheckpoint.Time);
        var first = log.LatestCheckpoint;

        _fixture.Time.Advance(TimeSpan.FromSeconds(1));
        Assert.Same(first, log.LatestCheckpoint);
    }

    [Fact]
    public void Open_ExistingLog_ContinuesTheSameTree()
    {
        using (var log = _fixture.Open())
        {
            for (var i = 0; i < 5; i++)
            {
                log.Append(_fixture.Event(i));
            }
        }

        using (var log = _fixture.Open())
        {
            Assert.Equal(5, log.TreeSize);
            Assert.Equal(5, log.Append(_fixture.Event(5)));
        }

        var result = _fixture.Verify();
        Assert.True(result.IsValid, result.Message);
        Assert.Equal(6, result.TreeSize);
    }

    [Fact]
    public void Open_TornTail_TruncatesToLastCompleteEntry()
    {
        string published;
        using (var log = _fixture.Open(o => o.CheckpointEveryEntries = 4))
        {
            for (var i = 0; i < 6; i++)
            {
                log.Append(_fixture.Event(i));
            }

            log.Checkpoint();
            published = File.ReadAllText(Path.Combine(_fixture.Directory, "checkpoint"));
            log.Append(_fixture.Event(6));
        }

        // Simulate a crash in the middle of writing entry 6, before any checkpoint covered it: cut the segment inside that
        // record (dropping the checkpoint Dispose wrote after it) and put back the checkpoint published before it.
        File.WriteAllText(Path.Combine(_fixture.Directory, "checkpoint"), published);
        var path = _fixture.Segment();
        var bytes = File.ReadAllBytes(path);
        var records = AuditFixture.Records(bytes);
        var lastEvent = records.Last(r => r.Type == 0);
        File.WriteAllBytes(path, bytes[..(lastEvent.Offset + (lastEvent.Length / 2))]);

        Assert.Equal(AuditLogProblem.TornTail, _fixture.Verify().Problem);

        using (var log = _fixture.Open())
        {
            Assert.Equal(6, log.TreeSize);
            Assert.Equal(6, log.Append(_fixture.Event(6)));
        }

        var result = _fixture.Verify();
        Assert.True(result.IsValid, result.Message);
        Assert.Equal(7, result.TreeSize);
    }

    [Fact]
    public void Open_GarbledLastRecord_TruncatesIt()
    {
        using (var log = _fixture.Open(o => o.FlushMode = AuditFlushMode.EveryAppend))
        {
            log.Append(_fixture.Event(0));
            log.Checkpoint();
            log.Append(_fixture.Event(1));
        }

        // Dispose wrote a checkpoint after entry 1; drop it and garble entry 1's last bytes (a torn page at the end of the file).
        var path = _fixture.Segment();
        var bytes = File.ReadAllBytes(path);
        var records = AuditFixture.Records(bytes);
        var entry1 = records.Single(r => r.Type == 0 && r.Index == 1);
        bytes = bytes[..(entry1.Offset + entry1.Length)];
        bytes[^3] ^= 0xFF;
        File.WriteAllBytes(path, bytes);
        File.Delete(Path.Combine(_fixture.Directory, "checkpoint"));

        using var reopened = _fixture.Open();

        Assert.Equal(1, reopened.TreeSize);
    }

    [Fact]
    public void Open_ZeroFilledTail_TruncatesIt()
    {
        using (var log = _fixture.Open())
        {
            log.Append(_fixture.Event(0));
        }

        using (var stream = new FileStream(_fixture.Segment(), FileMode.Append))
        {
            stream.Write(new byte[300]);
        }

        using var reopened = _fixture.Open();
        Assert.Equal(1, reopened.TreeSize);
    }

    [Fact]
    public void Open_DamageBeforeTheTail_ThrowsAndDoesNotAppend()
    {
        using (var log = _fixture.Open())
        {
            for (var i = 0; i < 5; i++)
            {
                log.Append(_fixture.Event(i));
            }
        }

        var path = _fixture.Segment();
        var bytes = File.ReadAllBytes(path);
        var entry2 = AuditFixture.Records(bytes).Single(r => r.Type == 0 && r.Index == 2);
        bytes[entry2.Offset + 20] ^= 0x01;
        File.WriteAllBytes(path, bytes);
        var length = bytes.Length;

        var ex = Assert.Throws<AuditLogException>(() => _fixture.Open());

        Assert.Contains("entry 2", ex.Message, StringComparison.Ordinal);
        Assert.Contains("agentid audit verify", ex.Message, StringComparison.Ordinal);
        Assert.Equal(length, new FileInfo(path).Length);
    }

    [Fact]
    public void Open_LogShorterThanPublishedCheckpoint_Throws()
    {
        using (var log = _fixture.Open())
        {
            for (var i = 0; i < 10; i++)
            {
                log.Append(_fixture.Event(i));
            }
        }

        // Cut the segment back to the first three entries: entries covered by the published checkpoint are gone.
        var path = _fixture.Segment();
        var bytes = File.ReadAllBytes(path);
        var entry3 = AuditFixture.Records(bytes).Single(r => r.Type == 0 && r.Index == 3);
        File.WriteAllBytes(path, bytes[..entry3.Offset]);

        var ex = Assert.Throws<AuditLogException>(() => _fixture.Open());
        Assert.Contains("entries 3–9 were lost", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Append_PastMaxSegmentBytes_RotatesAtCheckpoint()
    {
        using (var log = _fixture.Open(o => { o.MaxSegmentBytes = 4096; o.CheckpointEveryEntries = 5; }))
        {
            for (var i = 0; i < 60; i++)
            {
                log.Append(_fixture.Event(i));
            }
        }

        var segments = Directory.GetFiles(_fixture.Directory, "audit-*.log");
        Assert.True(segments.Length > 2, $"{segments.Length} segments");
        var result = _fixture.Verify();
        Assert.True(result.IsValid, result.Message);
        Assert.Equal(60, result.TreeSize);
        using var reopened = _fixture.Open();
        Assert.Equal(60, reopened.TreeSize);
    }

    [Theory]
    [InlineData(AuditFlushMode.EveryAppend)]
    [InlineData(AuditFlushMode.OnCheckpoint)]
    [InlineData(AuditFlushMode.Never)]
    public void Append_EachFlushMode_ProducesAVerifiableLog(AuditFlushMode mode)
    {
        using (var log = _fixture.Open(o => o.FlushMode = mode))
        {
            for (var i = 0; i < 12; i++)
            {
                log.Append(_fixture.Event(i));
            }
        }

        var result = _fixture.Verify();
        Assert.True(result.IsValid, result.Message);
        Assert.Equal(12, result.TreeSize);
    }

    [Fact]
    public void Records_OnDisk_AreLengthPrefixedWithLeafHashChecksum()
    {
        var e = _fixture.Event(0);
        using (var log = _fixture.Open())
        {
            log.Append(e);
        }

        var bytes = File.ReadAllBytes(_fixture.Segment());
        Assert.Equal("AGIDAUD1"u8.ToArray(), bytes[..8]);
        var json = e.ToCanonicalJson();
        Assert.Equal((uint)json.Length, BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(8)));
        Assert.Equal(0L, BinaryPrimitives.ReadInt64BigEndian(bytes.AsSpan(12)));
        Assert.Equal(0, bytes[20]);
        Assert.Equal(json, bytes[21..(21 + json.Length)]);
        Assert.Equal(MerkleTree.HashLeaf(json), bytes[(21 + json.Length)..(21 + json.Length + 32)]);
    }

    [Fact]
    public async Task AppendAsync_ConcurrentWriters_AllEntriesLandOnce()
    {
        await using (var log = _fixture.Open(o => o.CheckpointEveryEntries = 50))
        {
            await Task.WhenAll(Enumerable.Range(0, 4).Select(t => Task.Run(async () =>
            {
                for (var i = 0; i < 100; i++)
                {
                    await log.AppendAsync(_fixture.Event((t * 1000) + i));
                }
            })));
            Assert.Equal(400, log.TreeSize);
        }

        var result = _fixture.Verify();
        Assert.True(result.IsValid, result.Message);
        Assert.Equal(400, result.TreeSize);
    }

    [Fact]
    public void Open_InvalidOptions_ThrowsActionableErrors()
    {
        Assert.Contains("Directory is required", Assert.Throws<ArgumentException>(() => AuditLog.Open(new AuditLogOptions(), _fixture.Svid)).Message, StringComparison.Ordinal);
        Assert.Contains("at least 1", Assert.Throws<ArgumentException>(() => _fixture.Open(o => o.CheckpointEveryEntries = 0)).Message, StringComparison.Ordinal);
        Assert.Contains("must be positive", Assert.Throws<ArgumentException>(() => _fixture.Open(o => o.CheckpointInterval = TimeSpan.Zero)).Message, StringComparison.Ordinal);
        Assert.Contains("not a valid origin", Assert.Throws<ArgumentException>(() => _fixture.Open(o => o.Origin = "a b")).Message, StringComparison.Ordinal);
    }

    public static TheoryData<Action<AuditLogOptions>, string> BadOptions => new()
    {
        { o => o.Directory = " ", "AuditLogOptions.Directory is required: set it to the directory that holds the audit log." },
        { o => o.CheckpointInterval = TimeSpan.FromSeconds(-1), "AuditLogOptions.CheckpointInterval must be positive; it is -00:00:01." },
        { o => o.CheckpointEveryEntries = 0, "AuditLogOptions.CheckpointEveryEntries must be at least 1; it is 0." },
        { o => o.MaxSegmentBytes = 4095, "AuditLogOptions.MaxSegmentBytes must be at least 4096; it is 4095." },
        { o => o.FlushMode = (AuditFlushMode)7, "AuditLogOptions.FlushMode" },
        { o => o.Origin = "a+b", "AuditLogOptions.Origin 'a+b' is not a valid origin or key name" },
    };

    [Theory]
    [MemberData(nameof(BadOptions))]
    public void Open_BadOption_ThrowsTheSpecificMessage(Action<AuditLogOptions> breakIt, string message)
    {
        var ex = Assert.Throws<ArgumentException>(() => _fixture.Open(breakIt));

        Assert.Contains(message, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Timer_SignerUnavailable_LogsAndSignsOnceTheSvidIsBack()
    {
        var collector = new Microsoft.Extensions.Logging.Testing.FakeLogCollector();
        var signer = new ToggleSource(_fixture.Svid);
        using var log = AuditLog.Open(_fixture.Options(o => o.CheckpointEveryEntries = 1000), signer, _fixture.Time, new Microsoft.Extensions.Logging.Testing.FakeLogger(collector));
        log.Append(_fixture.Event(0));
        signer.Available = false;

        _fixture.Time.Advance(TimeSpan.FromSeconds(1));

        Assert.Null(log.LatestCheckpoint);
        Assert.Contains(collector.GetSnapshot(), r => r.Id.Id == 7004);

        signer.Available = true;
        _fixture.Time.Advance(TimeSpan.FromSeconds(1));

        Assert.Equal(1, log.LatestCheckpoint!.Checkpoint.TreeSize);
    }

    [Fact]
    public void Append_AfterDispose_Throws()
    {
        var log = _fixture.Open();
        log.Dispose();
        Assert.Throws<ObjectDisposedException>(() => log.Append(_fixture.Event(0)));
    }

    public void Dispose() => _fixture.Dispose();

    private sealed class ToggleSource(X509Svid svid) : IX509SvidSource
    {
        public bool Available { get; set; } = true;

        public X509Svid GetCurrent() => Available ? svid : throw new IdentityUnavailableException("The SVID expired while the issuer was unreachable.");
    }
}
