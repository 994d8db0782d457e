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

    /// <summary>Gets or sets the CRL distribution point written into every issued SVID (for example the <c>/revocation/crl</c> endpoint).</summary>
    /// <value>The default value is <see langword="null"/>: no CRL distribution point extension.</value>
    public Uri? CrlDistributionPoint { get; set; }

    /// <summary>Gets or sets the OCSP responder URI written into every issued SVID (authority information access).</summary>
    /// <value>The default value is <see langword="null"/>: no authority information access extension.</value>
    public Uri? OcspResponder { get; set; }
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
    private readonly ECDsa _intermediateKey;
    private readonly X500DistinguishedName _intermediateName;
    private readonly X509AuthorityKeyIdentifierExtension _authorityKeyId;
    private readonly X509Extension _leafKeyUsage = new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, critical: true);
    private readonly X509Extension _leafRsaKeyUsage = new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, critical: true);
    private readonly X509Extension _leafBasicConstraints = new X509BasicConstraintsExtension(false, false, 0, critical: true);
    private readonly X509Extension _leafEku = new X509EnhancedKeyUsageExtension([new Oid(CertificateExtensions.ServerAuthOid), new Oid(CertificateExtensions.ClientAuthOid)], critical: false);
    private readonly X509Extension[] _revocationExtensions;
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
        _authorityKeyId = X509AuthorityKeyIdentifierExtension.CreateFromCertificate(_intermediate, includeKeyIdentifier: true, includeIssuerAndSerial: false);
        Bundle = new TrustBundle(trustDomain, [X509CertificateLoader.LoadCertificate(_root.RawData)], sequenceNumber: 1, refreshHint: TimeSpan.FromMinutes(5));
        _revocationExtensions = BuildRevocationExtensions(options);
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

        var csr = Pkcs10.Read(request.CertificateSigningRequest, request.Id);
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

        var policyExtensions = PolicyIssuance.BuildExtensions(request, Bundle, now);
        var leaf = WriteLeaf(request, csr, notBefore, notAfter, policyExtensions);
        return new X509SvidIssuance(leaf, _intermediates, Bundle);
    }

    /// <summary>
    /// Writes and signs the leaf directly with <see cref="AsnWriter"/>: empty subject, critical SAN, critical key usage,
    /// serverAuth + clientAuth, cA=false, SKI/AKI, and any extra (policy) extensions.
    /// </summary>
    private X509Certificate2 WriteLeaf(X509SvidRequest request, ParsedRequest csr, DateTimeOffset notBefore, DateTimeOffset notAfter, IEnumerable<X509Extension> extra)
    {
        var tbs = new AsnWriter(AsnEncodingRules.DER, initialCapacity: 1024);
        using (tbs.PushSequence())
        {
            using (tbs.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 0, isConstructed: true)))
            {
                tbs.WriteInteger(2); // v3
            }

            tbs.WriteIntegerUnsigned(NewSerial());
            Pkcs10.WriteAlgorithm(tbs, Pkcs10.EcdsaSha256Oid);
            tbs.WriteEncodedValue(_intermediateName.RawData);
            using (tbs.PushSequence())
            {
                WriteTime(tbs, notBefore);
                WriteTime(tbs, notAfter);
            }

            using (tbs.PushSequence())
            {
                // Empty subject: the identity is the critical SAN.
            }

            tbs.WriteEncodedValue(csr.SubjectPublicKeyInfo.Span);
            using (tbs.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 3, isConstructed: true)))
            using (tbs.PushSequence())
            {
                WriteExtension(tbs, _leafBasicConstraints);
                WriteExtension(tbs, csr.IsRsa ? _leafRsaKeyUsage : _leafKeyUsage);
                WriteExtension(tbs, _leafEku);
                Pkcs10.WriteExtension(tbs, CertificateExtensions.SubjectAltNameOid, critical: true, Pkcs10.SanValue([request.Id.ToString()], request.DnsNames));
                Pkcs10.WriteExtension(tbs, "2.5.29.14", critical: false, SubjectKeyIdentifier(csr.SubjectPublicKeyInfo.Span));
                WriteExtension(tbs, _authorityKeyId);
                foreach (var extension in extra)
                {
                    WriteExtension(tbs, extension);
                }

                foreach (var extension in _revocationExtensions)
                {
                    WriteExtension(tbs, extension);
                }
            }
        }

        var toBeSigned = tbs.Encode();
        var signature = _intermediateKey.SignData(toBeSigned, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);
        return X509CertificateLoader.LoadCertificate(Pkcs10.Signed(toBeSigned, Pkcs10.EcdsaSha256Oid, signature));
    }

    private static void WriteExtension(AsnWriter writer, X509Extension extension) =>
        Pkcs10.WriteExtension(writer, extension.Oid!.Value!, extension.Critical, extension.RawData);

    private static void WriteTime(AsnWriter writer, DateTimeOffset time)
    {
        // RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050; whole seconds.
        var seconds = new DateTimeOffset(time.UtcTicks - (time.UtcTicks % TimeSpan.TicksPerSecond), TimeSpan.Zero);
        if (seconds.Year < 2050)
        {
            writer.WriteUtcTime(seconds);
        }
        else
        {
            writer.WriteGeneralizedTime(seconds, omitFractionalSeconds: true);
        }
    }

    /// <summary>RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey BIT STRING contents, as an OCTET STRING.</summary>
    private static byte[] SubjectKeyIdentifier(ReadOnlySpan<byte> spki)
    {
        var key = new AsnReader(spki.ToArray(), AsnEncodingRules.DER).ReadSequence();
        key.ReadEncodedValue();
        var bits = key.ReadBitString(out _);
#pragma warning disable CA5350 // SHA-1 is what RFC 5280 specifies for key identifiers; it protects nothing here.
        var hash = SHA1.HashData(bits);
#pragma warning restore CA5350
        var writer = new AsnWriter(AsnEncodingRules.DER);
        writer.WriteOctetString(hash);
        return writer.Encode();
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
