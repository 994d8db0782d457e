using System.Buffers;
using System.ComponentModel.DataAnnotations;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace AgentIdentity.Audit;

/// <summary>When the audit log forces written data to stable storage (fsync).</summary>
public enum AuditFlushMode
{
    /// <summary>At every checkpoint (the default): nothing before the last checkpoint is lost, even on power loss.</summary>
    OnCheckpoint = 0,

    /// <summary>After every append: no acknowledged event is lost, at the cost of one fsync per event.</summary>
    EveryAppend,

    /// <summary>Never fsync: data reaches the operating system at every checkpoint, so it survives a process crash but not a power loss.</summary>
    Never,
}

/// <summary>Options of <see cref="AuditLog"/>.</summary>
public sealed class AuditLogOptions
{
    /// <summary>Gets or sets the directory that holds the log's segments and latest checkpoint. Required.</summary>
    [Required(ErrorMessage = "{0} is required: set it to the directory that holds the audit log.")]
    public string? Directory { get; set; }

    /// <summary>Gets or sets the log's origin (also the signed-note key name).</summary>
    /// <value>The default is derived from the signer's SPIFFE ID: <c>&lt;trust domain&gt;/agent/&lt;name&gt;/audit</c>.</value>
    public string? Origin { get; set; }

    /// <summary>Gets or sets the longest time between checkpoints while entries are waiting.</summary>
    /// <value>The default value is 1 second. Must be positive.</value>
    [PositiveTimeSpan]
    public TimeSpan CheckpointInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Gets or sets the largest number of entries between checkpoints.</summary>
    /// <value>The default value is 1 000. At least 1.</value>
    [AtLeast(1)]
    public int CheckpointEveryEntries { get; set; } = 1000;

    /// <summary>Gets or sets the fsync policy.</summary>
    /// <value>The default value is <see cref="AuditFlushMode.OnCheckpoint"/>.</value>
    [EnumDataType(typeof(AuditFlushMode))]
    public AuditFlushMode FlushMode { get; set; } = AuditFlushMode.OnCheckpoint;

    /// <summary>Gets or sets the size at which a segment is closed and a new one started.</summary>
    /// <value>The default value is 64 MiB. At least 4096.</value>
    [AtLeast(4096)]
    public long MaxSegmentBytes { get; set; } = 64L * 1024 * 1024;

    /// <summary>Gets or sets the file that holds the key under which tool-call argument values are hashed (HMAC-SHA256): the base64 of
    /// at least 32 random bytes (<c>openssl rand -base64 32</c>). Keep it outside <see cref="Directory"/>, apart from the log (a
    /// secret mount, another volume), and give it to auditors who must check values (<c>agentid audit hash-arg</c>).</summary>
    /// <value>The default is <see langword="null"/>: <c>AddAuditLog</c> keys the hashes with a random per-process key (warning 7005),
    /// so no one, the operator included, can check a value against them later.</value>
    public string? ArgumentKeyFile { get; set; }

    /// <summary>Runs every rule (attributes and the origin's syntax).</summary>
    /// <exception cref="ArgumentException">An option is invalid; the message names it.</exception>
    internal void Validate()
    {
        if (OptionsValidation.Validate(null, this, new AuditLogOptionsValidator(), AuditLogOptionsRules.Instance) is { } error)
        {
            throw new ArgumentException($"Invalid audit log options: {error}");
        }
    }
}

/// <summary>The attribute rules of <see cref="AuditLogOptions"/> (source-generated).</summary>
[OptionsValidator]
internal sealed partial class AuditLogOptionsValidator : IValidateOptions<AuditLogOptions>;

/// <summary>The rule of <see cref="AuditLogOptions"/> beyond attributes: a set origin is a valid signed-note key name.</summary>
internal sealed class AuditLogOptionsRules : IValidateOptions<AuditLogOptions>
{
    public static AuditLogOptionsRules Instance { get; } = new();

    public ValidateOptionsResult Validate(string? name, AuditLogOptions options)
    {
        if (options.Origin is { } origin && Checkpoint.DescribeInvalidKeyName(origin) is { } error)
        {
            return ValidateOptionsResult.Fail($"{OptionsValidation.DisplayName(name, nameof(AuditLogOptions))}.Origin {error}");
        }

        if (options.ArgumentKeyFile is { Length: > 0 } keyFile && options.Directory is { Length: > 0 } directory)
        {
            var log = Path.TrimEndingDirectorySeparator(Path.GetFullPath(directory)) + Path.DirectorySeparatorChar;
            if (Path.GetFullPath(keyFile).StartsWith(log, StringComparison.Ordinal))
            {
                return ValidateOptionsResult.Fail($"{OptionsValidation.DisplayName(name, nameof(AuditLogOptions))}.ArgumentKeyFile '{keyFile}' is inside the log directory '{directory}': keep the argument key apart from the log, or whoever copies the log can reverse its argument hashes.");
            }
        }

        return ValidateOptionsResult.Success;
    }
}

/// <summary>
/// A tamper-evident, append-only audit log on disk: each event's RFC 8785 canonical JSON is a leaf of an RFC 9162 Merkle
/// tree, and C2SP checkpoints signed with the agent's own SVID key are written at least every
/// <see cref="AuditLogOptions.CheckpointInterval"/> or <see cref="AuditLogOptions.CheckpointEveryEntries"/> entries.
/// </summary>
/// <remarks>
/// <para>Crash safety: every record is length-prefixed and checksummed. On open, an incomplete record at the end of the last
/// segment (a crash mid-write) is truncated; damage anywhere else, or a log shorter than its last published checkpoint, makes
/// <see cref="Open"/> throw <see cref="AuditLogException"/> instead of appending to a damaged log. Data is flushed to the
/// operating system at every checkpoint and fsynced according to <see cref="AuditLogOptions.FlushMode"/>.</para>
/// <para>Memory: the tree state is a compact range of at most 64 hashes, whatever the log size.</para>
/// <para>Thread-safe: appends are serialized.</para>
/// </remarks>
public sealed class AuditLog : IAuditSink, IAsyncDisposable, IDisposable
{
    private readonly Lock _gate = new();
    private readonly AuditLogOptions _options;
    private readonly IX509SvidSource _signer;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly CompactMerkleTree _tree;
    private readonly ArrayBufferWriter<byte> _buffer = new(1024);
    private readonly string _directory;
    private readonly ITimer _timer;
    private FileStream _segment;
    private long _segmentNumber;
    private SignedCheckpoint? _latest;
    private SigningHandle? _handle;
    private bool _disposed;

    private AuditLog(AuditLogOptions options, IX509SvidSource signer, TimeProvider time, ILogger logger, string origin, string directory,
        CompactMerkleTree tree, FileStream segment, long segmentNumber, SignedCheckpoint? latest)
    {
        _options = options;
        _signer = signer;
        _time = time;
        _logger = logger;
        Origin = origin;
        _directory = directory;
        _tree = tree;
        _segment = segment;
        _segmentNumber = segmentNumber;
        _latest = latest;
        TryHoldSigningHandle();
        _timer = time.CreateTimer(static state => ((AuditLog)state!).OnTimer(), this, options.CheckpointInterval, options.CheckpointInterval);
    }

    /// <summary>Gets the log's origin (the first line of its checkpoints and the key name of their signatures).</summary>
    public string Origin { get; }

    /// <summary>Gets the number of entries in the log.</summary>
    public long TreeSize
    {
        get
        {
            lock (_gate)
            {
                return _tree.Size;
            }
        }
    }

    /// <summary>Gets the latest signed checkpoint, or <see langword="null"/> before the first one.</summary>
    public SignedCheckpoint? LatestCheckpoint
    {
        get
        {
            lock (_gate)
            {
                return _latest;
            }
        }
    }

    /// <summary>Opens (or creates) the log in <see cref="AuditLogOptions.Directory"/>, repairing a torn tail left by a crash.</summary>
    /// <param name="options">The options.</param>
    /// <param name="signer">The agent's SVID source; its ECDSA key signs the checkpoints.</param>
    /// <param name="timeProvider">The clock that drives checkpoints; <see langword="null"/> for <see cref="TimeProvider.System"/>.</param>
    /// <param name="logger">The logger; <see langword="null"/> for none.</param>
    /// <returns>The open log.</returns>
    /// <exception cref="ArgumentException">The options are invalid.</exception>
    /// <exception cref="AuditLogException">The stored log is damaged before its tail, or lost entries covered by its last checkpoint.</exception>
    /// <exception cref="IdentityUnavailableException">No <see cref="AuditLogOptions.Origin"/> is set and the signer has no SVID yet to derive it from.</exception>
    public static AuditLog Open(AuditLogOptions options, IX509SvidSource signer, TimeProvider? timeProvider = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(signer);
        options.Validate();
        timeProvider ??= TimeProvider.System;
        logger ??= NullLogger.Instance;
        var directory = Path.GetFullPath(options.Directory!);
        System.IO.Directory.CreateDirectory(directory);
        var origin = options.Origin ?? DefaultOrigin(signer.GetCurrent().Id);

        var tree = new CompactMerkleTree();
        SignedCheckpoint? latest = null;
        var segments = AuditLogFormat.ListSegments(directory);
        for (var s = 0; s < segments.Count; s++)
        {
            var isLast = s == segments.Count - 1;
            var (_, path) = segments[s];
            foreach (var record in AuditLogFormat.ReadSegment(path, isLast))
            {
                if (record.Damage != RecordDamage.None)
                {
                    if (!record.TornTailCandidate)
                    {
                        throw new AuditLogException(
                            $"Audit log '{directory}' is damaged: entry {tree.Size} in '{Path.GetFileName(path)}' at offset {record.Offset}: {record.Problem}. " +
                            "It was not written by a crash (more data follows); it may have been tampered with. Run 'agentid audit verify' and keep the files for investigation; the log is not appended to.");
                    }

                    Truncate(path, record.Offset, tree.Size, logger);
                    break;
                }

                if (record.Index != tree.Size)
                {
                    throw new AuditLogException(
                        $"Audit log '{directory}' is damaged: the record at offset {record.Offset} of '{Path.GetFileName(path)}' has index {record.Index}, expected {tree.Size} (entries removed or reordered). Run 'agentid audit verify'; the log is not appended to.");
                }

                if (record.Type == AuditLogFormat.EventType)
                {
                    tree.Append(record.Checksum);
                }
                else
                {
                    latest = ParseCheckpointRecord(record, directory);
                }
            }
        }

        var published = ReadPublishedCheckpoint(directory);
        if (published is not null && published.Checkpoint.TreeSize > tree.Size)
        {
            throw new AuditLogException(
                $"Audit log '{directory}' holds {tree.Size} entries but its last published checkpoint covers {published.Checkpoint.TreeSize}: {AuditLogVerifier.EntriesWere(tree.Size, published.Checkpoint.TreeSize)} lost or removed. The log is not appended to.");
        }

        latest ??= published;
        FileStream segment;
        long number;
        if (segments.Count == 0)
        {
            number = 1;
            segment = CreateSegment(directory, number);
        }
        else
        {
            (number, var path) = segments[^1];
            segment = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.Read, 1 << 16);
            if (segment.Length < AuditLogFormat.Magic.Length)
            {
                segment.SetLength(0);
                segment.Write(AuditLogFormat.Magic);
            }

            segment.Seek(0, SeekOrigin.End);
        }

        logger.AuditLogOpened(directory, origin, tree.Size, latest?.Checkpoint.TreeSize ?? 0);
        return new AuditLog(options, signer, timeProvider, logger, origin, directory, tree, segment, number, latest);
    }

    /// <summary>The default origin for a signer: <c>&lt;trust domain&gt;/agent/&lt;name&gt;/audit</c> for agent IDs, else the ID without its scheme plus <c>/audit</c>.</summary>
    /// <param name="signer">The signer's SPIFFE ID.</param>
    /// <returns>The origin.</returns>
    public static string DefaultOrigin(SpiffeId signer) =>
        signer.TryGetAgent(out var name, out _) ? $"{signer.TrustDomain.Name}/agent/{name}/audit" : $"{signer.TrustDomain.Name}{signer.Path}/audit";

    /// <inheritdoc/>
    public ValueTask AppendAsync(AuditEvent auditEvent, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        Append(auditEvent);
        return ValueTask.CompletedTask;
    }

    /// <summary>Appends an event.</summary>
    /// <param name="auditEvent">The event.</param>
    /// <returns>The event's index (leaf number) in the log.</returns>
    /// <exception cref="ArgumentException">The event cannot be serialized (see <see cref="AuditEvent.ToCanonicalJson"/>).</exception>
    /// <exception cref="ObjectDisposedException">The log is closed.</exception>
    public long Append(AuditEvent auditEvent)
    {
        ArgumentNullException.ThrowIfNull(auditEvent);
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _buffer.ResetWrittenCount();
            _buffer.GetSpan(AuditLogFormat.HeaderSize);
            _buffer.Advance(AuditLogFormat.HeaderSize);
            auditEvent.WriteCanonicalJson(_buffer);
            var index = _tree.Size;
            WriteRecord(AuditLogFormat.EventType, index, appendToTree: true);
            if (_handle is null)
            {
                TryHoldSigningHandle();
            }

            if (_options.FlushMode == AuditFlushMode.EveryAppend)
            {
                _segment.Flush(flushToDisk: true);
            }

            if (_tree.Size - (_latest?.Checkpoint.TreeSize ?? 0) >= _options.CheckpointEveryEntries)
            {
                CheckpointCore();
            }

            return index;
        }
    }

    /// <summary>Signs and writes a checkpoint of the current tree now (unless the latest checkpoint already covers it).</summary>
    /// <returns>The latest checkpoint.</returns>
    /// <exception cref="IdentityUnavailableException">The agent has no valid SVID to sign with.</exception>
    public SignedCheckpoint Checkpoint()
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _latest is { } latest && latest.Checkpoint.TreeSize == _tree.Size && latest.Checkpoint.Origin == Origin ? latest : CheckpointCore();
        }
    }

    /// <summary>Gets the current root hash.</summary>
    /// <returns>The root hash of all entries.</returns>
    public byte[] GetRootHash()
    {
        lock (_gate)
        {
            return _tree.GetRootHash();
        }
    }

    /// <summary>
    /// The signing material of the SVID that signed last, held by the log itself (its own key handle and public certificate
    /// copies): when the log closes after the credential that rotates its SVIDs (a container that disposes the credential
    /// first, a credential stopped at shutdown), the final checkpoint is still signed, with that SVID's key, while its
    /// certificate is valid. Never used once it has expired, nor while the source offers a current SVID.
    /// </summary>
    private sealed class SigningHandle : IDisposable
    {
        private SigningHandle(X509Svid source, ECDsa key, X509Certificate2 leaf, X509Certificate2[] intermediates)
        {
            Source = source;
            Key = key;
            Leaf = leaf;
            Intermediates = intermediates;
            NotAfter = source.NotAfter;
        }

        /// <summary>The snapshot it was made from (compared by reference only; its certificate may be released by now).</summary>
        public X509Svid Source { get; }

        public ECDsa Key { get; }

        public X509Certificate2 Leaf { get; }

        public X509Certificate2[] Intermediates { get; }

        public DateTimeOffset NotAfter { get; }

        public static SigningHandle From(X509Svid svid)
        {
            var key = svid.Certificate.GetECDsaPrivateKey()
                ?? throw new ArgumentException($"The SVID of '{svid.Id}' has no ECDSA private key; audit checkpoints are signed with ECDSA (signed-note type 0x02). Use KeyAlgorithm.EcdsaP256.", nameof(svid));
            try
            {
                var leaf = X509CertificateLoader.LoadCertificate(svid.Certificate.RawData);
                var intermediates = svid.Intermediates.Select(c => X509CertificateLoader.LoadCertificate(c.RawData)).ToArray();
                return new SigningHandle(svid, key, leaf, intermediates);
            }
            catch
            {
                key.Dispose();
                throw;
            }
        }

        /// <summary>Public copies for a checkpoint (which owns them).</summary>
        public (X509Certificate2 Leaf, X509Certificate2[] Intermediates) CopyCertificates() =>
            (X509CertificateLoader.LoadCertificate(Leaf.RawData), [.. Intermediates.Select(c => X509CertificateLoader.LoadCertificate(c.RawData))]);

        public void Dispose()
        {
            Key.Dispose();
            Leaf.Dispose();
            foreach (var intermediate in Intermediates)
            {
                intermediate.Dispose();
            }
        }
    }

    /// <summary>Takes the signing handle of the source's SVID when none is held yet (at open and at the first appends), so that even a
    /// log closed before its first checkpoint, after its credential, can sign its entries.</summary>
    private void TryHoldSigningHandle()
    {
        try
        {
            CurrentSigningHandle(_time.GetUtcNow());
        }
        catch (Exception ex) when (ex is IdentityUnavailableException or ObjectDisposedException or CryptographicException or ArgumentException)
        {
            // No SVID yet (or not an ECDSA one): the first checkpoint reports it.
        }
    }

    /// <summary>The handle of the source's current SVID, refreshed on rotation; the held one when the source has been closed.</summary>
    private SigningHandle CurrentSigningHandle(DateTimeOffset now)
    {
        try
        {
            var svid = _signer.GetCurrent();
            if (_handle is null || !ReferenceEquals(_handle.Source, svid))
            {
                var fresh = SigningHandle.From(svid);
                _handle?.Dispose();
                _handle = fresh;
            }

            return _handle;
        }
        catch (Exception ex) when (ex is ObjectDisposedException or CryptographicException)
        {
            // The source (or its certificate) was closed before the log: sign the tail with the key the log holds, if its SVID is
            // still valid. A revoked or expired identity throws IdentityUnavailableException instead, and is never signed for.
            if (_handle is { } held && now < held.NotAfter)
            {
                return held;
            }

            throw;
        }
    }

    private SignedCheckpoint CheckpointCore()
    {
        var now = _time.GetUtcNow();
        var handle = CurrentSigningHandle(now);
        var size = _tree.Size;
        Span<byte> root = stackalloc byte[MerkleTree.HashSize];
        _tree.GetRootHash(root);
        var (leaf, intermediates) = handle.CopyCertificates();
        var signed = SignedCheckpoint.Sign(Origin, size, root, now, handle.Key, leaf, intermediates);
        var text = signed.ToString();
        _buffer.ResetWrittenCount();
        _buffer.GetSpan(AuditLogFormat.HeaderSize);
        _buffer.Advance(AuditLogFormat.HeaderSize);
        var span = _buffer.GetSpan(Encoding.UTF8.GetMaxByteCount(text.Length));
        _buffer.Advance(Encoding.UTF8.GetBytes(text, span));
        WriteRecord(AuditLogFormat.CheckpointType, size, appendToTree: false);
        _segment.Flush(flushToDisk: _options.FlushMode != AuditFlushMode.Never);

        // Publish the checkpoint atomically, only once the records it covers are stored: the certificates first, then the note
        // alone (a standard C2SP signed note), so the note is never newer than the certificates that verify it.
        PublishFile(AuditLogFormat.CheckpointCertificatesFileName, signed.ExportCertificatesPem());
        PublishFile(AuditLogFormat.CheckpointFileName, signed.Note.ToString());
        _latest = signed;
        _logger.AuditCheckpointSigned(Origin, size, leaf.SerialNumber);
        AuditLogDiagnostics.CheckpointPublished(size);

        if (_segment.Length >= _options.MaxSegmentBytes)
        {
            Rotate();
        }

        return signed;
    }

    private void PublishFile(string name, string content)
    {
        var path = Path.Combine(_directory, name);
        var temp = path + ".tmp";
        using (var file = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            file.Write(Encoding.UTF8.GetBytes(content));
            file.Flush(flushToDisk: _options.FlushMode != AuditFlushMode.Never);
        }

        File.Move(temp, path, overwrite: true);
    }

    private void WriteRecord(byte type, long index, bool appendToTree)
    {
        var payloadLength = _buffer.WrittenCount - AuditLogFormat.HeaderSize;
        if (payloadLength > AuditLogFormat.MaxPayload)
        {
            throw new ArgumentException($"The audit record is {payloadLength} bytes; at most {AuditLogFormat.MaxPayload} are allowed. Hash large arguments instead of recording them raw.");
        }

        // Reserve the checksum first (it may grow the buffer), then fill the header reserved at the start of the buffer.
        var checksum = _buffer.GetSpan(AuditLogFormat.ChecksumSize)[..AuditLogFormat.ChecksumSize];
        var header = System.Runtime.InteropServices.MemoryMarshal.AsMemory(_buffer.WrittenMemory).Span;
        AuditLogFormat.WriteHeader(header, payloadLength, index, type);
        SHA256.HashData(header[(AuditLogFormat.HeaderSize - 1)..], checksum);
        _buffer.Advance(AuditLogFormat.ChecksumSize);
        _segment.Write(_buffer.WrittenSpan);
        if (appendToTree)
        {
            _tree.Append(_buffer.WrittenSpan[^AuditLogFormat.ChecksumSize..]);
        }

    }

    private void Rotate()
    {
        _segment.Flush(flushToDisk: _options.FlushMode != AuditFlushMode.Never);
        _segment.Dispose();
        _segmentNumber++;
        _segment = CreateSegment(_directory, _segmentNumber);
    }

    private static FileStream CreateSegment(string directory, long number)
    {
        var stream = new FileStream(Path.Combine(directory, AuditLogFormat.SegmentName(number)), FileMode.CreateNew, FileAccess.Write, FileShare.Read, 1 << 16);
        stream.Write(AuditLogFormat.Magic);
        return stream;
    }

    private void OnTimer()
    {
        lock (_gate)
        {
            if (_disposed || _tree.Size == (_latest?.Checkpoint.TreeSize ?? 0))
            {
                return;
            }

            try
            {
                CheckpointCore();
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                // A timer callback must never throw; the next interval or append retries.
                _logger.AuditCheckpointFailed(Origin, ex);
            }
        }
    }

    private static void Truncate(string path, long offset, long treeSize, ILogger logger)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.Read);
        var dropped = stream.Length - offset;
        stream.SetLength(offset);
        stream.Flush(flushToDisk: true);
        logger.AuditTornTailTruncated(Path.GetFileName(path), offset, treeSize, dropped);
    }

    internal static SignedCheckpoint ParseCheckpointRecord(AuditRecord record, string directory)
    {
        try
        {
            return SignedCheckpoint.Parse(Encoding.UTF8.GetString(record.Payload));
        }
        catch (FormatException ex)
        {
            throw new AuditLogException($"Audit log '{directory}' has an unreadable checkpoint record at offset {record.Offset} of '{Path.GetFileName(record.Segment)}': {ex.Message}", ex);
        }
    }

    internal static SignedCheckpoint? ReadPublishedCheckpoint(string directory)
    {
        var path = Path.Combine(directory, AuditLogFormat.CheckpointFileName);
        if (!File.Exists(path))
        {
            return null;
        }

        try
        {
            return ReadCheckpointFile(path);
        }
        catch (FormatException ex)
        {
            throw new AuditLogException($"The published checkpoint '{path}' is unreadable: {ex.Message}", ex);
        }
    }

    /// <summary>
    /// Reads a checkpoint file: the signed note alone with its certificates in <c>&lt;file&gt;.pem</c> beside it (the published
    /// form), or the note followed by the PEM certificates (the form of logs written before the split, and of a record).
    /// </summary>
    /// <exception cref="FormatException">The file is malformed, or its certificates file is missing.</exception>
    internal static SignedCheckpoint ReadCheckpointFile(string path)
    {
        var text = File.ReadAllText(path, Encoding.UTF8);
        if (text.Contains("-----BEGIN CERTIFICATE-----", StringComparison.Ordinal))
        {
            return SignedCheckpoint.Parse(text);
        }

        var certificates = path + ".pem";
        if (!File.Exists(certificates))
        {
            throw new FormatException($"its signer's certificates file '{Path.GetFileName(certificates)}' is missing beside it");
        }

        return SignedCheckpoint.Parse(text, File.ReadAllText(certificates, Encoding.UTF8));
    }

    /// <summary>Writes a final checkpoint if entries are waiting, flushes to disk and closes the log.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            try
            {
                if (_tree.Size != (_latest?.Checkpoint.TreeSize ?? 0))
                {
                    CheckpointCore();
                }
            }
            catch (Exception ex) when (ex is IdentityUnavailableException or IOException or CryptographicException or ArgumentException or ObjectDisposedException)
            {
                _logger.AuditCheckpointFailed(Origin, ex);
            }
            finally
            {
                _disposed = true;
                _timer.Dispose();
                _segment.Flush(flushToDisk: _options.FlushMode != AuditFlushMode.Never);
                _segment.Dispose();
                _handle?.Dispose();
                _handle = null;
            }
        }
    }

    /// <inheritdoc/>
    public ValueTask DisposeAsync()
    {
        Dispose();
        return ValueTask.CompletedTask;
    }
}
