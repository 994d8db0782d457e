using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;

namespace AgentIdentity;

/// <summary>Answers whether an X.509-SVID has been revoked: the seam the kill switch of tool calls consults before every call.</summary>
/// <remarks>
/// Implementations answer from local state (a revocation feed subscription, a CRL already fetched) and must be fast, non-blocking
/// and thread-safe: they run on every tool call. <see cref="InMemoryRevocationList"/> is the in-process implementation.
/// </remarks>
public interface IRevocationStatus
{
    /// <summary>Decides whether <paramref name="svid"/> is revoked.</summary>
    /// <param name="svid">The SVID about to be used.</param>
    /// <param name="reason">Why it is revoked, for errors and the audit log; <see langword="null"/> when it is not.</param>
    /// <returns><see langword="true"/> when the SVID must not be used.</returns>
    bool IsRevoked(X509Svid svid, [NotNullWhen(true)] out string? reason);
}

/// <summary>
/// An in-process revocation list: revoked certificate serial numbers and revoked identities. Revoking an identity revokes
/// every SVID of it and every task identity delegated from it (any SVID whose delegation chain contains it).
/// </summary>
/// <remarks>Thread-safe; lookups do not allocate.</remarks>
public sealed class InMemoryRevocationList : IRevocationStatus
{
    private readonly ConcurrentDictionary<string, string> _serials = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentDictionary<SpiffeId, string> _identities = new();

    /// <summary>Revokes one certificate by serial number.</summary>
    /// <param name="serialNumber">The serial number, hex (case-insensitive), as <see cref="X509Svid.SerialNumber"/> gives it.</param>
    /// <param name="reason">Why; recorded in denials and the audit log.</param>
    /// <exception cref="ArgumentException"><paramref name="serialNumber"/> or <paramref name="reason"/> is empty.</exception>
    public void RevokeSerialNumber(string serialNumber, string reason)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(serialNumber);
        ArgumentException.ThrowIfNullOrWhiteSpace(reason);
        _serials[serialNumber] = reason;
    }

    /// <summary>Revokes an identity: all its SVIDs, present and future, and every identity delegated from it.</summary>
    /// <param name="id">The SPIFFE ID.</param>
    /// <param name="reason">Why; recorded in denials and the audit log.</param>
    /// <exception cref="ArgumentException"><paramref name="id"/> or <paramref name="reason"/> is empty.</exception>
    public void RevokeIdentity(SpiffeId id, string reason)
    {
        if (id.IsEmpty)
        {
            throw new ArgumentException("The SPIFFE ID to revoke is empty.", nameof(id));
        }

        ArgumentException.ThrowIfNullOrWhiteSpace(reason);
        _identities[id] = reason;
    }

    /// <inheritdoc/>
    public bool IsRevoked(X509Svid svid, [NotNullWhen(true)] out string? reason)
    {
        ArgumentNullException.ThrowIfNull(svid);
        if (!_identities.IsEmpty)
        {
            if (_identities.TryGetValue(svid.Id, out var why))
            {
                reason = $"identity '{svid.Id}' is revoked: {why}";
                return true;
            }

            if (svid.DelegationChain is { } chain)
            {
                foreach (var link in chain)
                {
                    if (_identities.TryGetValue(link.Id, out why))
                    {
                        reason = $"identity '{link.Id}', which delegated to '{svid.Id}', is revoked: {why}";
                        return true;
                    }
                }
            }
        }

        if (!_serials.IsEmpty && _serials.TryGetValue(svid.SerialNumber, out var serialReason))
        {
            reason = $"certificate serial {svid.SerialNumber} of '{svid.Id}' is revoked: {serialReason}";
            return true;
        }

        reason = null;
        return false;
    }
}
