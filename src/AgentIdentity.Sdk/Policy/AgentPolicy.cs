using System.Diagnostics.CodeAnalysis;

namespace AgentIdentity;

/// <summary>
/// What an agent may do, carried in its certificate (extension <see cref="AgentPolicyExtension.PolicyOid"/>): the services it
/// may call, the actions and tools it may use, whom it may delegate to and how deep, and the task it serves.
/// </summary>
/// <remarks>
/// <para><b>Patterns.</b> Services and delegation targets are SPIFFE ID patterns: an exact ID (<c>spiffe://td/svc/erp</c>) or an
/// ID followed by <c>/*</c>, which matches every ID strictly below it (<c>spiffe://td/svc/*</c>; <c>spiffe://td/*</c> is the whole
/// trust domain). Actions are segments separated by <c>:</c> (<c>invoices:read</c>) and tools are segments separated by
/// <c>.</c> (<c>Erp.GetInvoice</c>); a segment that is exactly <c>*</c> matches any one segment (<c>invoices:*</c>,
/// <c>Erp.*</c>). Anything not listed is denied: an empty list allows nothing.</para>
/// <para><b>Canonical form.</b> Each list is stored without duplicates, without patterns covered by another pattern of the same
/// list, and sorted ordinally, so two policies that allow the same things are equal and encode to the same bytes.</para>
/// <para>Immutable and thread-safe.</para>
/// </remarks>
public sealed class AgentPolicy : IEquatable<AgentPolicy>
{
    /// <summary>The most patterns a list may hold.</summary>
    public const int MaxListLength = 64;

    /// <summary>The longest service or delegation-target pattern, in characters (the SPIFFE ID limit).</summary>
    public const int MaxSpiffePatternLength = 2048;

    /// <summary>The longest action or tool pattern, in characters.</summary>
    public const int MaxNamePatternLength = 256;

    /// <summary>The longest task id, in characters.</summary>
    public const int MaxTaskIdLength = 128;

    /// <summary>The deepest delegation a policy may allow.</summary>
    public const int MaxDelegationDepthLimit = 8;

    /// <summary>The largest DER encoding of a policy, in bytes.</summary>
    public const int MaxEncodedLength = 4096;

    /// <summary>The most distinct patterns one list of an intersection (<see cref="Intersect(AgentPolicy)"/>) may produce; beyond
    /// it the intersection is refused, so that its cost stays bounded.</summary>
    public const int MaxIntersectionLength = 4 * MaxListLength;

    internal const char ActionSeparator = ':';
    internal const char ToolSeparator = '.';

    internal static readonly Func<string, string, bool> SpiffeCovers = PolicyPatterns.SpiffeCovers;
    internal static readonly Func<string, string, bool> ActionCovers = static (o, i) => PolicyPatterns.NameCovers(o, i, ActionSeparator);
    internal static readonly Func<string, string, bool> ToolCovers = static (o, i) => PolicyPatterns.NameCovers(o, i, ToolSeparator);

    /// <summary>The rule of a service or delegation-target pattern: an error, or <see langword="null"/> when valid.</summary>
    internal static readonly Func<string, string?> ValidateSpiffePattern = static p => PolicyPatterns.ValidateSpiffePattern(p);

    /// <summary>The rule of an action pattern.</summary>
    internal static readonly Func<string, string?> ValidateActionPattern = static p => PolicyPatterns.ValidateNamePattern(p, ActionSeparator, allowDotInSegment: true, MaxNamePatternLength);

    /// <summary>The rule of a tool pattern.</summary>
    internal static readonly Func<string, string?> ValidateToolPattern = static p => PolicyPatterns.ValidateNamePattern(p, ToolSeparator, allowDotInSegment: false, MaxNamePatternLength);

    private readonly string[] _services;
    private readonly string[] _actions;
    private readonly string[] _tools;
    private readonly string[] _delegationTargets;
    private byte[]? _encoded;

    /// <summary>Initializes a new instance of the <see cref="AgentPolicy"/> class and brings it into canonical form.</summary>
    /// <param name="services">SPIFFE ID patterns of the services the agent may call.</param>
    /// <param name="actions">Action patterns, for example <c>invoices:read</c> or <c>invoices:*</c>.</param>
    /// <param name="tools">Tool patterns, for example <c>Erp.GetInvoice</c> or <c>Erp.*</c>.</param>
    /// <param name="maxDelegationDepth">How many levels of task identities may be minted below the holder (0 = none).</param>
    /// <param name="delegationTargets">SPIFFE ID patterns of the task identities the holder may delegate to.</param>
    /// <param name="taskId">The task this identity serves, for task identities; a valid SPIFFE path segment.</param>
    /// <exception cref="ArgumentException">A pattern or the task id is invalid, a list holds more than <see cref="MaxListLength"/>
    /// patterns, the depth is outside 0..<see cref="MaxDelegationDepthLimit"/>, or the encoding would exceed <see cref="MaxEncodedLength"/> bytes.
    /// The message names the offending value.</exception>
    public AgentPolicy(
        IEnumerable<string>? services = null,
        IEnumerable<string>? actions = null,
        IEnumerable<string>? tools = null,
        int maxDelegationDepth = 0,
        IEnumerable<string>? delegationTargets = null,
        string? taskId = null)
    {
        _services = Canonical(services, nameof(services), ValidateSpiffePattern, SpiffeCovers);
        _actions = Canonical(actions, nameof(actions), ValidateActionPattern, ActionCovers);
        _tools = Canonical(tools, nameof(tools), ValidateToolPattern, ToolCovers);
        _delegationTargets = Canonical(delegationTargets, nameof(delegationTargets), ValidateSpiffePattern, SpiffeCovers);
        if (maxDelegationDepth is < 0 or > MaxDelegationDepthLimit)
        {
            throw new ArgumentOutOfRangeException(nameof(maxDelegationDepth), maxDelegationDepth, $"The delegation depth must be between 0 and {MaxDelegationDepthLimit}.");
        }

        if (taskId is not null && ValidateTaskId(taskId) is { } taskError)
        {
            throw new ArgumentException($"Task id '{Truncate(taskId)}' is invalid: {taskError}.", nameof(taskId));
        }

        MaxDelegationDepth = maxDelegationDepth;
        TaskId = taskId;
        if (Encode().Length > MaxEncodedLength)
        {
            throw new ArgumentException($"The policy encodes to {_encoded!.Length} bytes; a policy may have at most {MaxEncodedLength}. Use '/*' or '*' patterns to shorten it.");
        }
    }

    // Trusted constructor: the lists are canonical already (decoder, intersection). No size limits (intersections may exceed them).
    private AgentPolicy(string[] services, string[] actions, string[] tools, int maxDelegationDepth, string[] delegationTargets, string? taskId, byte[]? encoded)
    {
        _services = services;
        _actions = actions;
        _tools = tools;
        _delegationTargets = delegationTargets;
        MaxDelegationDepth = maxDelegationDepth;
        TaskId = taskId;
        _encoded = encoded;
    }

    /// <summary>Gets the policy that allows nothing and cannot delegate.</summary>
    public static AgentPolicy Empty { get; } = new();

    /// <summary>Gets the SPIFFE ID patterns of the services the agent may call, in canonical order.</summary>
    public IReadOnlyList<string> Services => _services;

    /// <summary>Gets the action patterns, in canonical order.</summary>
    public IReadOnlyList<string> Actions => _actions;

    /// <summary>Gets the tool patterns, in canonical order.</summary>
    public IReadOnlyList<string> Tools => _tools;

    /// <summary>Gets how many levels of task identities may be minted below the holder; 0 means it cannot delegate.</summary>
    public int MaxDelegationDepth { get; }

    /// <summary>Gets the SPIFFE ID patterns of the identities the holder may delegate to, in canonical order.</summary>
    public IReadOnlyList<string> DelegationTargets => _delegationTargets;

    /// <summary>Gets the task this identity serves, or <see langword="null"/> for an agent's own identity.</summary>
    /// <remarks>A label, not a right: <see cref="IsSubsetOf(AgentPolicy)"/> ignores it.</remarks>
    public string? TaskId { get; }

    /// <summary>Gets a value indicating whether the holder may delegate at all.</summary>
    public bool CanDelegate => MaxDelegationDepth > 0 && _delegationTargets.Length > 0;

    internal string[] ServicesArray => _services;

    internal string[] ActionsArray => _actions;

    internal string[] ToolsArray => _tools;

    internal string[] DelegationTargetsArray => _delegationTargets;

    /// <summary>Decides whether the holder may call the service <paramref name="service"/>.</summary>
    /// <param name="service">The service's SPIFFE ID.</param>
    /// <returns><see langword="true"/> when a service pattern matches.</returns>
    public bool AllowsService(SpiffeId service) => !service.IsEmpty && MatchesAny(_services, service.ToString());

    /// <summary>Decides whether the holder may perform <paramref name="action"/>.</summary>
    /// <param name="action">A concrete action name such as <c>invoices:read</c>.</param>
    /// <returns><see langword="true"/> when an action pattern matches; <see langword="false"/> for malformed names.</returns>
    public bool AllowsAction(string action)
    {
        ArgumentNullException.ThrowIfNull(action);
        foreach (var pattern in _actions)
        {
            if (PolicyPatterns.NameMatches(pattern, action, ActionSeparator))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Decides whether the holder may invoke the tool <paramref name="tool"/>.</summary>
    /// <param name="tool">A concrete tool name such as <c>Erp.GetInvoice</c>.</param>
    /// <returns><see langword="true"/> when a tool pattern matches; <see langword="false"/> for malformed names.</returns>
    public bool AllowsTool(string tool)
    {
        ArgumentNullException.ThrowIfNull(tool);
        foreach (var pattern in _tools)
        {
            if (PolicyPatterns.NameMatches(pattern, tool, ToolSeparator))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Decides whether the holder may delegate to <paramref name="target"/> (depth permitting).</summary>
    /// <param name="target">The SPIFFE ID of the would-be task identity.</param>
    /// <returns><see langword="true"/> when <see cref="MaxDelegationDepth"/> is positive and a target pattern matches.</returns>
    public bool AllowsDelegationTo(SpiffeId target) =>
        MaxDelegationDepth > 0 && !target.IsEmpty && MatchesAny(_delegationTargets, target.ToString());

    /// <summary>Decides whether this policy allows nothing that <paramref name="parent"/> does not, on every axis.</summary>
    /// <param name="parent">The policy to compare with.</param>
    /// <returns><see langword="true"/> when every pattern here is covered by one of the parent's and the depth is not greater.</returns>
    public bool IsSubsetOf(AgentPolicy parent) => IsSubsetOf(parent, out _);

    /// <summary>Decides whether this policy allows nothing that <paramref name="parent"/> does not, and says why not.</summary>
    /// <param name="parent">The policy to compare with.</param>
    /// <param name="reason">When not a subset: the first axis and pattern that exceed the parent.</param>
    /// <returns><see langword="true"/> when every pattern here is covered by one of the parent's and the depth is not greater.</returns>
    public bool IsSubsetOf(AgentPolicy parent, [NotNullWhen(false)] out string? reason)
    {
        ArgumentNullException.ThrowIfNull(parent);
        if (PolicyPatterns.FindUncovered(parent._services, _services, SpiffeCovers) is { } service)
        {
            reason = $"service pattern '{Truncate(service)}' is not covered by the parent's services [{Join(parent._services)}]";
            return false;
        }

        if (PolicyPatterns.FindUncovered(parent._actions, _actions, ActionCovers) is { } action)
        {
            reason = $"action pattern '{Truncate(action)}' is not covered by the parent's actions [{Join(parent._actions)}]";
            return false;
        }

        if (PolicyPatterns.FindUncovered(parent._tools, _tools, ToolCovers) is { } tool)
        {
            reason = $"tool pattern '{Truncate(tool)}' is not covered by the parent's tools [{Join(parent._tools)}]";
            return false;
        }

        if (MaxDelegationDepth > parent.MaxDelegationDepth)
        {
            reason = $"delegation depth {MaxDelegationDepth} exceeds the parent's {parent.MaxDelegationDepth}";
            return false;
        }

        if (PolicyPatterns.FindUncovered(parent._delegationTargets, _delegationTargets, SpiffeCovers) is { } target)
        {
            reason = $"delegation target '{Truncate(target)}' is not covered by the parent's targets [{Join(parent._delegationTargets)}]";
            return false;
        }

        reason = null;
        return true;
    }

    /// <summary>Returns the policy that allows exactly what both this policy and <paramref name="other"/> allow.</summary>
    /// <param name="other">The other policy.</param>
    /// <returns>The intersection: per axis, the pairwise intersections of the patterns; the smaller depth; the task id when both
    /// carry the same one, otherwise none. Associative and commutative.</returns>
    /// <remarks>The result is not limited to <see cref="MaxListLength"/> patterns (intersecting <c>a:*</c> with <c>*:b</c> lists
    /// creates new patterns), so it may be too large to encode; it is meant for evaluation. It is limited to
    /// <see cref="MaxIntersectionLength"/> distinct patterns per list, which bounds its cost. When one policy is a subset of the
    /// other (every valid delegation chain), the result is that policy and the limit never applies.</remarks>
    /// <exception cref="InvalidOperationException">A list of the intersection would hold more than <see cref="MaxIntersectionLength"/>
    /// distinct patterns; the message names the axis.</exception>
    public AgentPolicy Intersect(AgentPolicy other)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (ReferenceEquals(this, other))
        {
            return this;
        }

        // Fast path (a valid delegation chain): when one side is a subset of the other, the intersection is that side, because
        // the canonical form is unique. Only the task-id rule still applies.
        var taskId = string.Equals(TaskId, other.TaskId, StringComparison.Ordinal) ? TaskId : null;
        if (IsSubsetOf(other, out _))
        {
            return WithTaskIdUnchecked(taskId);
        }

        if (other.IsSubsetOf(this, out _))
        {
            return other.WithTaskIdUnchecked(taskId);
        }

        return new AgentPolicy(
            PolicyPatterns.Intersect(_services, other._services, PolicyPatterns.SpiffeIntersect, SpiffeCovers, "services"),
            PolicyPatterns.Intersect(_actions, other._actions, static (a, b) => PolicyPatterns.NameIntersect(a, b, ActionSeparator), ActionCovers, "actions"),
            PolicyPatterns.Intersect(_tools, other._tools, static (a, b) => PolicyPatterns.NameIntersect(a, b, ToolSeparator), ToolCovers, "tools"),
            Math.Min(MaxDelegationDepth, other.MaxDelegationDepth),
            PolicyPatterns.Intersect(_delegationTargets, other._delegationTargets, PolicyPatterns.SpiffeIntersect, SpiffeCovers, "delegation targets"),
            taskId,
            encoded: null);
    }

    private AgentPolicy WithTaskIdUnchecked(string? taskId) =>
        string.Equals(taskId, TaskId, StringComparison.Ordinal) ? this : new AgentPolicy(_services, _actions, _tools, MaxDelegationDepth, _delegationTargets, taskId, encoded: null);

    /// <summary>Returns a copy with <see cref="TaskId"/> set to <paramref name="taskId"/>.</summary>
    /// <param name="taskId">The task id, a valid SPIFFE path segment, or <see langword="null"/>.</param>
    /// <returns>The copy.</returns>
    /// <exception cref="ArgumentException">The task id is invalid.</exception>
    public AgentPolicy WithTaskId(string? taskId)
    {
        if (string.Equals(taskId, TaskId, StringComparison.Ordinal))
        {
            return this;
        }

        if (taskId is not null && ValidateTaskId(taskId) is { } error)
        {
            throw new ArgumentException($"Task id '{Truncate(taskId)}' is invalid: {error}.", nameof(taskId));
        }

        return new AgentPolicy(_services, _actions, _tools, MaxDelegationDepth, _delegationTargets, taskId, encoded: null);
    }

    /// <summary>Returns a copy with <see cref="MaxDelegationDepth"/> set to <paramref name="maxDelegationDepth"/>.</summary>
    /// <param name="maxDelegationDepth">The depth, 0..<see cref="MaxDelegationDepthLimit"/>.</param>
    /// <returns>The copy.</returns>
    public AgentPolicy WithMaxDelegationDepth(int maxDelegationDepth)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxDelegationDepth);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(maxDelegationDepth, MaxDelegationDepthLimit);
        return maxDelegationDepth == MaxDelegationDepth
            ? this
            : new AgentPolicy(_services, _actions, _tools, maxDelegationDepth, _delegationTargets, TaskId, encoded: null);
    }

    /// <summary>Encodes the policy as the DER value of the policy extension (see docs/policy-extension.md).</summary>
    /// <returns>A copy of the canonical DER encoding.</returns>
    /// <exception cref="InvalidOperationException">The policy (an intersection) exceeds the encoding limits.</exception>
    public byte[] ToDer() => (byte[])Encode().Clone();

    /// <summary>Decodes the DER value of a policy extension, strictly.</summary>
    /// <param name="der">The extension value.</param>
    /// <returns>The policy.</returns>
    /// <exception cref="PolicyFormatException">The bytes are not a canonical v1 policy within the documented limits; the message says what is wrong.</exception>
    public static AgentPolicy FromDer(ReadOnlySpan<byte> der) => AgentPolicyCodec.DecodePolicy(der);

    /// <summary>Tries to decode the DER value of a policy extension, strictly.</summary>
    /// <param name="der">The extension value.</param>
    /// <param name="policy">The policy, when the bytes are valid.</param>
    /// <param name="error">What is wrong, when they are not.</param>
    /// <returns><see langword="true"/> when the bytes are a valid policy.</returns>
    public static bool TryFromDer(ReadOnlySpan<byte> der, [NotNullWhen(true)] out AgentPolicy? policy, [NotNullWhen(false)] out string? error)
    {
        try
        {
            policy = AgentPolicyCodec.DecodePolicy(der);
            error = null;
            return true;
        }
        catch (PolicyFormatException ex)
        {
            policy = null;
            error = ex.Message;
            return false;
        }
    }

    internal byte[] Encode()
    {
        if (_encoded is { } encoded)
        {
            return encoded;
        }

        encoded = AgentPolicyCodec.EncodePolicy(this);
        _encoded = encoded;
        return encoded;
    }

    internal byte[] EncodeChecked()
    {
        if (_services.Length > MaxListLength || _actions.Length > MaxListLength || _tools.Length > MaxListLength || _delegationTargets.Length > MaxListLength)
        {
            throw new InvalidOperationException($"The policy has more than {MaxListLength} patterns in a list, so it cannot be put in a certificate.");
        }

        var encoded = Encode();
        return encoded.Length <= MaxEncodedLength
            ? encoded
            : throw new InvalidOperationException($"The policy encodes to {encoded.Length} bytes; a certificate policy may have at most {MaxEncodedLength}.");
    }

    internal static AgentPolicy CreateTrusted(string[] services, string[] actions, string[] tools, int maxDelegationDepth, string[] delegationTargets, string? taskId, byte[]? encoded) =>
        new(services, actions, tools, maxDelegationDepth, delegationTargets, taskId, encoded);

    internal static string? ValidateTaskId(string taskId)
    {
        if (taskId.Length == 0)
        {
            return "it is empty";
        }

        if (taskId.Length > MaxTaskIdLength)
        {
            return $"it is longer than {MaxTaskIdLength} characters";
        }

        if (taskId is "." or "..")
        {
            return "it cannot be '.' or '..'";
        }

        foreach (var c in taskId)
        {
            if (!SpiffeIdRules.IsPathChar(c))
            {
                return "it must be a SPIFFE path segment (letters, digits, '.', '-', '_')";
            }
        }

        return null;
    }

    private static bool MatchesAny(string[] patterns, string id)
    {
        foreach (var pattern in patterns)
        {
            if (SpiffeIdMatchers.PatternMatches(pattern, id))
            {
                return true;
            }
        }

        return false;
    }

    private static string[] Canonical(IEnumerable<string>? patterns, string parameter, Func<string, string?> validate, Func<string, string, bool> covers)
    {
        if (patterns is null)
        {
            return [];
        }

        var list = new List<string>();
        foreach (var pattern in patterns)
        {
            if (pattern is null)
            {
                throw new ArgumentException($"The {parameter} list contains null.", parameter);
            }

            if (validate(pattern) is { } error)
            {
                throw new ArgumentException($"The {parameter} pattern '{Truncate(pattern)}' is invalid: {error}.", parameter);
            }

            list.Add(pattern);
        }

        var canonical = PolicyPatterns.Normalize(list, covers);
        if (canonical.Length > MaxListLength)
        {
            throw new ArgumentException($"The {parameter} list has {canonical.Length} distinct patterns; at most {MaxListLength} are allowed. Use '/*' or '*' patterns to shorten it.", parameter);
        }

        return canonical;
    }

    internal static string Truncate(string value) => value.Length <= 80 ? DisplayText.Escape(value) : string.Concat(DisplayText.Escape(value.AsSpan(0, 77)), "...");

    private static string Join(string[] patterns) => patterns.Length == 0 ? string.Empty : string.Join(", ", patterns.Select(Truncate));

    /// <inheritdoc/>
    public bool Equals(AgentPolicy? other) =>
        other is not null &&
        (ReferenceEquals(this, other) ||
         (MaxDelegationDepth == other.MaxDelegationDepth &&
          string.Equals(TaskId, other.TaskId, StringComparison.Ordinal) &&
          _services.AsSpan().SequenceEqual(other._services) &&
          _actions.AsSpan().SequenceEqual(other._actions) &&
          _tools.AsSpan().SequenceEqual(other._tools) &&
          _delegationTargets.AsSpan().SequenceEqual(other._delegationTargets)));

    /// <inheritdoc/>
    public override bool Equals(object? obj) => Equals(obj as AgentPolicy);

    /// <inheritdoc/>
    public override int GetHashCode()
    {
        var hash = new HashCode();
        hash.Add(MaxDelegationDepth);
        hash.Add(TaskId, StringComparer.Ordinal);
        foreach (var list in (string[][])[_services, _actions, _tools, _delegationTargets])
        {
            hash.Add(list.Length);
            foreach (var item in list)
            {
                hash.Add(item, StringComparer.Ordinal);
            }
        }

        return hash.ToHashCode();
    }

    /// <inheritdoc/>
    public override string ToString() =>
        $"services=[{Join(_services)}] actions=[{Join(_actions)}] tools=[{Join(_tools)}] delegation(depth={MaxDelegationDepth}, targets=[{Join(_delegationTargets)}])" +
        (TaskId is null ? string.Empty : $" task={TaskId}");
}
