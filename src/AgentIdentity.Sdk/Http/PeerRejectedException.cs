namespace AgentIdentity;

/// <summary>The TLS peer (for an <see cref="HttpClient"/>, the server) was not accepted: its certificate is not a valid X.509-SVID of a trusted
/// trust domain, or the configured <see cref="PeerAuthorizer"/> denied it.</summary>
/// <remarks>Not transient: retrying reaches the same server with the same certificate. Fix the trust bundle or the authorizer, or the address.</remarks>
public sealed class PeerRejectedException : AgentIdentityException
{
    /// <summary>Initializes a new instance of the <see cref="PeerRejectedException"/> class.</summary>
    /// <param name="peer">The peer's SPIFFE ID when it could be read; otherwise empty.</param>
    /// <param name="reason">Why the peer was rejected.</param>
    /// <param name="innerException">The underlying error, if any.</param>
    public PeerRejectedException(SpiffeId peer, string reason, Exception? innerException = null)
        : base(peer.IsEmpty ? $"The TLS peer was rejected: {reason}" : $"The TLS peer '{peer}' was rejected: {reason}", innerException)
    {
        Peer = peer;
        Reason = reason;
    }

    /// <summary>Gets the peer's SPIFFE ID, or an empty ID when the certificate did not carry a valid one.</summary>
    public SpiffeId Peer { get; }

    /// <summary>Gets why the peer was rejected.</summary>
    public string Reason { get; }
}
