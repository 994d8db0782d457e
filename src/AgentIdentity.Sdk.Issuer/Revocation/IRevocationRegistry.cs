using System.Security.Cryptography.X509Certificates;

namespace AgentIdentity;

/// <summary>
/// The issuer's revocation registry: what is revoked, in a signed and sequenced feed, plus the CRL and the status an OCSP
/// responder answers with.
/// </summary>
/// <remarks>
/// <para>Three things can be revoked:</para>
/// <list type="bullet">
/// <item>a certificate, by serial number (<see cref="RevokeCertificateAsync"/>);</item>
/// <item>an agent identity (<see cref="RevokeIdentityAsync"/>): every certificate of that SPIFFE ID, of every ID below it (task
/// identities are <c>&lt;parent&gt;/task/&lt;id&gt;</c>), and of every certificate whose delegation chain names it;</item>
/// <item>a whole trust domain, in an emergency, is not an entry: <b>rotate the intermediate</b> (issue from a new intermediate CA,
/// publish the new bundle, and stop trusting the old one), because every certificate it ever signed must go at once.</item>
/// </list>
/// <para>Implementations must be thread-safe. Revocations are permanent.</para>
/// </remarks>
public interface IRevocationRegistry : IIdentityRevoker
{
    /// <summary>Gets the trust domain the registry's issuer serves.</summary>
    TrustDomain TrustDomain { get; }

    /// <summary>Gets the feed-signer certificate (public part) that subscribers verify entries with.</summary>
    X509Certificate2 SignerCertificate { get; }

    /// <summary>Gets the sequence number of the newest entry; 0 when nothing is revoked.</summary>
    long LastSequence { get; }

    /// <summary>Gets the log ID (epoch) its entries carry, 32 hex digits; a new one whenever the numbering restarts (a new or reset
    /// registry). <see langword="null"/> for a registry whose entries carry none (version 1).</summary>
    string? LogId => null;

    /// <summary>Revokes one certificate by serial number. Revoking the same serial twice returns the first entry.</summary>
    /// <param name="serialNumber">The serial number, hex (as <see cref="X509Certificate2.SerialNumber"/>).</param>
    /// <param name="reason">The RFC 5280 reason.</param>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <returns>The signed feed entry.</returns>
    /// <exception cref="FormatException">The serial number is not hex.</exception>
    ValueTask<RevocationEntry> RevokeCertificateAsync(string serialNumber, X509RevocationReason reason = X509RevocationReason.Unspecified, CancellationToken cancellationToken = default);

    /// <summary>Revokes an identity with all its certificates and delegated descendants. Revoking it twice returns the first entry.</summary>
    /// <param name="id">A SPIFFE ID with a path, in <see cref="TrustDomain"/>.</param>
    /// <param name="reason">The RFC 5280 reason.</param>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <returns>The signed feed entry.</returns>
    /// <exception cref="ArgumentException">The ID is empty, in another trust domain, or a trust domain ID (rotate the intermediate instead).</exception>
    ValueTask<RevocationEntry> RevokeIdentityAsync(SpiffeId id, X509RevocationReason reason = X509RevocationReason.Unspecified, CancellationToken cancellationToken = default);

    /// <summary>Records an issued certificate so that identity revocations reach the CRL and OCSP, which only know serial numbers.</summary>
    /// <param name="certificate">The issued certificate.</param>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <returns>A task that completes when recorded.</returns>
    ValueTask RecordIssuedAsync(X509Certificate2 certificate, CancellationToken cancellationToken = default);

    /// <summary>Gets the entries after <paramref name="afterSequence"/>, in sequence order, without gaps.</summary>
    /// <param name="afterSequence">The last sequence number the caller has; 0 for all.</param>
    /// <param name="maxCount">The most entries to return.</param>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <returns>The entries.</returns>
    ValueTask<IReadOnlyList<RevocationEntry>> GetEntriesAsync(long afterSequence, int maxCount, CancellationToken cancellationToken = default);

    /// <summary>Completes when an entry after <paramref name="afterSequence"/> exists: the push signal of the feed.</summary>
    /// <param name="afterSequence">The last sequence number the caller has.</param>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <returns>A task that completes when there is something new.</returns>
    Task WaitForEntriesAsync(long afterSequence, CancellationToken cancellationToken = default);

    /// <summary>Gets the revocation that covers a certificate serial number (directly or through its identity).</summary>
    /// <param name="serialNumber">The serial number, hex.</param>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <returns>The covering entry, or <see langword="null"/> when the certificate is not revoked.</returns>
    ValueTask<RevocationEntry?> GetCertificateRevocationAsync(string serialNumber, CancellationToken cancellationToken = default);

    /// <summary>Gets whether the issuer issued (recorded) a certificate with this serial number: OCSP answers <c>unknown</c> otherwise.</summary>
    /// <param name="serialNumber">The serial number, hex.</param>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <returns><see langword="true"/> when issued; the default implementation cannot tell and answers <see langword="true"/>.</returns>
    ValueTask<bool> IsIssuedAsync(string serialNumber, CancellationToken cancellationToken = default) => ValueTask.FromResult(true);

    /// <summary>Gets the revocation that covers an identity (itself or an ancestor path).</summary>
    /// <param name="id">The identity.</param>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <returns>The covering entry, or <see langword="null"/>.</returns>
    ValueTask<RevocationEntry?> GetIdentityRevocationAsync(SpiffeId id, CancellationToken cancellationToken = default);

    /// <summary>Gets the current CRL (DER, RFC 5280), regenerated on each revocation and before its <c>nextUpdate</c>.</summary>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <returns>The DER CRL.</returns>
    ValueTask<byte[]> GetCrlAsync(CancellationToken cancellationToken = default);

    /// <inheritdoc/>
    async ValueTask IIdentityRevoker.RevokeAsync(SpiffeId id, X509RevocationReason reason, CancellationToken cancellationToken) =>
        await RevokeIdentityAsync(id, reason, cancellationToken).ConfigureAwait(false);
}
