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

/// <summary><c>POST v1/renew-expired</c>: a new SVID for an identity whose SVID expired (within the issuer's grace), authorized by
/// a proof of possession of the expired SVID's key instead of mTLS (TLS refuses an expired client certificate). See
/// <see cref="ExpiredRenewalProof"/>.</summary>
internal sealed record IssuerRenewExpiredRequest : IIssuerSvidRequest
{
    [JsonPropertyName(IssuerProtocol.SpiffeId)]
    public string? SpiffeId { get; init; }

    [JsonPropertyName(IssuerProtocol.Csr)]
    public byte[]? Csr { get; init; }

    [JsonPropertyName(IssuerProtocol.LifetimeSeconds)]
    public int? LifetimeSeconds { get; init; }

    /// <summary>Gets the expired SVID's DER certificates, leaf first, then its intermediates.</summary>
    [JsonPropertyName(IssuerProtocol.Certificates)]
    public IReadOnlyList<byte[]?>? Certificates { get; init; }

    /// <summary>Gets when the proof was signed, in Unix seconds (the issuer accepts a proof only shortly around its own clock).</summary>
    [JsonPropertyName(IssuerProtocol.ProofTime)]
    public long? ProofTime { get; init; }

    /// <summary>Gets the expired key's signature over <see cref="ExpiredRenewalProof.BuildContent"/>.</summary>
    [JsonPropertyName(IssuerProtocol.ProofSignature)]
    public byte[]? ProofSignature { get; init; }
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

/// <summary>The policy of a join token, as JSON (the <see cref="AgentPolicy"/> constructor's arguments): the one policy shape, so a
/// member it does not know (<c>Tools</c>, <c>taskId</c>) is refused rather than silently dropped from the token's policy.</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
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

/// <summary><c>POST v1/revoke</c> (operator, action <c>agentidentity:revoke</c>): revokes one certificate by serial number or
/// one identity (with its task identities) by SPIFFE ID; exactly one of the two.</summary>
internal sealed record IssuerRevokeRequest
{
    [JsonPropertyName(IssuerProtocol.SpiffeId)]
    public string? SpiffeId { get; init; }

    /// <summary>Gets the serial number, hex (as <c>X509Certificate2.SerialNumber</c>).</summary>
    [JsonPropertyName(IssuerProtocol.SerialNumber)]
    public string? SerialNumber { get; init; }

    /// <summary>Gets the RFC 5280 reason name (<c>keyCompromise</c>, <c>superseded</c>, ...); <c>unspecified</c> when absent.</summary>
    [JsonPropertyName(IssuerProtocol.Reason)]
    public string? Reason { get; init; }
}

/// <summary>The answer to <c>v1/revoke</c>: the signed feed entry that carries the revocation (the first one when it was already revoked).</summary>
internal sealed record IssuerRevokeResponse
{
    /// <summary>Gets the entry's sequence number in the revocation feed.</summary>
    [JsonPropertyName(IssuerProtocol.Sequence)]
    public long Sequence { get; init; }

    /// <summary>Gets <c>serial</c> or <c>identity</c>.</summary>
    [JsonPropertyName(IssuerProtocol.Kind)]
    public string? Kind { get; init; }

    [JsonPropertyName(IssuerProtocol.SpiffeId)]
    public string? SpiffeId { get; init; }

    [JsonPropertyName(IssuerProtocol.SerialNumber)]
    public string? SerialNumber { get; init; }

    [JsonPropertyName(IssuerProtocol.Reason)]
    public string? Reason { get; init; }

    [JsonPropertyName(IssuerProtocol.RevokedAt)]
    public DateTimeOffset RevokedAt { get; init; }

    /// <summary>Gets whether the issuer's store knows the identity or serial (an unknown identity is still revoked, ahead of time).</summary>
    [JsonPropertyName(IssuerProtocol.Known)]
    public bool Known { get; init; }
}

/// <summary>The answer to <c>GET v1/status?id=</c> (operator, action <c>agentidentity:status</c>): what the issuer knows of an identity.</summary>
internal sealed record IssuerStatusResponse
{
    [JsonPropertyName(IssuerProtocol.SpiffeId)]
    public string? SpiffeId { get; init; }

    /// <summary>Gets whether the store has enrolled (or delegated) the identity.</summary>
    [JsonPropertyName(IssuerProtocol.Enrolled)]
    public bool Enrolled { get; init; }

    [JsonPropertyName(IssuerProtocol.EnrolledAt)]
    public DateTimeOffset? EnrolledAt { get; init; }

    /// <summary>Gets the parent of a delegated task identity.</summary>
    [JsonPropertyName(IssuerProtocol.ParentId)]
    public string? ParentId { get; init; }

    /// <summary>Gets the revocation that covers the identity (itself or an ancestor), or <see langword="null"/>.</summary>
    [JsonPropertyName(IssuerProtocol.Revocation)]
    public IssuerRevokeResponse? Revocation { get; init; }

    /// <summary>Gets whether the store can list certificates and descendants; when <see langword="false"/> the lists are absent.</summary>
    [JsonPropertyName(IssuerProtocol.CertificatesRecorded)]
    public bool CertificatesRecorded { get; init; }

    /// <summary>Gets how many certificates the issuer recorded for the identity (the list holds the newest ones).</summary>
    [JsonPropertyName(IssuerProtocol.CertificateCount)]
    public long? CertificateCount { get; init; }

    /// <summary>Gets the serial number of the current certificate: the newest one that is neither expired nor revoked.</summary>
    [JsonPropertyName(IssuerProtocol.Current)]
    public string? Current { get; init; }

    /// <summary>Gets the recorded certificates, newest first.</summary>
    [JsonPropertyName(IssuerProtocol.Certificates)]
    public IReadOnlyList<IssuerStatusCertificate>? Certificates { get; init; }

    /// <summary>Gets the identities below it (task identities), as far as the store records them.</summary>
    [JsonPropertyName(IssuerProtocol.Descendants)]
    public IReadOnlyList<IssuerStatusDescendant>? Descendants { get; init; }
}

/// <summary>One certificate in <see cref="IssuerStatusResponse"/>.</summary>
internal sealed record IssuerStatusCertificate
{
    [JsonPropertyName(IssuerProtocol.SerialNumber)]
    public string? SerialNumber { get; init; }

    /// <summary>Gets how it was obtained: <c>enroll</c>, <c>renew</c> or <c>delegate</c>.</summary>
    [JsonPropertyName(IssuerProtocol.Kind)]
    public string? Kind { get; init; }

    [JsonPropertyName(IssuerProtocol.NotBefore)]
    public DateTimeOffset NotBefore { get; init; }

    [JsonPropertyName(IssuerProtocol.NotAfter)]
    public DateTimeOffset NotAfter { get; init; }

    [JsonPropertyName(IssuerProtocol.IssuedAt)]
    public DateTimeOffset IssuedAt { get; init; }

    /// <summary>Gets <c>current</c>, <c>valid</c> (superseded by a newer one), <c>expired</c> or <c>revoked</c>.</summary>
    [JsonPropertyName(IssuerProtocol.State)]
    public string? State { get; init; }
}

/// <summary>One descendant in <see cref="IssuerStatusResponse"/>.</summary>
internal sealed record IssuerStatusDescendant
{
    [JsonPropertyName(IssuerProtocol.SpiffeId)]
    public string? SpiffeId { get; init; }

    [JsonPropertyName(IssuerProtocol.ParentId)]
    public string? ParentId { get; init; }

    /// <summary>Gets whether a revocation covers it.</summary>
    [JsonPropertyName(IssuerProtocol.Revoked)]
    public bool Revoked { get; init; }
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
