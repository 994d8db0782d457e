namespace AgentIdentity.Spiffe;

/// <summary>
/// A registration entry of <see cref="WorkloadApiServer"/>: a SPIFFE ID and the selectors a caller's peer credentials must all
/// match to receive it. At least one selector is required, so that an entry never matches every process by accident.
/// </summary>
public sealed class WorkloadRegistration
{
    /// <summary>Initializes a new instance of the <see cref="WorkloadRegistration"/> class.</summary>
    /// <param name="id">The SPIFFE ID to issue; it must have a path.</param>
    /// <exception cref="ArgumentException">The ID is empty or has no path.</exception>
    public WorkloadRegistration(SpiffeId id)
    {
        if (id.IsEmpty || id.IsTrustDomainId)
        {
            throw new ArgumentException($"A registration needs a SPIFFE ID with a path, not '{id}'.", nameof(id));
        }

        Id = id;
    }

    /// <summary>Gets the SPIFFE ID issued to matching callers.</summary>
    public SpiffeId Id { get; }

    /// <summary>Gets the user id the caller must run as (selector <c>unix:uid</c>), or <see langword="null"/> for any.</summary>
    public int? UserId { get; init; }

    /// <summary>Gets the group id the caller must run as (selector <c>unix:gid</c>), or <see langword="null"/> for any.</summary>
    public int? GroupId { get; init; }

    /// <summary>Gets the absolute executable path the caller must run (selector <c>unix:path</c>), or <see langword="null"/> for any.
    /// It needs <see cref="UserId"/> as well. The caller matches when its executable is the very file at this path in the server's
    /// mount namespace (same device and inode), not merely a file of the same name: another container's <c>/app/tool</c> does not
    /// match. Replacing the file (a new inode) stops matching processes started from the old one.</summary>
    public string? ExecutablePath { get; init; }

    /// <summary>Gets the process id the caller must have, or <see langword="null"/> for any. Useful for a child process the
    /// orchestrator has just started; pids are reused, so combine it with another selector.</summary>
    public int? ProcessId { get; init; }

    /// <summary>Gets the hint sent with the SVID, or <see langword="null"/>.</summary>
    public string? Hint { get; init; }

    /// <summary>Gets the DNS SANs to add to the SVID.</summary>
    public IReadOnlyList<string> DnsNames { get; init; } = [];

    /// <summary>Tells whether a caller matches every selector of this entry.</summary>
    /// <param name="caller">The caller's peer credentials.</param>
    /// <returns><see langword="true"/> when every set selector matches.</returns>
    /// <exception cref="InvalidOperationException">The entry has no selector, or an executable path without a user id.</exception>
    public bool Matches(PeerCredentials caller)
    {
        ArgumentNullException.ThrowIfNull(caller);
        if (SelectorError is { } error)
        {
            throw new InvalidOperationException($"Registration for '{Id}' {error}.");
        }

        return (UserId is null || UserId == caller.UserId)
            && (GroupId is null || GroupId == caller.GroupId)
            && (ProcessId is null || ProcessId == caller.ProcessId)
            && (ExecutablePath is null || (caller.Executable is { } executable && FileIdentity.Of(ExecutablePath) == executable));
    }

    /// <summary>Gets what is wrong with the selectors, or <see langword="null"/> when they are valid.</summary>
    internal string? SelectorError =>
        UserId is null && GroupId is null && ExecutablePath is null && ProcessId is null
            ? "has no selector; set UserId, GroupId, ExecutablePath or ProcessId"
            : ExecutablePath is not null && UserId is null
                ? "has an ExecutablePath selector without UserId; set UserId too (a path alone names a file, not who may run it)"
                : ExecutablePath is not null && !Path.IsPathFullyQualified(ExecutablePath)
                    ? $"has the ExecutablePath '{DisplayText.Truncate(ExecutablePath)}', which is not absolute"
                    : null;

    /// <inheritdoc/>
    public override string ToString() =>
        $"{Id} (uid {UserId?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "*"}, gid {GroupId?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "*"}, path {ExecutablePath ?? "*"})";
}
