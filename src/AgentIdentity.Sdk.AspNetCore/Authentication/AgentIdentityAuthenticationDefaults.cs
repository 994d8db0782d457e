namespace AgentIdentity.AspNetCore;

/// <summary>Default values of the AgentIdentity authentication scheme.</summary>
public static class AgentIdentityAuthenticationDefaults
{
    /// <summary>The default scheme name: <c>AgentIdentity</c>.</summary>
    public const string AuthenticationScheme = "AgentIdentity";

    /// <summary>The OID of the agent policy certificate extension.</summary>
    public const string PolicyExtensionOid = "2.25.13125575335917636297664607662684948779.1";

    /// <summary>The OID of the delegation chain certificate extension.</summary>
    public const string DelegationChainExtensionOid = "2.25.13125575335917636297664607662684948779.2";
}
