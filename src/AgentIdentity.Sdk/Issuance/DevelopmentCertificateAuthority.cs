using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace AgentIdentity;

/// <summary>Options for <see cref="DevelopmentCertificateAuthority"/>.</summary>
public sealed class DevelopmentCertificateAuthorityOptions
{
    /// <summary>Gets or sets the lifetime of the generated root and intermediate.</summary>
    /// <value>The default value is 30 days. Must be positive.</value>
    [PositiveTimeSpan]
    public TimeSpan CertificateAuthorityLifetime { get; set; } = TimeSpan.FromDays(30);

    /// <summary>Gets or sets the longest SVID lifetime the CA grants; longer requests are shortened.</summary>
    /// <value>The default value is 24 hours. Must be positive.</value>
    [PositiveTimeSpan]
    public TimeSpan MaxSvidLifetime { get; set; } = TimeSpan.FromHours(24);

    /// <summary>Gets or sets how far <c>NotBefore</c> is backdated to absorb clock skew between peers.</summary>
    /// <value>The default value is 30 seconds. Must be zero or positive.</value>
    [PositiveTimeSpan(AllowZero = true)]
    public TimeSpan NotBeforeBackdate { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Gets or sets a value indicating whether the CA may run in a host whose environment is Production.</summary>
    /// <value>The default value is <see langword="false"/>: <c>UseDevelopmentCertificateAuthority()</c> refuses to start in Production.</value>
    public bool AllowInProduction { get; set; }

    /// <summary>Gets or sets the CRL distribution point written into every issued SVID (for example the <c>/revocation/crl</c> endpoint).</summary>
    /// <value>The default value is <see langword="null"/>: no CRL distribution point extension.</value>
    public Uri? CrlDistributionPoint { get; set; }

    /// <summary>Gets or sets the OCSP responder URI written into every issued SVID (authority information access).</summary>
    /// <value>The default value is <see langword="null"/>: no authority information access extension.</value>
    public Uri? OcspResponder { get; set; }

    /// <summary>Runs every rule (attributes and the URIs).</summary>
    /// <returns>The failures, each naming the option; <see langword="null"/> when the options are valid.</returns>
    internal string? Validate() => OptionsValidation.Validate(null, this, new DevelopmentCertificateAuthorityOptionsValidator(), DevelopmentCertificateAuthorityOptionsRules.Instance);
}

/// <summary>The attribute rules of <see cref="DevelopmentCertificateAuthorityOptions"/> (source-generated).</summary>
[OptionsValidator]
internal sealed partial class DevelopmentCertificateAuthorityOptionsValidator : IValidateOptions<DevelopmentCertificateAuthorityOptions>;

/// <summary>The rule of <see cref="DevelopmentCertificateAuthorityOptions"/> beyond attributes: the URIs written into SVIDs are absolute http(s).</summary>
internal sealed class DevelopmentCertificateAuthorityOptionsRules : IValidateOptions<DevelopmentCertificateAuthorityOptions>
{
    public static DevelopmentCertificateAuthorityOptionsRules Instance { get; } = new();

    public ValidateOptionsResult Validate(string? name, DevelopmentCertificateAuthorityOptions options)
    {
        var prefix = OptionsValidation.DisplayName(name, nameof(DevelopmentCertificateAuthorityOptions));
        var failures = new List<string>(2);
        Check(options.CrlDistributionPoint, nameof(options.CrlDistributionPoint));
        Check(options.OcspResponder, nameof(options.OcspResponder));
        return OptionsValidation.Result(failures);

        void Check(Uri? uri, string option)
        {
            if (uri is not null && !(uri.IsAbsoluteUri && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps)))
            {
                failures.Add($"{prefix}.{option} must be an absolute http(s) URI; '{uri}' is not.");
            }
        }
    }
}

/// <summary>
/// An in-process certificate authority for development and tests: a root and an intermediate, both name-constrained to one
/// trust domain, that issue X.509-SVIDs from CSRs. Its keys live only in memory and vanish with the process.
/// </summary>
/// <remarks>
/// <para><b>Not for production.</b> It has no persistence, attestation or revocation; creating one logs a warning.
/// Use the issuer service or SPIFFE Workload API in production.</para>
/// <para>Thread-safe.</para>
/// </remarks>
public sealed partial class DevelopmentCertificateAuthority : IX509SvidIssuer, ITrustBundleSource, IDisposable
{
    private readonly TimeProvider _time;
    private readonly DevelopmentCertificateAuthorityOptions _options;
    private readonly X509Certificate2 _root;
    private readonly X509Certificate2 _intermediate;
    private readonly X509Certificate2[] _intermediates;
    private readonly X509SvidSigner _signer;
    private bool _disposed;

    private DevelopmentCertificateAuthority(TrustDomain trustDomain, DevelopmentCertificateAuthorityOptions options, TimeProvider time)
    {
        TrustDomain = trustDomain;
        _options = options;
        _time = time;
        var now = time.GetUtcNow();
        var notBefore = now - options.NotBeforeBackdate;
        var notAfter = now + options.CertificateAuthorityLifetime;

        using var rootKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        _root = X509SvidSigner.CreateRootCertificate(trustDomain, $"CN=AgentIdentity Development Root CA, O={trustDomain}", rootKey, notBefore, notAfter);
        using var intermediateKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        _intermediate = X509SvidSigner.CreateIntermediateCertificate(
            trustDomain, $"CN=AgentIdentity Development Intermediate CA, O={trustDomain}", intermediateKey, _root, notBefore, notAfter);
        _intermediates = [X509CertificateLoader.LoadCertificate(_intermediate.RawData)];
        Bundle = new TrustBundle(trustDomain, [X509CertificateLoader.LoadCertificate(_root.RawData)], sequenceNumber: 1, refreshHint: TimeSpan.FromMinutes(5));
        _signer = new X509SvidSigner(
            _intermediate,
            _intermediates,
            Bundle,
            new X509SvidSignerOptions { MaxSvidLifetime = options.MaxSvidLifetime, NotBeforeBackdate = options.NotBeforeBackdate, AdditionalExtensions = BuildRevocationExtensions(options) },
            time);
    }

    /// <summary>Gets the trust domain the CA is constrained to.</summary>
    public TrustDomain TrustDomain { get; }

    /// <summary>Gets the root certificate (public part).</summary>
    public X509Certificate2 RootCertificate => Bundle.X509Authorities[0];

    /// <summary>Gets the intermediate certificate (public part) that signs SVIDs.</summary>
    public X509Certificate2 IntermediateCertificate => _intermediates[0];

    /// <summary>Gets the trust bundle: the root.</summary>
    public TrustBundle Bundle { get; }

    /// <summary>Creates a development CA for <paramref name="trustDomain"/> and logs a warning that it is in use.</summary>
    /// <param name="trustDomain">The trust domain to constrain the CA to.</param>
    /// <param name="options">Options; <see langword="null"/> for defaults.</param>
    /// <param name="timeProvider">The clock; <see langword="null"/> for <see cref="TimeProvider.System"/>.</param>
    /// <param name="logger">Receives the warning; <see langword="null"/> for none.</param>
    /// <returns>The CA.</returns>
    /// <exception cref="ArgumentException"><paramref name="trustDomain"/> is empty, or an option is invalid (the message names it).</exception>
    public static DevelopmentCertificateAuthority Create(
        TrustDomain trustDomain,
        DevelopmentCertificateAuthorityOptions? options = null,
        TimeProvider? timeProvider = null,
        ILogger? logger = null)
    {
        if (trustDomain.IsEmpty)
        {
            throw new ArgumentException("The trust domain is empty.", nameof(trustDomain));
        }

        options ??= new DevelopmentCertificateAuthorityOptions();
        if (options.Validate() is { } error)
        {
            throw new ArgumentException($"Invalid development CA options: {error}", nameof(options));
        }

        var ca = new DevelopmentCertificateAuthority(trustDomain, options, timeProvider ?? TimeProvider.System);
        (logger ?? NullLogger.Instance).DevelopmentCaInUse(trustDomain.Name);
        return ca;
    }

    /// <inheritdoc/>
    public bool TryGetBundle(TrustDomain trustDomain, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out TrustBundle? bundle) =>
        Bundle.TryGetBundle(trustDomain, out bundle);

    /// <inheritdoc/>
    public ValueTask<X509SvidIssuance> IssueAsync(X509SvidRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        cancellationToken.ThrowIfCancellationRequested();
        return new ValueTask<X509SvidIssuance>(Issue(request));
    }

    /// <summary>Issues an X.509-SVID synchronously.</summary>
    /// <param name="request">The request.</param>
    /// <returns>The issuance.</returns>
    /// <exception cref="CertificateIssuanceException">The request is invalid; the message says why.</exception>
    public X509SvidIssuance Issue(X509SvidRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (request.Id.IsMemberOf(TrustDomain) && !request.Id.IsTrustDomainId && _signer.NotAfter <= _time.GetUtcNow())
        {
            throw new CertificateIssuanceException($"Cannot issue '{request.Id}': the development CA expired at {_signer.NotAfter:O}; create a new one.");
        }

        return _signer.Issue(request);
    }

    /// <summary>Releases the CA keys.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _signer.Dispose();
        _intermediate.Dispose();
        _root.Dispose();
    }
}
