using System.Globalization;
using System.Text;
using System.Text.Json;
using AgentIdentity.Audit;

namespace AgentIdentity.Cli.Explorer;

/// <summary>
/// The logs that <c>agentid audit serve</c> shows: found below a root directory, read (never written) and verified with
/// <see cref="AuditLogVerifier"/>. A snapshot is re-read when a segment or checkpoint file changes, so a growing log shows its
/// new entries on the next request.
/// </summary>
/// <remarks>Thread-safe: a snapshot is immutable and replaced whole.</remarks>
internal sealed class ExplorerCatalog
{
    /// <summary>How deep below the root to look for log directories.</summary>
    public const int MaxDepth = 4;

    private readonly Lock _gate = new();
    private readonly string _root;
    private readonly TrustBundle? _trust;
    private ExplorerSnapshot? _snapshot;

    /// <summary>Initializes a new instance of the <see cref="ExplorerCatalog"/> class.</summary>
    /// <param name="root">A log directory, or a directory with log directories below it.</param>
    /// <param name="trust">The bundle that checkpoint signers must chain to; <see langword="null"/> to check signatures only.</param>
    public ExplorerCatalog(string root, TrustBundle? trust)
    {
        _root = Path.GetFullPath(root);
        _trust = trust;
    }

    /// <summary>Gets the root directory.</summary>
    public string Root => _root;

    /// <summary>Gets whether signers are checked against a trust bundle.</summary>
    public bool SignersChecked => _trust is not null;

    /// <summary>Gets the current snapshot, re-reading the logs if their files changed.</summary>
    /// <returns>The snapshot.</returns>
    public ExplorerSnapshot Current()
    {
        var directories = FindLogDirectories(_root);
        var fingerprint = Fingerprint(directories);
        lock (_gate)
        {
            if (_snapshot is null || _snapshot.Fingerprint != fingerprint)
            {
                _snapshot = Load(directories, fingerprint);
            }

            return _snapshot;
        }
    }

    /// <summary>The directories at or below <paramref name="root"/> that hold an audit log (segments or a published checkpoint), in path order.</summary>
    internal static List<string> FindLogDirectories(string root)
    {
        var found = new List<string>();
        Walk(root, 0);
        found.Sort(StringComparer.Ordinal);
        return found;

        void Walk(string directory, int depth)
        {
            if (IsLogDirectory(directory))
            {
                found.Add(directory);
                return;
            }

            if (depth == MaxDepth)
            {
                return;
            }

            IEnumerable<string> children;
            try
            {
                children = Directory.EnumerateDirectories(directory);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                return;
            }

            foreach (var child in children)
            {
                // Never follow links out of the tree that was named.
                if (new DirectoryInfo(child).LinkTarget is null)
                {
                    Walk(child, depth + 1);
                }
            }
        }
    }

    private static bool IsLogDirectory(string directory) =>
        AuditLogFormat.ListSegments(directory).Count > 0 || File.Exists(Path.Combine(directory, AuditLogFormat.CheckpointFileName));

    private static string Fingerprint(List<string> directories)
    {
        var text = new StringBuilder();
        foreach (var directory in directories)
        {
            text.Append(directory).Append('\n');
            foreach (var path in AuditLogFormat.ListSegments(directory).Select(s => s.Path).Append(Path.Combine(directory, AuditLogFormat.CheckpointFileName)).Append(Path.Combine(directory, AuditLogFormat.CheckpointCertificatesFileName)))
            {
                var info = new FileInfo(path);
                if (info.Exists)
                {
                    text.Append(CultureInfo.InvariantCulture, $"{info.Name} {info.Length} {info.LastWriteTimeUtc.Ticks}\n");
                }
            }
        }

        return text.ToString();
    }

    private ExplorerSnapshot Load(List<string> directories, string fingerprint)
    {
        var logs = new List<ExplorerLog>(directories.Count);
        for (var id = 0; id < directories.Count; id++)
        {
            logs.Add(LoadLog(id, directories[id]));
        }

        return new ExplorerSnapshot(fingerprint, logs);
    }

    private ExplorerLog LoadLog(int id, string directory)
    {
        var relative = Path.GetRelativePath(_root, directory);
        var display = relative == "." ? Path.GetFileName(directory.TrimEnd(Path.DirectorySeparatorChar)) : relative.Replace(Path.DirectorySeparatorChar, '/');

        // An issuer's control-plane log is held to the issuer's rule, as 'agentid audit verify --issuer-log' does.
        string? publishedOrigin = null;
        try
        {
            publishedOrigin = AuditLog.ReadPublishedCheckpoint(directory)?.Checkpoint.Origin;
        }
        catch (AuditLogException)
        {
            // The verifier reports the unreadable checkpoint file.
        }

        var issuerOrigin = publishedOrigin is not null && AuditCommand.IssuerOrigin(publishedOrigin) is not null;

        // A page over live logs: the unsigned tail is shown per entry ("unsigned"), the instances of an agent across restarts are one
        // log, and a task identity's own log is shown with its signer named.
        var options = new AuditLogVerificationOptions { TrustBundles = _trust, AllowUnsignedTail = true, AllowAnyInstance = true, AllowTaskSigners = true };
        if (issuerOrigin && _trust is not null)
        {
            options.ExpectedSigner = SpiffeId.Parse($"spiffe://{_trust.TrustDomain.Name}{AuditCommand.IssuerPath}");
        }

        AuditLogVerificationResult result;
        string? issuerProblem = null;
        try
        {
            result = AuditLogVerifier.Verify(directory, options);
            if (result.IsValid)
            {
                issuerProblem = AuditCommand.CheckIssuerLog(result, issuerOrigin && _trust is not null, null, _trust);
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or AuditLogException)
        {
            return new ExplorerLog(id, directory, display, new LogView(id, display, publishedOrigin, issuerOrigin, 0, 0, 0, 0, "failed", nameof(AuditLogProblem.Malformed),
                $"The log cannot be read: {ex.Message}", null, null, [], null, _trust is not null), []);
        }

        var origin = result.LatestCheckpoint?.Checkpoint.Origin ?? publishedOrigin;
        var isIssuer = origin is not null && AuditCommand.IssuerOrigin(origin) is not null;
        var signed = result.LatestCheckpoint?.Checkpoint.TreeSize ?? 0;
        string badge, problem, message;
        if (issuerProblem is not null)
        {
            (badge, problem, message) = ("failed", nameof(AuditLogProblem.SignerMismatch), char.ToUpperInvariant(issuerProblem[0]) + issuerProblem[1..]);
        }
        else if (!result.IsValid)
        {
            (badge, problem, message) = ("failed", result.Problem.ToString(), result.Message);
        }
        else
        {
            badge = result.CheckpointCount == 0 && result.TreeSize > 0 ? "unsigned" : _trust is null ? "unchecked" : "verified";
            (problem, message) = (nameof(AuditLogProblem.None), result.Message);
        }

        var entries = ReadEntries(id, directory, result, issuerProblem is not null, signed);
        var view = new LogView(id, display, origin, isIssuer, entries.Count, result.TreeSize, result.CheckpointCount, signed, badge, problem, message,
            result.IsValid ? null : result.FirstBadIndex, result.IsValid ? null : result.BadRangeEnd,
            [.. result.Signers.Select(s => s.ToString())],
            result.LatestCheckpoint is { } latest ? AuditTimeText(latest.Time) : null, _trust is not null);
        return new ExplorerLog(id, directory, display, view, entries);
    }

    /// <summary>Reads every event record for display, going on past records whose checksum does not match, and labels each with what verification says of it.</summary>
    private static List<EntryView> ReadEntries(int log, string directory, AuditLogVerificationResult result, bool signerProblem, long signed)
    {
        var entries = new List<EntryView>();
        var segments = AuditLogFormat.ListSegments(directory);
        long position = 0;
        for (var s = 0; s < segments.Count; s++)
        {
            foreach (var record in AuditLogFormat.ReadSegment(segments[s].Path, s == segments.Count - 1, readPastAlteredRecords: true))
            {
                if (record.Damage is not (RecordDamage.None or RecordDamage.BadChecksum))
                {
                    goto done; // A garbled header or torn tail: nothing after it can be located.
                }

                if (record.Type != AuditLogFormat.EventType)
                {
                    continue;
                }

                var status = signerProblem ? "unverified" : Status(position, result, signed);
                entries.Add(Parse(log, position, record.Payload, status, record.Damage == RecordDamage.BadChecksum ? record.Problem : null));
                position++;
            }
        }

    done:
        return entries;
    }

    /// <summary>
    /// What verification says of entry <paramref name="index"/>: <c>verified</c> (covered by a verified checkpoint), <c>unsigned</c>
    /// (intact, after the last checkpoint), <c>altered</c> (the first bad entry, or in the range a checkpoint does not match), or
    /// <c>unverified</c> (after the first problem, so nothing vouches for it).
    /// </summary>
    internal static string Status(long index, AuditLogVerificationResult result, long signed)
    {
        if (!result.IsValid && result.FirstBadIndex is { } first)
        {
            var entryProblem = result.Problem is AuditLogProblem.AlteredEntry or AuditLogProblem.MissingEntry or AuditLogProblem.ReorderedEntry
                or AuditLogProblem.TornTail or AuditLogProblem.CheckpointMismatch;
            if (result.Problem == AuditLogProblem.CheckpointMismatch && result.BadRangeEnd is { } end && index >= first && index < end)
            {
                return "altered";
            }

            if (entryProblem && index == first && result.Problem != AuditLogProblem.CheckpointMismatch)
            {
                return "altered";
            }

            if (index >= first && result.Problem != AuditLogProblem.Truncated)
            {
                return "unverified";
            }
        }
        else if (!result.IsValid && result.Problem != AuditLogProblem.Truncated)
        {
            return index < signed ? "verified" : "unverified";
        }

        return index < signed ? "verified" : "unsigned";
    }

    private static EntryView Parse(int log, long index, ReadOnlySpan<byte> payload, string status, string? damage)
    {
        var json = Encoding.UTF8.GetString(payload);
        try
        {
            using var document = JsonDocument.Parse(json);
            var root = document.RootElement;
            return new EntryView(log, index, Text(root, "time"), Text(root, "kind") ?? "?", Text(root, "outcome") ?? "?", Text(root, "agent") ?? "?",
                Text(root, "tool"), Text(root, "action"), Text(root, "target"), Text(root, "reason"), Text(root, "request_id"), Text(root, "serial"),
                Chain(root), status, damage, json);
        }
        catch (JsonException)
        {
            return new EntryView(log, index, null, "unreadable", "?", "?", null, null, null, null, null, null, [], status,
                damage ?? "the entry is not JSON", json);
        }
    }

    private static string? Text(JsonElement root, string name) =>
        root.ValueKind == JsonValueKind.Object && root.TryGetProperty(name, out var value) ? value.ValueKind == JsonValueKind.String ? value.GetString() : value.GetRawText() : null;

    private static string[] Chain(JsonElement root) =>
        root.ValueKind == JsonValueKind.Object && root.TryGetProperty("chain", out var chain) && chain.ValueKind == JsonValueKind.Array
            ? [.. chain.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.String ? e.GetString()! : e.GetRawText())]
            : [];

    internal static string AuditTimeText(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture);
}

/// <summary>One read of every log.</summary>
/// <param name="Fingerprint">The files' names, sizes and times when read.</param>
/// <param name="Logs">The logs, by id.</param>
internal sealed record ExplorerSnapshot(string Fingerprint, IReadOnlyList<ExplorerLog> Logs)
{
    /// <summary>Filters the entries of every log, in time order (then log and index).</summary>
    public IEnumerable<EntryView> Filter(EntryFilter filter) =>
        Logs.Where(l => filter.Log is null || l.Id == filter.Log).SelectMany(l => l.Entries).Where(filter.Matches)
            .OrderBy(e => e.Time, StringComparer.Ordinal).ThenBy(e => e.Log).ThenBy(e => e.Index);

    /// <summary>The distinct agents, tools and outcomes, for the filter lists.</summary>
    public Facets Facets()
    {
        var all = Logs.SelectMany(l => l.Entries).ToList();
        return new Facets(
            [.. all.Select(e => e.Agent).Distinct().Order(StringComparer.Ordinal)],
            [.. all.Select(e => e.Tool).OfType<string>().Distinct().Order(StringComparer.Ordinal)],
            [.. all.Select(e => e.Outcome).Distinct().Order(StringComparer.Ordinal)]);
    }

    /// <summary>
    /// The delegation tree: each agent (or task identity) under the identity that delegated to it, the last ID of its entries'
    /// <c>chain</c>, or, for a task identity <c>&lt;parent&gt;/task/&lt;id&gt;</c> whose entries carry no chain, its parent.
    /// </summary>
    public IReadOnlyList<TreeNode> Tree(int callsPerNode = 25)
    {
        var parents = new Dictionary<string, string?>(StringComparer.Ordinal);
        var calls = new Dictionary<string, List<EntryView>>(StringComparer.Ordinal);
        foreach (var entry in Logs.SelectMany(l => l.Entries))
        {
            if (!calls.TryGetValue(entry.Agent, out var list))
            {
                calls[entry.Agent] = list = [];
            }

            list.Add(entry);
            var parent = entry.Chain.Length > 0 ? entry.Chain[^1] : TaskParent(entry.Agent);
            if (parent is not null && (!parents.TryGetValue(entry.Agent, out var known) || known is null))
            {
                parents[entry.Agent] = parent;
            }
            else
            {
                parents.TryAdd(entry.Agent, null);
            }

            // The chain's own links, outermost first.
            for (var i = 0; i < entry.Chain.Length; i++)
            {
                var link = entry.Chain[i];
                var linkParent = i > 0 ? entry.Chain[i - 1] : TaskParent(link);
                if (!parents.TryGetValue(link, out var p) || p is null)
                {
                    parents[link] = linkParent;
                }
            }
        }

        foreach (var parent in parents.Values.OfType<string>().ToList())
        {
            parents.TryAdd(parent, null);
        }

        TreeNode Build(string id, HashSet<string> path)
        {
            path.Add(id);
            var own = calls.TryGetValue(id, out var list) ? list : [];
            var children = parents.Where(p => p.Value == id && !path.Contains(p.Key)).Select(p => p.Key).Order(StringComparer.Ordinal).Select(c => Build(c, path)).ToList();
            path.Remove(id);
            return new TreeNode(id, TaskParent(id) is not null,
                own.Count(e => e.Outcome == "success"), own.Count(e => e.Outcome == "denied"), own.Count(e => e.Outcome == "failure"), own.Count,
                [.. own.OrderBy(e => e.Time, StringComparer.Ordinal).Take(callsPerNode).Select(e => new TreeCall(e.Log, e.Index, e.Kind, e.Tool ?? e.Action, e.Outcome, e.Reason, e.Time))],
                children);
        }

        // Roots: identities nobody delegated to (or whose delegator is part of a cycle, which a forged log could contain).
        var roots = parents.Where(p => p.Value is null || !parents.ContainsKey(p.Value)).Select(p => p.Key).Order(StringComparer.Ordinal).ToList();
        var placed = new HashSet<string>(StringComparer.Ordinal);
        var result = new List<TreeNode>();
        foreach (var root in roots)
        {
            result.Add(Build(root, []));
        }

        void Mark(TreeNode node)
        {
            placed.Add(node.Id);
            foreach (var child in node.Children)
            {
                Mark(child);
            }
        }

        result.ForEach(Mark);
        foreach (var orphan in parents.Keys.Where(k => !placed.Contains(k)).Order(StringComparer.Ordinal))
        {
            var node = Build(orphan, []);
            Mark(node);
            result.Add(node);
        }

        return result;
    }

    /// <summary>The parent of a task identity <c>&lt;parent&gt;/task/&lt;id&gt;</c>, or <see langword="null"/>.</summary>
    internal static string? TaskParent(string id)
    {
        var at = id.LastIndexOf("/task/", StringComparison.Ordinal);
        return at > "spiffe://".Length ? id[..at] : null;
    }
}

/// <summary>One log directory, verified.</summary>
/// <param name="Id">Its id in the snapshot.</param>
/// <param name="Directory">Its full path.</param>
/// <param name="DisplayPath">Its path relative to the root.</param>
/// <param name="View">What the page shows of it.</param>
/// <param name="Entries">Its entries.</param>
internal sealed record ExplorerLog(int Id, string Directory, string DisplayPath, LogView View, IReadOnlyList<EntryView> Entries);

/// <summary>The entry filters of the page; a <see langword="null"/> member matches everything.</summary>
internal sealed record EntryFilter(int? Log, string? Agent, string? Tool, string? Outcome, DateTimeOffset? From, DateTimeOffset? To)
{
    public bool Matches(EntryView entry) =>
        (Agent is null || entry.Agent == Agent)
        && (Tool is null || entry.Tool == Tool)
        && (Outcome is null || entry.Outcome == Outcome)
        && (From is null || (TryTime(entry.Time, out var t) && t >= From))
        && (To is null || (TryTime(entry.Time, out var u) && u <= To));

    private static bool TryTime(string? text, out DateTimeOffset time) =>
        DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out time);
}

/// <summary>A log as the page shows it: <see cref="Entries"/> readable, <see cref="TreeSize"/> of them read before the first problem.</summary>
internal sealed record LogView(int Id, string Path, string? Origin, bool IssuerLog, long Entries, long TreeSize, int Checkpoints, long SignedEntries, string Badge, string Problem,
    string Message, long? FirstBadIndex, long? BadRangeEnd, string[] Signers, string? LatestCheckpointTime, bool SignersChecked);

/// <summary>An entry as the page shows it; <see cref="Json"/> is its stored text (attacker-influenced: the page renders it as text).</summary>
internal sealed record EntryView(int Log, long Index, string? Time, string Kind, string Outcome, string Agent, string? Tool, string? Action, string? Target,
    string? Reason, string? RequestId, string? Serial, string[] Chain, string Status, string? Damage, string Json);

/// <summary>The values the filters offer.</summary>
internal sealed record Facets(string[] Agents, string[] Tools, string[] Outcomes);

/// <summary>An identity in the delegation tree, with its first calls and its delegates.</summary>
internal sealed record TreeNode(string Id, bool IsTask, int Allowed, int Denied, int Failed, int Total, TreeCall[] Calls, List<TreeNode> Children);

/// <summary>A call listed under its identity in the delegation tree.</summary>
internal sealed record TreeCall(int Log, long Index, string Kind, string? Name, string Outcome, string? Reason, string? Time);
