using System.Net.Http;

namespace AgentIdentity;

/// <summary>A handler inside the agent HttpClient (typically a retry strategy such as <c>AddStandardResilienceHandler()</c>) tried to
/// send a request with an unsafe method (POST, PUT, PATCH, DELETE, CONNECT) a second time. The agent HttpClient refuses by default:
/// repeating a tool's side effect (a payment, an order) is worse than reporting the failure.</summary>
/// <remarks>Not transient, so retry strategies stop at once. To allow such retries (for example with idempotency keys), set
/// <see cref="AgentHttpClientOptions.AllowUnsafeMethodRetries"/>; to keep the first response instead of this exception, configure the
/// retry strategy not to retry these methods (<c>o.Retry.DisableForUnsafeHttpMethods()</c>).</remarks>
public sealed class UnsafeRetryRefusedException : AgentIdentityException
{
    /// <summary>Initializes a new instance of the <see cref="UnsafeRetryRefusedException"/> class.</summary>
    /// <param name="method">The request's method.</param>
    /// <param name="requestUri">The request's URI.</param>
    /// <param name="firstAttempt">What the first attempt ended with (a status line or an error).</param>
    public UnsafeRetryRefusedException(HttpMethod method, Uri? requestUri, string firstAttempt)
        : base(
            $"The agent HttpClient refused to send {method} {requestUri} a second time: a handler retried it after the first attempt " +
            $"({firstAttempt}), and repeating a non-idempotent call could repeat its side effect. Configure the retry strategy with " +
            "o.Retry.DisableForUnsafeHttpMethods() to get the first response instead, or set AgentHttpClientOptions.AllowUnsafeMethodRetries " +
            "when the service deduplicates (idempotency keys).")
    {
        ArgumentNullException.ThrowIfNull(method);
        Method = method;
        FirstAttempt = firstAttempt;
    }

    /// <summary>Gets the request's method.</summary>
    public HttpMethod Method { get; }

    /// <summary>Gets what the first attempt ended with: <c>HTTP 503 Service Unavailable</c>, or the error's type and message.</summary>
    public string FirstAttempt { get; }
}
