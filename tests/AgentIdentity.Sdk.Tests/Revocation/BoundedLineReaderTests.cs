using System.Text;

namespace AgentIdentity.Tests.Revocation;

/// <summary>The line reader of the revocation feed's event stream: a peer that never sends a newline costs a bounded amount of
/// memory (issue 18, defect 10).</summary>
public sealed class BoundedLineReaderTests
{
    [Fact]
    public async Task ReadLineAsync_LfCrLfAndCr_EndLinesAndBomIsStripped()
    {
        var reader = new BoundedLineReader(new MemoryStream("\uFEFFevent: head\r\ndata: 1 -\n\rid: 2\r:heartbeat"u8.ToArray()), 64);
        var lines = new List<string?>();
        for (var i = 0; i < 6; i++)
        {
            lines.Add(await reader.ReadLineAsync(CancellationToken.None));
        }

        Assert.Equal(["event: head", "data: 1 -", string.Empty, "id: 2", ":heartbeat", null], lines);
    }

    [Fact]
    public async Task ReadLineAsync_PeerNeverSendsNewline_FailsAfterTheLimitInsteadOfGrowing()
    {
        var endless = new EndlessStream();
        var reader = new BoundedLineReader(endless, RevocationFeedSubscriber.MaxLineBytes);

        var ex = await Assert.ThrowsAsync<IOException>(() => reader.ReadLineAsync(CancellationToken.None).AsTask());

        Assert.Contains($"longer than {RevocationFeedSubscriber.MaxLineBytes} bytes", ex.Message, StringComparison.Ordinal);
        Assert.InRange(endless.Served, RevocationFeedSubscriber.MaxLineBytes, RevocationFeedSubscriber.MaxLineBytes + 4096);
    }

    [Fact]
    public async Task ReadLineAsync_LineOfExactlyTheLimit_IsRead()
    {
        var line = new string('a', 100);
        var reader = new BoundedLineReader(new MemoryStream(Encoding.UTF8.GetBytes(line + "\n" + line + "a\n")), 100);
        Assert.Equal(line, await reader.ReadLineAsync(CancellationToken.None));
        await Assert.ThrowsAsync<IOException>(() => reader.ReadLineAsync(CancellationToken.None).AsTask());
    }

    /// <summary>A response body that sends 'a' forever.</summary>
    private sealed class EndlessStream : Stream
    {
        public long Served { get; private set; }

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => Served; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count)
        {
            buffer.AsSpan(offset, count).Fill((byte)'a');
            Served += count;
            return count;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
