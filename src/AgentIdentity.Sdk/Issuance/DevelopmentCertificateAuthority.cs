using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace AgentIdentity;

/// <summary>Options for <see cref="DevelopmentCertificateAuthority"/>.</summary>
public sealed class DevelopmentCertificateAuthorityOptions
{
    /// <summary>Gets or sets the lifetime of the generated root and intermediate.</summary>
    /// <value>The default value is 30 days.</value>
    public TimeSpan CertificateAuthorityLifetime { get; set; } = TimeSpan.FromDays(30);

    /// <summary>Gets or sets the longest SVID lifetime the CA grants; longer requests are shortened.</summary>
    /// <value>The default value is 24 hours.</value>
    public TimeSpan MaxSvidLifetime { get; set; } = TimeSpan.FromHours(24);

    /// <summary>Gets or sets how far <c>NotBefore</c> is backdated to absorb clock skew between peers.</summary>
    /// <value>The default value is 30 seconds.</value>
    public TimeSpan NotBeforeBackdate { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Gets or sets a value indicating whether the CA may run in a host whose environment is Production.</summary>
    /// <value>The default value is <see langword="false"/>: <c>UseDevelopmentCertificateAuthority()</c> refuses to start in Production.</value>
    public bool AllowInProduction { get; set; }
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
    private readonly X509SignatureGenerator _signer;
    private readonly ECDsa _intermediateKey;
    private readonly X500DistinguishedName _intermediateName;
    private readonly X509AuthorityKeyIdentifierExtension _authorityKeyId;
    private readonly X509Extension _leafKeyUsage = new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, critical: true);
    private readonly X509Extension _leafRsaKeyUsage = new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, critical: true);
    private readonly X509Extension _leafBasicConstraints = new X509BasicConstraintsExtension(false, false, 0, critical: true);
    private readonly X509Extension _leafEku = new X509EnhancedKeyUsageExtension([new Oid(CertificateExtensions.ServerAuthOid), new Oid(CertificateExtensions.ClientAuthOid)], critical: false);
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
        var rootRequest = CreateCaRequest($"CN=AgentIdentity Development Root CA, O={trustDomain}", rootKey, trustDomain, pathLength: 1);
        rootRequest.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromSubjectKeyIdentifier(
            (X509SubjectKeyIdentifierExtension)rootRequest.CertificateExtensions.First(e => e is X509SubjectKeyIdentifierExtension)));
        _root = rootRequest.CreateSelfSigned(notBefore, notAfter);

        var intermediateKey = _intermediateKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        _intermediateName = new X500DistinguishedName($"CN=AgentIdentity Development Intermediate CA, O={trustDomain}");
        var intermediateRequest = CreateCaRequest(_intermediateName.Name, intermediateKey, trustDomain, pathLength: 0);
        intermediateRequest.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(_root, includeKeyIdentifier: true, includeIssuerAndSerial: false));
        using (var issued = intermediateRequest.Create(_root, notBefore, notAfter, NewSerial()))
        {
            _intermediate = issued.CopyWithPrivateKey(intermediateKey);
        }

        _intermediates = [X509CertificateLoader.LoadCertificate(_intermediate.RawData)];
        _signer = X509SignatureGenerator.CreateForECDsa(intermediateKey);
        _authorityKeyId = X509AuthorityKeyIdentifierExtension.CreateFromCertificate(_intermediate, includeKeyIdentifier: true, includeIssuerAndSerial: false);
        Bundle = new TrustBundle(trustDomain, [X509CertificateLoader.LoadCertificate(_root.RawData)], sequenceNumber: 1, refreshHint: TimeSpan.FromMinutes(5));
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
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(options.CertificateAuthorityLifetime, TimeSpan.Zero, nameof(options));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(options.MaxSvidLifetime, TimeSpan.Zero, nameof(options));
        ArgumentOutOfRangeException.ThrowIfLessThan(options.NotBeforeBackdate, TimeSpan.Zero, nameof(options));
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
        if (!request.Id.IsMemberOf(TrustDomain))
        {
            throw new CertificateIssuanceException($"Cannot issue '{request.Id}': this CA is constrained to trust domain '{TrustDomain}'.");
        }

        if (request.Id.IsTrustDomainId)
        {
            throw new CertificateIssuanceException($"Cannot issue '{request.Id}': an X.509-SVID leaf needs a SPIFFE ID with a path.");
        }

        var csr = LoadCsr(request);
        var now = _time.GetUtcNow();
        var lifetime = request.Lifetime < _options.MaxSvidLifetime ? request.Lifetime : _options.MaxSvidLifetime;
        var notBefore = now - _options.NotBeforeBackdate;
        var notAfter = now + lifetime;
        var caNotAfter = new DateTimeOffset(_intermediate.NotAfter.ToUniversalTime());
        if (notAfter > caNotAfter)
        {
            notAfter = caNotAfter;
        }

        if (notAfter <= now)
        {
            throw new CertificateIssuanceException($"Cannot issue '{request.Id}': the development CA expired at {caNotAfter:O}; create a new one.");
        }

        var isRsa = csr.PublicKey.Oid.Value == "1.2.840.113549.1.1.1";
        csr.CertificateExtensions.Clear();
        csr.CertificateExtensions.Add(_leafBasicConstraints);
        csr.CertificateExtensions.Add(isRsa ? _leafRsaKeyUsage : _leafKeyUsage);
        csr.CertificateExtensions.Add(_leafEku);
        var san = new SubjectAlternativeNameBuilder();
        san.AddUri(request.Id.ToUri());
        foreach (var dns in request.DnsNames)
        {
            san.AddDnsName(dns);
        }

        csr.CertificateExtensions.Add(san.Build(critical: true));
        csr.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(csr.PublicKey, critical: false));
        csr.CertificateExtensions.Add(_authorityKeyId);
        var leaf = csr.Create(_intermediateName, _signer, notBefore, notAfter, NewSerial());
        return new X509SvidIssuance(leaf, _intermediates, Bundle);
    }

    private static CertificateRequest LoadCsr(X509SvidRequest request)
    {
        CertificateRequest csr;
        try
        {
            csr = CertificateRequest.LoadSigningRequest(
                request.CertificateSigningRequest.Span,
                HashAlgorithmName.SHA256,
                out var consumed,
                CertificateRequestLoadOptions.UnsafeLoadCertificateExtensions);
            if (consumed != request.CertificateSigningRequest.Length)
            {
                throw new CertificateIssuanceException($"Cannot issue '{request.Id}': the CSR has {request.CertificateSigningRequest.Length - consumed} bytes of trailing data.");
            }
        }
        catch (CryptographicException ex)
        {
            throw new CertificateIssuanceException($"Cannot issue '{request.Id}': the CSR is not a valid DER PKCS#10 request with a valid self-signature ({ex.Message}).", ex);
        }

        // The CSR may name at most the requested ID; the CA adds the vetted SAN itself.
        foreach (var extension in csr.CertificateExtensions)
        {
            if (extension.Oid?.Value == CertificateExtensions.SubjectAltNameOid && !CsrSanMatches(extension, request.Id))
            {
                throw new CertificateIssuanceException($"Cannot issue '{request.Id}': the CSR's subject alternative names ask for a different identity.");
            }
        }

        var algorithm = csr.PublicKey.Oid.Value;
        if (algorithm == "1.2.840.10045.2.1")
        {
            using var ec = csr.PublicKey.GetECDsaPublicKey();
            if (ec is null || ec.KeySize < 256)
            {
                throw new CertificateIssuanceException($"Cannot issue '{request.Id}': EC keys must be P-256 or stronger.");
            }
        }
        else if (algorithm == "1.2.840.113549.1.1.1")
        {
            using var rsa = csr.PublicKey.GetRSAPublicKey();
            if (rsa is null || rsa.KeySize < 2048)
            {
                throw new CertificateIssuanceException($"Cannot issue '{request.Id}': RSA keys must be 2048 bits or longer.");
            }
        }
        else
        {
            throw new CertificateIssuanceException($"Cannot issue '{request.Id}': key algorithm {algorithm} is not supported; use ECDSA P-256/P-384 or RSA.");
        }

        return csr;
    }

    private static bool CsrSanMatches(X509Extension san, SpiffeId id)
    {
        try
        {
            var reader = new AsnReader(san.RawData, AsnEncodingRules.DER).ReadSequence();
            var uriTag = new Asn1Tag(TagClass.ContextSpecific, 6);
            while (reader.HasData)
            {
                if (reader.PeekTag() == uriTag)
                {
                    if (reader.ReadCharacterString(UniversalTagNumber.IA5String, uriTag) != id.ToString())
                    {
                        return false;
                    }
                }
                else
                {
                    reader.ReadEncodedValue();
                }
            }

            return true;
        }
        catch (AsnContentException)
        {
            return false;
        }
    }

    private static CertificateRequest CreateCaRequest(string subject, ECDsa key, TrustDomain trustDomain, int pathLength)
    {
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, pathLength, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign | X509KeyUsageFlags.DigitalSignature, critical: true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false));
        var san = new SubjectAlternativeNameBuilder();
        san.AddUri(trustDomain.Id.ToUri());
        request.CertificateExtensions.Add(san.Build(critical: false));
        request.CertificateExtensions.Add(CertificateExtensions.BuildUriNameConstraints(trustDomain));
        return request;
    }

    private static byte[] NewSerial()
    {
        var serial = new byte[16];
        RandomNumberGenerator.Fill(serial);
        serial[0] = (byte)((serial[0] & 0x7F) | 0x40); // positive, and no leading zero byte
        return serial;
    }

    /// <summary>Releases the CA keys.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _intermediate.Dispose();
        _intermediateKey.Dispose();
        _root.Dispose();
    }
}
