namespace AgentIdentity.AspNetCore;

/// <summary>Default values of the AgentIdentity authentication scheme.</summary>
public static class AgentIdentityAuthenticationDefaults
{
    /// <summary>The default scheme name: <c>AgentIdentity</c>.</summary>
    public const string AuthenticationScheme = "AgentIdentity";
}
