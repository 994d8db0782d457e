using System.Diagnostics;

namespace AgentIdentity;

/// <content>Delegation: task credentials minted from an agent's credential.</content>
public sealed partial class AgentCredential
{
    /// <summary>The default lifetime of a task identity.</summary>
    public static readonly TimeSpan DefaultTaskLifetime = TimeSpan.FromMinutes(10);

    private readonly List<AgentCredential> _taskCredentials = [];
    private AgentCredential? _parent;

    /// <summary>Gets the credential this task credential was delegated from, or <see langword="null"/> for an agent's own credential.</summary>
    public AgentCredential? Parent => _parent;

    /// <summary>Gets the current SVID's effective policy: its own policy intersected with every ancestor's.</summary>
    /// <returns>The effective policy, or <see langword="null"/> when the SVID carries no policy.</returns>
    /// <exception cref="IdentityUnavailableException">No valid SVID exists.</exception>
    public AgentPolicy? GetEffectivePolicy() => GetCurrent().EffectivePolicy;

    /// <summary>
    /// Mints a task identity <c>&lt;this-id&gt;/task/&lt;taskId&gt;</c> for a sub-agent with a narrower <paramref name="policy"/>,
    /// and keeps it renewed, each renewal signed by this credential's current SVID and re-checked by the issuer.
    /// </summary>
    /// <param name="taskId">The task id: a SPIFFE path segment (letters, digits, '.', '-', '_').</param>
    /// <param name="policy">The task's policy; must be a subset of this credential's, with a delegation depth at least one lower.
    /// Its task id is set to <paramref name="taskId"/>.</param>
    /// <param name="lifetime">The task SVID's lifetime; <see langword="null"/> for <see cref="DefaultTaskLifetime"/>. Each SVID is
    /// shortened to this credential's remaining life.</param>
    /// <param name="cancellationToken">Cancels the first issuance.</param>
    /// <returns>A ready, self-renewing task credential. Dispose it to end renewal; disposing this credential disposes it too.</returns>
    /// <exception cref="ArgumentException">The task id or lifetime is invalid, or the policy names a different task.</exception>
    /// <exception cref="CertificateIssuanceException">The issuer refused the delegation; the message names the rule (wider policy,
    /// depth, lifetime, target) that the request breaks. Nothing is retried.</exception>
    /// <exception cref="IdentityUnavailableException">This credential has no valid SVID to delegate from.</exception>
    /// <exception cref="ObjectDisposedException">This credential is disposed.</exception>
    public async Task<AgentCredential> DelegateAsync(string taskId, AgentPolicy policy, TimeSpan? lifetime = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(taskId);
        ArgumentNullException.ThrowIfNull(policy);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (AgentPolicy.ValidateTaskId(taskId) is { } taskError)
        {
            throw new ArgumentException($"Task id '{AgentPolicy.Truncate(taskId)}' is invalid: {taskError}.", nameof(taskId));
        }

        if (policy.TaskId is not null && policy.TaskId != taskId)
        {
            throw new ArgumentException($"The policy names task '{policy.TaskId}' but the task id is '{taskId}'.", nameof(policy));
        }

        var options = _options.Clone();
        options.Lifetime = lifetime ?? DefaultTaskLifetime;
        options.Policy = policy.WithTaskId(taskId);
        if (options.Validate() is { } error)
        {
            throw new ArgumentException($"Invalid task credential options for task '{taskId}': {error}", nameof(lifetime));
        }

        var parentSvid = GetCurrent(); // fail fast when there is nothing to delegate from
        var child = new AgentCredential(DelegationRules.TaskId(Id, taskId), _issuer, options, _time, _logger, _metrics) { _parent = this };
        using var activity = AgentIdentityTelemetry.Source.StartActivity(AgentIdentityTelemetry.DelegateSpan);
        if (activity is { IsAllDataRequested: true })
        {
            activity.SetSvid(parentSvid);
            activity.SetTag(TelemetryTags.TaskId, taskId);
        }

        try
        {
            // The first issuance is not retried: a refusal is the caller's error and must surface now.
            await child.IssueOnceAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            activity?.SetFailure(ex);
            await child.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        if (activity is { IsAllDataRequested: true } && child.TryGetCurrent(out var taskSvid) && taskSvid.DelegationChain is { } chain)
        {
            activity.SetTag(TelemetryTags.DelegationChain, AgentIdentityTelemetry.ChainIds(chain));
        }

        lock (_taskCredentials)
        {
            _taskCredentials.Add(child);
        }

        if (Volatile.Read(ref _disposed) != 0)
        {
            // This credential was disposed while the task was being issued: it will not dispose the child, so do it here.
            await child.DisposeAsync().ConfigureAwait(false);
            throw new ObjectDisposedException(GetType().FullName, $"The credential of '{Id}' was disposed while task '{taskId}' was being issued.");
        }

        child._loop = child.RunAsync(child._stop.Token);
        _metrics?.Track(child);
        return child;
    }

    private X509SvidRequest CreateRequest(byte[] csr)
    {
        if (_parent is null)
        {
            var authenticating = TryGetCurrent(out var current) ? current : null;
            return new X509SvidRequest(Id, csr, _options.Lifetime)
            {
                Policy = _options.Policy,
                AuthenticatingSvid = authenticating,
                ExpiredSvid = authenticating is null && Volatile.Read(ref _revokedBy) is null ? Volatile.Read(ref _current) : null,
            };
        }

        // Each renewal is signed by the parent's current SVID and may not outlive it.
        var parent = _parent.GetCurrent();
        var remaining = parent.NotAfter - _time.GetUtcNow();
        var lifetime = _options.Lifetime < remaining ? _options.Lifetime : remaining;
        if (lifetime <= TimeSpan.Zero)
        {
            throw new IdentityUnavailableException($"The parent '{parent.Id}' of task '{Id}' has no life left to delegate.");
        }

        return new X509SvidRequest(Id, csr, lifetime)
        {
            Policy = _options.Policy,
            Delegation = DelegationProof.Create(parent, Id, csr),
            AuthenticatingSvid = parent,
        };
    }

    /// <summary>After this credential rotated, its task credentials renew at once: each renewal is signed by the new SVID, so the
    /// task certificates' delegation chains name the parent's current certificate (which RFC 8693 exchanges of the parent's
    /// certificate-bound token rely on).</summary>
    private void RenewTaskCredentials()
    {
        lock (_taskCredentials)
        {
            foreach (var child in _taskCredentials)
            {
                child.RequestRenewal();
            }
        }
    }

    private async ValueTask DisposeTaskCredentialsAsync()
    {
        _parent?.ForgetTaskCredential(this);
        AgentCredential[] children;
        lock (_taskCredentials)
        {
            children = [.. _taskCredentials];
            _taskCredentials.Clear();
        }

        foreach (var child in children)
        {
            await child.DisposeAsync().ConfigureAwait(false);
        }
    }

    private void ForgetTaskCredential(AgentCredential child)
    {
        lock (_taskCredentials)
        {
            _taskCredentials.Remove(child);
        }
    }
}
