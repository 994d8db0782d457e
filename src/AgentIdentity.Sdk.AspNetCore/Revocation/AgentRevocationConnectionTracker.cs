using System.Collections.Concurrent;
using System.Formats.Asn1;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;

namespace AgentIdentity.AspNetCore;

/// <summary>
/// Tracks open TLS connections by client certificate and aborts every connection whose certificate a new revocation covers, the
/// moment the entry is applied: an idle keep-alive connection of a revoked agent does not survive to send another request.
/// Also refuses new connections that present a revoked certificate. Installed by <c>ListenOptions.UseAgentIdentityRevocation()</c>.
/// </summary>
/// <remarks>Thread-safe.</remarks>
public sealed class AgentRevocationConnectionTracker : IDisposable
{
    private readonly RevocationSet _set;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<string, Tracked> _connections = new(StringComparer.Ordinal);
    private long _aborted;

    /// <summary>Initializes a new instance of the <see cref="AgentRevocationConnectionTracker"/> class.</summary>
    /// <param name="set">The revocation set.</param>
    /// <param name="logger">Logging.</param>
    public AgentRevocationConnectionTracker(RevocationSet set, ILogger<AgentRevocationConnectionTracker> logger)
    {
        ArgumentNullException.ThrowIfNull(set);
        ArgumentNullException.ThrowIfNull(logger);
        _set = set;
        _logger = logger;
        _set.EntryApplied += OnEntryApplied;
    }

    /// <summary>Gets the number of connections aborted because of a revocation.</summary>
    public long AbortedConnections => Interlocked.Read(ref _aborted);

    /// <summary>Gets the number of tracked open connections.</summary>
    public int OpenConnections => _connections.Count;

    internal async Task OnConnectionAsync(ConnectionContext connection, ConnectionDelegate next)
    {
        var certificate = connection.Features.Get<ITlsConnectionFeature>()?.ClientCertificate;
        if (certificate is null)
        {
            await next(connection).ConfigureAwait(false);
            return;
        }

        var id = CertificateId(certificate);
        var ancestors = ReadAncestors(certificate);
        var tracked = new Tracked(connection, certificate.SerialNumber, id, ancestors);
        if (_set.IsRevoked(tracked.Serial, id, ancestors, out var entry))
        {
            Abort(tracked, entry);
            return;
        }

        _connections[connection.ConnectionId] = tracked;
        try
        {
            // Close the race with a revocation applied between the check and the registration.
            if (_set.IsRevoked(tracked.Serial, id, ancestors, out entry))
            {
                Abort(tracked, entry);
                return;
            }

            await next(connection).ConfigureAwait(false);
        }
        finally
        {
            _connections.TryRemove(connection.ConnectionId, out _);
        }
    }

    private void OnEntryApplied(object? sender, RevocationEntry entry)
    {
        foreach (var tracked in _connections.Values)
        {
            if (_set.IsRevoked(tracked.Serial, tracked.Id, tracked.Ancestors, out var covering) && covering == entry)
            {
                Abort(tracked, entry);
            }
        }
    }

    private void Abort(Tracked tracked, RevocationEntry entry)
    {
        Interlocked.Increment(ref _aborted);
        _logger.ConnectionAborted(tracked.Connection.ConnectionId, tracked.Id, tracked.Serial, entry.Sequence);
        tracked.Connection.Abort(new ConnectionAbortedException($"The client certificate (serial {tracked.Serial}) was revoked by entry #{entry.Sequence}."));
    }

    private static SpiffeId CertificateId(X509Certificate2 certificate)
    {
        var san = certificate.Extensions[Oids.SubjectAltName];
        if (san is null)
        {
            return default;
        }

        try
        {
            var names = new AsnReader(san.RawData, AsnEncodingRules.DER).ReadSequence();
            var uriTag = new Asn1Tag(TagClass.ContextSpecific, 6);
            while (names.HasData)
            {
                if (names.PeekTag() == uriTag && SpiffeId.TryParse(names.ReadCharacterString(UniversalTagNumber.IA5String, uriTag), out var id))
                {
                    return id;
                }

                names.ReadEncodedValue();
            }
        }
        catch (AsnContentException)
        {
            // Not an SVID: tracked by serial number only.
        }

        return default;
    }

    private static SpiffeId[]? ReadAncestors(X509Certificate2 certificate)
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

    /// <inheritdoc/>
    public void Dispose() => _set.EntryApplied -= OnEntryApplied;

    private sealed record Tracked(ConnectionContext Connection, string Serial, SpiffeId Id, SpiffeId[]? Ancestors);
}
