using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography.X509Certificates;

namespace AgentIdentity;

/// <summary>The outcome of validating a presented certificate chain as an X.509-SVID: an expected result, not an exception.</summary>
public sealed class X509SvidValidationResult
{
    private X509SvidValidationResult(SpiffeId id, X509SvidValidationError error, string? reason, IReadOnlyList<X509Certificate2> chain)
    {
        Id = id;
        Error = error;
        Reason = reason;
        VerifiedChain = chain;
    }

    /// <summary>Gets a value indicating whether the chain is a valid X.509-SVID.</summary>
    [MemberNotNullWhen(false, nameof(Reason))]
    public bool IsValid => Error == X509SvidValidationError.None;

    /// <summary>Gets the SPIFFE ID of the leaf; empty when it could not be read.</summary>
    public SpiffeId Id { get; }

    /// <summary>Gets the rule the chain breaks, or <see cref="X509SvidValidationError.None"/>.</summary>
    public X509SvidValidationError Error { get; }

    /// <summary>Gets a description of the failure that names the certificate and the rule; <see langword="null"/> when valid.</summary>
    public string? Reason { get; }

    /// <summary>Gets the verified chain from the leaf to the trusted root; empty when invalid.</summary>
    public IReadOnlyList<X509Certificate2> VerifiedChain { get; }

    /// <summary>Throws an <see cref="X509SvidValidationException"/> when the chain is invalid.</summary>
    /// <returns>The validated SPIFFE ID.</returns>
    /// <exception cref="X509SvidValidationException">The chain is invalid.</exception>
    public SpiffeId ThrowIfInvalid() => IsValid ? Id : throw new X509SvidValidationException(Error, Reason);

    internal static X509SvidValidationResult Success(SpiffeId id, IReadOnlyList<X509Certificate2> chain) =>
        new(id, X509SvidValidationError.None, null, chain);

    internal static X509SvidValidationResult Failure(X509SvidValidationError error, string reason, SpiffeId id = default) =>
        new(id, error, reason, []);
}
