namespace AgentIdentity;

/// <summary>The base class of the exceptions this SDK throws for identity failures.</summary>
public abstract class AgentIdentityException : Exception
{
    /// <summary>Initializes a new instance of the <see cref="AgentIdentityException"/> class.</summary>
    /// <param name="message">What failed and what the caller can do.</param>
    /// <param name="innerException">The cause, if any.</param>
    protected AgentIdentityException(string message, Exception? innerException = null)
        : base(message, innerException)
    {
    }
}

/// <summary>
/// The agent has no valid identity to act with: its credential is not yet issued, has expired while the issuer was unreachable,
/// or was disposed. The agent must not act until a new SVID arrives.
/// </summary>
/// <remarks>
/// This is the base of the "may not act" family, as Polly's <c>BrokenCircuitException</c> is of <c>IsolatedCircuitException</c>:
/// <see cref="IdentityRevokedException"/> derives from it for the permanent case (the kill switch tripped). Catch
/// <see cref="IdentityUnavailableException"/> to refuse work for any of them; catch <see cref="IdentityRevokedException"/> first when
/// the agent must also stop for good.
/// </remarks>
public class IdentityUnavailableException : AgentIdentityException
{
    /// <summary>Initializes a new instance of the <see cref="IdentityUnavailableException"/> class.</summary>
    /// <param name="message">What failed and what the caller can do.</param>
    /// <param name="innerException">The cause, if any.</param>
    public IdentityUnavailableException(string message, Exception? innerException = null)
        : base(message, innerException)
    {
    }
}

/// <summary>An issuer refused or failed to issue a certificate. The message says why; the request was not half-applied.</summary>
public sealed class CertificateIssuanceException : AgentIdentityException
{
    /// <summary>Initializes a new instance of the <see cref="CertificateIssuanceException"/> class.</summary>
    /// <param name="message">What failed and what the caller can do.</param>
    /// <param name="innerException">The cause, if any.</param>
    public CertificateIssuanceException(string message, Exception? innerException = null)
        : base(message, innerException)
    {
    }
}

/// <summary>A certificate chain is not a valid X.509-SVID for the trust bundle it was checked against.</summary>
public sealed class X509SvidValidationException : AgentIdentityException
{
    /// <summary>Initializes a new instance of the <see cref="X509SvidValidationException"/> class.</summary>
    /// <param name="error">The rule the chain breaks.</param>
    /// <param name="message">A description naming the certificate and the rule.</param>
    public X509SvidValidationException(X509SvidValidationError error, string message)
        : base(message) => Error = error;

    /// <summary>Gets the rule the chain breaks.</summary>
    public X509SvidValidationError Error { get; }
}
