using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace AgentIdentity;

/// <summary>Options for <see cref="X509SvidSigner"/>.</summary>
internal sealed class X509SvidSignerOptions
{
    /// <summary>Gets or sets the longest SVID lifetime the signer grants; longer requests are shortened.</summary>
    /// <value>The default value is 24 hours.</value>
    public TimeSpan MaxSvidLifetime { get; set; } = TimeSpan.FromHours(24);

    /// <summary>Gets or sets how far <c>NotBefore</c> is backdated to absorb clock skew between peers.</summary>
    /// <value>The default value is 30 seconds.</value>
    public TimeSpan NotBeforeBackdate { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Gets or sets a value indicating whether a CSR whose subject alternative name extension holds anything but the
    /// one requested SPIFFE ID (a DNS name, an IP address, a second URI) is refused instead of having those names ignored.</summary>
    /// <value>The default value is <see langword="false"/>. The issuer service sets it: remote callers get a clear refusal.</value>
    public bool RejectExtraSubjectAlternativeNames { get; set; }

    /// <summary>Gets or sets extensions added to every issued leaf, such as a CRL distribution point or an OCSP (AIA) URI.</summary>
    /// <value>The default value is empty.</value>
    public IReadOnlyList<X509Extension> AdditionalExtensions { get; set; } = [];
}

/// <summary>
/// The signing core of an X.509-SVID certificate authority, shared by <see cref="DevelopmentCertificateAuthority"/> and the
/// issuer service: it verifies a PKCS#10 request in one pass and writes the leaf directly (empty subject, critical URI SAN,
/// critical key usage, serverAuth + clientAuth, cA=false, SKI/AKI, policy and delegation-chain extensions), signed by an
/// ECDSA intermediate.
/// </summary>
/// <remarks>
/// <para>It does not authenticate anyone: the caller decides which SPIFFE ID and policy a requester may have and puts them
/// in the <see cref="X509SvidRequest"/>. Delegated requests are checked against their parent (see <see cref="X509SvidRequest.Delegation"/>).</para>
/// <para>Thread-safe.</para>
/// </remarks>
internal sealed class X509SvidSigner : IDisposable
{
    private readonly TimeProvider _time;
    private readonly X509SvidSignerOptions _options;
    private readonly X509Certificate2[] _intermediates;
    private readonly ECDsa _signingKey;
    private readonly byte[] _issuerName;
    private readonly DateTimeOffset _signerNotAfter;
    private readonly X509AuthorityKeyIdentifierExtension _authorityKeyId;
    private static readonly X509Extension LeafKeyUsage = new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, critical: true);
    private static readonly X509Extension LeafRsaKeyUsage = new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, critical: true);
    private static readonly X509Extension LeafBasicConstraints = new X509BasicConstraintsExtension(false, false, 0, critical: true);
    private static readonly X509Extension LeafEku = new X509EnhancedKeyUsageExtension([new Oid(Oids.ServerAuth), new Oid(Oids.ClientAuth)], critical: false);
    private int _disposed;

    /// <summary>Initializes a new instance of the <see cref="X509SvidSigner"/> class.</summary>
    /// <param name="signingCertificate">The CA certificate that signs SVIDs, with its ECDSA private key. The signer keeps its own
    /// copy of the key; the caller keeps ownership of <paramref name="signingCertificate"/>.</param>
    /// <param name="intermediates">The chain to present with each SVID, leaf and root excluded: the signing certificate first, then
    /// any CA certificates above it up to (not including) a root of <paramref name="bundle"/>.</param>
    /// <param name="bundle">The trust bundle of the trust domain: the roots that validate issued SVIDs.</param>
    /// <param name="options">Options; <see langword="null"/> for defaults.</param>
    /// <param name="timeProvider">The clock; <see langword="null"/> for <see cref="TimeProvider.System"/>.</param>
    /// <exception cref="ArgumentException">The signing certificate has no ECDSA private key.</exception>
    public X509SvidSigner(
        X509Certificate2 signingCertificate,
        IEnumerable<X509Certificate2> intermediates,
        TrustBundle bundle,
        X509SvidSignerOptions? options = null,
        TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(signingCertificate);
        ArgumentNullException.ThrowIfNull(intermediates);
        ArgumentNullException.ThrowIfNull(bundle);
        _options = options ?? new X509SvidSignerOptions();
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(_options.MaxSvidLifetime, TimeSpan.Zero, nameof(options));
        ArgumentOutOfRangeException.ThrowIfLessThan(_options.NotBeforeBackdate, TimeSpan.Zero, nameof(options));
        _signingKey = signingCertificate.GetECDsaPrivateKey()
            ?? throw new ArgumentException("The signing certificate has no ECDSA private key; the signer needs one.", nameof(signingCertificate));
        _time = timeProvider ?? TimeProvider.System;
        _intermediates = [.. intermediates.Select(c => X509CertificateLoader.LoadCertificate(c.RawData))];
        _issuerName = signingCertificate.SubjectName.RawData;
        _signerNotAfter = new DateTimeOffset(signingCertificate.NotAfter.ToUniversalTime());
        _authorityKeyId = X509AuthorityKeyIdentifierExtension.CreateFromCertificate(signingCertificate, includeKeyIdentifier: true, includeIssuerAndSerial: false);
        Bundle = bundle;
        TrustDomain = bundle.TrustDomain;
    }

    /// <summary>Gets the trust domain of the signer (that of its bundle).</summary>
    public TrustDomain TrustDomain { get; }

    /// <summary>Gets the trust bundle returned with every issuance.</summary>
    public TrustBundle Bundle { get; }

    /// <summary>Gets the intermediates presented with every SVID.</summary>
    public IReadOnlyList<X509Certificate2> Intermediates => _intermediates;

    /// <summary>Gets when the signing certificate expires; no SVID outlives it.</summary>
    public DateTimeOffset NotAfter => _signerNotAfter;

    /// <summary>Verifies the request's CSR and issues the X.509-SVID it asks for.</summary>
    /// <param name="request">The request: the SPIFFE ID (which the caller has authorized), CSR, lifetime, policy and delegation proof.</param>
    /// <returns>The issuance.</returns>
    /// <exception cref="CertificateIssuanceException">The request is invalid; the message says why.</exception>
    public X509SvidIssuance Issue(X509SvidRequest request)
    {
        var leaf = IssueEncoded(request);
        return new X509SvidIssuance(X509CertificateLoader.LoadCertificate(leaf.Certificate), _intermediates, Bundle);
    }

    /// <summary>Issues like <see cref="Issue"/>, but returns the leaf as DER with the fields an issuer records, without loading
    /// it into an <see cref="X509Certificate2"/>: on OpenSSL 3 decoding a certificate and freeing it again cost more CPU than
    /// signing it, and a server that only stores and returns the DER needs neither.</summary>
    /// <param name="request">The request.</param>
    /// <returns>The signed leaf.</returns>
    /// <exception cref="CertificateIssuanceException">The request is refused; the message says why.</exception>
    internal EncodedLeaf IssueEncoded(X509SvidRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (!request.Id.IsMemberOf(TrustDomain))
        {
            throw new CertificateIssuanceException($"Cannot issue '{request.Id}': this CA is constrained to trust domain '{TrustDomain}'.");
        }

        if (request.Id.IsTrustDomainId)
        {
            throw new CertificateIssuanceException($"Cannot issue '{request.Id}': an X.509-SVID leaf needs a SPIFFE ID with a path.");
        }

        var csr = Pkcs10.Read(request.CertificateSigningRequest, request.Id);
        if (_options.RejectExtraSubjectAlternativeNames && csr.HasOtherNames)
        {
            throw new CertificateIssuanceException($"Cannot issue '{request.Id}': the CSR's subject alternative names hold more than the one requested SPIFFE ID; request only '{request.Id}'.");
        }

        var now = _time.GetUtcNow();
        var lifetime = request.Lifetime < _options.MaxSvidLifetime ? request.Lifetime : _options.MaxSvidLifetime;
        var notBefore = now - _options.NotBeforeBackdate;
        var notAfter = now + lifetime;
        if (notAfter > _signerNotAfter)
        {
            notAfter = _signerNotAfter;
        }

        if (notAfter <= now)
        {
            throw new CertificateIssuanceException($"Cannot issue '{request.Id}': the signing CA expired at {_signerNotAfter:O}; rotate or recreate the CA.");
        }

        var policyExtensions = PolicyIssuance.BuildExtensions(request, Bundle, now);
        var serial = NewSerial();
        var der = WriteLeaf(request, csr, serial, notBefore, notAfter, policyExtensions);
        return new EncodedLeaf(der, Convert.ToHexString(serial), WholeSeconds(notBefore), WholeSeconds(notAfter), _intermediates, Bundle);
    }

    /// <summary>Creates a self-signed root CA certificate for <paramref name="trustDomain"/>: path length 1, key usage
    /// keyCertSign + cRLSign, a URI SAN of the trust domain and URI name constraints that pin it to the trust domain.</summary>
    /// <param name="trustDomain">The trust domain.</param>
    /// <param name="subject">The subject distinguished name, for example <c>CN=Root CA, O=example.org</c>.</param>
    /// <param name="key">The root's key.</param>
    /// <param name="notBefore">The start of validity.</param>
    /// <param name="notAfter">The end of validity.</param>
    /// <returns>The root certificate, with <paramref name="key"/> attached.</returns>
    public static X509Certificate2 CreateRootCertificate(TrustDomain trustDomain, string subject, ECDsa key, DateTimeOffset notBefore, DateTimeOffset notAfter)
    {
        ArgumentNullException.ThrowIfNull(subject);
        ArgumentNullException.ThrowIfNull(key);
        var request = CreateCaRequest(subject, key, trustDomain, pathLength: 1);
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromSubjectKeyIdentifier(
            (X509SubjectKeyIdentifierExtension)request.CertificateExtensions.First(e => e is X509SubjectKeyIdentifierExtension)));
        return request.CreateSelfSigned(notBefore, notAfter);
    }

    /// <summary>Creates an intermediate CA certificate (path length 0, name-constrained to <paramref name="trustDomain"/>) signed by <paramref name="issuer"/>.</summary>
    /// <param name="trustDomain">The trust domain.</param>
    /// <param name="subject">The subject distinguished name.</param>
    /// <param name="key">The intermediate's key.</param>
    /// <param name="issuer">The root, with its private key.</param>
    /// <param name="notBefore">The start of validity.</param>
    /// <param name="notAfter">The end of validity; shortened to the issuer's.</param>
    /// <returns>The intermediate certificate, with <paramref name="key"/> attached.</returns>
    public static X509Certificate2 CreateIntermediateCertificate(TrustDomain trustDomain, string subject, ECDsa key, X509Certificate2 issuer, DateTimeOffset notBefore, DateTimeOffset notAfter)
    {
        ArgumentNullException.ThrowIfNull(subject);
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(issuer);
        var issuerNotAfter = new DateTimeOffset(issuer.NotAfter.ToUniversalTime());
        if (notAfter > issuerNotAfter)
        {
            notAfter = issuerNotAfter;
        }

        var request = CreateCaRequest(subject, key, trustDomain, pathLength: 0);
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(issuer, includeKeyIdentifier: true, includeIssuerAndSerial: false));
        using var issued = request.Create(issuer, notBefore, notAfter, NewSerial());
        return issued.CopyWithPrivateKey(key);
    }

    /// <summary>Releases the signer's copy of the key.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _signingKey.Dispose();
        foreach (var intermediate in _intermediates)
        {
            intermediate.Dispose();
        }
    }

    internal static byte[] NewSerial()
    {
        var serial = new byte[16];
        RandomNumberGenerator.Fill(serial);
        serial[0] = (byte)((serial[0] & 0x7F) | 0x40); // positive, and no leading zero byte
        return serial;
    }

    private static CertificateRequest CreateCaRequest(string subject, ECDsa key, TrustDomain trustDomain, int pathLength)
    {
        if (trustDomain.IsEmpty)
        {
            throw new ArgumentException("The trust domain is empty.", nameof(trustDomain));
        }

        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, pathLength, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign | X509KeyUsageFlags.DigitalSignature, critical: true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false));
        request.CertificateExtensions.Add(CertificateExtensions.BuildUriSan(trustDomain.Id, critical: false));
        request.CertificateExtensions.Add(CertificateExtensions.BuildUriNameConstraints(trustDomain));
        return request;
    }

    /// <summary>Writes and signs the leaf directly with <see cref="AsnWriter"/>.</summary>
    private byte[] WriteLeaf(X509SvidRequest request, ParsedRequest csr, byte[] serial, DateTimeOffset notBefore, DateTimeOffset notAfter, IEnumerable<X509Extension> extra)
    {
        var tbs = new AsnWriter(AsnEncodingRules.DER, initialCapacity: 1024);
        using (tbs.PushSequence())
        {
            using (tbs.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 0, isConstructed: true)))
            {
                tbs.WriteInteger(2); // v3
            }

            tbs.WriteIntegerUnsigned(serial);
            Pkcs10.WriteAlgorithm(tbs, Oids.EcdsaSha256);
            tbs.WriteEncodedValue(_issuerName);
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
                WriteExtension(tbs, LeafBasicConstraints);
                WriteExtension(tbs, csr.IsRsa ? LeafRsaKeyUsage : LeafKeyUsage);
                WriteExtension(tbs, LeafEku);
                Pkcs10.WriteExtension(tbs, Oids.SubjectAltName, critical: true, Pkcs10.SanValue([request.Id.ToString()], request.DnsNames));
                Pkcs10.WriteExtension(tbs, Oids.SubjectKeyIdentifier, critical: false, SubjectKeyIdentifier(csr.SubjectPublicKeyInfo.Span));
                WriteExtension(tbs, _authorityKeyId);
                foreach (var extension in extra)
                {
                    WriteExtension(tbs, extension);
                }

                foreach (var extension in _options.AdditionalExtensions)
                {
                    WriteExtension(tbs, extension);
                }
            }
        }

        var toBeSigned = tbs.Encode();
        var signature = _signingKey.SignData(toBeSigned, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);
        return Pkcs10.Signed(toBeSigned, Oids.EcdsaSha256, signature);
    }

    private static void WriteExtension(AsnWriter writer, X509Extension extension) =>
        Pkcs10.WriteExtension(writer, extension.Oid!.Value!, extension.Critical, extension.RawData);

    private static void WriteTime(AsnWriter writer, DateTimeOffset time)
    {
        // RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050; whole seconds.
        var seconds = WholeSeconds(time);
        if (seconds.Year < 2050)
        {
            writer.WriteUtcTime(seconds);
        }
        else
        {
            writer.WriteGeneralizedTime(seconds, omitFractionalSeconds: true);
        }
    }

    /// <summary>The time as the certificate encodes it: UTC, whole seconds.</summary>
    private static DateTimeOffset WholeSeconds(DateTimeOffset time) => new(time.UtcTicks - (time.UtcTicks % TimeSpan.TicksPerSecond), TimeSpan.Zero);

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
}

/// <summary>A leaf signed by <see cref="X509SvidSigner.IssueEncoded"/>: its DER and what is recorded of it.</summary>
/// <param name="Certificate">The DER certificate.</param>
/// <param name="SerialNumber">The serial number as <see cref="X509Certificate2.SerialNumber"/> spells it (upper-case hex).</param>
/// <param name="NotBefore">The start of validity, as encoded (UTC, whole seconds).</param>
/// <param name="NotAfter">The end of validity, as encoded (UTC, whole seconds).</param>
/// <param name="Intermediates">The signer's intermediates (shared, not owned by the caller).</param>
/// <param name="Bundle">The signer's trust bundle.</param>
internal sealed record EncodedLeaf(byte[] Certificate, string SerialNumber, DateTimeOffset NotBefore, DateTimeOffset NotAfter, IReadOnlyList<X509Certificate2> Intermediates, TrustBundle Bundle);
