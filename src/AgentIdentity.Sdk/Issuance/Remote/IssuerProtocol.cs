namespace AgentIdentity;

/// <summary>The issuer service's HTTP paths and JSON member names, shared by client and server.</summary>
internal static class IssuerProtocol
{
    public const string IssuePath = "v1/issue";
    public const string RenewPath = "v1/renew";
    public const string DelegatePath = "v1/delegate";
    public const string BundlePath = "v1/bundle";
    public const string JoinTokensPath = "v1/join-tokens";

    public const string SpiffeId = "spiffeId";
    public const string Csr = "csr";
    public const string LifetimeSeconds = "lifetimeSeconds";
    public const string JoinToken = "joinToken";
    public const string Policy = "policy";
    public const string ProofSignature = "proofSignature";
    public const string Certificates = "certificates";
    public const string Bundle = "bundle";
}
