using AgentIdentity.Audit;

namespace AgentIdentity.Issuer;

/// <summary>The issuer's own tamper-evident audit log (<see cref="AgentIdentityIssuerOptions.Audit"/>): every enrollment, renewal,
/// delegation, revocation and administration request, allowed or refused, as an entry of an RFC 9162 Merkle log whose C2SP
/// checkpoints the issuer signs with its own SVID (<c>spiffe://&lt;td&gt;/agent-identity/issuer</c>). Verify it with
/// <c>agentid audit verify &lt;dir&gt; --bundle bundle.json --issuer-log</c>.</summary>
/// <remarks>Each issuer process (replica) writes its own log, in its own directory, under its own origin
/// (<c>&lt;td&gt;/agent-identity/issuer/&lt;replica&gt;/audit</c>): a Merkle log has one writer. The directory is locked while the
/// issuer runs, so that a second process configured with the same directory fails to start instead of interleaving entries.</remarks>
public sealed class IssuerAuditOptions
{
    /// <summary>Gets or sets whether the issuer keeps the log. Turn it off only where nothing needs to be attributed (a throw-away
    /// development issuer): the issuer then records nothing and says so at start (warning 5200).</summary>
    /// <value>The default value is <see langword="true"/>.</value>
    public bool Enabled { get; set; } = true;

    /// <summary>Gets or sets the directory of the log (created if missing): one directory per replica, on durable storage (a
    /// persistent volume), not shared with another process.</summary>
    /// <value>The default value is <see langword="null"/>: with SQLite, the directory <c>&lt;database file name&gt;-audit</c> beside
    /// the database file (both on the same volume); with PostgreSQL there is no default and the issuer refuses to start, since
    /// each replica needs a directory of its own.</value>
    public string? Directory { get; set; }

    /// <summary>Gets or sets this replica's name, a path segment (letters, digits, <c>-</c>, <c>_</c>, <c>.</c>; at most 64
    /// characters) that goes into the log's origin: <c>&lt;td&gt;/agent-identity/issuer/&lt;replica&gt;/audit</c>. Required with
    /// PostgreSQL (several replicas), optional with SQLite (one process: the origin is <c>&lt;td&gt;/agent-identity/issuer/audit</c>).
    /// Keep it stable across restarts: a directory that holds another origin's log is refused at start.</summary>
    /// <value>The default value is <see langword="null"/>.</value>
    public string? ReplicaId { get; set; }

    /// <summary>Gets or sets the longest time between signed checkpoints while entries are waiting.</summary>
    /// <value>The default value is 1 second.</value>
    public TimeSpan CheckpointInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Gets or sets the largest number of entries between signed checkpoints.</summary>
    /// <value>The default value is 1 000.</value>
    public int CheckpointEveryEntries { get; set; } = 1000;

    /// <summary>Gets or sets when the log is forced to stable storage.</summary>
    /// <value>The default value is <see cref="AuditFlushMode.OnCheckpoint"/>: a power loss may lose the entries since the last
    /// checkpoint (at most <see cref="CheckpointInterval"/>); <see cref="AuditFlushMode.EveryAppend"/> loses none, at one fsync per request.</value>
    public AuditFlushMode FlushMode { get; set; } = AuditFlushMode.OnCheckpoint;

    internal string? Validate()
    {
        if (!Enabled || Directory is null)
        {
            return ReplicaId is { } id && !IsReplicaId(id)
                ? $"AgentIdentityIssuerOptions.Audit.ReplicaId '{id}' must be 1 to 64 ASCII letters, digits, '-', '_' or '.' (it is a path segment of the log's origin), and not '.' or '..'."
                : null;
        }

        if (Directory.Length == 0 || Directory.Trim().Length == 0)
        {
            return "AgentIdentityIssuerOptions.Audit.Directory is empty; set a directory on durable storage (or leave it null: with SQLite the log then goes beside the database).";
        }

        if (ReplicaId is { } replica && !IsReplicaId(replica))
        {
            return $"AgentIdentityIssuerOptions.Audit.ReplicaId '{replica}' must be 1 to 64 ASCII letters, digits, '-', '_' or '.' (it is a path segment of the log's origin), and not '.' or '..'.";
        }

        if (CheckpointInterval <= TimeSpan.Zero || CheckpointEveryEntries < 1)
        {
            return "AgentIdentityIssuerOptions.Audit.CheckpointInterval must be positive and CheckpointEveryEntries at least 1.";
        }

        return FlushMode is AuditFlushMode.OnCheckpoint or AuditFlushMode.EveryAppend or AuditFlushMode.Never
            ? null
            : $"AgentIdentityIssuerOptions.Audit.FlushMode {FlushMode} is not an AuditFlushMode.";
    }

    private static bool IsReplicaId(string value) =>
        value.Length is > 0 and <= 64 && value is not "." and not ".." && value.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.');
}
