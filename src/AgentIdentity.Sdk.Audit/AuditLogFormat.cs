using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;

namespace AgentIdentity.Audit;

/// <summary>A stored audit log is damaged or inconsistent, and cannot be opened or appended to safely.</summary>
public sealed class AuditLogException : AgentIdentityException
{
    /// <summary>Initializes a new instance of the <see cref="AuditLogException"/> class.</summary>
    /// <param name="message">What is wrong and what to do.</param>
    /// <param name="innerException">The cause, if any.</param>
    public AuditLogException(string message, Exception? innerException = null)
        : base(message, innerException)
    {
    }
}

/// <summary>
/// The on-disk format. A log directory holds segments <c>audit-00000001.log</c>, … and the latest signed checkpoint: the
/// C2SP signed note alone in <c>checkpoint</c>, its signer's certificates (PEM, leaf first) in <c>checkpoint.pem</c>. A segment is the 8-byte magic <c>AGIDAUD1</c> followed by records:
/// <c>u32 payload length ‖ u64 index ‖ u8 type ‖ payload ‖ 32-byte checksum</c> (big-endian), where the checksum is
/// SHA-256(type ‖ payload). Event records have type 0x00, so their checksum is exactly their RFC 6962 leaf hash; checkpoint
/// records have type 0x02 and index = tree size.
/// </summary>
internal static class AuditLogFormat
{
    public const int HeaderSize = 13;
    public const int ChecksumSize = 32;
    public const int MaxPayload = 16 * 1024 * 1024;
    public const byte EventType = 0x00;
    public const byte CheckpointType = 0x02;
    public const string CheckpointFileName = "checkpoint";
    public const string CheckpointCertificatesFileName = "checkpoint.pem";
    public static ReadOnlySpan<byte> Magic => "AGIDAUD1"u8;

    public static string SegmentName(long number) => $"audit-{number.ToString("D8", CultureInfo.InvariantCulture)}.log";

    public static List<(long Number, string Path)> ListSegments(string directory)
    {
        var segments = new List<(long, string)>();
        foreach (var path in Directory.EnumerateFiles(directory, "audit-*.log"))
        {
            var name = Path.GetFileNameWithoutExtension(path);
            if (long.TryParse(name.AsSpan("audit-".Length), NumberStyles.None, CultureInfo.InvariantCulture, out var number))
            {
                segments.Add((number, path));
            }
        }

        segments.Sort((a, b) => a.Item1.CompareTo(b.Item1));
        return segments;
    }

    /// <summary>Reads the records of one segment, stopping at the first damaged one.</summary>
    /// <param name="path">The segment.</param>
    /// <param name="isLast">Whether it is the log's last segment (where a torn tail can be).</param>
    /// <param name="readPastAlteredRecords">Whether to go on after a record whose checksum does not match but whose header is
    /// intact (its length still tells where the next record starts): that record is returned with its (altered) data, damage
    /// <see cref="RecordDamage.BadChecksum"/> and its <see cref="AuditRecord.End"/>. For display (the audit explorer), never for
    /// verification or appending.</param>
    /// <returns>The records.</returns>
    public static IEnumerable<AuditRecord> ReadSegment(string path, bool isLast, bool readPastAlteredRecords = false)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1 << 16);
        var length = stream.Length;
        var magic = new byte[Magic.Length];
        var read = stream.ReadAtLeast(magic, magic.Length, throwOnEndOfStream: false);
        if (read < magic.Length)
        {
            yield return AuditRecord.Damaged(path, 0, RecordDamage.Incomplete, isLast, "the segment header is incomplete");
            yield break;
        }

        if (!magic.AsSpan().SequenceEqual(Magic))
        {
            yield return AuditRecord.Damaged(path, 0, RecordDamage.BadHeader, false, "the segment does not start with the AGIDAUD1 magic");
            yield break;
        }

        var header = new byte[HeaderSize];
        long offset = Magic.Length;
        while (offset < length)
        {
            read = stream.ReadAtLeast(header, HeaderSize, throwOnEndOfStream: false);
            if (read < HeaderSize)
            {
                yield return AuditRecord.Damaged(path, offset, RecordDamage.Incomplete, isLast, "the file ends inside a record header");
                yield break;
            }

            var payloadLength = BinaryPrimitives.ReadUInt32BigEndian(header);
            var index = BinaryPrimitives.ReadInt64BigEndian(header.AsSpan(4));
            var type = header[12];
            var end = offset + HeaderSize + payloadLength + ChecksumSize;
            if (payloadLength > MaxPayload || (type != EventType && type != CheckpointType))
            {
                var tail = end > length || IsZeroTail(path, offset);
                yield return AuditRecord.Damaged(path, offset, tail ? RecordDamage.Incomplete : RecordDamage.BadChecksum, isLast && tail, $"the record header is garbled (type 0x{type:x2}, length {payloadLength})");
                yield break;
            }

            if (end > length)
            {
                yield return AuditRecord.Damaged(path, offset, RecordDamage.Incomplete, isLast, "the file ends inside the record");
                yield break;
            }

            // data[0] = type, data[1..] = payload: the checksum input, and for events the RFC 6962 leaf-hash input.
            var data = new byte[1 + payloadLength];
            data[0] = type;
            stream.ReadExactly(data, 1, (int)payloadLength);
            var stored = new byte[ChecksumSize];
            stream.ReadExactly(stored);
            var computed = SHA256.HashData(data);
            if (!CryptographicOperations.FixedTimeEquals(computed, stored))
            {
                var tail = end == length || IsZeroTail(path, offset);
                if (readPastAlteredRecords && !tail)
                {
                    yield return new AuditRecord(path, offset, end, type, index, data, computed, RecordDamage.BadChecksum, false, "its checksum does not match its content");
                    offset = end;
                    continue;
                }

                yield return AuditRecord.Damaged(path, offset, tail ? RecordDamage.Incomplete : RecordDamage.BadChecksum, isLast && tail, "its checksum does not match its content", index, type);
                yield break;
            }

            yield return new AuditRecord(path, offset, end, type, index, data, computed, RecordDamage.None, false, null);
            offset = end;
        }
    }

    private static bool IsZeroTail(string path, long offset)
    {
        // A crash can leave a zero-filled tail (allocated blocks never written): treat it as incomplete, not tampered.
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        stream.Position = offset;
        var buffer = new byte[8192];
        int n;
        while ((n = stream.Read(buffer)) > 0)
        {
            if (buffer.AsSpan(0, n).ContainsAnyExcept((byte)0))
            {
                return false;
            }
        }

        return true;
    }

    public static int WriteHeader(Span<byte> destination, int payloadLength, long index, byte type)
    {
        BinaryPrimitives.WriteUInt32BigEndian(destination, (uint)payloadLength);
        BinaryPrimitives.WriteInt64BigEndian(destination[4..], index);
        destination[12] = type;
        return HeaderSize;
    }
}

internal enum RecordDamage
{
    None,
    Incomplete,
    BadChecksum,
    BadHeader,
}

/// <summary>One record read from a segment; <see cref="Data"/> is type ‖ payload.</summary>
internal sealed record AuditRecord(string Segment, long Offset, long End, byte Type, long Index, byte[] Data, byte[] Checksum, RecordDamage Damage, bool TornTailCandidate, string? Problem)
{
    public ReadOnlySpan<byte> Payload => Data.AsSpan(1);

    public static AuditRecord Damaged(string segment, long offset, RecordDamage damage, bool tornTailCandidate, string problem, long index = -1, byte type = 0) =>
        new(segment, offset, -1, type, index, [], [], damage, tornTailCandidate, problem);
}
