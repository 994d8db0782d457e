namespace AgentIdentity;

/// <summary>No usable RFC 8705 certificate-bound access token could be obtained: the authorization server is unreachable or refused the
/// request, or the token it returned is not bound to the certificate the request would present. No request was sent to the resource.</summary>
public sealed class BoundTokenException : AgentIdentityException
{
    /// <summary>Initializes a new instance of the <see cref="BoundTokenException"/> class.</summary>
    /// <param name="message">What failed and what to do.</param>
    /// <param name="innerException">The underlying error, if any.</param>
    public BoundTokenException(string message, Exception? innerException = null)
        : base(message, innerException)
    {
    }
}
