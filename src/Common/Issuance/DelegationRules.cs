namespace AgentIdentity;

/// <summary>The rules a delegation must follow, shared by the issuer (before issuing) and the verifier (offline, per link).</summary>
internal static class DelegationRules
{
    public const string TaskSegment = "task";

    /// <summary>The ID a task of <paramref name="parent"/> gets: <c>&lt;parent&gt;/task/&lt;taskId&gt;</c>.</summary>
    public static SpiffeId TaskId(SpiffeId parent, string taskId) => parent.Append(TaskSegment, taskId);

    /// <summary>
    /// Checks one parent → child step. Returns the error and fills <paramref name="reason"/> with a sentence that names the
    /// identities and the rule.
    /// </summary>
    public static DelegationError Check(
        SpiffeId parentId,
        AgentPolicy? parentPolicy,
        int parentChainLength,
        DateTimeOffset parentNotAfter,
        SpiffeId childId,
        AgentPolicy? childPolicy,
        DateTimeOffset childNotAfter,
        out string reason)
    {
        if (parentPolicy is null)
        {
            reason = $"'{parentId}' carries no policy, so it may not delegate";
            return DelegationError.MissingPolicy;
        }

        if (childPolicy is null)
        {
            reason = $"a task identity of '{parentId}' needs a policy; '{childId}' has none";
            return DelegationError.MissingPolicy;
        }

        if (!IsTaskOf(parentId, childId, out var taskId))
        {
            reason = $"'{childId}' is not a task identity of '{parentId}' (expected '{parentId}/{TaskSegment}/<task-id>'); a parent can only delegate below its own ID";
            return DelegationError.NotATaskOfParent;
        }

        if (!string.Equals(childPolicy.TaskId, taskId, StringComparison.Ordinal))
        {
            reason = $"the policy of '{childId}' names task '{childPolicy.TaskId}', not '{taskId}'";
            return DelegationError.NotATaskOfParent;
        }

        if (parentPolicy.MaxDelegationDepth == 0)
        {
            reason = $"'{parentId}' has delegation depth 0, so it may not delegate";
            return DelegationError.DelegationNotPermitted;
        }

        if (parentChainLength + 1 > AgentPolicy.MaxDelegationDepthLimit)
        {
            reason = $"'{parentId}' already has {parentChainLength} ancestors; a chain may have at most {AgentPolicy.MaxDelegationDepthLimit}";
            return DelegationError.DepthNotDecreasing;
        }

        if (!parentPolicy.AllowsDelegationTo(childId))
        {
            reason = $"the policy of '{parentId}' does not allow delegating to '{childId}' (targets [{string.Join(", ", parentPolicy.DelegationTargets)}])";
            return DelegationError.DelegationNotPermitted;
        }

        if (!childPolicy.IsSubsetOf(parentPolicy, out var escalation))
        {
            reason = $"the policy of '{childId}' is not a subset of its parent's: {escalation}";
            return escalation.StartsWith("delegation depth", StringComparison.Ordinal) ? DelegationError.DepthNotDecreasing : DelegationError.PolicyEscalation;
        }

        if (childPolicy.MaxDelegationDepth > parentPolicy.MaxDelegationDepth - 1)
        {
            reason = $"the delegation depth of '{childId}' must be at most {parentPolicy.MaxDelegationDepth - 1} (one less than its parent's), not {childPolicy.MaxDelegationDepth}";
            return DelegationError.DepthNotDecreasing;
        }

        if (childNotAfter > parentNotAfter)
        {
            reason = $"'{childId}' would be valid until {childNotAfter:O}, after its parent '{parentId}' expires at {parentNotAfter:O}";
            return DelegationError.LifetimeExceedsParent;
        }

        reason = string.Empty;
        return DelegationError.None;
    }

    /// <summary>
    /// Checks every step root → … → parent → leaf of a delegation chain carried by the certificate of <paramref name="leafId"/>
    /// (every link in the leaf's trust domain, then <see cref="Check"/> per step). Returns the first error and fills
    /// <paramref name="reason"/> with a sentence naming the certificate, the link and the rule.
    /// </summary>
    public static DelegationError CheckChain(SpiffeId leafId, AgentPolicy? leafPolicy, DateTimeOffset leafNotAfter, DelegationChain chain, out string reason)
    {
        for (var i = 0; i < chain.Count; i++)
        {
            var parent = chain[i];
            if (!parent.Id.IsMemberOf(leafId.TrustDomain))
            {
                reason = $"Certificate '{leafId}': chain link {i} '{parent.Id}' is in another trust domain.";
                return DelegationError.NotATaskOfParent;
            }

            var isLast = i == chain.Count - 1;
            var childId = isLast ? leafId : chain[i + 1].Id;
            var childPolicy = isLast ? leafPolicy : chain[i + 1].Policy;
            var childNotAfter = isLast ? leafNotAfter : chain[i + 1].NotAfter;
            var error = Check(parent.Id, parent.Policy, i, parent.NotAfter, childId, childPolicy, childNotAfter, out var why);
            if (error != DelegationError.None)
            {
                reason = $"Certificate '{leafId}': delegation chain link {i} → {(isLast ? "the leaf" : $"link {i + 1}")} is invalid: {why}.";
                return error;
            }
        }

        reason = string.Empty;
        return DelegationError.None;
    }

    /// <summary>Is <paramref name="child"/> exactly <c>&lt;parent&gt;/task/&lt;one segment&gt;</c>?</summary>
    public static bool IsTaskOf(SpiffeId parent, SpiffeId child, out string taskId)
    {
        taskId = string.Empty;
        if (!parent.IsAncestorOf(child))
        {
            return false;
        }

        var rest = child.ToString().AsSpan(parent.ToString().Length);
        var prefix = "/" + TaskSegment + "/";
        if (!rest.StartsWith(prefix, StringComparison.Ordinal))
        {
            return false;
        }

        var segment = rest[prefix.Length..];
        if (segment.IsEmpty || segment.Contains('/'))
        {
            return false;
        }

        taskId = segment.ToString();
        return true;
    }
}
