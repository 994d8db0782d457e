using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;

namespace AgentIdentity.Issuer;

/// <summary>
/// The issuer service's core, shared by its HTTP endpoints: the certificate authority (loaded from the store, or generated and
/// stored encrypted on first start), join-token creation, the trust bundle and the issuer's own server SVID.
/// </summary>
/// <remarks>Thread-safe. Registered as a singleton by <c>services.AddAgentIdentityIssuer()</c> and started by a hosted service
/// before the server listens.</remarks>
public sealed class AgentIdentityIssuer : IDisposable
{
    /// <summary>The path of the issuer's own SPIFFE ID under its trust domain.</summary>
    public const string ServerPath = "/agent-identity/issuer";

    private readonly AgentIdentityIssuerOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _startLock = new(1, 1);
    private readonly SemaphoreSlim _reloadLock = new(1, 1);
    private readonly object _serverLock = new();
    private volatile CaState? _state;
    private ServerCredential? _server;

    internal AgentIdentityIssuer(AgentIdentityIssuerOptions options, IIssuerStore store, TimeProvider time, ILogger logger)
    {
        if (options.Validate() is { } error)
        {
            throw new InvalidOperationException(error);
        }

        _options = options;
        Store = store;
        _time = time;
        _logger = logger;
        TrustDomain = AgentIdentity.TrustDomain.Parse(options.TrustDomain!);
        ServerId = SpiffeId.Parse(TrustDomain.Id + ServerPath);
    }

    /// <summary>Gets the trust domain.</summary>
    public TrustDomain TrustDomain { get; }

    /// <summary>Gets the issuer's own SPIFFE ID (<c>spiffe://&lt;td&gt;/agent-identity/issuer</c>), in its server certificate.</summary>
    public SpiffeId ServerId { get; }

    /// <summary>Gets the store.</summary>
    internal IIssuerStore Store { get; }

    internal AgentIdentityIssuerOptions Options => _options;

    internal TimeProvider Time => _time;

    internal ILogger Logger => _logger;

    /// <summary>Gets the current trust bundle: the roots of the active CA and of any CA prepared for, or retired by, a rotation.</summary>
    /// <returns>The bundle.</returns>
    /// <exception cref="InvalidOperationException">The issuer has not started.</exception>
    public TrustBundle GetBundle() => State.Bundle;

    /// <summary>Validates an SVID of this trust domain (a client certificate that arrived without intermediates) against the
    /// issuer's CAs and bundle, at the issuer's current time. Services embedded next to the issuer use it to authenticate agents.</summary>
    /// <param name="certificate">The leaf certificate.</param>
    /// <returns>The validation result: the SPIFFE ID, or why it is not valid.</returns>
    /// <exception cref="InvalidOperationException">The issuer has not started.</exception>
    public X509SvidValidationResult ValidateSvid(X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        var state = State;
        return X509SvidValidator.Validate(certificate, state.Intermediates, state.Bundle, _time.GetUtcNow());
    }

    internal CaState State => _state ?? throw new InvalidOperationException("The AgentIdentity issuer has not started: run the host (its hosted service loads the CA) or call StartAsync first.");

    /// <summary>Initializes the store and loads the CA, generating and storing it (keys encrypted) on first start. Idempotent.</summary>
    /// <param name="cancellationToken">Cancels the start.</param>
    /// <returns>A task that completes when the issuer can issue.</returns>
    /// <exception cref="InvalidOperationException">No key-encryption key is configured, or it cannot decrypt the stored CA keys.</exception>
    /// <exception cref="IssuerStoreUnavailableException">The database is unreachable.</exception>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        await _startLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_state is not null)
            {
                return;
            }

            var kek = _options.KeyEncryptionKey ?? Environment.GetEnvironmentVariable(AgentIdentityIssuerOptions.KeyEncryptionKeyEnvironmentVariable);
            if (string.IsNullOrEmpty(kek) || kek.Length < 16)
            {
                throw new InvalidOperationException(
                    $"The AgentIdentity issuer needs a key-encryption key of at least 16 characters to protect its CA keys: set AgentIdentityIssuerOptions.KeyEncryptionKey or the {AgentIdentityIssuerOptions.KeyEncryptionKeyEnvironmentVariable} environment variable.");
            }

            await Store.InitializeAsync(cancellationToken).ConfigureAwait(false);
            var authorities = await Store.GetCertificateAuthoritiesAsync(cancellationToken).ConfigureAwait(false);
            if (!authorities.Any(a => a.State == CertificateAuthorityState.Active))
            {
                var created = CreateAuthority(kek, CertificateAuthorityState.Active);
                if (await Store.TryAddCertificateAuthorityAsync(created, cancellationToken).ConfigureAwait(false))
                {
                    _logger.CertificateAuthorityCreated(TrustDomain.Name, created.Id);
                }

                authorities = await Store.GetCertificateAuthoritiesAsync(cancellationToken).ConfigureAwait(false);
            }

            _state = Load(authorities, kek);
            _logger.CertificateAuthorityLoaded(_state.ActiveId, TrustDomain.Name, _state.Signer.NotAfter);
        }
        finally
        {
            _startLock.Release();
        }
    }

    /// <summary>Creates a one-time join token that enrolls one instance of <paramref name="agentName"/> with <paramref name="policy"/>.</summary>
    /// <param name="agentName">The agent name (a SPIFFE path segment); the token enrolls <c>spiffe://&lt;td&gt;/agent/&lt;agentName&gt;/&lt;instance&gt;</c>.</param>
    /// <param name="policy">The policy the agent's SVIDs carry; <see langword="null"/> for none.</param>
    /// <param name="lifetime">How long the token stays redeemable; at most <see cref="AgentIdentityIssuerOptions.MaxJoinTokenLifetime"/>.</param>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <returns>The token value. Only its SHA-256 is stored; hand the value to the agent once and do not log it.</returns>
    /// <exception cref="ArgumentException">The agent name, policy or lifetime is invalid; the message says why.</exception>
    public Task<string> CreateJoinTokenAsync(string agentName, AgentPolicy? policy, TimeSpan lifetime, CancellationToken cancellationToken = default) =>
        CreateJoinTokenAsync(agentName, policy, lifetime, null, cancellationToken);

    private async Task<string> CreateJoinTokenAsync(string agentName, AgentPolicy? policy, TimeSpan lifetime, string? bound, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(agentName);
        if (ValidateAgentName(agentName) is { } nameError)
        {
            throw new ArgumentException(nameError, nameof(agentName));
        }

        if (lifetime <= TimeSpan.Zero || lifetime > _options.MaxJoinTokenLifetime)
        {
            throw new ArgumentException($"A join token's lifetime must be positive and at most {_options.MaxJoinTokenLifetime}.", nameof(lifetime));
        }

        if (policy?.TaskId is not null)
        {
            throw new ArgumentException("A join token's policy must not name a task; task identities are delegated, not enrolled.", nameof(policy));
        }

        var bytes = RandomNumberGenerator.GetBytes(32);
        var token = "aijt_" + Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        var now = _time.GetUtcNow();
        await Store.AddJoinTokenAsync(new JoinTokenRecord(HashToken(token), agentName, policy?.ToDer(), now, now + lifetime, null, null) { BoundSpiffeId = bound }, cancellationToken).ConfigureAwait(false);
        _logger.JoinTokenCreated(agentName, now + lifetime);
        return token;
    }

    /// <summary>Creates a one-time join token bound to one enrolled instance: it re-enrolls exactly <paramref name="instance"/>
    /// (for example after its SVID expired while the host slept), never another, and never a revoked one.</summary>
    /// <param name="instance">The instance, <c>spiffe://&lt;td&gt;/agent/&lt;name&gt;/&lt;instance&gt;</c>.</param>
    /// <param name="policy">The policy the agent's SVIDs carry; <see langword="null"/> for none.</param>
    /// <param name="lifetime">How long the token stays redeemable; at most <see cref="AgentIdentityIssuerOptions.MaxJoinTokenLifetime"/>.</param>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <returns>The token value (only its SHA-256 is stored).</returns>
    /// <exception cref="ArgumentException">The ID is not an agent instance of this trust domain, or see the other overload.</exception>
    public async Task<string> CreateJoinTokenAsync(SpiffeId instance, AgentPolicy? policy, TimeSpan lifetime, CancellationToken cancellationToken = default)
    {
        if (!instance.IsMemberOf(TrustDomain) || instance.GetSegments().Length != 3 || !instance.TryGetAgent(out var agentName, out _))
        {
            throw new ArgumentException($"A bound join token names one agent instance, spiffe://{TrustDomain}/agent/<name>/<instance>; '{instance}' is not one.", nameof(instance));
        }

        return await CreateJoinTokenAsync(agentName, policy, lifetime, instance.ToString(), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Gets the issuer's server certificate (an SVID for <see cref="ServerId"/> with the configured DNS names), renewed at half-life.</summary>
    /// <returns>The certificate with its private key, and its intermediates.</returns>
    public SslStreamCertificateContext GetServerCertificateContext() => GetServer().Context;

    /// <summary>Prepares a CA rotation: generates a new root and intermediate and stores them as <see cref="CertificateAuthorityState.Prepared"/>.
    /// From now on the bundle carries both roots; the old CA keeps signing until <see cref="ActivatePreparedAuthorityAsync"/>.</summary>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <returns>The new CA's id.</returns>
    public async Task<string> PrepareRotationAsync(CancellationToken cancellationToken = default)
    {
        var kek = State.KeyEncryptionKey;
        var prepared = CreateAuthority(kek, CertificateAuthorityState.Prepared);
        await Store.TryAddCertificateAuthorityAsync(prepared, cancellationToken).ConfigureAwait(false);
        _logger.CertificateAuthorityRotation("prepared", prepared.Id);
        await ReloadAsync(cancellationToken).ConfigureAwait(false);
        return prepared.Id;
    }

    /// <summary>Activates the prepared CA: it signs from now on; the old one is retired and its root stays in the bundle until it expires.</summary>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <returns>A task that completes when the change is durable and loaded.</returns>
    /// <exception cref="InvalidOperationException">No CA is prepared.</exception>
    public async Task ActivatePreparedAuthorityAsync(CancellationToken cancellationToken = default)
    {
        var authorities = await Store.GetCertificateAuthoritiesAsync(cancellationToken).ConfigureAwait(false);
        var prepared = authorities.LastOrDefault(a => a.State == CertificateAuthorityState.Prepared)
            ?? throw new InvalidOperationException("No CA is prepared; call PrepareRotationAsync first and wait until the new bundle has propagated.");
        var changes = authorities.Where(a => a.State == CertificateAuthorityState.Active)
            .Select(a => new KeyValuePair<string, CertificateAuthorityState>(a.Id, CertificateAuthorityState.Retired))
            .Append(new KeyValuePair<string, CertificateAuthorityState>(prepared.Id, CertificateAuthorityState.Active))
            .ToList();
        await Store.SetCertificateAuthorityStatesAsync(changes, cancellationToken).ConfigureAwait(false);
        _logger.CertificateAuthorityRotation("activated", prepared.Id);
        await ReloadAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Reloads the CAs from the store (another replica rotated).</summary>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <returns>A task that completes when reloaded.</returns>
    /// <remarks>Replicas sharing a PostgreSQL store adopt another replica's rotation by themselves (PostgreSQL notifies them, and a
    /// periodic catch-up re-reads the CAs); calling this is not needed there.</remarks>
    public Task ReloadAsync(CancellationToken cancellationToken = default) => ReloadAsync(onlyIfChanged: false, cancellationToken);

    /// <summary>Reloads the CAs when the stored set (ids and states) differs from the loaded one: another replica prepared, activated
    /// or retired a CA.</summary>
    /// <returns><see langword="true"/> when reloaded.</returns>
    internal Task<bool> ReloadIfChangedAsync(CancellationToken cancellationToken) => ReloadAsync(onlyIfChanged: true, cancellationToken);

    private async Task<bool> ReloadAsync(bool onlyIfChanged, CancellationToken cancellationToken)
    {
        var kek = State.KeyEncryptionKey;
        await _reloadLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var authorities = await Store.GetCertificateAuthoritiesAsync(cancellationToken).ConfigureAwait(false);
            var old = _state;
            if (onlyIfChanged && old is not null && old.Fingerprint == Fingerprint(authorities))
            {
                return false;
            }

            _state = Load(authorities, kek);
            lock (_serverLock)
            {
                _server = null;
            }

            old?.Dispose();
            return true;
        }
        finally
        {
            _reloadLock.Release();
        }
    }

    /// <summary>What a reload compares: the stored CAs' ids and states.</summary>
    private static string Fingerprint(IReadOnlyList<StoredCertificateAuthority> authorities) =>
        string.Join('|', authorities.Select(a => a.Id + ":" + ((int)a.State).ToString(System.Globalization.CultureInfo.InvariantCulture)));

    /// <summary>Releases the CA keys.</summary>
    public void Dispose()
    {
        _state?.Dispose();
        _startLock.Dispose();
        _reloadLock.Dispose();
    }

    internal static byte[] HashToken(string token) => SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(token));

    internal static string? ValidateAgentName(string agentName)
    {
        if (agentName.Length == 0 || agentName.Length > 128)
        {
            return "The agent name must be 1 to 128 characters.";
        }

        foreach (var c in agentName)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
            {
                return $"The agent name '{agentName}' may contain only ASCII letters, digits, '-', '_' and '.'.";
            }
        }

        return agentName is "." or ".." ? "The agent name cannot be '.' or '..'." : null;
    }

    private StoredCertificateAuthority CreateAuthority(string kek, CertificateAuthorityState state)
    {
        var now = _time.GetUtcNow();
        var notBefore = now - TimeSpan.FromMinutes(1);
        var notAfter = now + _options.CertificateAuthorityLifetime;
        var id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
        using var rootKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var root = X509SvidSigner.CreateRootCertificate(TrustDomain, $"CN=AgentIdentity Root CA {id}, O={TrustDomain}", rootKey, notBefore, notAfter);
        using var intermediateKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var intermediate = X509SvidSigner.CreateIntermediateCertificate(TrustDomain, $"CN=AgentIdentity Intermediate CA {id}, O={TrustDomain}", intermediateKey, root, notBefore, notAfter);
        var pbe = new PbeParameters(PbeEncryptionAlgorithm.Aes256Cbc, HashAlgorithmName.SHA256, _options.KeyEncryptionIterations);
        return new StoredCertificateAuthority(
            id, state, root.RawData, rootKey.ExportEncryptedPkcs8PrivateKey(kek, pbe), intermediate.RawData, intermediateKey.ExportEncryptedPkcs8PrivateKey(kek, pbe), now, notAfter);
    }

    private CaState Load(IReadOnlyList<StoredCertificateAuthority> authorities, string kek)
    {
        var now = _time.GetUtcNow();
        var active = authorities.LastOrDefault(a => a.State == CertificateAuthorityState.Active)
            ?? throw new InvalidOperationException("The issuer store has no active CA.");
        var roots = new List<X509Certificate2>();
        var intermediates = new List<X509Certificate2>();
        foreach (var authority in authorities)
        {
            if (authority.NotAfter > now || authority.Id == active.Id)
            {
                roots.Add(X509CertificateLoader.LoadCertificate(authority.RootCertificate));
                intermediates.Add(X509CertificateLoader.LoadCertificate(authority.IntermediateCertificate));
            }
        }

        var sequence = authorities.Count + authorities.Count(a => a.State != CertificateAuthorityState.Prepared);
        var bundle = new TrustBundle(TrustDomain, roots, sequenceNumber: sequence, refreshHint: TimeSpan.FromMinutes(5));
        using var key = ECDsa.Create();
        try
        {
            key.ImportEncryptedPkcs8PrivateKey(kek, active.EncryptedIntermediateKey, out _);
        }
        catch (CryptographicException ex)
        {
            throw new InvalidOperationException(
                $"The CA key of trust domain '{TrustDomain}' (CA {active.Id}) cannot be decrypted: the key-encryption key is wrong or the stored key is damaged. " +
                $"Configure the key-encryption key the CA was created with ({AgentIdentityIssuerOptions.KeyEncryptionKeyEnvironmentVariable}).", ex);
        }

        using var intermediatePublic = X509CertificateLoader.LoadCertificate(active.IntermediateCertificate);
        using var signing = intermediatePublic.CopyWithPrivateKey(key);
        var revocationCertificate = intermediatePublic.CopyWithPrivateKey(key); // owned by the CaState: signs the feed, CRL and OCSP
        var signer = new X509SvidSigner(
            signing,
            [intermediatePublic],
            bundle,
            new X509SvidSignerOptions { MaxSvidLifetime = _options.MaxSvidLifetime, RejectExtraSubjectAlternativeNames = true },
            _time);
        return new CaState(active.Id, signer, bundle, intermediates, kek, revocationCertificate, new RevocationSigner(revocationCertificate, TrustDomain)) { Fingerprint = Fingerprint(authorities) };
    }

    private ServerCredential GetServer()
    {
        var now = _time.GetUtcNow();
        var current = Volatile.Read(ref _server);
        if (current is not null && now < current.RenewAt)
        {
            return current;
        }

        lock (_serverLock)
        {
            current = _server;
            if (current is not null && now < current.RenewAt)
            {
                return current;
            }

            using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var request = new CertificateRequest(new X500DistinguishedName(string.Empty), key, HashAlgorithmName.SHA256);
            request.CertificateExtensions.Add(CertificateExtensions.BuildUriSan(ServerId, critical: true));
            var state = State;
            var issuance = state.Signer.Issue(new X509SvidRequest(ServerId, request.CreateSigningRequest(), _options.MaxSvidLifetime) { DnsNames = [.. _options.ServerDnsNames] });
            X509Certificate2 leaf;
            using (issuance.Certificate)
            {
                leaf = issuance.Certificate.CopyWithPrivateKey(key);
            }

            var notAfter = new DateTimeOffset(leaf.NotAfter.ToUniversalTime());
            var context = SslStreamCertificateContext.Create(leaf, new X509Certificate2Collection(state.Signer.Intermediates.ToArray()), offline: true);
            current = new ServerCredential(context, now + ((notAfter - now) / 2));
            Volatile.Write(ref _server, current);
            return current;
        }
    }

    internal sealed class CaState(string activeId, X509SvidSigner signer, TrustBundle bundle, List<X509Certificate2> intermediates, string kek, X509Certificate2 revocationCertificate, RevocationSigner revocationSigner) : IDisposable
    {
        /// <summary>Gets the signer of revocation feed entries, CRLs and OCSP responses: the active intermediate.</summary>
        public RevocationSigner RevocationSigner { get; } = revocationSigner;

        public string ActiveId { get; } = activeId;

        public X509SvidSigner Signer { get; } = signer;

        public TrustBundle Bundle { get; } = bundle;

        public IReadOnlyList<X509Certificate2> Intermediates { get; } = intermediates;

        public string KeyEncryptionKey { get; } = kek;

        /// <summary>Gets the stored CAs' ids and states this state was loaded from.</summary>
        public string Fingerprint { get; init; } = string.Empty;

        public void Dispose()
        {
            Signer.Dispose();
            revocationCertificate.Dispose();
        }
    }

    private sealed record ServerCredential(SslStreamCertificateContext Context, DateTimeOffset RenewAt);
}
