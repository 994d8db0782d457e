using System.Collections.Concurrent;
using System.Numerics;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace AgentIdentity;

/// <summary>Options for <see cref="InMemoryRevocationRegistry"/>.</summary>
public sealed class RevocationRegistryOptions
{
    /// <summary>Gets or sets how long a CRL is valid (its <c>nextUpdate</c>); it is rebuilt at half that, and on every revocation.</summary>
    /// <value>The default value is 1 day.</value>
    public TimeSpan CrlValidity { get; set; } = TimeSpan.FromDays(1);

    /// <summary>Gets or sets how far the CRL's <c>thisUpdate</c> is backdated for peers whose clocks run behind.</summary>
    /// <value>The default value is 5 minutes.</value>
    public TimeSpan ClockSkew { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Gets or sets how often the issuer service re-reads its store as a safety net: revocations and CA changes committed by
    /// other replicas. On PostgreSQL the replicas are woken at once by <c>LISTEN</c>/<c>NOTIFY</c> and catch up after every
    /// reconnection; this interval only bounds the delay of a change whose notification was lost. Measured on the issuer's
    /// <see cref="TimeProvider"/>.</summary>
    /// <value>The default value is 10 seconds.</value>
    public TimeSpan StorePollInterval { get; set; } = TimeSpan.FromSeconds(10);
}

/// <summary>
/// A revocation registry held in memory: for one issuer process, development and tests. A store-backed registry (the issuer
/// service) survives restarts and is shared by replicas.
/// </summary>
/// <remarks>Thread-safe. Entries are signed by the <see cref="RevocationSigner"/> and numbered 1, 2, 3 ... without gaps.</remarks>
public sealed class InMemoryRevocationRegistry : IRevocationRegistry
{
    private readonly RevocationSigner _signer;
    private readonly TimeProvider _time;
    private readonly RevocationRegistryOptions _options;
    private readonly ILogger _logger;
    private readonly RevocationSet _set = new();
    private readonly List<RevocationEntry> _entries = [];
    private readonly ConcurrentDictionary<string, IssuedCertificate> _issued = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, (RevocationEntry Entry, DateTimeOffset NotAfter)> _revokedByIdentity = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, byte> _everIssued = new(StringComparer.Ordinal);
    private readonly byte[] _logId = System.Security.Cryptography.RandomNumberGenerator.GetBytes(RevocationEntry.LogIdLength);
    private readonly Lock _gate = new();
    private TaskCompletionSource _next = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private byte[]? _crl;
    private DateTimeOffset _crlRefreshAt;
    private long _crlNumber;

    /// <summary>Initializes a new instance of the <see cref="InMemoryRevocationRegistry"/> class.</summary>
    /// <param name="signer">The issuer's revocation signer.</param>
    /// <param name="options">Options; <see langword="null"/> for defaults.</param>
    /// <param name="timeProvider">The clock; <see langword="null"/> for <see cref="TimeProvider.System"/>.</param>
    /// <param name="logger">Logging; <see langword="null"/> for none.</param>
    public InMemoryRevocationRegistry(RevocationSigner signer, RevocationRegistryOptions? options = null, TimeProvider? timeProvider = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(signer);
        _signer = signer;
        _options = options ?? new RevocationRegistryOptions();
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(_options.CrlValidity, TimeSpan.Zero, nameof(options));
        ArgumentOutOfRangeException.ThrowIfLessThan(_options.ClockSkew, TimeSpan.Zero, nameof(options));
        _time = timeProvider ?? TimeProvider.System;
        _logger = logger ?? NullLogger.Instance;
    }

    /// <inheritdoc/>
    public TrustDomain TrustDomain => _signer.TrustDomain;

    /// <inheritdoc/>
    public X509Certificate2 SignerCertificate => _signer.Certificate;

    /// <inheritdoc/>
    public long LastSequence => _set.LastSequence;

    /// <inheritdoc/>
    /// <remarks>A new random log ID per instance: a process restart starts a new log, and subscribers resynchronise.</remarks>
    public string LogId => Convert.ToHexStringLower(_logId);

    /// <summary>Gets the applied state, for in-process checks (an issuer and a service in one process).</summary>
    public RevocationSet Set => _set;

    /// <inheritdoc/>
    public ValueTask<RevocationEntry> RevokeCertificateAsync(string serialNumber, X509RevocationReason reason = X509RevocationReason.Unspecified, CancellationToken cancellationToken = default)
    {
        var normalized = RevocationEntry.NormalizeSerialNumber(serialNumber);
        cancellationToken.ThrowIfCancellationRequested();
        return new(Append(RevocationKind.Serial, normalized, default, reason));
    }

    /// <inheritdoc/>
    public ValueTask<RevocationEntry> RevokeIdentityAsync(SpiffeId id, X509RevocationReason reason = X509RevocationReason.Unspecified, CancellationToken cancellationToken = default)
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

        cancellationToken.ThrowIfCancellationRequested();
        return new(Append(RevocationKind.Identity, null, id, reason));
    }

    private RevocationEntry Append(RevocationKind kind, string? serial, SpiffeId id, X509RevocationReason reason)
    {
        RevocationEntry entry;
        TaskCompletionSource signal;
        lock (_gate)
        {
            var existing = _entries.Find(e => e.Kind == kind && (kind == RevocationKind.Serial ? e.SerialNumber == serial : e.Id == id));
            if (existing is not null)
            {
                return existing;
            }

            var now = _time.GetUtcNow();
            entry = _signer.CreateEntry(_logId, _set.LastSequence + 1, kind, serial, id, now, reason);
            _entries.Add(entry);
            _set.Apply(entry);
            // The cascade: an identity reaches its certificates, those below it and those whose delegation chain names it; a
            // serial reaches every certificate whose delegation chain names that certificate (by its hash).
            var revokedHash = kind == RevocationKind.Serial && _issued.TryGetValue(serial!, out var revokedCertificate) ? revokedCertificate.Hash : null;
            foreach (var (issuedSerial, issued) in _issued)
            {
                if (kind == RevocationKind.Identity ? issued.IsCoveredBy(id) : revokedHash is not null && Array.IndexOf(issued.AncestorHashes, revokedHash) >= 0)
                {
                    _revokedByIdentity.TryAdd(issuedSerial, (entry, issued.NotAfter));
                }
            }

            _crl = null; // rebuilt (with a new CRL number) on the next fetch: O(1) per revocation
            signal = _next;
            _next = new(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        _logger.RevocationRecorded(entry.Sequence, entry.Kind, entry.Subject, entry.Reason);
        signal.TrySetResult();
        return entry;
    }

    /// <inheritdoc/>
    public ValueTask RecordIssuedAsync(X509Certificate2 certificate, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        var serial = RevocationEntry.NormalizeSerialNumber(certificate.SerialNumber);
        var id = CertificateExtensions.ReadUriSans(certificate, out _) is [var uri] && SpiffeId.TryParse(uri, out var parsed) ? parsed : default;
        var chain = ReadDelegationChain(certificate);
        var issued = new IssuedCertificate(
            id, [.. chain.Select(l => l.Id)], [.. chain.Select(l => l.CertificateThumbprint)], Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(certificate.RawData)),
            new DateTimeOffset(certificate.NotAfter.ToUniversalTime()));
        lock (_gate)
        {
            _issued[serial] = issued;
            _everIssued.TryAdd(serial, 0);
            if ((_set.IsRevoked(serial, id, issued.Ancestors, out var entry) || IsAncestorCertificateRevoked(issued, out entry)) && _revokedByIdentity.TryAdd(serial, (entry, issued.NotAfter)))
            {
                _crl = null;
            }

            var now = _time.GetUtcNow();
            foreach (var (key, value) in _issued)
            {
                if (value.NotAfter < now - _options.ClockSkew)
                {
                    _issued.TryRemove(key, out _);
                }
            }
        }

        return default;
    }

    /// <inheritdoc/>
    public ValueTask<IReadOnlyList<RevocationEntry>> GetEntriesAsync(long afterSequence, int maxCount, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(afterSequence);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxCount, 1);
        lock (_gate)
        {
            var start = (int)Math.Min(afterSequence, _entries.Count);
            return new(_entries.GetRange(start, Math.Min(maxCount, _entries.Count - start)).ToArray());
        }
    }

    /// <inheritdoc/>
    public Task WaitForEntriesAsync(long afterSequence, CancellationToken cancellationToken = default)
    {
        Task wait;
        lock (_gate)
        {
            if (_set.LastSequence > afterSequence)
            {
                return Task.CompletedTask;
            }

            wait = _next.Task;
        }

        return wait.WaitAsync(cancellationToken);
    }

    /// <inheritdoc/>
    public ValueTask<RevocationEntry?> GetCertificateRevocationAsync(string serialNumber, CancellationToken cancellationToken = default)
    {
        var serial = RevocationEntry.NormalizeSerialNumber(serialNumber);
        if (_set.IsRevoked(serial, default, null, out var entry))
        {
            return new(entry);
        }

        if (_revokedByIdentity.TryGetValue(serial, out var cascaded))
        {
            return new(cascaded.Entry);
        }

        if (_issued.TryGetValue(serial, out var issued) && _set.IsRevoked(serial, issued.Id, issued.Ancestors, out entry))
        {
            return new(entry);
        }

        return new((RevocationEntry?)null);
    }

    /// <inheritdoc/>
    public ValueTask<RevocationEntry?> GetIdentityRevocationAsync(SpiffeId id, CancellationToken cancellationToken = default) =>
        new(_set.IsIdentityRevoked(id, out var entry) ? entry : null);

    /// <inheritdoc/>
    /// <remarks>Each revocation invalidates the CRL; the next call builds a new one with the next CRL number.</remarks>
    public ValueTask<byte[]> GetCrlAsync(CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            var now = _time.GetUtcNow();
            if (_crl is null || now >= _crlRefreshAt)
            {
                _crl = BuildCrl(now);
            }

            return new(_crl);
        }
    }

    private byte[] BuildCrl(DateTimeOffset now)
    {
        var rows = new Dictionary<string, (string, DateTimeOffset, X509RevocationReason)>(StringComparer.Ordinal);
        foreach (var entry in _entries)
        {
            if (entry.Kind == RevocationKind.Serial)
            {
                rows[entry.SerialNumber!] = (entry.SerialNumber!, entry.RevokedAt, entry.Reason);
            }
        }

        foreach (var (serial, (entry, notAfter)) in _revokedByIdentity)
        {
            // RFC 5280 §3.3: an entry may leave the CRL once the certificate has expired.
            if (notAfter >= now - _options.ClockSkew)
            {
                rows.TryAdd(serial, (serial, entry.RevokedAt, entry.Reason));
            }
            else
            {
                _revokedByIdentity.TryRemove(serial, out _);
            }
        }

        // Monotonic across restarts of the process too: never below the Unix time in seconds (RFC 5280 §5.2.3 asks only for an
        // increasing number; a persisted one is the store-backed registry's).
        _crlNumber = Math.Max(_crlNumber + 1, now.ToUnixTimeSeconds());
        _crlRefreshAt = now + (_options.CrlValidity / 2);
        return _signer.BuildCrl(rows.Values, new BigInteger(_crlNumber), now - _options.ClockSkew, now + _options.CrlValidity);
    }

    /// <inheritdoc/>
    /// <remarks>Every certificate recorded with <see cref="RecordIssuedAsync"/> since this instance was created.</remarks>
    public ValueTask<bool> IsIssuedAsync(string serialNumber, CancellationToken cancellationToken = default) =>
        new(_everIssued.ContainsKey(RevocationEntry.NormalizeSerialNumber(serialNumber)));

    private bool IsAncestorCertificateRevoked(IssuedCertificate issued, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out RevocationEntry? entry)
    {
        foreach (var (serial, candidate) in _issued)
        {
            if (Array.IndexOf(issued.AncestorHashes, candidate.Hash) >= 0 && (_set.IsRevoked(serial, default, null, out entry) || (_revokedByIdentity.TryGetValue(serial, out var cascaded) && (entry = cascaded.Entry) is not null)))
            {
                return true;
            }
        }

        entry = null;
        return false;
    }

    private sealed record IssuedCertificate(SpiffeId Id, SpiffeId[] Ancestors, string[] AncestorHashes, string Hash, DateTimeOffset NotAfter)
    {
        public bool IsCoveredBy(SpiffeId revoked) =>
            Id == revoked || revoked.IsAncestorOf(Id) || Array.Exists(Ancestors, a => a == revoked || revoked.IsAncestorOf(a));
    }

    private static DelegationLink[] ReadDelegationChain(X509Certificate2 certificate)
    {
        try
        {
            return AgentPolicyExtension.ReadDelegationChain(certificate) is { } chain ? [.. chain] : [];
        }
        catch (PolicyFormatException)
        {
            return [];
        }
    }
}
