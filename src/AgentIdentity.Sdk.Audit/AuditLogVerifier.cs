using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace AgentIdentity.Audit;

/// <summary>What is wrong with an audit log, as found by <see cref="AuditLogVerifier"/>.</summary>
public enum AuditLogProblem
{
    /// <summary>Nothing: every entry is covered or accounted for and every checkpoint verifies.</summary>
    None = 0,

    /// <summary>An entry's bytes do not match its checksum: it was altered (or the disk is damaged).</summary>
    AlteredEntry,

    /// <summary>The last record is incomplete, as a crash mid-write leaves it; opening the log for writing truncates it.</summary>
    TornTail,

    /// <summary>One or more entries are missing (the next record carries a later index).</summary>
    MissingEntry,

    /// <summary>An entry is out of order or duplicated (the record carries an earlier index).</summary>
    ReorderedEntry,

    /// <summary>A signed checkpoint's root hash or size does not match the entries: an entry in the range it covers was altered, removed or reordered with its checksum recomputed.</summary>
    CheckpointMismatch,

    /// <summary>A checkpoint's signature does not verify with its recorded certificate.</summary>
    BadSignature,

    /// <summary>A checkpoint's signing certificate was not a valid SVID of a trusted trust domain at the checkpoint time.</summary>
    UntrustedSigner,

    /// <summary>A checkpoint was signed by another agent than the log's.</summary>
    SignerMismatch,

    /// <summary>The log holds fewer entries than a published or trusted checkpoint covers: it was truncated.</summary>
    Truncated,

    /// <summary>A checkpoint or segment is malformed.</summary>
    Malformed,

    /// <summary>A signer or trust bundle was demanded, but entries are not covered by any signed checkpoint (or, unless
    /// <see cref="AuditLogVerificationOptions.AllowUnsignedTail"/>, some follow the last one): nothing proves who wrote them.</summary>
    UnsignedEntries,

    /// <summary>A checkpoint was signed by a certificate that the given revocation source lists as revoked.</summary>
    RevokedSigner,
}

/// <summary>Options of <see cref="AuditLogVerifier"/>.</summary>
public sealed class AuditLogVerificationOptions
{
    /// <summary>Gets or sets the trust bundles that the checkpoint signers' certificates must chain to at each checkpoint's time.</summary>
    /// <value>The default is <see langword="null"/>: signatures are checked against the recorded certificates, but those certificates are not validated (the result says so).</value>
    public ITrustBundleSource? TrustBundles { get; set; }

    /// <summary>Gets or sets the identity expected to have signed the log: exactly this SPIFFE ID, or with <see cref="AllowAnyInstance"/>
    /// any instance of the same agent.</summary>
    /// <value>The default is <see langword="null"/>: every checkpoint must be signed by exactly the identity that signed the first one
    /// (or, with <see cref="AllowAnyInstance"/>, an instance of the same agent).</value>
    public SpiffeId? ExpectedSigner { get; set; }

    /// <summary>Gets or sets a value indicating whether any instance of the expected agent (same trust domain and agent name,
    /// <c>/agent/&lt;name&gt;/&lt;any instance&gt;</c>) may sign, as a log kept across restarts with new instance IDs needs.</summary>
    /// <value>The default value is <see langword="false"/>: the exact SPIFFE ID.</value>
    public bool AllowAnyInstance { get; set; }

    /// <summary>Gets or sets a value indicating whether a task identity (a delegated SVID: a <c>/task/</c> path or a delegation
    /// chain in its certificate) may sign checkpoints.</summary>
    /// <value>The default value is <see langword="false"/>: a task identity's checkpoint is a <see cref="AuditLogProblem.SignerMismatch"/>.</value>
    public bool AllowTaskSigners { get; set; }

    /// <summary>Gets or sets the serial numbers (hexadecimal, case-insensitive) of revoked certificates, from a revocation source
    /// the auditor trusts (the issuer's registry or CRL); a checkpoint signed by one is a <see cref="AuditLogProblem.RevokedSigner"/>.</summary>
    /// <value>The default is <see langword="null"/>: revocation is not checked (the result's message says so).</value>
    public IReadOnlyCollection<string>? RevokedSerialNumbers { get; set; }

    /// <summary>Gets or sets a value indicating whether entries after the last signed checkpoint are accepted (reported in
    /// <see cref="AuditLogVerificationResult.UncoveredEntries"/>) when a signer or bundle is demanded, as for a log still being
    /// written. Entries with no signed checkpoint at all always fail then.</summary>
    /// <value>The default value is <see langword="false"/>.</value>
    public bool AllowUnsignedTail { get; set; }

    /// <summary>Gets or sets a checkpoint the auditor already trusts (kept from an earlier verification, or from a witness) that the
    /// log must contain: a log rolled back to an earlier consistent state, or rewritten, fails against it.</summary>
    public SignedCheckpoint? TrustedCheckpoint { get; set; }

    /// <summary>Gets or sets the clock skew allowed when checking a signer's certificate validity at a checkpoint's time.</summary>
    /// <value>The default value is zero.</value>
    public TimeSpan ClockSkew { get; set; }
}

/// <summary>The outcome of verifying an audit log.</summary>
public sealed class AuditLogVerificationResult
{
    internal AuditLogVerificationResult()
    {
    }

    /// <summary>Gets a value indicating whether the log verified.</summary>
    public bool IsValid => Problem == AuditLogProblem.None;

    /// <summary>Gets what is wrong.</summary>
    public AuditLogProblem Problem { get; internal set; }

    /// <summary>Gets the index of the first entry that was tampered with, removed or reordered (for <see cref="AuditLogProblem.CheckpointMismatch"/>, the first entry of the range that does not match).</summary>
    public long? FirstBadIndex { get; internal set; }

    /// <summary>Gets, for <see cref="AuditLogProblem.CheckpointMismatch"/> and <see cref="AuditLogProblem.Truncated"/>, the end (exclusive) of the entry range that is affected.</summary>
    public long? BadRangeEnd { get; internal set; }

    /// <summary>Gets a message that names the problem and where it is.</summary>
    public string Message { get; internal set; } = string.Empty;

    /// <summary>Gets the number of entries read (up to the first problem).</summary>
    public long TreeSize { get; internal set; }

    /// <summary>Gets the root hash of the entries read.</summary>
    public byte[] RootHash { get; internal set; } = [];

    /// <summary>Gets the number of checkpoints verified.</summary>
    public int CheckpointCount { get; internal set; }

    /// <summary>Gets the latest verified checkpoint.</summary>
    public SignedCheckpoint? LatestCheckpoint { get; internal set; }

    /// <summary>Gets the number of entries after the latest checkpoint: stored but not yet covered by a signature.</summary>
    public long UncoveredEntries => TreeSize - (LatestCheckpoint?.Checkpoint.TreeSize ?? 0);

    /// <summary>Gets the distinct SPIFFE IDs that signed checkpoints.</summary>
    public IReadOnlyList<SpiffeId> Signers { get; internal set; } = [];

    /// <summary>Gets a value indicating whether the signers' certificates were validated against trust bundles.</summary>
    public bool SignersValidated { get; internal set; }
}

/// <summary>How far a verification has come.</summary>
/// <param name="BytesRead">The bytes of segments read so far.</param>
/// <param name="TotalBytes">The bytes of all segments when the verification started.</param>
/// <param name="Entries">The entries verified so far.</param>
internal readonly record struct AuditVerificationProgress(long BytesRead, long TotalBytes, long Entries);

/// <summary>An inclusion proof of one audit entry in a signed checkpoint.</summary>
/// <param name="Index">The entry index.</param>
/// <param name="Entry">The entry's canonical JSON (the leaf).</param>
/// <param name="LeafHash">The RFC 6962 leaf hash.</param>
/// <param name="Proof">The audit path.</param>
/// <param name="Checkpoint">The signed checkpoint whose root the proof leads to.</param>
public sealed record AuditInclusionProof(long Index, byte[] Entry, byte[] LeafHash, IReadOnlyList<byte[]> Proof, SignedCheckpoint Checkpoint)
{
    /// <summary>Verifies the proof against the checkpoint's root hash (the checkpoint's signature is checked separately).</summary>
    /// <returns><see langword="true"/> when the entry is in the checkpointed tree.</returns>
    public bool Verify() =>
        CryptographicOperations.FixedTimeEquals(MerkleTree.HashLeaf(Entry), LeafHash)
        && MerkleTree.VerifyInclusion(Index, Checkpoint.Checkpoint.TreeSize, LeafHash, Proof, Checkpoint.Checkpoint.RootHashSpan);
}

/// <summary>
/// Verifies an audit log offline: recomputes the Merkle tree from the stored entries, checks every checkpoint's signature,
/// signer and consistency with the entries, and names the first entry that was altered, removed or reordered.
/// </summary>
/// <remarks>Reads the directory without locking it out; O(log n) memory for verification. Thread-safe (stateless).</remarks>
public static class AuditLogVerifier
{
    /// <summary>Verifies the log in <paramref name="directory"/>.</summary>
    /// <param name="directory">The log directory.</param>
    /// <param name="options">Options; <see langword="null"/> for defaults.</param>
    /// <returns>The result; never throws for a damaged log.</returns>
    /// <exception cref="DirectoryNotFoundException">The directory does not exist.</exception>
    public static AuditLogVerificationResult Verify(string directory, AuditLogVerificationOptions? options = null) =>
        Verify(directory, options, progress: null);

    /// <summary>How often, in records, <see cref="Verify(string, AuditLogVerificationOptions?, Action{AuditVerificationProgress}?)"/> reports progress.</summary>
    internal const int ProgressEveryRecords = 4096;

    /// <summary>Verifies the log in <paramref name="directory"/>, reporting progress every <see cref="ProgressEveryRecords"/> records and at the end of each segment.</summary>
    /// <param name="directory">The log directory.</param>
    /// <param name="options">Options; <see langword="null"/> for defaults.</param>
    /// <param name="progress">Called on the verifying thread with the bytes read so far; <see langword="null"/> for none.</param>
    /// <returns>The result.</returns>
    internal static AuditLogVerificationResult Verify(string directory, AuditLogVerificationOptions? options, Action<AuditVerificationProgress>? progress)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        options ??= new AuditLogVerificationOptions();
        if (!Directory.Exists(directory))
        {
            throw new DirectoryNotFoundException($"Audit log directory '{directory}' does not exist.");
        }

        var result = new AuditLogVerificationResult { SignersValidated = options.TrustBundles is not null };
        var state = new State(options, result);

        // Checkpoints held outside the records: the published file and a trusted copy. Their roots are captured during the scan.
        var external = new List<(string Name, SignedCheckpoint Checkpoint)>();
        try
        {
            if (AuditLog.ReadPublishedCheckpoint(directory) is { } published)
            {
                external.Add(("the published checkpoint file", published));
            }
        }
        catch (AuditLogException ex)
        {
            return state.Fail(AuditLogProblem.Malformed, null, ex.Message);
        }

        if (options.TrustedCheckpoint is { } trusted)
        {
            external.Add(("the trusted checkpoint", trusted));
        }

        var rootsAt = new Dictionary<long, byte[]>();
        foreach (var (_, cp) in external)
        {
            rootsAt[cp.Checkpoint.TreeSize] = [];
        }

        var tree = new CompactMerkleTree();
        CaptureRoot(tree, rootsAt);
        long lastCheckpointSize = 0;
        var segments = AuditLogFormat.ListSegments(directory);
        var totalBytes = progress is null ? 0 : segments.Sum(segment => new FileInfo(segment.Path).Length);
        long bytesBefore = 0;
        var records = 0;
        for (var s = 0; s < segments.Count && !state.Failed; s++)
        {
            var (_, path) = segments[s];
            var name = Path.GetFileName(path);
            foreach (var record in AuditLogFormat.ReadSegment(path, s == segments.Count - 1))
            {
                if (progress is not null && ++records % ProgressEveryRecords == 0)
                {
                    progress(new AuditVerificationProgress(bytesBefore + Math.Max(record.Offset, 0), totalBytes, tree.Size));
                }

                if (record.Damage != RecordDamage.None)
                {
                    if (record.TornTailCandidate)
                    {
                        state.Fail(AuditLogProblem.TornTail, tree.Size,
                            $"entry {tree.Size} ({name}, offset {record.Offset}) is incomplete: {record.Problem}. A crash mid-write leaves this; opening the log for writing truncates it.");
                    }
                    else if (record.Damage == RecordDamage.BadHeader)
                    {
                        state.Fail(AuditLogProblem.Malformed, tree.Size, $"segment {name} is malformed: {record.Problem}; entries from {tree.Size} on cannot be read.");
                    }
                    else
                    {
                        state.Fail(AuditLogProblem.AlteredEntry, tree.Size,
                            $"entry {tree.Size} ({name}, offset {record.Offset}) was altered: {record.Problem}.");
                    }

                    break;
                }

                if (record.Index > tree.Size)
                {
                    if (FindLater(segments, s, record.End, tree.Size) is { } later)
                    {
                        state.Fail(AuditLogProblem.ReorderedEntry, tree.Size,
                            $"entry {tree.Size} is out of order: entry {record.Index} comes before it ({name}, offset {record.Offset}) and entry {tree.Size} only follows at {later} (entries reordered).");
                    }
                    else
                    {
                        state.Fail(AuditLogProblem.MissingEntry, tree.Size,
                            $"entry {tree.Size} is missing: the next record ({name}, offset {record.Offset}) is entry {record.Index}, so {EntriesWere(tree.Size, record.Index)} removed.");
                    }

                    break;
                }

                if (record.Index < tree.Size)
                {
                    state.Fail(AuditLogProblem.ReorderedEntry, tree.Size,
                        $"entry {tree.Size} is out of order: the record at {name}, offset {record.Offset} is entry {record.Index}, which was already read (entries reordered or duplicated).");
                    break;
                }

                if (record.Type == AuditLogFormat.EventType)
                {
                    tree.Append(record.Checksum);
                    CaptureRoot(tree, rootsAt);
                    continue;
                }

                SignedCheckpoint checkpoint;
                try
                {
                    checkpoint = AuditLog.ParseCheckpointRecord(record, directory);
                }
                catch (AuditLogException ex)
                {
                    state.Fail(AuditLogProblem.Malformed, lastCheckpointSize, ex.Message);
                    break;
                }

                var where = $"the checkpoint at tree size {record.Index} ({name}, offset {record.Offset})";
                if (!state.CheckCheckpoint(checkpoint, where, lastCheckpointSize))
                {
                    break;
                }

                if (checkpoint.Checkpoint.TreeSize != tree.Size || !CryptographicOperations.FixedTimeEquals(checkpoint.Checkpoint.RootHashSpan, tree.GetRootHash()))
                {
                    state.Fail(AuditLogProblem.CheckpointMismatch, lastCheckpointSize,
                        $"{where} does not match the entries: an entry in {Entries(lastCheckpointSize, tree.Size)} was altered, removed or reordered (its checksum was recomputed, so the exact entry cannot be told from the signed data).",
                        tree.Size);
                    break;
                }

                lastCheckpointSize = tree.Size;
                result.CheckpointCount++;
                result.LatestCheckpoint = checkpoint;
            }

            if (progress is not null && !state.Failed)
            {
                bytesBefore += new FileInfo(path).Length;
                progress(new AuditVerificationProgress(Math.Min(bytesBefore, totalBytes), totalBytes, tree.Size));
            }
        }

        result.TreeSize = tree.Size;
        result.RootHash = tree.GetRootHash();
        if (state.Failed)
        {
            return result;
        }

        foreach (var (what, cp) in external)
        {
            if (cp.Checkpoint.TreeSize > tree.Size)
            {
                return state.Fail(AuditLogProblem.Truncated, tree.Size,
                    $"the log was truncated: it holds {tree.Size} entries but {what} covers {cp.Checkpoint.TreeSize}; {EntriesWere(tree.Size, cp.Checkpoint.TreeSize).Replace(" was", " is", StringComparison.Ordinal).Replace(" were", " are", StringComparison.Ordinal)} missing.",
                    cp.Checkpoint.TreeSize);
            }

            if (!state.CheckCheckpoint(cp, what, 0))
            {
                return result;
            }

            if (!CryptographicOperations.FixedTimeEquals(cp.Checkpoint.RootHashSpan, rootsAt[cp.Checkpoint.TreeSize]))
            {
                return state.Fail(AuditLogProblem.CheckpointMismatch, null,
                    $"{what} (tree size {cp.Checkpoint.TreeSize}) does not match the first {cp.Checkpoint.TreeSize} entries: the log was rewritten.");
            }
        }

        if ((options.ExpectedSigner is not null || options.TrustBundles is not null) && result.UncoveredEntries > 0
            && (result.LatestCheckpoint is null || !options.AllowUnsignedTail))
        {
            var covered = result.LatestCheckpoint?.Checkpoint.TreeSize ?? 0;
            return state.Fail(AuditLogProblem.UnsignedEntries, covered,
                result.LatestCheckpoint is null
                    ? $"the log holds {result.TreeSize} entries but no signed checkpoint: nothing proves that the expected signer wrote them (checkpoints and the checkpoint file may have been removed)."
                    : $"{Entries(covered, result.TreeSize)} after the last signed checkpoint (size {covered}) {(result.TreeSize - covered == 1 ? "is" : "are")} not signed; pass AllowUnsignedTail (--allow-unsigned-tail) for a log that is still being written.",
                result.TreeSize);
        }

        result.Message = result.TreeSize == 0
            ? "The log is empty."
            : $"{result.TreeSize} entries verified; {result.CheckpointCount} checkpoint(s) verified" +
              (result.UncoveredEntries > 0 ? $"; {result.UncoveredEntries} entries after the last checkpoint are not signed yet" : string.Empty) +
              (result.SignersValidated ? "." : "; signer certificates were not checked against a trust bundle.");
        return result;
    }

    /// <summary>Creates an inclusion proof of entry <paramref name="index"/> in the latest checkpoint of the log in <paramref name="directory"/>.</summary>
    /// <param name="directory">The log directory.</param>
    /// <param name="index">The entry index.</param>
    /// <returns>The proof.</returns>
    /// <exception cref="AuditLogException">The log is damaged or has no checkpoint covering <paramref name="index"/>.</exception>
    public static AuditInclusionProof CreateInclusionProof(string directory, long index)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        var leafHashes = new List<byte[]>();
        byte[]? entry = null;
        SignedCheckpoint? latest = null;
        foreach (var (_, path) in AuditLogFormat.ListSegments(directory))
        {
            foreach (var record in AuditLogFormat.ReadSegment(path, isLast: false))
            {
                if (record.Damage != RecordDamage.None || record.Index != leafHashes.Count)
                {
                    goto done; // Proofs use the intact prefix; 'audit verify' reports the damage.
                }

                if (record.Type == AuditLogFormat.EventType)
                {
                    if (leafHashes.Count == index)
                    {
                        entry = record.Payload.ToArray();
                    }

                    leafHashes.Add(record.Checksum);
                }
                else
                {
                    latest = AuditLog.ParseCheckpointRecord(record, directory);
                }
            }
        }

    done:
        if (entry is null)
        {
            throw new AuditLogException($"The audit log '{directory}' has no entry {index}; it holds {leafHashes.Count} entries.");
        }

        if (latest is null || latest.Checkpoint.TreeSize <= index)
        {
            throw new AuditLogException($"Entry {index} is not covered by a signed checkpoint yet (the latest covers {latest?.Checkpoint.TreeSize ?? 0} entries); wait for the next checkpoint.");
        }

        var size = latest.Checkpoint.TreeSize;
        return new AuditInclusionProof(index, entry, leafHashes[(int)index], MerkleTree.CreateInclusionProof(leafHashes, index, size), latest);
    }

    internal static string Entries(long from, long to) => to - from == 1 ? $"entry {from}" : $"entries {from}–{to - 1}";

    internal static string EntriesWere(long from, long to) => Entries(from, to) + (to - from == 1 ? " was" : " were");

    private static string? FindLater(List<(long Number, string Path)> segments, int segment, long offset, long index)
    {
        for (var s = segment; s < segments.Count; s++)
        {
            foreach (var record in AuditLogFormat.ReadSegment(segments[s].Path, isLast: false))
            {
                if (record.Damage != RecordDamage.None)
                {
                    break;
                }

                if ((s > segment || record.Offset >= offset) && record.Index == index && record.Type == AuditLogFormat.EventType)
                {
                    return $"{Path.GetFileName(segments[s].Path)}, offset {record.Offset}";
                }
            }
        }

        return null;
    }

    private static void CaptureRoot(CompactMerkleTree tree, Dictionary<long, byte[]> rootsAt)
    {
        if (rootsAt.ContainsKey(tree.Size))
        {
            rootsAt[tree.Size] = tree.GetRootHash();
        }
    }

    /// <summary>
    /// Whether a log origin names its signer: <c>&lt;td&gt;/agent/&lt;name&gt;/audit</c> (the default origin of the signer's agent),
    /// <c>&lt;td&gt;&lt;signer path&gt;/audit</c>, or <c>&lt;td&gt;&lt;signer path&gt;/&lt;replica&gt;/audit</c> (an issuer replica's).
    /// Another identity's key cannot then re-sign the log under its origin.
    /// </summary>
    internal static bool OriginBindsTo(string origin, SpiffeId signer)
    {
        if (origin == AuditLog.DefaultOrigin(signer))
        {
            return true;
        }

        var own = signer.TrustDomain.Name + signer.Path;
        if (!origin.StartsWith(own, StringComparison.Ordinal) || !origin.EndsWith("/audit", StringComparison.Ordinal))
        {
            return false;
        }

        var middle = origin.AsSpan(own.Length, origin.Length - own.Length - "/audit".Length);
        return middle.IsEmpty || (middle.Length > 1 && middle[0] == '/' && !middle[1..].Contains('/'));
    }

    /// <summary>A delegated (task) identity: a <c>task</c> path segment, or a delegation chain in the certificate.</summary>
    internal static bool IsTaskIdentity(SpiffeId id, X509Certificate2 certificate)
    {
        if (certificate.Extensions[Oids.DelegationChain] is not null)
        {
            return true;
        }

        var segments = id.GetSegments();
        for (var i = 0; i < segments.Length - 1; i++)
        {
            if (segments[i] == "task")
            {
                return true;
            }
        }

        return false;
    }

    private static string NormalizeSerial(string serial) => serial.Trim().Replace(":", string.Empty, StringComparison.Ordinal).TrimStart('0').ToUpperInvariant();

    internal static bool SameAgent(SpiffeId a, SpiffeId b)
    {
        if (a == b)
        {
            return true;
        }

        return a.TrustDomain == b.TrustDomain && a.TryGetAgent(out var nameA, out _) && b.TryGetAgent(out var nameB, out _) && nameA == nameB;
    }

    private sealed class State(AuditLogVerificationOptions options, AuditLogVerificationResult result)
    {
        private readonly List<SpiffeId> _signers = [];
        private DateTimeOffset _lastTime = DateTimeOffset.MinValue;
        private string? _origin;

        public bool Failed => result.Problem != AuditLogProblem.None;

        public AuditLogVerificationResult Fail(AuditLogProblem problem, long? firstBad, string message, long? rangeEnd = null)
        {
            if (!Failed)
            {
                result.Problem = problem;
                result.FirstBadIndex = firstBad;
                result.BadRangeEnd = rangeEnd;
                result.Message = char.ToUpperInvariant(message[0]) + message[1..];
            }

            return result;
        }

        public bool CheckCheckpoint(SignedCheckpoint checkpoint, string where, long coveredSoFar)
        {
            if (!checkpoint.TryVerifySignature(out var error))
            {
                Fail(AuditLogProblem.BadSignature, coveredSoFar, $"{where} has an invalid signature: {error}.");
                return false;
            }

            var certificate = checkpoint.Certificate;
            SpiffeId signer;
            if (options.TrustBundles is { } bundles)
            {
                var validation = X509SvidValidator.Validate(certificate, checkpoint.Intermediates, bundles, checkpoint.Time,
                    new X509SvidValidationOptions { ClockSkew = options.ClockSkew });
                if (!validation.IsValid)
                {
                    Fail(AuditLogProblem.UntrustedSigner, coveredSoFar, $"{where} was signed by a certificate that was not a valid SVID at {checkpoint.Time:O}: {validation.Reason}");
                    return false;
                }

                signer = validation.Id;
            }
            else if (SvidProfile.CheckLeaf(certificate, out var id, out var reason) == X509SvidValidationError.None)
            {
                signer = id;
            }
            else
            {
                Fail(AuditLogProblem.UntrustedSigner, coveredSoFar, $"{where} was signed by a certificate that is not an X.509-SVID: {reason}.");
                return false;
            }

            if (!options.AllowTaskSigners && IsTaskIdentity(signer, certificate))
            {
                Fail(AuditLogProblem.SignerMismatch, coveredSoFar, $"{where} was signed by the task identity '{signer}'; a delegated identity may not sign an audit log unless task signers are allowed.");
                return false;
            }

            if (options.RevokedSerialNumbers is { } revoked && revoked.Any(serial => string.Equals(NormalizeSerial(serial), NormalizeSerial(certificate.SerialNumber), StringComparison.Ordinal)))
            {
                Fail(AuditLogProblem.RevokedSigner, coveredSoFar, $"{where} was signed by '{signer}' with certificate serial {certificate.SerialNumber}, which is revoked.");
                return false;
            }

            var expected = options.ExpectedSigner ?? (_signers.Count > 0 ? _signers[0] : signer);
            if (!(options.AllowAnyInstance ? SameAgent(expected, signer) : expected == signer))
            {
                Fail(AuditLogProblem.SignerMismatch, coveredSoFar, options.AllowAnyInstance
                    ? $"{where} was signed by '{signer}', not by an instance of the log's agent '{expected}'."
                    : $"{where} was signed by '{signer}', not by the log's signer '{expected}' (exact SPIFFE ID; allow any instance of the agent for a log kept across restarts).");
                return false;
            }

            if (!OriginBindsTo(checkpoint.Checkpoint.Origin, signer))
            {
                Fail(AuditLogProblem.SignerMismatch, coveredSoFar,
                    $"{where} names origin '{checkpoint.Checkpoint.Origin}', which is not the log of its signer '{signer}' (expected '{AuditLog.DefaultOrigin(signer)}', '{signer.TrustDomain.Name}{signer.Path}/audit' or '{signer.TrustDomain.Name}{signer.Path}/<replica>/audit').");
                return false;
            }

            _origin ??= checkpoint.Checkpoint.Origin;
            if (checkpoint.Checkpoint.Origin != _origin)
            {
                Fail(AuditLogProblem.SignerMismatch, coveredSoFar, $"{where} names origin '{checkpoint.Checkpoint.Origin}', but the log's origin is '{_origin}'.");
                return false;
            }

            if (checkpoint.Time < _lastTime && where.StartsWith("the checkpoint at", StringComparison.Ordinal))
            {
                Fail(AuditLogProblem.CheckpointMismatch, coveredSoFar, $"{where} is dated {checkpoint.Time:O}, before the previous checkpoint ({_lastTime:O}): checkpoints were reordered.");
                return false;
            }

            if (where.StartsWith("the checkpoint at", StringComparison.Ordinal))
            {
                _lastTime = checkpoint.Time;
            }

            if (!_signers.Contains(signer))
            {
                _signers.Add(signer);
                result.Signers = [.. _signers];
            }

            return true;
        }
    }
}
