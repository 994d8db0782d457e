using System.Collections.Concurrent;

namespace AgentIdentity;

/// <summary>
/// The agent side of revocation: watches agent credentials against a <see cref="RevocationSet"/> (kept current by a
/// <see cref="RevocationFeedSubscriber"/>) and trips a credential's kill switch the moment its certificate or identity is revoked.
/// A tripped credential refuses <see cref="AgentCredential.GetCurrent"/> with <see cref="IdentityRevokedException"/>, so every
/// outbound request and tool call fails, and its health is Unhealthy.
/// </summary>
/// <remarks>Thread-safe. The check runs on the feed's thread as each entry is applied: no polling.</remarks>
public sealed class AgentRevocationMonitor : IDisposable
{
    private readonly RevocationSet _set;
    private readonly ConcurrentDictionary<AgentCredential, IDisposable?> _watched = new();

    /// <summary>Initializes a new instance of the <see cref="AgentRevocationMonitor"/> class.</summary>
    /// <param name="set">The revocation set the feed keeps current.</param>
    public AgentRevocationMonitor(RevocationSet set)
    {
        ArgumentNullException.ThrowIfNull(set);
        _set = set;
        _set.EntryApplied += OnEntryApplied;
    }

    /// <summary>Watches <paramref name="credential"/> (and the task identities delegated from it); checks it at once.</summary>
    /// <param name="credential">The credential.</param>
    /// <returns><see langword="true"/> when the credential is already revoked.</returns>
    public bool Watch(AgentCredential credential)
    {
        ArgumentNullException.ThrowIfNull(credential);
        _watched.TryAdd(credential, null);
        return Check(credential);
    }

    /// <summary>Stops watching <paramref name="credential"/>.</summary>
    /// <param name="credential">The credential.</param>
    public void Unwatch(AgentCredential credential) => _watched.TryRemove(credential, out _);

    private void OnEntryApplied(object? sender, RevocationEntry entry)
    {
        foreach (var credential in _watched.Keys)
        {
            Check(credential);
        }
    }

    private bool Check(AgentCredential credential)
    {
        if (credential.IsRevoked)
        {
            return true;
        }

        var svid = credential.PeekCurrent();
        RevocationEntry? entry;
        var revoked = svid is not null ? _set.IsRevoked(svid, out entry) : _set.IsIdentityRevoked(credential.Id, out entry);
        if (revoked)
        {
            credential.TripKillSwitch(entry!);
        }

        foreach (var child in credential.GetTaskCredentials())
        {
            Check(child);
        }

        return revoked;
    }

    /// <inheritdoc/>
    public void Dispose() => _set.EntryApplied -= OnEntryApplied;
}
