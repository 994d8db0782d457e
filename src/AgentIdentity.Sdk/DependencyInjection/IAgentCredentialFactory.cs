namespace AgentIdentity;

/// <summary>Creates the credentials of agent instances: one distinct, self-rotating identity per instance.</summary>
/// <remarks>For agents that come and go at run time. Agents known when the host is built are declared with <c>AddAgent(name, configure)</c>
/// and resolved as keyed services instead. Thread-safe. Credentials it creates are disposed with it (with the service provider).</remarks>
public interface IAgentCredentialFactory
{
    /// <summary>Gets the trust domain new agent instances belong to.</summary>
    TrustDomain TrustDomain { get; }

    /// <summary>Gets the live credentials created by this factory.</summary>
    IEnumerable<AgentCredential> Credentials { get; }

    /// <summary>Creates the credential of a new instance of <paramref name="agentName"/> and waits for its first SVID.</summary>
    /// <param name="agentName">The agent's name: a SPIFFE path segment such as <c>planner</c>.</param>
    /// <param name="configure">Adjusts this instance's options; <see langword="null"/> to use the agent's: <see cref="AgentIdentityOptions.Credential"/>,
    /// adjusted by <c>AddAgent(agentName, configure)</c> when the agent is declared.</param>
    /// <param name="cancellationToken">Stops waiting for the first SVID.</param>
    /// <returns>A ready credential for <c>spiffe://&lt;td&gt;/agent/&lt;agentName&gt;/&lt;random instance&gt;</c>.</returns>
    /// <exception cref="FormatException">The name is not a valid path segment.</exception>
    Task<AgentCredential> CreateAsync(string agentName, Action<AgentCredentialOptions>? configure = null, CancellationToken cancellationToken = default);

    /// <summary>Creates the credential of a new instance of <paramref name="agentName"/> and starts obtaining its first SVID without waiting.</summary>
    /// <param name="agentName">The agent's name.</param>
    /// <param name="configure">Adjusts this instance's options (as for <see cref="CreateAsync"/>).</param>
    /// <returns>A credential that becomes ready when <see cref="AgentCredential.WhenReadyAsync"/> completes.</returns>
    AgentCredential Create(string agentName, Action<AgentCredentialOptions>? configure = null);
}
