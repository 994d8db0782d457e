namespace AgentIdentity.Issuer;

/// <summary>
/// The issuer's durable state: the encrypted CA keys, join tokens (hashed), enrolled identities and issued certificates.
/// Several issuer replicas may share one store (PostgreSQL); every method is then atomic across replicas.
/// </summary>
/// <remarks>Implementations are thread-safe. Failures to reach the database surface as <see cref="IssuerStoreUnavailableException"/>.</remarks>
internal interface IIssuerStore
{
    /// <summary>Creates the schema when missing.</summary>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <returns>A task that completes when the store is ready.</returns>
    Task InitializeAsync(CancellationToken cancellationToken = default);

    /// <summary>Gets every stored certificate authority (active, prepared for rotation, or retired), oldest first.</summary>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <returns>The authorities.</returns>
    Task<IReadOnlyList<StoredCertificateAuthority>> GetCertificateAuthoritiesAsync(CancellationToken cancellationToken = default);

    /// <summary>Adds a certificate authority unless one with the same <see cref="StoredCertificateAuthority.Id"/> exists, or,
    /// when it is <see cref="CertificateAuthorityState.Active"/>, unless another active one exists (another replica won the race).</summary>
    /// <param name="authority">The authority, keys encrypted.</param>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <returns><see langword="true"/> when added.</returns>
    Task<bool> TryAddCertificateAuthorityAsync(StoredCertificateAuthority authority, CancellationToken cancellationToken = default);

    /// <summary>Sets the state of a certificate authority (rotation: prepared → active, active → retired) in one transaction.</summary>
    /// <param name="changes">The authority ids and their new states.</param>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <returns>A task that completes when the change is durable.</returns>
    Task SetCertificateAuthorityStatesAsync(IReadOnlyList<KeyValuePair<string, CertificateAuthorityState>> changes, CancellationToken cancellationToken = default);

    /// <summary>Stores a new join token (only its hash).</summary>
    /// <param name="token">The token record.</param>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <returns>A task that completes when the token is durable.</returns>
    Task AddJoinTokenAsync(JoinTokenRecord token, CancellationToken cancellationToken = default);

    /// <summary>Finds a join token by the SHA-256 of its value.</summary>
    /// <param name="tokenHash">The SHA-256 of the token's UTF-8 bytes.</param>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <returns>The record, or <see langword="null"/>.</returns>
    Task<JoinTokenRecord?> FindJoinTokenAsync(byte[] tokenHash, CancellationToken cancellationToken = default);

    /// <summary>
    /// Atomically redeems a join token and records the enrollment: marks the token used (only when it is unused and unexpired
    /// at <paramref name="now"/>), adds or replaces the identity and records the certificate. All or nothing.
    /// </summary>
    /// <param name="tokenHash">The token's SHA-256.</param>
    /// <param name="now">The redemption time.</param>
    /// <param name="identity">The enrolled identity.</param>
    /// <param name="certificate">The issued certificate.</param>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <returns><see langword="true"/> when this call redeemed the token; <see langword="false"/> when it was already used or expired
    /// (nothing is written).</returns>
    Task<bool> RedeemJoinTokenAsync(byte[] tokenHash, DateTimeOffset now, IdentityRecord identity, IssuedCertificateRecord certificate, CancellationToken cancellationToken = default);

    /// <summary>Finds an enrolled identity.</summary>
    /// <param name="spiffeId">The SPIFFE ID.</param>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <returns>The record, or <see langword="null"/>.</returns>
    Task<IdentityRecord?> FindIdentityAsync(string spiffeId, CancellationToken cancellationToken = default);

    /// <summary>Records a renewal or delegation: adds or replaces <paramref name="identity"/> (when given) and adds the certificate, atomically.</summary>
    /// <param name="identity">The identity to add or replace (a delegated task), or <see langword="null"/>.</param>
    /// <param name="certificate">The issued certificate.</param>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <returns>A task that completes when the record is durable.</returns>
    Task RecordIssuanceAsync(IdentityRecord? identity, IssuedCertificateRecord certificate, CancellationToken cancellationToken = default);

    /// <summary>Finds an issued certificate by serial number.</summary>
    /// <param name="serialNumber">The serial number, hex.</param>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <returns>The record, or <see langword="null"/>.</returns>
    Task<IssuedCertificateRecord?> FindCertificateAsync(string serialNumber, CancellationToken cancellationToken = default);

    /// <summary>Checks that the store answers (the issuer's health check): one cheap round trip, nothing written.</summary>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <returns>A task that completes when the store answered.</returns>
    /// <exception cref="IssuerStoreUnavailableException">The store is unreachable.</exception>
    Task PingAsync(CancellationToken cancellationToken = default) => FindCertificateAsync("00", cancellationToken);

    /// <summary>Counts the issued certificates.</summary>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <returns>The count.</returns>
    Task<long> CountCertificatesAsync(CancellationToken cancellationToken = default);
}

/// <summary>The state of a stored certificate authority.</summary>
internal enum CertificateAuthorityState
{
    /// <summary>Signs SVIDs.</summary>
    Active = 0,

    /// <summary>Generated for a rotation: its root is already in the bundle, it does not sign yet.</summary>
    Prepared = 1,

    /// <summary>Replaced: it no longer signs; its root stays in the bundle until <see cref="StoredCertificateAuthority.NotAfter"/>.</summary>
    Retired = 2,
}

/// <summary>A certificate authority at rest: certificates in DER, keys as PKCS#8 EncryptedPrivateKeyInfo.</summary>
/// <param name="Id">A unique id.</param>
/// <param name="State">The state.</param>
/// <param name="RootCertificate">The root certificate, DER.</param>
/// <param name="EncryptedRootKey">The root key, PKCS#8 EncryptedPrivateKeyInfo (PBES2, AES-256-CBC, PBKDF2-SHA256).</param>
/// <param name="IntermediateCertificate">The intermediate certificate, DER.</param>
/// <param name="EncryptedIntermediateKey">The intermediate key, encrypted like the root's.</param>
/// <param name="CreatedAt">When it was generated.</param>
/// <param name="NotAfter">When the root expires.</param>
internal sealed record StoredCertificateAuthority(
    string Id,
    CertificateAuthorityState State,
    byte[] RootCertificate,
    byte[] EncryptedRootKey,
    byte[] IntermediateCertificate,
    byte[] EncryptedIntermediateKey,
    DateTimeOffset CreatedAt,
    DateTimeOffset NotAfter);

/// <summary>A join token at rest: its hash, never its value.</summary>
/// <param name="TokenHash">The SHA-256 of the token's UTF-8 bytes.</param>
/// <param name="AgentName">The agent name it may enroll (<c>spiffe://td/agent/&lt;name&gt;/&lt;instance&gt;</c>).</param>
/// <param name="Policy">The policy the enrolled SVIDs carry, DER; <see langword="null"/> for none.</param>
/// <param name="CreatedAt">When it was created.</param>
/// <param name="ExpiresAt">When it expires.</param>
/// <param name="RedeemedAt">When it was redeemed, or <see langword="null"/>.</param>
/// <param name="RedeemedBy">The SPIFFE ID it enrolled, or <see langword="null"/>.</param>
internal sealed record JoinTokenRecord(
    byte[] TokenHash,
    string AgentName,
    byte[]? Policy,
    DateTimeOffset CreatedAt,
    DateTimeOffset ExpiresAt,
    DateTimeOffset? RedeemedAt,
    string? RedeemedBy)
{
    /// <summary>Gets the enrolled instance the token is bound to (re-enrollment of that instance, for example after its SVID
    /// expired), or <see langword="null"/> for a token that enrolls one new instance.</summary>
    public string? BoundSpiffeId { get; init; }
}

/// <summary>An identity the issuer has enrolled (by join token) or delegated; renewals are checked against it.</summary>
/// <param name="SpiffeId">The SPIFFE ID.</param>
/// <param name="Policy">Its policy, DER; <see langword="null"/> for none.</param>
/// <param name="ParentId">The parent's SPIFFE ID for a delegated task identity; otherwise <see langword="null"/>.</param>
/// <param name="EnrolledAt">When it was enrolled.</param>
/// <param name="Revoked">Whether it is revoked (renewal refused).</param>
internal sealed record IdentityRecord(string SpiffeId, byte[]? Policy, string? ParentId, DateTimeOffset EnrolledAt, bool Revoked);

/// <summary>A certificate the issuer signed.</summary>
/// <param name="SerialNumber">The serial number, hex.</param>
/// <param name="SpiffeId">The certified SPIFFE ID.</param>
/// <param name="Kind">How it was obtained: <c>enroll</c>, <c>renew</c> or <c>delegate</c>.</param>
/// <param name="NotBefore">The start of validity.</param>
/// <param name="NotAfter">The end of validity.</param>
/// <param name="IssuedAt">When it was issued.</param>
/// <param name="Certificate">The certificate, DER.</param>
internal sealed record IssuedCertificateRecord(string SerialNumber, string SpiffeId, string Kind, DateTimeOffset NotBefore, DateTimeOffset NotAfter, DateTimeOffset IssuedAt, byte[] Certificate);

/// <summary>The issuer's database cannot be reached or failed; nothing was written.</summary>
public sealed class IssuerStoreUnavailableException : AgentIdentityException
{
    /// <summary>Initializes a new instance of the <see cref="IssuerStoreUnavailableException"/> class.</summary>
    /// <param name="message">What failed.</param>
    /// <param name="innerException">The database error.</param>
    public IssuerStoreUnavailableException(string message, Exception? innerException = null)
        : base(message, innerException)
    {
    }
}
