namespace AgentIdentity;

/// <summary>A revocation feed entry was malformed, forged (bad signature), from another trust domain, or out of sequence. It was not applied.</summary>
public sealed class RevocationFeedException : AgentIdentityException
{
    /// <summary>Initializes a new instance of the <see cref="RevocationFeedException"/> class.</summary>
    /// <param name="message">What was wrong with the entry.</param>
    /// <param name="innerException">The cause, if any.</param>
    public RevocationFeedException(string message, Exception? innerException = null)
        : base(message, innerException)
    {
    }
}

/// <summary>
/// The agent's identity has been revoked: its kill switch tripped. Every tool call and outbound request is refused from now on;
/// the agent must stop. Only a new identity (a new instance, issued after an operator decision) can act again.
/// </summary>
/// <remarks>
/// An <see cref="IdentityUnavailableException"/>: code that refuses to act without an identity (the tool-call guard, the
/// <c>HttpClient</c> handlers, your own <c>catch</c>) refuses a revoked one too, and cannot let it escape. Unlike its base, it is
/// permanent: waiting for renewal does not help.
/// </remarks>
public sealed class IdentityRevokedException : IdentityUnavailableException
{
    /// <summary>Initializes a new instance of the <see cref="IdentityRevokedException"/> class.</summary>
    /// <param name="id">The revoked identity.</param>
    /// <param name="message">What was revoked, when and why.</param>
    /// <param name="innerException">The cause, if any.</param>
    public IdentityRevokedException(SpiffeId id, string message, Exception? innerException = null)
        : base(message, innerException) => Id = id;

    /// <summary>Gets the revoked identity.</summary>
    public SpiffeId Id { get; }
}
