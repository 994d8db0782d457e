using System.Diagnostics.CodeAnalysis;

namespace AgentIdentity.AspNetCore;

/// <summary>
/// Says whether a validated agent certificate has been revoked. The AgentIdentity handler asks it on <b>every</b> request,
/// cache hits included, so an agent revoked a moment ago is refused on its next request over an open connection.
/// </summary>
/// <remarks>
/// Implementations must be thread-safe, non-blocking and O(1): look the serial number and SPIFFE ID up in an in-memory set
/// that a revocation feed keeps current. Never make a network call here. Register one in DI or set
/// <see cref="AgentIdentityAuthenticationOptions.RevocationChecker"/>; without one nothing is treated as revoked.
/// </remarks>
public interface IAgentRevocationChecker
{
    /// <summary>Checks <paramref name="caller"/>.</summary>
    /// <param name="caller">The validated caller: SPIFFE ID, serial number, verified chain.</param>
    /// <param name="reason">When revoked, why (logged, never sent to the client).</param>
    /// <returns><see langword="true"/> when the certificate or identity is revoked.</returns>
    bool IsRevoked(AgentCaller caller, [NotNullWhen(true)] out string? reason);
}
