using System.Numerics;
using System.Security.Cryptography.X509Certificates;
using AgentIdentity.Issuer;
using Microsoft.Extensions.Logging;

namespace AgentIdentity;

/// <summary>
/// The issuer service's revocation registry: its state is in the issuer's store (SQLite or PostgreSQL), written in the same
/// transactions as the issuances, so it survives restarts and every replica sharing the database sees the same feed, CRL and
/// OCSP answers. Each replica keeps a verified in-memory copy of the feed, caught up from the store on every lookup.
/// </summary>
/// <remarks>Thread-safe. Feed entries are version 2 (<see cref="RevocationEntry.LogId"/> = the store's log ID).</remarks>
internal sealed class StoreRevocationRegistry : IRevocationRegistry
{
    private readonly AgentIdentityIssuer _issuer;
    private readonly RevocationRegistryOptions _options;
    private readonly ILogger _logger;
    private readonly RevocationSet _set = new();
    private readonly List<RevocationEntry> _entries = [];
    private TaskCompletionSource? _nextRound;
    private bool _catchingUp;
    private readonly Lock _gate = new();
    private TaskCompletionSource _next = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private string? _logId;

    public StoreRevocationRegistry(AgentIdentityIssuer issuer, RevocationRegistryOptions? options, ILogger logger)
    {
        _issuer = issuer;
        _options = options ?? new RevocationRegistryOptions();
        _logger = logger;
    }

    /// <summary>Gets a value indicating whether the issuer's store is one of the built-in SQL stores this registry can use.</summary>
    public bool IsAvailable => _issuer.Store is SqlIssuerStore;

    private SqlIssuerStore Store => _issuer.Store as SqlIssuerStore
        ?? throw new InvalidOperationException($"The store-backed revocation registry needs the issuer's SQLite or PostgreSQL store; the issuer uses a custom {_issuer.Store.GetType().Name}. Register your own IRevocationRegistry.");

    public TrustDomain TrustDomain => _issuer.TrustDomain;

    public X509Certificate2 SignerCertificate => _issuer.State.RevocationSigner.Certificate;

    /// <inheritdoc/>
    /// <remarks>As last read from the store by this replica.</remarks>
    public long LastSequence => _set.LastSequence;

    /// <inheritdoc/>
    public string? LogId => _logId;

    public async ValueTask<RevocationEntry> RevokeCertificateAsync(string serialNumber, X509RevocationReason reason = X509RevocationReason.Unspecified, CancellationToken cancellationToken = default)
    {
        var serial = RevocationEntry.NormalizeSerialNumber(serialNumber);
        var issued = await Store.FindCertificateLineageAsync(serial, cancellationToken).ConfigureAwait(false);
        var id = issued is { } known && SpiffeId.TryParse(known.SpiffeId, out var parsed) ? parsed : default;
        return await RevokeAsync(RevocationKind.Serial, serial, id, reason, null, cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<RevocationEntry> RevokeIdentityAsync(SpiffeId id, X509RevocationReason reason = X509RevocationReason.Unspecified, CancellationToken cancellationToken = default)
    {
        if (id.IsEmpty)
        {
            throw new ArgumentException("The SPIFFE ID to revoke is empty.", nameof(id));
        }

        if (!id.IsMemberOf(TrustDomain))
        {
            throw new ArgumentException($"Cannot revoke '{id}': this registry serves trust domain '{TrustDomain}'.", nameof(id));
        }

        if (id.IsTrustDomainId)
        {
            throw new ArgumentException($"Cannot revoke the whole trust domain '{id}' with an entry. In an emergency, rotate the intermediate: issue from a new intermediate CA, publish the new trust bundle, and remove the old CA from every bundle.", nameof(id));
        }

        var revoked = id.ToString();
        return await RevokeAsync(RevocationKind.Identity, revoked, id, reason, agentName => CoversAgent(revoked, agentName), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Whether revoking <paramref name="revoked"/> voids the join tokens of <paramref name="agentName"/>: the revoked ID is
    /// the agent's enrollment pattern (<c>spiffe://td/agent/&lt;name&gt;</c>) or above it.</summary>
    private bool CoversAgent(string revoked, string agentName)
    {
        var pattern = $"{TrustDomain.Id}/agent/{agentName}";
        return pattern == revoked || pattern.StartsWith(revoked + "/", StringComparison.Ordinal);
    }

    private async ValueTask<RevocationEntry> RevokeAsync(RevocationKind kind, string subject, SpiffeId id, X509RevocationReason reason, Func<string, bool>? voids, CancellationToken cancellationToken)
    {
        var signer = _issuer.State.RevocationSigner;
        var now = _issuer.Time.GetUtcNow();
        var (sequence, _, created) = await Store.RevokeAsync(kind, subject, reason, now,
            (logId, next) => RevocationEntry.Create(TrustDomain, logId, next, kind, kind == RevocationKind.Serial ? subject : null, kind == RevocationKind.Identity ? id : default, now, reason, signer.Key).GetEncoded(),
            voids, cancellationToken).ConfigureAwait(false);
        await CatchUpAsync(cancellationToken).ConfigureAwait(false);
        var entry = Entry(sequence);
        if (created)
        {
            _logger.RevocationRecorded(entry.Sequence, entry.Kind, entry.Subject, entry.Reason);
            try
            {
                await RebuildCrlAsync(now, cancellationToken).ConfigureAwait(false); // the CRL follows the commit; a failure here is retried on the next fetch
            }
            catch (IssuerStoreUnavailableException)
            {
            }
        }

        return entry;
    }

    public async ValueTask RecordIssuedAsync(X509Certificate2 certificate, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        if (await Store.FindCertificateAsync(certificate.SerialNumber, cancellationToken).ConfigureAwait(false) is not null)
        {
            return; // the issuer's endpoints record every certificate in the issuance's own transaction
        }

        var id = CertificateExtensions.ReadUriSans(certificate, out _) is [var uri] ? uri : string.Empty;
        var now = _issuer.Time.GetUtcNow();
        await Store.RecordIssuanceAsync(null, new IssuedCertificateRecord(
            certificate.SerialNumber, id, "record", new DateTimeOffset(certificate.NotBefore.ToUniversalTime()), new DateTimeOffset(certificate.NotAfter.ToUniversalTime()), now, certificate.RawData),
            cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<IReadOnlyList<RevocationEntry>> GetEntriesAsync(long afterSequence, int maxCount, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(afterSequence);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxCount, 1);
        lock (_gate)
        {
            if (_entries.Count > afterSequence)
            {
                // Entries are permanent and gapless: what this replica holds is served without a round trip (a woken feed stream).
                var from = (int)afterSequence;
                return _entries.GetRange(from, Math.Min(maxCount, _entries.Count - from)).ToArray();
            }
        }

        await CatchUpAsync(cancellationToken).ConfigureAwait(false);
        lock (_gate)
        {
            var start = (int)Math.Min(afterSequence, _entries.Count);
            return _entries.GetRange(start, Math.Min(maxCount, _entries.Count - start)).ToArray();
        }
    }

    /// <inheritdoc/>
    /// <remarks>Woken by a revocation on this replica, or by the catch-up that reads what other replicas committed (PostgreSQL's
    /// notification, or the periodic safety net of <see cref="RevocationRegistryOptions.StorePollInterval"/>).</remarks>
    public async Task WaitForEntriesAsync(long afterSequence, CancellationToken cancellationToken = default)
    {
        while (true)
        {
            Task wait;
            lock (_gate)
            {
                if (_entries.Count > afterSequence)
                {
                    return;
                }

                wait = _next.Task;
            }

            await wait.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public async ValueTask<RevocationEntry?> GetCertificateRevocationAsync(string serialNumber, CancellationToken cancellationToken = default)
    {
        var serial = RevocationEntry.NormalizeSerialNumber(serialNumber);
        await CatchUpAsync(cancellationToken).ConfigureAwait(false);
        if (await Store.FindCertificateRevocationSequenceAsync(serial, cancellationToken).ConfigureAwait(false) is { } sequence)
        {
            await EnsureAsync(sequence, cancellationToken).ConfigureAwait(false);
            return Entry(sequence);
        }

        if (_set.IsRevoked(serial, default, null, out var direct))
        {
            return direct;
        }

        // Not materialised (issued concurrently with the revocation): decide from the certificate's lineage.
        if (await Store.FindCertificateLineageAsync(serial, cancellationToken).ConfigureAwait(false) is not { } lineage)
        {
            return null;
        }

        var id = SpiffeId.TryParse(lineage.SpiffeId, out var parsed) ? parsed : default;
        var ancestorIds = lineage.Ancestors.Select(a => SpiffeId.TryParse(a.Id, out var ancestor) ? ancestor : default).Where(a => !a.IsEmpty).ToArray();
        if (_set.IsRevoked(serial, id, ancestorIds, out var entry))
        {
            return entry;
        }

        foreach (var ancestor in lineage.Ancestors)
        {
            if (ancestor.Serial != "-" && _set.IsRevoked(ancestor.Serial, default, null, out entry))
            {
                return entry;
            }
        }

        return null;
    }

    /// <inheritdoc/>
    public async ValueTask<bool> IsIssuedAsync(string serialNumber, CancellationToken cancellationToken = default) =>
        await Store.FindCertificateLineageAsync(RevocationEntry.NormalizeSerialNumber(serialNumber), cancellationToken).ConfigureAwait(false) is not null;

    public async ValueTask<RevocationEntry?> GetIdentityRevocationAsync(SpiffeId id, CancellationToken cancellationToken = default)
    {
        await CatchUpAsync(cancellationToken).ConfigureAwait(false);
        return _set.IsIdentityRevoked(id, out var entry) ? entry : null;
    }

    /// <inheritdoc/>
    /// <remarks>The CRL is stored: every replica serves the same bytes. It is rebuilt (with the next persisted CRL number) when a
    /// revocation commits, when it does not cover the newest entry (another replica's revocation), and at half its validity.</remarks>
    public async ValueTask<byte[]> GetCrlAsync(CancellationToken cancellationToken = default)
    {
        var now = _issuer.Time.GetUtcNow();
        var (crl, crlSequence, builtAt, last) = await Store.GetCrlStateAsync(cancellationToken).ConfigureAwait(false);
        if (crl is not null && crlSequence == last && now < builtAt + (_options.CrlValidity / 2))
        {
            return crl;
        }

        return await RebuildCrlAsync(now, cancellationToken).ConfigureAwait(false);
    }

    private Task<byte[]> RebuildCrlAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        var signer = _issuer.State.RevocationSigner;
        return Store.RebuildCrlAsync(now, now - _options.ClockSkew,
            (rows, number) => signer.BuildCrl(rows, new BigInteger(number), now - _options.ClockSkew, now + _options.CrlValidity), cancellationToken);
    }

    /// <summary>Reads the entries committed since the last catch-up (on any replica), verifies them with the issuer's CAs and applies
    /// them, waking the feed's waiters. Concurrent callers share the reads: each joins the next round, a read that begins after
    /// it arrived (so it sees everything committed before), and one round runs at a time; no caller waits on a lock of its own.</summary>
    internal Task CatchUpAsync(CancellationToken cancellationToken)
    {
        Task round;
        var drive = false;
        lock (_gate)
        {
            _nextRound ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            round = _nextRound.Task;
            if (!_catchingUp)
            {
                _catchingUp = drive = true;
            }
        }

        if (drive)
        {
            _ = DriveCatchUpsAsync();
        }

        return round.WaitAsync(cancellationToken);
    }

    /// <summary>Runs rounds until none is waiting. The rounds belong to every caller in them: one caller's cancellation does not
    /// cancel the read.</summary>
    private async Task DriveCatchUpsAsync()
    {
        while (true)
        {
            TaskCompletionSource round;
            lock (_gate)
            {
                if (_nextRound is null)
                {
                    _catchingUp = false;
                    return;
                }

                round = _nextRound;
                _nextRound = null;
            }

            try
            {
                await CatchUpCoreAsync(CancellationToken.None).ConfigureAwait(false);
                round.TrySetResult();
            }
            catch (Exception ex)
            {
                round.TrySetException(ex);
            }
        }
    }

    private async Task CatchUpCoreAsync(CancellationToken cancellationToken)
    {
        if (_logId is null)
        {
            _logId = (await Store.GetRevocationHeadAsync(cancellationToken).ConfigureAwait(false)).LogId;
        }

        while (true)
        {
            var rows = await Store.GetRevocationEntriesAsync(_set.LastSequence, 512, cancellationToken).ConfigureAwait(false);
            if (rows.Count == 0)
            {
                return;
            }

            TaskCompletionSource? signal = null;
            foreach (var (_, bytes) in rows)
            {
                if (!TryVerify(bytes, out var entry, out var error))
                {
                    // Signed by a CA another replica has just activated: adopt it, then verify again.
                    await _issuer.ReloadIfChangedAsync(cancellationToken).ConfigureAwait(false);
                    if (!TryVerify(bytes, out entry, out error))
                    {
                        throw new InvalidOperationException($"A revocation entry in the issuer store does not verify with any of the issuer's CAs: {error?.Message}", error);
                    }
                }

                if (_set.Apply(entry) != RevocationApplyResult.Applied)
                {
                    throw new InvalidOperationException($"The issuer store's revocation log is inconsistent at entry #{entry.Sequence} (log {entry.LogId}); it was altered or restored partially.");
                }

                lock (_gate)
                {
                    _entries.Add(entry);
                    signal ??= _next;
                    _next = new(TaskCreationOptions.RunContinuationsAsynchronously);
                }
            }

            signal?.TrySetResult();
        }
    }

    private async Task EnsureAsync(long sequence, CancellationToken cancellationToken)
    {
        if (_set.LastSequence < sequence)
        {
            await CatchUpAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private RevocationEntry Entry(long sequence)
    {
        lock (_gate)
        {
            return _entries[(int)(sequence - 1)];
        }
    }

    /// <summary>Verifies a stored entry with the issuer's CAs (the active one and any kept for rotation): a row altered in the
    /// database is refused, never served.</summary>
    private bool TryVerify(byte[] bytes, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out RevocationEntry? entry, out RevocationFeedException? error)
    {
        error = null;
        foreach (var intermediate in _issuer.State.Intermediates)
        {
            using var verifier = new RevocationFeedVerifier(intermediate, TrustDomain);
            try
            {
                entry = verifier.Verify(bytes);
                return true;
            }
            catch (RevocationFeedException ex)
            {
                error = ex;
            }
        }

        entry = null;
        return false;
    }
}
