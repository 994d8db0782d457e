using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Primitives;

namespace AgentIdentity;

/// <summary>Supplies the current X.509-SVID of one identity.</summary>
public interface IX509SvidSource
{
    /// <summary>Gets the current X.509-SVID.</summary>
    /// <returns>The newest valid <see cref="X509Svid"/>. Never <see langword="null"/> and never expired.</returns>
    /// <exception cref="IdentityUnavailableException">No valid SVID exists: it has not been issued yet, or it expired while the issuer was unreachable;
    /// <see cref="IdentityRevokedException"/> (a subclass) when the identity is revoked and its kill switch has tripped.</exception>
    /// <remarks>Thread-safe and non-blocking; the returned snapshot is immutable. Subscribe to
    /// <see cref="X509Svid.ChangeToken"/> to learn when it is superseded.</remarks>
    X509Svid GetCurrent();
}

/// <summary>
/// An immutable X.509-SVID snapshot: the leaf certificate with its private key, the intermediates to present with it, the
/// SPIFFE ID, the validity window, and a change token that fires when a rotation supersedes it.
/// </summary>
/// <remarks>
/// <para>A snapshot is owned by whoever created it, and only the owner ends it: code that is handed a snapshot (by
/// <see cref="IX509SvidSource.GetCurrent"/>, <c>AgentCallContext.Current.Svid</c>, a callback) can neither dispose it nor mark it
/// superseded, so tool code cannot break the agent's live credential. Credential sources (<see cref="AgentCredential"/>, the
/// SPIFFE Workload API source, your own) create snapshots through an <see cref="X509SvidOwner"/>, which fires
/// <see cref="ChangeToken"/> and releases the private key. A snapshot created with the constructor leaves the certificate to its
/// caller: dispose that certificate when nothing uses the SVID any more (or create it through an <see cref="X509SvidOwner"/>).</para>
/// <para>A fixed SVID is its own <see cref="IX509SvidSource"/>. The private key lives only in this process; it is never written to
/// disk unencrypted and never logged. Thread-safe.</para>
/// </remarks>
#pragma warning disable CA1001 // Owned, not disposable: only its owner (X509SvidOwner, AgentCredential) releases it, through Release().
public sealed class X509Svid : IX509SvidSource
#pragma warning restore CA1001
{
    private readonly CancellationTokenSource _superseded = new();
    private readonly X509Certificate2[] _intermediates;
    private byte[]? _sha256;
    private AgentPolicy? _effectivePolicy;

    /// <summary>Initializes a new instance of the <see cref="X509Svid"/> class and checks it against the X.509-SVID profile.</summary>
    /// <param name="certificate">The leaf certificate, with its private key. The caller keeps owning it (the snapshot never disposes it).</param>
    /// <param name="intermediates">The intermediates to present with the leaf, leaf excluded; may be empty.</param>
    /// <exception cref="ArgumentException">The leaf has no private key, breaks the X.509-SVID leaf profile, or an intermediate is not a CA certificate.</exception>
    public X509Svid(X509Certificate2 certificate, IEnumerable<X509Certificate2>? intermediates = null)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        if (!certificate.HasPrivateKey)
        {
            throw new ArgumentException($"Certificate with serial {certificate.SerialNumber} has no private key; an X.509-SVID must carry one.", nameof(certificate));
        }

        var error = SvidProfile.CheckLeaf(certificate, out var id, out var reason);
        if (error != X509SvidValidationError.None)
        {
            throw new ArgumentException($"Certificate with serial {certificate.SerialNumber} is not a valid X.509-SVID leaf: {reason}.", nameof(certificate));
        }

        _intermediates = intermediates is null ? [] : [.. intermediates];
        foreach (var intermediate in _intermediates)
        {
            if (!SvidProfile.IsSigningCertificate(intermediate))
            {
                throw new ArgumentException($"Intermediate '{intermediate.Subject}' is not a CA certificate (cA=true, keyCertSign).", nameof(intermediates));
            }
        }

        try
        {
            Policy = AgentPolicyExtension.ReadPolicy(certificate);
            DelegationChain = AgentPolicyExtension.ReadDelegationChain(certificate);
        }
        catch (PolicyFormatException ex)
        {
            throw new ArgumentException($"Certificate with serial {certificate.SerialNumber} carries a malformed policy: {ex.Message}", nameof(certificate), ex);
        }

        if (DelegationChain is not null && Policy is null)
        {
            throw new ArgumentException($"Certificate with serial {certificate.SerialNumber} carries a delegation chain but no policy; a task identity must have one.", nameof(certificate));
        }

        Id = id;
        Certificate = certificate;
        NotBefore = new DateTimeOffset(certificate.NotBefore.ToUniversalTime());
        NotAfter = new DateTimeOffset(certificate.NotAfter.ToUniversalTime());
        NotAfterUtcTicks = NotAfter.UtcTicks;
        ChangeToken = new CancellationChangeToken(_superseded.Token);
    }

    /// <summary>Gets the SPIFFE ID.</summary>
    public SpiffeId Id { get; }

    /// <summary>Gets the leaf certificate, with its private key.</summary>
    public X509Certificate2 Certificate { get; }

    /// <summary>Gets the intermediates to present with the leaf (leaf excluded, root excluded).</summary>
    public IReadOnlyList<X509Certificate2> Intermediates => _intermediates;

    /// <summary>Gets the start of the validity window.</summary>
    public DateTimeOffset NotBefore { get; }

    /// <summary>Gets the end of the validity window.</summary>
    public DateTimeOffset NotAfter { get; }

    /// <summary>Gets the leaf's serial number as uppercase hex.</summary>
    public string SerialNumber => Certificate.SerialNumber;

    /// <summary>Gets the SHA-256 hash of the leaf's DER encoding: the RFC 8705 <c>x5t#S256</c> thumbprint before base64url.</summary>
    /// <returns>A copy of the 32-byte hash.</returns>
    public byte[] GetCertificateHash() => (byte[])Sha256.Clone();

    /// <summary>Gets the SHA-256 thumbprint of the leaf as lowercase hex.</summary>
    public string Thumbprint => Convert.ToHexStringLower(Sha256);

    /// <summary>Gets a change token that fires when this snapshot is superseded by a rotation (or its source is disposed).</summary>
    public IChangeToken ChangeToken { get; }

    /// <summary>Gets the policy embedded in the leaf, or <see langword="null"/> when it carries none.</summary>
    public AgentPolicy? Policy { get; }

    /// <summary>Gets the ancestors of a task identity (root first), or <see langword="null"/> for an agent's own SVID.</summary>
    public DelegationChain? DelegationChain { get; }

    /// <summary>Gets what this SVID may actually do: its policy intersected with every ancestor's (with its own task id), or
    /// <see langword="null"/> when it carries no policy.</summary>
    public AgentPolicy? EffectivePolicy => _effectivePolicy ??= DelegationChain is { } chain && Policy is { } policy ? chain.ComputeEffectivePolicy(policy) : Policy;

    /// <summary>Gets a value indicating whether a newer snapshot has replaced this one.</summary>
    public bool IsSuperseded => _superseded.IsCancellationRequested;

    internal long NotAfterUtcTicks { get; }

    private byte[] Sha256 => _sha256 ??= Certificate.GetCertHash(HashAlgorithmName.SHA256);

    /// <summary>Gets the remaining lifetime at <paramref name="now"/>.</summary>
    /// <param name="now">The current time.</param>
    /// <returns>The time until <see cref="NotAfter"/>; zero or negative once expired.</returns>
    public TimeSpan GetRemainingLifetime(DateTimeOffset now) => NotAfter - now;

    /// <summary>Gets a value indicating whether the SVID is expired at <paramref name="now"/>.</summary>
    /// <param name="now">The current time.</param>
    /// <returns><see langword="true"/> when <paramref name="now"/> is at or after <see cref="NotAfter"/>.</returns>
    public bool IsExpired(DateTimeOffset now) => now.UtcTicks >= NotAfterUtcTicks;

    /// <summary>Returns this snapshot.</summary>
    /// <returns>This instance.</returns>
    public X509Svid GetCurrent() => this;

    /// <summary>Builds the full chain to present, leaf first.</summary>
    /// <returns>A new collection: the leaf followed by the intermediates.</returns>
    public X509Certificate2Collection GetChain()
    {
        var chain = new X509Certificate2Collection(Certificate);
        chain.AddRange(_intermediates);
        return chain;
    }

    /// <summary>Exports the leaf and intermediates as PEM (public certificates only; the private key is never exported).</summary>
    /// <returns>Concatenated PEM certificates, leaf first.</returns>
    public string ExportCertificatesPem()
    {
        var builder = new System.Text.StringBuilder();
        builder.Append(Certificate.ExportCertificatePem()).Append('\n');
        foreach (var intermediate in _intermediates)
        {
            builder.Append(intermediate.ExportCertificatePem()).Append('\n');
        }

        return builder.ToString();
    }

    /// <summary>Fires <see cref="ChangeToken"/> without releasing the private key. Only the owner calls it
    /// (<see cref="X509SvidOwner.MarkSuperseded"/>, <see cref="AgentCredential"/>).</summary>
    /// <remarks>Idempotent. Callbacks that throw do not stop the rotation.</remarks>
    internal void Supersede()
    {
        try
        {
            _superseded.Cancel();
        }
        catch (AggregateException)
        {
            // A subscriber's callback failed; the rotation itself stands.
        }
        catch (ObjectDisposedException)
        {
            // Already disposed: the token has fired.
        }
    }

    /// <summary>Fires the change token and releases the private key. Only the owner calls it (<see cref="X509SvidOwner.Dispose"/>,
    /// <see cref="AgentCredential"/>), when no connection or request still uses this snapshot.</summary>
    internal void Release()
    {
        Supersede();
        _superseded.Dispose();
        Certificate.Dispose();
    }

    /// <inheritdoc/>
    public override string ToString() => $"{Id} (serial {SerialNumber}, valid {NotBefore:O} to {NotAfter:O})";
}
