using System.Security.Cryptography.X509Certificates;

namespace AgentIdentity;

/// <summary>
/// Revokes an identity with all its certificates and delegated descendants: the seam a credential uses to revoke its finished task
/// identities. The issuer's revocation registry implements it in process (the Issuer package's <c>IRevocationRegistry</c>).
/// </summary>
/// <remarks>Implementations are thread-safe; revoking the same identity twice is not an error.</remarks>
public interface IIdentityRevoker
{
    /// <summary>Revokes <paramref name="id"/> and everything delegated from it.</summary>
    /// <param name="id">The identity to revoke.</param>
    /// <param name="reason">The RFC 5280 reason.</param>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <returns>A task that completes once the revocation is durable.</returns>
    ValueTask RevokeAsync(SpiffeId id, X509RevocationReason reason, CancellationToken cancellationToken = default);
}
