using Grpc.Core;

namespace AgentIdentity.Spiffe;

/// <summary>The Workload API sent a message that breaks the spec (an empty required field, bad DER, a key that does not match,
/// an unknown hint). The message was discarded; the previous state stays in use.</summary>
public sealed class WorkloadApiResponseException : FormatException
{
    /// <summary>Initializes a new instance of the <see cref="WorkloadApiResponseException"/> class.</summary>
    /// <param name="message">What is wrong with the response.</param>
    /// <param name="innerException">The cause, if any.</param>
    public WorkloadApiResponseException(string message, Exception? innerException = null)
        : base(message, innerException)
    {
    }
}

/// <summary>A Workload API call failed with a gRPC status the spec does not retry (<c>InvalidArgument</c>,
/// <c>Unimplemented</c>), or a one-shot call failed.</summary>
public sealed class WorkloadApiException : AgentIdentityException
{
    /// <summary>Initializes a new instance of the <see cref="WorkloadApiException"/> class.</summary>
    /// <param name="message">What failed and what to do.</param>
    /// <param name="statusCode">The gRPC status code.</param>
    /// <param name="innerException">The cause, if any.</param>
    public WorkloadApiException(string message, StatusCode statusCode, Exception? innerException = null)
        : base(message, innerException)
    {
        StatusCode = statusCode;
    }

    /// <summary>Gets the gRPC status code the server returned.</summary>
    public StatusCode StatusCode { get; }
}
