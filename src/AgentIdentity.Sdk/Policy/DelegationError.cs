namespace AgentIdentity;

/// <summary>What a refused or broken delegation got wrong.</summary>
public enum DelegationError
{
    /// <summary>No error.</summary>
    None = 0,

    /// <summary>A certificate in the chain is not a valid X.509-SVID for the trust bundle.</summary>
    InvalidCertificate,

    /// <summary>A policy or delegation-chain extension is malformed.</summary>
    MalformedExtension,

    /// <summary>A task identity or one of its ancestors carries no policy.</summary>
    MissingPolicy,

    /// <summary>The child's SPIFFE ID is not <c>&lt;parent-id&gt;/task/&lt;task-id&gt;</c> (for example, a sibling's ID), or its policy's task id differs.</summary>
    NotATaskOfParent,

    /// <summary>The parent's policy does not allow delegation to the child's ID (depth 0 or no matching target).</summary>
    DelegationNotPermitted,

    /// <summary>The child's policy allows something the parent's does not.</summary>
    PolicyEscalation,

    /// <summary>The child's delegation depth is not below the parent's, or the chain is longer than the depth allows.</summary>
    DepthNotDecreasing,

    /// <summary>The child outlives its parent.</summary>
    LifetimeExceedsParent,

    /// <summary>The parent's proof (signature) does not verify.</summary>
    InvalidProof,

    /// <summary>A supplied ancestor certificate does not match its chain link (hash, ID, policy, chain or expiry).</summary>
    AncestorMismatch,
}
