using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Time.Testing;

namespace AgentIdentity.Testing;

/// <summary>What a crafted leaf certificate looks like; every field can be set to break one SVID rule.</summary>
public sealed class LeafSpec
{
    public List<string> Uris { get; } = [];
    public List<string> DnsNames { get; } = [];
    public bool SanCritical { get; set; } = true;
    public string Subject { get; set; } = string.Empty;
    public X509KeyUsageFlags? KeyUsage { get; set; } = X509KeyUsageFlags.DigitalSignature;
    public bool KeyUsageCritical { get; set; } = true;
    public bool IsCertificateAuthority { get; set; }
    public string[]? ExtendedKeyUsages { get; set; } = [TestPki.ServerAuth, TestPki.ClientAuth];
    public DateTimeOffset? NotBefore { get; set; }
    public DateTimeOffset? NotAfter { get; set; }
}

/// <summary>
/// The run-time test PKI of every test project; all keys are generated per run. It holds, each made when first used:
/// <list type="bullet">
/// <item>the real issuer: a <see cref="DevelopmentCertificateAuthority"/> for <see cref="TrustDomain"/> on <see cref="Time"/>
/// (<see cref="Ca"/>), and one for other.example (<see cref="OtherCa"/>);</item>
/// <item>a crafted chain (<see cref="Root"/>, name-constrained to the trust domain, and <see cref="Intermediate"/>) whose leaves
/// (<see cref="IssueLeaf"/>) can break any one SVID rule;</item>
/// <item>a crafted, unconstrained root (<see cref="CraftedRoot"/>) that <see cref="Bundles"/> trusts beside the CA, and an
/// <see cref="UnknownRoot"/> that nothing trusts.</item>
/// </list>
/// The static helpers mint certificates with exactly the properties given.
/// </summary>
public sealed class TestPki : IDisposable
{
    public const string ServerAuth = "1.3.6.1.5.5.7.3.1";
    public const string ClientAuth = "1.3.6.1.5.5.7.3.2";

    public static readonly TrustDomain Corp = TrustDomain.Parse("corp.example");
    public static readonly TrustDomain Other = TrustDomain.Parse("other.example");

    private readonly DevelopmentCertificateAuthorityOptions? _options;
    private readonly string? _constrainTo;
    private readonly bool _nameConstraints;
    private readonly Lazy<DevelopmentCertificateAuthority> _ca;
    private readonly Lazy<DevelopmentCertificateAuthority> _otherCa;
    private readonly Lazy<(X509Certificate2 Root, X509Certificate2 Intermediate)> _chain;
    private readonly Lazy<X509Certificate2> _craftedRoot;
    private readonly Lazy<X509Certificate2> _unknownRoot;
    private readonly List<X509SvidOwner> _issued = [];
    private TrustBundleSet? _bundles;
    private TrustBundle? _bundle;

    /// <param name="trustDomain">The trust domain of the CA and of the crafted chain.</param>
    /// <param name="time">The clock of the CA and of every validity period; the system clock by default.</param>
    /// <param name="options">The development CA's options.</param>
    /// <param name="constrainTo">The URI name constraint of the crafted chain; the trust domain by default.</param>
    /// <param name="nameConstraints">Whether the crafted chain carries name constraints at all.</param>
    public TestPki(string trustDomain = "example.org", TimeProvider? time = null, DevelopmentCertificateAuthorityOptions? options = null, string? constrainTo = null, bool nameConstraints = true)
    {
        TrustDomain = TrustDomain.Parse(trustDomain);
        Time = time ?? TimeProvider.System;
        Now = Time.GetUtcNow();
        _options = options;
        _constrainTo = constrainTo;
        _nameConstraints = nameConstraints;
        _ca = new(() => DevelopmentCertificateAuthority.Create(TrustDomain, _options, Time));
        _otherCa = new(() => DevelopmentCertificateAuthority.Create(Other, timeProvider: Time));
        _chain = new(CreateChain);
        _craftedRoot = new(() => CreateCa("CN=Crafted Root", null, Now.AddDays(-1), Now.AddDays(30), nameConstraint: null));
        _unknownRoot = new(() => CreateCa("CN=Unknown Root", null, Now.AddDays(-1), Now.AddDays(30), nameConstraint: null));
    }

    /// <summary>A PKI whose crafted chain is made at <paramref name="now"/> (a fake clock that stands still there).</summary>
    public static TestPki Create(string trustDomain, DateTimeOffset now, string? constrainTo = null, bool nameConstraints = true) =>
        new(trustDomain, new FakeTimeProvider(now), constrainTo: constrainTo, nameConstraints: nameConstraints);

    /// <summary>A PKI on a fake clock (started at the real time, or <paramref name="time"/>) whose CA lives 30 days and issues SVIDs of up to two days.</summary>
    public static TestPki OnFakeClock(string trustDomain = "example.org", FakeTimeProvider? time = null) =>
        new(trustDomain, time ?? new FakeTimeProvider(TimeProvider.System.GetUtcNow()), new DevelopmentCertificateAuthorityOptions
        {
            CertificateAuthorityLifetime = TimeSpan.FromDays(30),
            MaxSvidLifetime = TimeSpan.FromDays(2),
        });

    /// <summary>A PKI for corp.example on <paramref name="time"/> (the system clock by default).</summary>
    public static TestPki ForCorp(TimeProvider? time = null) => new(Corp.Name, time);

    public TrustDomain TrustDomain { get; }

    public TimeProvider Time { get; }

    /// <summary>The fake clock this PKI runs on; throws when it runs on another clock.</summary>
    public FakeTimeProvider Clock => Time as FakeTimeProvider ?? throw new InvalidOperationException("This test PKI runs on a clock that is not a FakeTimeProvider; create it with TestPki.OnFakeClock or pass one.");

    /// <summary>The time at which the PKI was made: the crafted certificates' validity is counted from it.</summary>
    public DateTimeOffset Now { get; }

    public DevelopmentCertificateAuthority Ca => _ca.Value;

    public DevelopmentCertificateAuthority OtherCa => _otherCa.Value;

    public X509Certificate2 Root => _chain.Value.Root;

    public X509Certificate2 Intermediate => _chain.Value.Intermediate;

    /// <summary>The bundle of the crafted chain: its root only.</summary>
    public TrustBundle Bundle => _bundle ??= new(TrustDomain, [Public(Root)]);

    public X509Certificate2 CraftedRoot => _craftedRoot.Value;

    public X509Certificate2 UnknownRoot => _unknownRoot.Value;

    /// <summary>What a service trusts: for the trust domain, the CA's root and <see cref="CraftedRoot"/>. Settable.</summary>
    public TrustBundleSet Bundles
    {
        get => _bundles ??= new TrustBundleSet([new TrustBundle(TrustDomain, [Ca.RootCertificate, Public(CraftedRoot)])]);
        set => _bundles = value;
    }

    /// <summary>Issues a real SVID from the CA (or <paramref name="ca"/>) through a CSR, with its private key; released when this PKI is disposed.</summary>
    public X509Svid IssueSvid(DevelopmentCertificateAuthority ca, string id, TimeSpan? lifetime = null, string[]? dnsNames = null, AgentPolicy? policy = null)
    {
        var owner = IssueOwnedSvid(ca, id, lifetime, dnsNames, policy);
        lock (_issued)
        {
            _issued.Add(owner);
        }

        return owner.Svid;
    }

    /// <inheritdoc cref="IssueSvid(DevelopmentCertificateAuthority, string, TimeSpan?, string[], AgentPolicy)"/>
    public X509Svid IssueSvid(string id, TimeSpan? lifetime = null, string[]? dnsNames = null, AgentPolicy? policy = null) => IssueSvid(Ca, id, lifetime, dnsNames, policy);

    /// <summary>Issues a real SVID from the CA (or <paramref name="ca"/>) through a CSR; the caller disposes the owner.</summary>
    public X509SvidOwner IssueOwnedSvid(DevelopmentCertificateAuthority? ca, string id, TimeSpan? lifetime = null, string[]? dnsNames = null, AgentPolicy? policy = null)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var issuance = (ca ?? Ca).Issue(new X509SvidRequest(SpiffeId.Parse(id), Csr(SpiffeId.Parse(id), key), lifetime ?? TimeSpan.FromHours(1))
        {
            DnsNames = dnsNames ?? [],
            Policy = policy,
        });
        return new X509SvidOwner(issuance.Certificate.CopyWithPrivateKey(key), issuance.Intermediates);
    }

    /// <summary>Issues a server X.509-SVID for <c>spiffe://&lt;trust domain&gt;&lt;path&gt;</c> with a DNS SAN for localhost (two days by default).</summary>
    public (X509Certificate2 Certificate, X509Certificate2Collection Intermediates) IssueServer(string path, TimeSpan? lifetime = null)
    {
        var id = SpiffeId.Parse($"spiffe://{TrustDomain}{path}");
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var issuance = Ca.Issue(new X509SvidRequest(id, Csr(id, key), lifetime ?? TimeSpan.FromDays(2)) { DnsNames = ["localhost"] });
        return (issuance.Certificate.CopyWithPrivateKey(key), [.. issuance.Intermediates]);
    }

    /// <summary>Issues a leaf of the crafted chain, signed by the intermediate (or by <paramref name="issuer"/>), with its private key.</summary>
    public X509Certificate2 IssueLeaf(Action<LeafSpec>? customize = null, X509Certificate2? issuer = null)
    {
        var spec = new LeafSpec();
        spec.Uris.Add($"spiffe://{TrustDomain}/agent/test/1");
        customize?.Invoke(spec);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(spec.Subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(spec.IsCertificateAuthority, false, 0, true));
        if (spec.KeyUsage is { } usage)
        {
            request.CertificateExtensions.Add(new X509KeyUsageExtension(usage, spec.KeyUsageCritical));
        }

        if (spec.ExtendedKeyUsages is { } ekus)
        {
            request.CertificateExtensions.Add(ExtendedKeyUsages(ekus));
        }

        if (spec.Uris.Count > 0 || spec.DnsNames.Count > 0)
        {
            request.CertificateExtensions.Add(BuildSan(spec.Uris, spec.DnsNames, spec.SanCritical));
        }

        var signer = issuer ?? Intermediate;
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(signer, true, false));
        using var leaf = request.Create(signer, spec.NotBefore ?? Now.AddMinutes(-1), spec.NotAfter ?? Now.AddHours(1), Serial());
        return leaf.CopyWithPrivateKey(key);
    }

    /// <summary>Mints a leaf signed by <see cref="CraftedRoot"/>, valid from five minutes ago for an hour unless told otherwise.</summary>
    public X509Certificate2 CreateCraftedLeaf(string[] uris, DateTimeOffset? notBefore = null, DateTimeOffset? notAfter = null, IEnumerable<X509Extension>? extra = null)
    {
        var now = Time.GetUtcNow();
        return CreateLeaf(CraftedRoot, uris, notBefore ?? now.AddMinutes(-5), notAfter ?? now.AddHours(1), extra: extra);
    }

    /// <summary>A CSR with an empty subject and a critical URI SAN for <paramref name="id"/> (plus <paramref name="dnsNames"/>).</summary>
    public static byte[] Csr(SpiffeId id, ECDsa key, params string[] dnsNames)
    {
        // The ID's own string, never System.Uri (which writes the trust-domain ID spiffe://td as spiffe://td/).
        var request = new CertificateRequest(new X500DistinguishedName(string.Empty), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(BuildSan([id.ToString()], dnsNames, critical: true));
        return request.CreateSigningRequest();
    }

    /// <summary>A CSR for <paramref name="id"/> that carries <paramref name="subjectPublicKeyInfo"/> as given (well-formed or not), with a
    /// valid ECDSA P-256 self-signature by <paramref name="key"/> over it: for testing how a CA reads the public key.</summary>
    public static byte[] CsrWithPublicKeyInfo(SpiffeId id, ECDsa key, byte[] subjectPublicKeyInfo)
    {
        var info = new AsnWriter(AsnEncodingRules.DER);
        using (info.PushSequence())
        {
            info.WriteInteger(0);
            using (info.PushSequence())
            {
                // Empty subject.
            }

            info.WriteEncodedValue(subjectPublicKeyInfo);
            using (info.PushSetOf(new Asn1Tag(TagClass.ContextSpecific, 0, isConstructed: true)))
            using (info.PushSequence())
            {
                info.WriteObjectIdentifier("1.2.840.113549.1.9.14"); // extensionRequest
                using (info.PushSetOf())
                using (info.PushSequence())
                using (info.PushSequence())
                {
                    info.WriteObjectIdentifier("2.5.29.17");
                    info.WriteBoolean(true);
                    info.WriteOctetString(BuildSan([id.ToString()], [], critical: true).RawData);
                }
            }
        }

        var toBeSigned = info.Encode();
        var csr = new AsnWriter(AsnEncodingRules.DER);
        using (csr.PushSequence())
        {
            csr.WriteEncodedValue(toBeSigned);
            using (csr.PushSequence())
            {
                csr.WriteObjectIdentifier("1.2.840.10045.4.3.2"); // ecdsa-with-SHA256
            }

            csr.WriteBitString(key.SignData(toBeSigned, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence));
        }

        return csr.Encode();
    }

    /// <summary>Malformed SubjectPublicKeyInfo structures: an EC algorithm with no key at all, and <paramref name="key"/>'s real
    /// key followed by data inside the structure (which a lax CA would copy into the certificate).</summary>
    public static (byte[] WithoutKey, byte[] WithTrailingData) MalformedPublicKeyInfos(ECDsa key)
    {
        var withoutKey = new AsnWriter(AsnEncodingRules.DER);
        using (withoutKey.PushSequence())
        using (withoutKey.PushSequence())
        {
            withoutKey.WriteObjectIdentifier("1.2.840.10045.2.1");
            withoutKey.WriteObjectIdentifier("1.2.840.10045.3.1.7");
        }

        var real = new AsnReader(key.ExportSubjectPublicKeyInfo(), AsnEncodingRules.DER).ReadSequence();
        var withTrailingData = new AsnWriter(AsnEncodingRules.DER);
        using (withTrailingData.PushSequence())
        {
            withTrailingData.WriteEncodedValue(real.ReadEncodedValue().Span);
            withTrailingData.WriteEncodedValue(real.ReadEncodedValue().Span);
            withTrailingData.WriteOctetString([0xDE, 0xAD, 0xBE, 0xEF]);
        }

        return (withoutKey.Encode(), withTrailingData.Encode());
    }

    /// <summary>Mints a CA certificate: self-signed when <paramref name="issuer"/> is null, otherwise signed by it (with its key).</summary>
    /// <param name="pathLength">The path length constraint; none when null.</param>
    /// <param name="keyUsage">The key usages; certificate and CRL signing plus digital signature by default.</param>
    /// <param name="extra">Further extensions, added last.</param>
    public static X509Certificate2 CreateCa(
        string subject,
        X509Certificate2? issuer,
        DateTimeOffset notBefore,
        DateTimeOffset notAfter,
        string? nameConstraint,
        int? pathLength = null,
        X509KeyUsageFlags keyUsage = X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign | X509KeyUsageFlags.DigitalSignature,
        IEnumerable<X509Extension>? extra = null)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, pathLength is not null, pathLength ?? 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(keyUsage, critical: true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false));
        if (nameConstraint is not null)
        {
            request.CertificateExtensions.Add(UriNameConstraints(nameConstraint));
        }

        foreach (var extension in extra ?? [])
        {
            request.CertificateExtensions.Add(extension);
        }

        if (issuer is null)
        {
            return request.CreateSelfSigned(notBefore, notAfter);
        }

        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(issuer, includeKeyIdentifier: true, includeIssuerAndSerial: false));
        using var issued = request.Create(issuer, notBefore, notAfter, Serial());
        return issued.CopyWithPrivateKey(key);
    }

    /// <summary>Mints a leaf with exactly the properties given, signed by <paramref name="issuer"/>.</summary>
    public static X509Certificate2 CreateLeaf(
        X509Certificate2 issuer,
        string[] uris,
        DateTimeOffset notBefore,
        DateTimeOffset notAfter,
        bool isCa = false,
        IEnumerable<X509Extension>? extra = null)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName(uris.Length == 0 ? "CN=no-uri" : string.Empty), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(isCa, false, 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(isCa ? X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.DigitalSignature : X509KeyUsageFlags.DigitalSignature, critical: true));
        request.CertificateExtensions.Add(ExtendedKeyUsages([ServerAuth, ClientAuth]));
        if (uris.Length > 0)
        {
            var san = new SubjectAlternativeNameBuilder();
            foreach (var uri in uris)
            {
                san.AddUri(new Uri(uri));
            }

            request.CertificateExtensions.Add(san.Build(critical: true));
        }

        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(issuer, includeKeyIdentifier: true, includeIssuerAndSerial: false));
        foreach (var extension in extra ?? [])
        {
            request.CertificateExtensions.Add(extension);
        }

        using var issued = request.Create(issuer, notBefore, notAfter, Serial());
        return issued.CopyWithPrivateKey(key);
    }

    /// <summary>Builds a SAN extension by hand, so that several URIs (which SubjectAlternativeNameBuilder allows) or raw strings can be written.</summary>
    public static X509Extension BuildSan(IEnumerable<string> uris, IEnumerable<string> dnsNames, bool critical)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            foreach (var dns in dnsNames)
            {
                writer.WriteCharacterString(UniversalTagNumber.IA5String, dns, new Asn1Tag(TagClass.ContextSpecific, 2));
            }

            foreach (var uri in uris)
            {
                writer.WriteCharacterString(UniversalTagNumber.IA5String, uri, new Asn1Tag(TagClass.ContextSpecific, 6));
            }
        }

        return new X509Extension("2.5.29.17", writer.Encode(), critical);
    }

    /// <summary>A critical name-constraints extension that permits the URI host <paramref name="host"/> only.</summary>
    public static X509Extension UriNameConstraints(string host)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        using (writer.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 0, isConstructed: true)))
        using (writer.PushSequence())
        {
            writer.WriteCharacterString(UniversalTagNumber.IA5String, host, new Asn1Tag(TagClass.ContextSpecific, 6));
        }

        return new X509Extension("2.5.29.30", writer.Encode(), critical: true);
    }

    public static X509EnhancedKeyUsageExtension ExtendedKeyUsages(IEnumerable<string> oids)
    {
        var collection = new OidCollection();
        foreach (var oid in oids)
        {
            collection.Add(new Oid(oid));
        }

        return new X509EnhancedKeyUsageExtension(collection, critical: false);
    }

    /// <summary>A positive random serial number of 16 bytes.</summary>
    public static byte[] Serial()
    {
        var serial = new byte[16];
        RandomNumberGenerator.Fill(serial);
        serial[0] = (byte)((serial[0] & 0x7F) | 0x40);
        return serial;
    }

    /// <summary>The certificate without its private key.</summary>
    public static X509Certificate2 Public(X509Certificate2 certificate) => X509CertificateLoader.LoadCertificate(certificate.RawData);

    public static string Sha256Hex(X509Certificate2 certificate) => Convert.ToHexStringLower(SHA256.HashData(certificate.RawData));

    private (X509Certificate2, X509Certificate2) CreateChain()
    {
        var constraint = _nameConstraints ? _constrainTo ?? TrustDomain.Name : null;
        var (notBefore, notAfter) = (Now.AddDays(-1), Now.AddDays(30));
        const X509KeyUsageFlags usage = X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign;
        var root = CreateCa($"CN=Test Root {TrustDomain}", null, notBefore, notAfter, constraint, pathLength: 1, keyUsage: usage);
        var intermediate = CreateCa($"CN=Test Intermediate {TrustDomain}", root, notBefore, notAfter, constraint, pathLength: 0, keyUsage: usage);
        return (root, intermediate);
    }

    public void Dispose()
    {
        lock (_issued)
        {
            foreach (var owner in _issued)
            {
                owner.Dispose();
            }
        }

        if (_ca.IsValueCreated)
        {
            _ca.Value.Dispose();
        }

        if (_otherCa.IsValueCreated)
        {
            _otherCa.Value.Dispose();
        }

        if (_chain.IsValueCreated)
        {
            _chain.Value.Root.Dispose();
            _chain.Value.Intermediate.Dispose();
        }

        if (_craftedRoot.IsValueCreated)
        {
            _craftedRoot.Value.Dispose();
        }

        if (_unknownRoot.IsValueCreated)
        {
            _unknownRoot.Value.Dispose();
        }
    }
}
