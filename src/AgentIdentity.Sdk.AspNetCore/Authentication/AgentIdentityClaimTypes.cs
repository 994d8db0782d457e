namespace AgentIdentity.AspNetCore;

/// <summary>The claim types the AgentIdentity authentication handler puts on an authenticated agent caller.</summary>
/// <remarks>
/// The principal also carries <see cref="System.Security.Claims.ClaimTypes.NameIdentifier"/> and
/// <see cref="System.Security.Claims.ClaimTypes.Name"/>, both set to the SPIFFE ID.
/// </remarks>
public static class AgentIdentityClaimTypes
{
    /// <summary>The caller's SPIFFE ID, e.g. <c>spiffe://corp.example/agent/planner/7f3a</c>.</summary>
    public const string SpiffeId = "spiffe_id";

    /// <summary>The caller's trust domain, e.g. <c>corp.example</c>.</summary>
    public const string TrustDomain = "trust_domain";

    /// <summary>The agent name (the segment after <c>/agent/</c>), present when the SPIFFE ID has the agent shape.</summary>
    public const string AgentName = "agent_name";

    /// <summary>The agent instance id (the segment after the agent name), present when the SPIFFE ID has the agent shape.</summary>
    public const string AgentInstance = "agent_instance";

    /// <summary>The serial number of the caller's leaf certificate, uppercase hex.</summary>
    public const string CertificateSerialNumber = "x509_serial";

    /// <summary>The base64url SHA-256 thumbprint of the caller's leaf certificate (the RFC 8705 <c>x5t#S256</c> value).</summary>
    public const string CertificateThumbprint = "x5t#S256";

    /// <summary>The DER of the certificate's agent policy extension (OID <c>2.25.13125575335917636297664607662684948779.1</c>), base64.</summary>
    public const string AgentPolicy = "agent_policy";

    /// <summary>The DER of the certificate's delegation chain extension (OID <c>2.25.13125575335917636297664607662684948779.2</c>), base64.</summary>
    public const string DelegationChain = "delegation_chain";

    /// <summary>One OAuth scope of a validated certificate-bound access token (one claim per scope).</summary>
    public const string Scope = "scope";

    /// <summary>The subject of a validated certificate-bound access token.</summary>
    public const string TokenSubject = "token_sub";

    /// <summary>The client id of a validated certificate-bound access token.</summary>
    public const string TokenClientId = "client_id";
}
