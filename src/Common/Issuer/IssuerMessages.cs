using System.Text.Json.Serialization;

namespace AgentIdentity;

// The issuer's wire records: the client (AgentIdentity.Sdk) writes the requests and reads the responses, the issuer
// (AgentIdentity.Sdk.Issuer) does the opposite, both through IssuerJsonContext. Every member is optional on the wire, so that
// the issuer, not the serializer, answers a missing or mistyped member with its specific problem details; base64 members are
// byte arrays (System.Text.Json reads and writes standard base64).

/// <summary>The members every SVID request carries.</summary>
internal interface IIssuerSvidRequest
{
    /// <summary>Gets the requested SPIFFE ID.</summary>
    string? SpiffeId { get; }

    /// <summary>Gets the DER PKCS#10 certificate signing request (base64 on the wire).</summary>
    byte[]? Csr { get; }

    /// <summary>Gets the requested lifetime in seconds; the issuer shortens it to its maximum.</summary>
    int? LifetimeSeconds { get; }
}

/// <summary><c>POST v1/issue</c>: the first SVID of an agent instance, authorized by a one-time join token.</summary>
internal sealed record IssuerEnrollRequest : IIssuerSvidRequest
{
    [JsonPropertyName(IssuerProtocol.SpiffeId)]
    public string? SpiffeId { get; init; }

    [JsonPropertyName(IssuerProtocol.Csr)]
    public byte[]? Csr { get; init; }

    [JsonPropertyName(IssuerProtocol.LifetimeSeconds)]
    public int? LifetimeSeconds { get; init; }

    [JsonPropertyName(IssuerProtocol.JoinToken)]
    public string? JoinToken { get; init; }
}

/// <summary><c>POST v1/renew</c>: a new SVID for the identity of the client certificate (mTLS with the current SVID).</summary>
internal sealed record IssuerRenewRequest : IIssuerSvidRequest
{
    [JsonPropertyName(IssuerProtocol.SpiffeId)]
    public string? SpiffeId { get; init; }

    [JsonPropertyName(IssuerProtocol.Csr)]
    public byte[]? Csr { get; init; }

    [JsonPropertyName(IssuerProtocol.LifetimeSeconds)]
    public int? LifetimeSeconds { get; init; }
}

/// <summary><c>POST v1/delegate</c>: a task identity below the client certificate's identity (mTLS with the parent SVID).</summary>
internal sealed record IssuerDelegateRequest : IIssuerSvidRequest
{
    [JsonPropertyName(IssuerProtocol.SpiffeId)]
    public string? SpiffeId { get; init; }

    [JsonPropertyName(IssuerProtocol.Csr)]
    public byte[]? Csr { get; init; }

    [JsonPropertyName(IssuerProtocol.LifetimeSeconds)]
    public int? LifetimeSeconds { get; init; }

    /// <summary>Gets the child's policy, DER (<see cref="AgentPolicy.ToDer"/>).</summary>
    [JsonPropertyName(IssuerProtocol.Policy)]
    public byte[]? Policy { get; init; }

    /// <summary>Gets the parent's <see cref="DelegationProof"/> signature over the CSR.</summary>
    [JsonPropertyName(IssuerProtocol.ProofSignature)]
    public byte[]? ProofSignature { get; init; }
}

/// <summary>The answer to <c>v1/issue</c>, <c>v1/renew</c> and <c>v1/delegate</c>.</summary>
internal sealed record IssuerIssuanceResponse
{
    [JsonPropertyName(IssuerProtocol.SpiffeId)]
    public string? SpiffeId { get; init; }

    /// <summary>Gets the DER certificates, leaf first, then the intermediates.</summary>
    [JsonPropertyName(IssuerProtocol.Certificates)]
    public IReadOnlyList<byte[]>? Certificates { get; init; }

    /// <summary>Gets the SPIFFE bundle of the trust domain, as a JSON string (<see cref="TrustBundle.ToJsonString"/>).</summary>
    [JsonPropertyName(IssuerProtocol.Bundle)]
    public string? Bundle { get; init; }

    [JsonPropertyName(IssuerProtocol.ExpiresAt)]
    public DateTimeOffset ExpiresAt { get; init; }
}

/// <summary><c>POST v1/join-tokens</c> (admin): a one-time join token for one instance of an agent.</summary>
internal sealed record IssuerJoinTokenRequest
{
    [JsonPropertyName(IssuerProtocol.AgentName)]
    public string? AgentName { get; init; }

    /// <summary>Gets how long the token stays redeemable; the issuer's default is 600 seconds.</summary>
    [JsonPropertyName(IssuerProtocol.TtlSeconds)]
    public int? TtlSeconds { get; init; }

    [JsonPropertyName(IssuerProtocol.Policy)]
    public IssuerJoinTokenPolicy? Policy { get; init; }
}

/// <summary>The policy of a join token, as JSON (the <see cref="AgentPolicy"/> constructor's arguments).</summary>
internal sealed record IssuerJoinTokenPolicy
{
    [JsonPropertyName(IssuerProtocol.Services)]
    public IReadOnlyList<string?>? Services { get; init; }

    [JsonPropertyName(IssuerProtocol.Actions)]
    public IReadOnlyList<string?>? Actions { get; init; }

    [JsonPropertyName(IssuerProtocol.Tools)]
    public IReadOnlyList<string?>? Tools { get; init; }

    [JsonPropertyName(IssuerProtocol.DelegationTargets)]
    public IReadOnlyList<string?>? DelegationTargets { get; init; }

    [JsonPropertyName(IssuerProtocol.MaxDelegationDepth)]
    public int? MaxDelegationDepth { get; init; }
}

/// <summary>The answer to <c>v1/join-tokens</c>.</summary>
internal sealed record IssuerJoinTokenResponse
{
    [JsonPropertyName(IssuerProtocol.JoinToken)]
    public string? JoinToken { get; init; }

    [JsonPropertyName(IssuerProtocol.AgentName)]
    public string? AgentName { get; init; }

    [JsonPropertyName(IssuerProtocol.ExpiresAt)]
    public DateTimeOffset ExpiresAt { get; init; }
}

/// <summary>An RFC 7807 problem (<c>application/problem+json</c>): every refusal of the issuer.</summary>
internal sealed record IssuerProblem
{
    [JsonPropertyName(IssuerProtocol.ProblemType)]
    public string? Type { get; init; }

    [JsonPropertyName(IssuerProtocol.ProblemTitle)]
    public string? Title { get; init; }

    [JsonPropertyName(IssuerProtocol.ProblemStatus)]
    public int? Status { get; init; }

    [JsonPropertyName(IssuerProtocol.ProblemDetail)]
    public string? Detail { get; init; }
}
