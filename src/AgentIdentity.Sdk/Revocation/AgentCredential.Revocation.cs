using System.Security.Cryptography.X509Certificates;

namespace AgentIdentity;

/// <content>Revocation: the kill switch, and revocation of task identities when they are disposed.</content>
public sealed partial class AgentCredential
{
    private RevocationEntry? _revokedBy;
    private IIdentityRevoker? _revoker;

    /// <summary>Gets a value indicating whether the kill switch has tripped: the identity is revoked and the agent must stop.</summary>
    public bool IsRevoked => Volatile.Read(ref _revokedBy) is not null;

    /// <summary>Gets the revocation that tripped the kill switch, or <see langword="null"/>.</summary>
    public RevocationEntry? Revocation => Volatile.Read(ref _revokedBy);

    private IIdentityRevoker? EffectiveRevoker => _revoker ?? _parent?.EffectiveRevoker;

    /// <summary>
    /// Configures where task identities delegated from this credential (and their descendants) are revoked when they are disposed,
    /// so that a finished task's certificate stops working everywhere at once instead of living out its lifetime.
    /// </summary>
    /// <param name="revoker">The issuer's revocation registry (in process), or a client of the issuer's revocation endpoint.</param>
    /// <returns>This credential.</returns>
    public AgentCredential UseIdentityRevoker(IIdentityRevoker revoker)
    {
        ArgumentNullException.ThrowIfNull(revoker);
        _revoker = revoker;
        return this;
    }

    /// <summary>Trips the kill switch (idempotent): from now on <see cref="GetCurrent"/> throws <see cref="IdentityRevokedException"/>,
    /// health is Unhealthy, renewal stops, and every task identity delegated from this credential trips too.</summary>
    internal bool TripKillSwitch(RevocationEntry entry)
    {
        if (Interlocked.CompareExchange(ref _revokedBy, entry, null) is not null)
        {
            return false;
        }

        _logger.KillSwitchTripped(Id, entry);
        using var activity = AgentIdentityTelemetry.Source.StartActivity(AgentIdentityTelemetry.KillSwitchSpan);
        if (activity is { IsAllDataRequested: true })
        {
            activity.SetTag(TelemetryTags.AgentId, Id.ToString());
            if (Volatile.Read(ref _current) is { } current)
            {
                activity.SetTag(TelemetryTags.SvidSerial, current.SerialNumber);
                activity.SetTag(TelemetryTags.SvidThumbprint, current.Thumbprint);
            }

            activity.SetRevocation(entry);
        }

        try
        {
            _stop.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // Disposed concurrently: renewal has stopped anyway.
        }

        AgentCredential[] children;
        lock (_taskCredentials)
        {
            children = [.. _taskCredentials];
        }

        foreach (var child in children)
        {
            child.TripKillSwitch(entry);
        }

        return true;
    }

    /// <summary>The SVID held right now, even if expired or revoked (for revocation checks).</summary>
    internal X509Svid? PeekCurrent() => Volatile.Read(ref _current);

    internal List<AgentCredential> GetTaskCredentials()
    {
        lock (_taskCredentials)
        {
            return [.. _taskCredentials];
        }
    }

    private async ValueTask RevokeOnDisposeAsync()
    {
        if (_parent is null || EffectiveRevoker is not { } revoker || IsRevoked)
        {
            return;
        }

        try
        {
            await revoker.RevokeAsync(Id, X509RevocationReason.CessationOfOperation).ConfigureAwait(false);
            _logger.TaskIdentityRevoked(Id);
        }
#pragma warning disable CA1031 // Disposal must not throw; the failure is logged and the certificate expires on its own.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            _logger.TaskIdentityRevocationFailed(Id, ex);
        }
    }
}
