using System.Globalization;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using AgentIdentity.Audit;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace AgentIdentity.Issuer;

/// <summary>
/// The issuer's own audit log of control-plane actions (issue 15, §4): every enrollment, renewal, delegation, revocation and
/// administration request, allowed or refused, becomes an <see cref="AuditEvent"/> in an <see cref="AuditLog"/> (RFC 9162
/// Merkle log) whose checkpoints the issuer signs with an SVID of its own ID that its CA issues for that purpose
/// (<see cref="IssuerAuditSigner"/>). The endpoints call it with one line each; it never throws into a request.
/// </summary>
/// <remarks>
/// <para><c>agent</c> is who acted, as authenticated: the validated client SVID (operator, renewing agent, delegating parent),
/// the enrolled ID for a redeemed join token, else (no or an invalid client certificate, a refused join token, the bootstrap
/// admin key) the issuer's own ID, with <c>attributes.caller</c> saying what was presented. An unvalidated certificate's
/// claimed ID is only ever an attribute (<c>claimed_id</c>), never <c>agent</c>: a refusal cannot frame another identity.</para>
/// <para>One log per replica (its own directory and origin): a Merkle log has one writer, and the issuer's store is not a log
/// backend. Thread-safe.</para>
/// </remarks>
internal sealed class IssuerAudit : IDisposable
{
    /// <summary>The lock file that keeps a second process from writing the same log.</summary>
    internal const string LockFileName = "issuer.lock";

    private static readonly object AuditedKey = new();
    private static readonly object AdminCallerKey = new();
    private static readonly object AlertKey = new();

    private readonly AgentIdentityIssuer _issuer;
    private readonly ILogger _logger;
    private readonly Lock _gate = new();
    private AuditLog? _log;
    private IssuerAuditSigner? _signer;
    private FileStream? _lock;
    private bool _disposed;

    public IssuerAudit(AgentIdentityIssuer issuer, ILogger logger)
    {
        _issuer = issuer;
        _logger = logger;
    }

    /// <summary>Gets the open log, or <see langword="null"/> when auditing is off or not started.</summary>
    internal AuditLog? Log => _log;

    /// <summary>The origin of this replica's log: <c>&lt;td&gt;/agent-identity/issuer[/&lt;replica&gt;]/audit</c>.</summary>
    internal static string OriginOf(TrustDomain trustDomain, string? replicaId) =>
        replicaId is null
            ? $"{trustDomain.Name}{AgentIdentityIssuer.ServerPath}/audit"
            : $"{trustDomain.Name}{AgentIdentityIssuer.ServerPath}/{replicaId}/audit";

    /// <summary>Opens the log once the CA is loaded (the issuer has started). Fails the start, fail-closed, when the directory
    /// is in use by another process, holds another origin's log, or is damaged.</summary>
    public void Open()
    {
        var options = _issuer.Options.Audit;
        lock (_gate)
        {
            if (_log is not null || _disposed)
            {
                return;
            }

            if (!options.Enabled)
            {
                _logger.IssuerAuditDisabled();
                return;
            }

            if (_issuer.Store is PostgreSqlIssuerStore && (options.Directory is null || options.ReplicaId is null))
            {
                throw new InvalidOperationException(
                    "AgentIdentityIssuerOptions.Audit.Directory and Audit.ReplicaId are required with PostgreSQL: each replica writes its own audit log, in a directory of its own on durable storage, under its own origin (<td>/agent-identity/issuer/<replica>/audit). " +
                    "Set ReplicaId to a stable name per replica (for example the pod name of a StatefulSet) and Directory to its persistent volume; or set Audit.Enabled = false to run without a control-plane audit log.");
            }

            var directory = Path.GetFullPath(options.Directory ?? DefaultDirectory(_issuer.Store));
            System.IO.Directory.CreateDirectory(directory);
            var lockPath = Path.Combine(directory, LockFileName);
            FileStream fileLock;
            try
            {
                fileLock = new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException ex)
            {
                throw new InvalidOperationException(
                    $"The issuer's audit log directory '{directory}' is in use by another process ('{LockFileName}' is locked). Each replica needs its own directory: a Merkle log has one writer.", ex);
            }

            var origin = OriginOf(_issuer.TrustDomain, options.ReplicaId);
            var signer = new IssuerAuditSigner(_issuer);
            AuditLog log;
            try
            {
                log = AuditLog.Open(
                    new AuditLogOptions
                    {
                        Directory = directory,
                        Origin = origin,
                        CheckpointInterval = options.CheckpointInterval,
                        CheckpointEveryEntries = options.CheckpointEveryEntries,
                        FlushMode = options.FlushMode,
                    },
                    signer,
                    _issuer.Time,
                    _logger);
            }
            catch
            {
                signer.Dispose();
                fileLock.Dispose();
                throw;
            }

            if (log.LatestCheckpoint is { } latest && latest.Checkpoint.Origin != origin)
            {
                log.Dispose();
                signer.Dispose();
                fileLock.Dispose();
                throw new InvalidOperationException(
                    $"The issuer's audit log directory '{directory}' holds the log of origin '{latest.Checkpoint.Origin}', but this replica's origin is '{origin}'. " +
                    "Keep AgentIdentityIssuerOptions.Audit.ReplicaId stable for a directory, or give this replica a directory of its own.");
            }

            _lock = fileLock;
            _signer = signer;
            _log = log;
            _logger.IssuerAuditOpened(directory, origin, log.TreeSize);
        }
    }

    /// <summary>The log's directory when none is configured: beside the SQLite database, named after it.</summary>
    private static string DefaultDirectory(IIssuerStore store) => store is SqliteIssuerStore sqlite
        ? Path.Combine(Path.GetDirectoryName(Path.GetFullPath(sqlite.DatabasePath)) ?? ".", Path.GetFileNameWithoutExtension(sqlite.DatabasePath) + "-audit")
        : throw new InvalidOperationException("AgentIdentityIssuerOptions.Audit.Directory is required with this store: set a directory on durable storage, or Audit.Enabled = false.");

    /// <summary>An admin authorization decision (<see cref="AdminAuthorization"/>): allowed or refused.</summary>
    public void AdminDecided(HttpContext context, string endpoint, string action, AdminCaller? caller, bool allowed, int status, string reason)
    {
        if (_log is null)
        {
            return;
        }

        if (caller is not null)
        {
            context.Items[AdminCallerKey] = caller;
        }

        var actor = caller is { Id.IsEmpty: false } known ? Actor.Of(known.Id, context.Connection.ClientCertificate) : Describe(context);
        var attributes = Attributes(context, endpoint, status, actor);
        if (caller is not null)
        {
            attributes["grant"] = caller.Grant;
            if (caller.Id.IsEmpty)
            {
                attributes["caller"] = caller.Grant;
            }
        }

        Record(context, AuditEventKind.Administration, actor, action, null, allowed ? AuditOutcome.Success : AuditOutcome.Denied, allowed ? null : reason, attributes, final: !allowed);
    }

    /// <summary>A request the issuer refused (4xx) or could not serve (5xx), unless its admin decision already recorded it.</summary>
    public void Refused(HttpContext context, string endpoint, int status, string title, string detail)
    {
        if (_log is null || context.Items.ContainsKey(AuditedKey))
        {
            return;
        }

        var actor = CallerActor(context);
        Record(context, KindOf(endpoint), actor, ActionOf(endpoint), null, status >= 500 ? AuditOutcome.Failure : AuditOutcome.Denied, $"{title}: {detail}", Attributes(context, endpoint, status, actor), final: true);
    }

    /// <summary>A certificate issued and recorded by <c>v1/issue</c>, <c>v1/renew</c> or <c>v1/delegate</c>.</summary>
    public void Issued(HttpContext context, IssuedCertificateRecord record)
    {
        if (_log is null)
        {
            return;
        }

        var subject = SpiffeId.Parse(record.SpiffeId);
        var presented = context.Connection.ClientCertificate;

        // The endpoint authenticated the caller before it issued: the enrolled ID for a join token, the renewing identity
        // itself, the delegating parent (the client certificate) for a task identity.
        var actor = record.Kind switch
        {
            "delegate" => Describe(context),
            "enroll" => new Actor(subject, null, [], null, null),
            _ => Actor.Of(subject, presented),
        };
        var attributes = Attributes(context, record.Kind == "enroll" ? "issue" : record.Kind, StatusCodes.Status200OK, actor);
        attributes["issued_serial"] = record.SerialNumber;
        attributes["not_after"] = AuditTimeText(record.NotAfter);
        Record(context, AuditEventKind.Issuance, actor, record.Kind, record.SpiffeId, AuditOutcome.Success, null, attributes, final: true);
    }

    /// <summary>Flags the request's audit entry: a renewal presented a superseded certificate (likely key theft).</summary>
    public static void FlagSuperseded(HttpContext context, string presentedSerial, string currentSerial) =>
        context.Items[AlertKey] = ("superseded-certificate: likely key theft", presentedSerial, currentSerial);

    /// <summary>A revocation committed by <c>v1/revoke</c>.</summary>
    public void Revoked(HttpContext context, RevocationEntry entry, bool known)
    {
        if (_log is null)
        {
            return;
        }

        var actor = CallerActor(context);
        var attributes = Attributes(context, "revoke", StatusCodes.Status200OK, actor);
        attributes["revocation.sequence"] = entry.Sequence.ToString(CultureInfo.InvariantCulture);
        attributes["revocation.kind"] = entry.Kind == RevocationKind.Serial ? "serial" : "identity";
        attributes["known"] = known ? "true" : "false";
        Record(context, AuditEventKind.Revocation, actor, IssuerAdminActions.Revoke, entry.Kind == RevocationKind.Serial ? entry.SerialNumber : entry.Id.ToString(), AuditOutcome.Success, RevocationReasonNames.ToName(entry.Reason), attributes, final: true);
    }

    /// <summary>A join token created by <c>v1/join-tokens</c> (the token itself is never recorded; its SHA-256 is, as in the store).</summary>
    public void JoinTokenCreated(HttpContext context, string agentName, string token, DateTimeOffset expiresAt)
    {
        if (_log is null)
        {
            return;
        }

        var caller = context.Items[AdminCallerKey] as AdminCaller;
        var actor = caller is { Id.IsEmpty: false } ? Actor.Of(caller.Id, context.Connection.ClientCertificate) : Describe(context);
        var attributes = Attributes(context, "join-tokens", StatusCodes.Status200OK, actor);
        if (caller is { Id.IsEmpty: true })
        {
            attributes["caller"] = caller.Grant;
        }

        attributes["join_token_sha256"] = Convert.ToHexStringLower(AgentIdentityIssuer.HashToken(token));
        attributes["expires_at"] = AuditTimeText(expiresAt);
        Record(context, AuditEventKind.Administration, actor, "join-token:create", $"spiffe://{_issuer.TrustDomain.Name}/agent/{agentName}/*", AuditOutcome.Success, null, attributes, final: true);
    }

    /// <summary>Signs a checkpoint of everything appended so far (used at shutdown and by tests).</summary>
    /// <returns>The latest checkpoint, or <see langword="null"/> when auditing is off.</returns>
    internal SignedCheckpoint? Checkpoint() => _log?.Checkpoint();

    public void Dispose()
    {
        lock (_gate)
        {
            _disposed = true;
            _log?.Dispose();
            _signer?.Dispose();
            _lock?.Dispose();
            _log = null;
        }
    }

    private void Record(HttpContext context, AuditEventKind kind, Actor actor, string action, string? target, AuditOutcome outcome, string? reason, Dictionary<string, string> attributes, bool final) =>
        Append(context, new AuditEvent
        {
            Kind = kind,
            Timestamp = _issuer.Time.GetUtcNow(),
            Agent = actor.Id,
            SerialNumber = actor.Serial,
            DelegationChain = actor.Chain,
            Action = action,
            TargetService = target,
            Outcome = outcome,
            Reason = reason,
            Attributes = attributes,
        }, final);

    /// <summary>The operator the admin decision authorized, else whoever presented what (<see cref="Describe"/>).</summary>
    private Actor CallerActor(HttpContext context) =>
        context.Items[AdminCallerKey] is AdminCaller { Id.IsEmpty: false } caller ? Actor.Of(caller.Id, context.Connection.ClientCertificate) : Describe(context);

    private void Append(HttpContext context, AuditEvent auditEvent, bool final)
    {
        if (final)
        {
            context.Items[AuditedKey] = true;
        }

        try
        {
            _log?.Append(auditEvent);
        }
        catch (Exception ex) when (ex is IOException or ArgumentException or ObjectDisposedException or UnauthorizedAccessException or CryptographicException or IdentityUnavailableException)
        {
            var kind = AuditEvent.KindName(auditEvent.Kind);
            _logger.IssuerAuditAppendFailed(kind, auditEvent.Action ?? string.Empty, ex);
        }
    }

    private static Dictionary<string, string> Attributes(HttpContext context, string endpoint, int status, Actor actor)
    {
        var attributes = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["endpoint"] = endpoint,
            ["http.status"] = status.ToString(CultureInfo.InvariantCulture),
        };
        if (context.Connection.RemoteIpAddress is { } address)
        {
            attributes["client.address"] = address.ToString();
        }

        if (actor.Caller is { } caller)
        {
            attributes["caller"] = caller;
        }

        if (actor.ClaimedId is { } claimed)
        {
            attributes["claimed_id"] = claimed;
        }

        if (context.Items[AlertKey] is ValueTuple<string, string, string> alert)
        {
            attributes["alert"] = alert.Item1;
            attributes["presented_serial"] = alert.Item2;
            attributes["current_serial"] = alert.Item3;
        }

        return attributes;
    }

    /// <summary>Who called, as far as the issuer can authenticate it: the client SVID when it is valid against the issuer's CAs
    /// now, else the issuer's own ID with what was presented.</summary>
    private Actor Describe(HttpContext context)
    {
        if (context.Connection.ClientCertificate is not { } certificate)
        {
            return new Actor(_issuer.ServerId, null, [], "no client certificate", null);
        }

        var state = _issuer.State;
        var validation = X509SvidValidator.Validate(certificate, state.Intermediates, state.Bundle, _issuer.Time.GetUtcNow());
        if (validation.IsValid && validation.Id.IsMemberOf(_issuer.TrustDomain))
        {
            return Actor.Of(validation.Id, certificate);
        }

        return new Actor(
            _issuer.ServerId,
            null,
            [],
            $"unauthenticated certificate sha256:{certificate.GetCertHashString(HashAlgorithmName.SHA256).ToLowerInvariant()} (serial {certificate.SerialNumber}): {validation.Reason}",
            validation.Id.IsEmpty ? null : validation.Id.ToString());
    }

    private static AuditEventKind KindOf(string endpoint) => endpoint switch
    {
        "issue" or "renew" or "delegate" => AuditEventKind.Issuance,
        "revoke" => AuditEventKind.Revocation,
        _ => AuditEventKind.Administration,
    };

    private static string ActionOf(string endpoint) => endpoint switch
    {
        "issue" => "enroll",
        "revoke" => IssuerAdminActions.Revoke,
        "join-tokens" => IssuerAdminActions.JoinToken,
        "status" => IssuerAdminActions.Status,
        _ => endpoint,
    };

    private static string AuditTimeText(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy'-'MM'-'dd'T'HH':'mm':'ss'Z'", CultureInfo.InvariantCulture);

    /// <summary>The authenticated actor (or the issuer itself, with <see cref="Caller"/> saying what was presented).</summary>
    private sealed record Actor(SpiffeId Id, string? Serial, IReadOnlyList<SpiffeId> Chain, string? Caller, string? ClaimedId)
    {
        public static Actor Of(SpiffeId id, X509Certificate2? certificate)
        {
            IReadOnlyList<SpiffeId> chain = [];
            if (certificate is not null)
            {
                try
                {
                    chain = AgentPolicyExtension.ReadDelegationChain(certificate) is { } links ? [.. links.Select(link => link.Id)] : [];
                }
                catch (PolicyFormatException)
                {
                    // An undecodable chain was refused by the endpoint; the entry says who presented it.
                }
            }

            return new Actor(id, certificate?.SerialNumber, chain, null, null);
        }
    }
}

/// <summary>
/// The key that signs the issuer's audit checkpoints: an SVID of the issuer's own ID (<c>spiffe://&lt;td&gt;/agent-identity/issuer</c>,
/// no DNS names, a fresh P-256 key that never leaves the process) issued by the issuer's active CA, renewed at half-life and when
/// the CA rotates. Verifiers check it against the issuer's trust bundle at each checkpoint's time. Its key is not the TLS key.
/// </summary>
/// <remarks>Called only by the <see cref="AuditLog"/>, under its lock; a superseded SVID is released when its successor is made.</remarks>
internal sealed class IssuerAuditSigner(AgentIdentityIssuer issuer) : IX509SvidSource, IDisposable
{
    private readonly Lock _gate = new();
    private X509SvidOwner? _current;
    private AgentIdentityIssuer.CaState? _issuedBy;
    private DateTimeOffset _renewAt;

    public X509Svid GetCurrent()
    {
        lock (_gate)
        {
            var now = issuer.Time.GetUtcNow();
            var state = issuer.State;
            if (_current is not null && now < _renewAt && ReferenceEquals(state, _issuedBy))
            {
                return _current.Svid;
            }

            using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var request = new CertificateRequest(new X500DistinguishedName(string.Empty), key, HashAlgorithmName.SHA256);
            request.CertificateExtensions.Add(CertificateExtensions.BuildUriSan(issuer.ServerId, critical: true));
            var issuance = state.Signer.Issue(new X509SvidRequest(issuer.ServerId, request.CreateSigningRequest(), issuer.Options.MaxSvidLifetime));
            X509Certificate2 leaf;
            using (issuance.Certificate)
            {
                leaf = issuance.Certificate.CopyWithPrivateKey(key);
            }

            var owner = new X509SvidOwner(leaf, issuance.Intermediates);
            var previous = _current;
            _current = owner;
            _issuedBy = state;
            _renewAt = now + ((owner.Svid.NotAfter - now) / 2);
            previous?.Dispose();
            return owner.Svid;
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _current?.Dispose();
            _current = null;
        }
    }
}

/// <summary>Opens the issuer's audit log at start, after the issuer's own start-up service loaded the CA (hosted services start in registration order).</summary>
internal sealed class IssuerAuditStartupService(IssuerAudit audit) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        audit.Open();
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
