namespace AgentIdentity;

/// <summary>Options of <c>services.AddAgentIdentity()</c>.</summary>
public sealed class AgentIdentityOptions
{
    /// <summary>Gets or sets the trust domain of the agents, for example <c>example.org</c>. Required.</summary>
    public string? TrustDomain { get; set; }

    /// <summary>Gets or sets the name of the process's default agent. When set, an <see cref="AgentCredential"/> for a new
    /// instance of it is registered as a singleton (and as <see cref="IX509SvidSource"/>) and is ready before the host starts.</summary>
    /// <value>The default value is <see langword="null"/>: no default agent.</value>
    public string? AgentName { get; set; }

    /// <summary>Gets the options every agent credential starts from.</summary>
    public AgentCredentialOptions Credential { get; } = new();
}
