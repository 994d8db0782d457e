namespace AgentIdentity;

/// <summary>The issuer service's HTTP paths, media types and JSON member names, shared by client and server (linked source,
/// compiled into AgentIdentity.Sdk and AgentIdentity.Sdk.Issuer). The bodies are the records in <c>IssuerMessages.cs</c>,
/// serialized with <see cref="IssuerJsonContext"/>.</summary>
internal static class IssuerProtocol
{
    public const string IssuePath = "v1/issue";
    public const string RenewPath = "v1/renew";
    public const string RenewExpiredPath = "v1/renew-expired";
    public const string DelegatePath = "v1/delegate";
    public const string BundlePath = "v1/bundle";
    public const string JoinTokensPath = "v1/join-tokens";
    public const string RevokePath = "v1/revoke";
    public const string StatusPath = "v1/status";
    public const string StatusIdQuery = "id";

    public const string JsonMediaType = "application/json";
    public const string ProblemMediaType = "application/problem+json";

    public const string SpiffeId = "spiffeId";
    public const string Csr = "csr";
    public const string LifetimeSeconds = "lifetimeSeconds";
    public const string JoinToken = "joinToken";
    public const string Policy = "policy";
    public const string ProofSignature = "proofSignature";
    public const string ProofTime = "proofTime";
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

    public const string SerialNumber = "serialNumber";
    public const string Reason = "reason";
    public const string Sequence = "sequence";
    public const string Kind = "kind";
    public const string RevokedAt = "revokedAt";
    public const string Known = "known";
    public const string Enrolled = "enrolled";
    public const string EnrolledAt = "enrolledAt";
    public const string ParentId = "parentId";
    public const string Revocation = "revocation";
    public const string CertificatesRecorded = "certificatesRecorded";
    public const string CertificateCount = "certificateCount";
    public const string Current = "current";
    public const string Descendants = "descendants";
    public const string NotBefore = "notBefore";
    public const string NotAfter = "notAfter";
    public const string IssuedAt = "issuedAt";
    public const string State = "state";
    public const string Revoked = "revoked";

    public const string ProblemType = "type";
    public const string ProblemTitle = "title";
    public const string ProblemStatus = "status";
    public const string ProblemDetail = "detail";
}
