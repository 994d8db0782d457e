using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography.X509Certificates;

namespace AgentIdentity;

/// <summary>What <see cref="RevocationSet.Apply"/> did with an entry.</summary>
public enum RevocationApplyResult
{
    /// <summary>The entry was the next in sequence and is now in force.</summary>
    Applied,

    /// <summary>The entry's sequence number was already applied (a replay or a reconnect overlap); nothing changed.</summary>
    AlreadyApplied,

    /// <summary>The entry skips sequence numbers; it was not applied. Fetch the missing entries first.</summary>
    Gap,

    /// <summary>The entry belongs to another log ID (epoch) than the entries applied so far: the issuer's registry was reset or
    /// restored. It was not applied; call <see cref="RevocationSet.Resynchronize"/> and read the feed from the start, or fail closed.</summary>
    EpochChanged,
}

/// <summary>
/// The revoked serial numbers and identities a subscriber knows of, kept current by a feed. Lookups are lock-free,
/// allocation-free and independent of the number of revocations (a serial lookup plus one lookup per SPIFFE path segment).
/// </summary>
/// <remarks>Thread-safe. Entries are applied strictly in sequence: no gaps, no reordering, no replays.</remarks>
public sealed class RevocationSet : IRevocationStatus
{
    private const int MaxSerialChars = 128;
    private const int SchemeLength = 9; // "spiffe://"
    private static readonly System.Buffers.SearchValues<char> NormalizedHex = System.Buffers.SearchValues.Create("0123456789ABCDEF");
    private readonly ConcurrentDictionary<string, RevocationEntry> _serials = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, RevocationEntry> _identities = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, RevocationEntry>.AlternateLookup<ReadOnlySpan<char>> _serialLookup;
    private readonly ConcurrentDictionary<string, RevocationEntry>.AlternateLookup<ReadOnlySpan<char>> _identityLookup;
    private readonly Lock _gate = new();
    private long _lastSequence;
    private string? _logId;
    private int _serialCount;
    private int _identityCount;
    private long _enforcedSequence; // the last sequence whose EntryApplied handlers have returned; waiters compare against it
    private List<(long Sequence, TaskCompletionSource Signal)>? _waiters;

    /// <summary>Initializes a new instance of the <see cref="RevocationSet"/> class, empty.</summary>
    public RevocationSet()
    {
        _serialLookup = _serials.GetAlternateLookup<ReadOnlySpan<char>>();
        _identityLookup = _identities.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    /// <summary>Raised after an entry is applied, on the thread that applied it. Handlers must be quick and must not throw.</summary>
    public event EventHandler<RevocationEntry>? EntryApplied;

    /// <summary>Gets the sequence number of the last applied entry (0 when none): resume the feed after it.</summary>
    public long LastSequence => Volatile.Read(ref _lastSequence);

    /// <summary>Gets the log ID (epoch) of the applied entries; <see langword="null"/> before the first entry that carries one.</summary>
    public string? LogId
    {
        get
        {
            lock (_gate)
            {
                return _logId;
            }
        }
    }

    /// <summary>Gets the number of revoked serial numbers.</summary>
    public int SerialCount => Volatile.Read(ref _serialCount);

    /// <summary>Gets the number of revoked identities.</summary>
    public int IdentityCount => Volatile.Read(ref _identityCount);

    /// <summary>Applies a verified entry if it is the next in sequence.</summary>
    /// <param name="entry">An entry from <see cref="RevocationFeedVerifier.Verify(ReadOnlySpan{byte})"/> or a registry.</param>
    /// <returns>What happened.</returns>
    public RevocationApplyResult Apply(RevocationEntry entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        List<(long Sequence, TaskCompletionSource Signal)>? ready = null;
        lock (_gate)
        {
            var last = _lastSequence;
            if (!string.Equals(entry.LogId, _logId, StringComparison.Ordinal))
            {
                if (last != 0 || _logId is not null)
                {
                    return RevocationApplyResult.EpochChanged;
                }

                _logId = entry.LogId; // the first entry names the log
            }

            if (entry.Sequence <= last)
            {
                return RevocationApplyResult.AlreadyApplied;
            }

            if (entry.Sequence != last + 1)
            {
                return RevocationApplyResult.Gap;
            }

            if (entry.Kind == RevocationKind.Serial)
            {
                if (_serials.TryAdd(entry.SerialNumber!, entry))
                {
                    Interlocked.Increment(ref _serialCount);
                }
            }
            else if (_identities.TryAdd(entry.Id.ToString(), entry))
            {
                Interlocked.Increment(ref _identityCount);
            }

            Volatile.Write(ref _lastSequence, entry.Sequence);
        }

        // Handlers (kill switch, connection aborts) run before any waiter resumes, including one that starts waiting while they
        // run: "applied" means "enforced".
        EntryApplied?.Invoke(this, entry);
        lock (_gate)
        {
            if (entry.Sequence > _enforcedSequence && string.Equals(entry.LogId, _logId, StringComparison.Ordinal))
            {
                _enforcedSequence = entry.Sequence;
            }

            if (_waiters is { Count: > 0 } waiters)
            {
                var enforced = _enforcedSequence;
                ready = waiters.FindAll(w => w.Sequence <= enforced);
                waiters.RemoveAll(w => w.Sequence <= enforced);
            }
        }

        foreach (var (_, signal) in ready ?? [])
        {
            signal.TrySetResult();
        }

        return RevocationApplyResult.Applied;
    }

    /// <summary>
    /// Starts over in a new log (epoch): the revocations applied so far stay in force (revocations are permanent), the sequence
    /// count restarts at 0 under <paramref name="logId"/>, so the new log's entries apply from its first one.
    /// </summary>
    /// <param name="logId">The new log ID, or <see langword="null"/> to adopt the log of the next entry applied.</param>
    public void Resynchronize(string? logId)
    {
        lock (_gate)
        {
            _logId = logId;
            Volatile.Write(ref _lastSequence, 0);
            _enforcedSequence = 0;
        }
    }

    /// <summary>Completes when the entry with <paramref name="sequence"/> (and every one before it) has been applied.</summary>
    /// <param name="sequence">The sequence number to wait for, for example <see cref="RevocationEntry.Sequence"/> of a revocation.</param>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <returns>A task that completes once applied.</returns>
    public Task WaitForSequenceAsync(long sequence, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            if (_enforcedSequence >= sequence)
            {
                return Task.CompletedTask;
            }

            var signal = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            (_waiters ??= []).Add((sequence, signal));
            return signal.Task.WaitAsync(cancellationToken);
        }
    }

    /// <summary>Checks a certificate by serial number, SPIFFE ID (and every ancestor path) and delegation ancestors.</summary>
    /// <param name="serialNumber">The certificate's serial number, hex (any case, leading zero bytes allowed).</param>
    /// <param name="id">The certificate's SPIFFE ID.</param>
    /// <param name="delegationAncestors">The IDs named by the certificate's delegation chain, if any.</param>
    /// <param name="entry">The entry that revokes it.</param>
    /// <returns><see langword="true"/> when revoked.</returns>
    public bool IsRevoked(ReadOnlySpan<char> serialNumber, SpiffeId id, IReadOnlyList<SpiffeId>? delegationAncestors, [NotNullWhen(true)] out RevocationEntry? entry)
    {
        if (Volatile.Read(ref _serialCount) != 0)
        {
            // X509Certificate2.SerialNumber is already normalized unless it has a leading zero byte: look it up as is.
            if (_serialLookup.TryGetValue(serialNumber, out entry))
            {
                return true;
            }

            if (NeedsNormalization(serialNumber))
            {
                Span<char> normalized = stackalloc char[MaxSerialChars];
                if (RevocationEntry.TryNormalizeSerialNumber(serialNumber, normalized, out var written) &&
                    _serialLookup.TryGetValue(normalized[..written], out entry))
                {
                    return true;
                }
            }
        }

        if (Volatile.Read(ref _identityCount) != 0)
        {
            if (IsIdentityRevoked(id, out entry))
            {
                return true;
            }

            if (delegationAncestors is not null)
            {
                for (var i = 0; i < delegationAncestors.Count; i++)
                {
                    if (IsIdentityRevoked(delegationAncestors[i], out entry))
                    {
                        return true;
                    }
                }
            }
        }

        entry = null;
        return false;
    }

    /// <summary>Checks a certificate: reads its serial number, SPIFFE ID and delegation chain.</summary>
    /// <param name="certificate">The certificate.</param>
    /// <param name="entry">The entry that revokes it.</param>
    /// <returns><see langword="true"/> when revoked.</returns>
    public bool IsRevoked(X509Certificate2 certificate, [NotNullWhen(true)] out RevocationEntry? entry)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        var id = default(SpiffeId);
        if (CertificateExtensions.ReadUriSans(certificate, out _) is [var uri] && SpiffeId.TryParse(uri, out var parsed))
        {
            id = parsed;
        }

        IReadOnlyList<SpiffeId>? ancestors = null;
        if (Volatile.Read(ref _identityCount) != 0)
        {
            ancestors = ReadDelegationAncestors(certificate);
        }

        return IsRevoked(certificate.SerialNumber, id, ancestors, out entry);
    }

    /// <summary>Checks an SVID (serial number, SPIFFE ID, delegation chain).</summary>
    /// <param name="svid">The SVID.</param>
    /// <param name="entry">The entry that revokes it.</param>
    /// <returns><see langword="true"/> when revoked.</returns>
    public bool IsRevoked(X509Svid svid, [NotNullWhen(true)] out RevocationEntry? entry)
    {
        ArgumentNullException.ThrowIfNull(svid);
        SpiffeId[]? ancestors = svid.DelegationChain is { } chain ? [.. chain.Select(l => l.Id)] : null;
        return IsRevoked(svid.SerialNumber, svid.Id, ancestors, out entry);
    }

    /// <inheritdoc/>
    /// <remarks>Lets the tool-call kill switch (Semantic Kernel and Microsoft.Extensions.AI filters) consult the revocation feed.</remarks>
    bool IRevocationStatus.IsRevoked(X509Svid svid, [NotNullWhen(true)] out string? reason)
    {
        if (IsRevoked(svid, out var entry))
        {
            reason = $"revoked by revocation feed entry {entry}";
            return true;
        }

        reason = null;
        return false;
    }

    /// <summary>Checks whether <paramref name="id"/> or one of its ancestor paths is revoked.</summary>
    /// <param name="id">The identity.</param>
    /// <param name="entry">The entry that revokes it.</param>
    /// <returns><see langword="true"/> when revoked.</returns>
    public bool IsIdentityRevoked(SpiffeId id, [NotNullWhen(true)] out RevocationEntry? entry)
    {
        entry = null;
        if (id.IsEmpty || Volatile.Read(ref _identityCount) == 0)
        {
            return false;
        }

        ReadOnlySpan<char> value = id.ToString();
        var minimum = SchemeLength + value[SchemeLength..].IndexOf('/'); // never look up the trust domain ID itself
        if (minimum < SchemeLength)
        {
            return false;
        }

        while (value.Length > minimum)
        {
            if (_identityLookup.TryGetValue(value, out entry))
            {
                return true;
            }

            var slash = value.LastIndexOf('/');
            if (slash < minimum)
            {
                break;
            }

            value = value[..slash];
        }

        return false;
    }

    /// <summary>Gets the applied entries in sequence order (a snapshot).</summary>
    /// <returns>The entries.</returns>
    public IReadOnlyList<RevocationEntry> GetEntries() =>
        [.. _serials.Values.Concat(_identities.Values).OrderBy(e => e.Sequence)];

    private static bool NeedsNormalization(ReadOnlySpan<char> serial) =>
        (serial.Length > 2 && serial[0] == '0' && serial[1] == '0') || serial.ContainsAnyExcept(NormalizedHex);

    internal static SpiffeId[]? ReadDelegationAncestors(X509Certificate2 certificate)
    {
        try
        {
            return AgentPolicyExtension.ReadDelegationChain(certificate) is { } chain ? [.. chain.Select(l => l.Id)] : null;
        }
        catch (PolicyFormatException)
        {
            return null;
        }
    }
}
