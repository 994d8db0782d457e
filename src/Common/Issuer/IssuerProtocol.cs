namespace AgentIdentity;

/// <summary>The issuer service's HTTP paths, media types and JSON member names, shared by client and server (linked source,
/// compiled into AgentIdentity.Sdk and AgentIdentity.Sdk.Issuer). The bodies are the records in <c>IssuerMessages.cs</c>,
/// serialized with <see cref="IssuerJsonContext"/>.</summary>
internal static class IssuerProtocol
{
    public const string IssuePath = "v1/issue";
    public const string RenewPath = "v1/renew";
    public const string DelegatePath = "v1/delegate";
    public const string BundlePath = "v1/bundle";
    public const string JoinTokensPath = "v1/join-tokens";

    public const string JsonMediaType = "application/json";
    public const string ProblemMediaType = "application/problem+json";

    public const string SpiffeId = "spiffeId";
    public const string Csr = "csr";
    public const string LifetimeSeconds = "lifetimeSeconds";
    public const string JoinToken = "joinToken";
    public const string Policy = "policy";
    public const string ProofSignature = "proofSignature";
    public const string Certificates = "certificates";
    public const string Bundle = "bundle";
    public const string ExpiresAt = "expiresAt";

    public const string AgentName = "agentName";
    public const string TtlSeconds = "ttlSeconds";
    public const string Services = "services";
    public const string Actions = "actions";
    public const string Tools = "tools";
    public const string DelegationTargets = "delegationTargets";
    public const string MaxDelegationDepth = "maxDelegationDepth";

    public const string ProblemType = "type";
    public const string ProblemTitle = "title";
    public const string ProblemStatus = "status";
    public const string ProblemDetail = "detail";
}
