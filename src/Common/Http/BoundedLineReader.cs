using System.Buffers;
using System.Text;

namespace AgentIdentity;

/// <summary>
/// Reads UTF-8 lines (ended by LF, CRLF or CR, as <c>text/event-stream</c> allows) from a network stream, refusing any line
/// longer than a fixed number of bytes: a peer that never sends a newline costs at most that much memory, not all of it.
/// </summary>
internal sealed class BoundedLineReader
{
    private readonly Stream _stream;
    private readonly int _maxLineBytes;
    private readonly byte[] _buffer = new byte[4096];
    private readonly ArrayBufferWriter<byte> _line = new();
    private int _start;
    private int _end;
    private bool _skipLineFeed;
    private bool _first = true;

    public BoundedLineReader(Stream stream, int maxLineBytes)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxLineBytes, 1);
        _stream = stream;
        _maxLineBytes = maxLineBytes;
    }

    /// <summary>Reads the next line, without its terminator; <see langword="null"/> at the end of the stream.</summary>
    /// <exception cref="IOException">The line is longer than the limit, or the stream failed.</exception>
    public async ValueTask<string?> ReadLineAsync(CancellationToken cancellationToken)
    {
        _line.ResetWrittenCount();
        while (true)
        {
            if (_start == _end)
            {
                _start = 0;
                _end = await _stream.ReadAsync(_buffer, cancellationToken).ConfigureAwait(false);
                if (_end == 0)
                {
                    return _line.WrittenCount > 0 ? Decode() : null;
                }
            }

            if (_skipLineFeed)
            {
                _skipLineFeed = false;
                if (_buffer[_start] == (byte)'\n')
                {
                    _start++;
                    continue;
                }
            }

            var available = _buffer.AsSpan(_start, _end - _start);
            var end = available.IndexOfAny((byte)'\n', (byte)'\r');
            var take = end < 0 ? available.Length : end;
            if (_line.WrittenCount + take > _maxLineBytes)
            {
                throw new IOException($"The peer sent a line longer than {_maxLineBytes} bytes; the connection is abandoned.");
            }

            _line.Write(available[..take]);
            if (end < 0)
            {
                _start = _end;
                continue;
            }

            _skipLineFeed = available[end] == (byte)'\r';
            _start += end + 1;
            return Decode();
        }
    }

    private string Decode()
    {
        var bytes = _line.WrittenSpan;
        if (_first)
        {
            _first = false;
            if (bytes.StartsWith("\uFEFF"u8))
            {
                bytes = bytes[3..];
            }
        }

        return Encoding.UTF8.GetString(bytes);
    }
}
