using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using AgentIdentity;

namespace AgentIdentity.AspNetCore.Tests.TestInfrastructure;

/// <summary>
/// Run-time PKI for the tests: the development CA of corp.example (the real issuer), plus a hand-made "crafted" root that the
/// service also trusts for corp.example, used to mint certificates that break one rule each. All keys are generated here.
/// </summary>
internal sealed class TestPki : IDisposable
{
    public static readonly TrustDomain Corp = TrustDomain.Parse("corp.example");
    public static readonly TrustDomain Other = TrustDomain.Parse("other.example");

    private readonly List<X509SvidOwner> _issued = [];

    public TestPki(TimeProvider? time = null)
    {
        Time = time ?? TimeProvider.System;
        Ca = DevelopmentCertificateAuthority.Create(Corp, timeProvider: Time);
        OtherCa = DevelopmentCertificateAuthority.Create(Other, timeProvider: Time);
        var now = Time.GetUtcNow();
        CraftedRoot = CreateCa("CN=Crafted Root", null, now.AddDays(-1), now.AddDays(30), nameConstraint: null);
        UnknownRoot = CreateCa("CN=Unknown Root", null, now.AddDays(-1), now.AddDays(30), nameConstraint: null);
        Bundles = new TrustBundleSet([
            new TrustBundle(Corp, [Ca.RootCertificate, Public(CraftedRoot)]),
        ]);
    }

    public TimeProvider Time { get; }

    public DevelopmentCertificateAuthority Ca { get; }

    public DevelopmentCertificateAuthority OtherCa { get; }

    public X509Certificate2 CraftedRoot { get; }

    public X509Certificate2 UnknownRoot { get; }

    public TrustBundleSet Bundles { get; set; }

    public static X509Certificate2 Public(X509Certificate2 certificate) => X509CertificateLoader.LoadCertificate(certificate.RawData);

    /// <summary>Issues a real SVID from a development CA, with its private key; released when this PKI is disposed.</summary>
    public X509Svid IssueSvid(DevelopmentCertificateAuthority ca, string id, TimeSpan? lifetime = null, string[]? dnsNames = null, AgentPolicy? policy = null)
    {
        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName(string.Empty), key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddUri(new Uri(id));
        request.CertificateExtensions.Add(san.Build(critical: true));
        var issuance = ca.Issue(new X509SvidRequest(SpiffeId.Parse(id), request.CreateSigningRequest(), lifetime ?? TimeSpan.FromHours(1)) { DnsNames = dnsNames ?? [], Policy = policy });
        var owner = new X509SvidOwner(issuance.Certificate.CopyWithPrivateKey(key), issuance.Intermediates);
        lock (_issued)
        {
            _issued.Add(owner);
        }

        return owner.Svid;
    }

    public X509Svid IssueSvid(string id, TimeSpan? lifetime = null) => IssueSvid(Ca, id, lifetime);

    public static X509Certificate2 CreateCa(string subject, X509Certificate2? issuer, DateTimeOffset notBefore, DateTimeOffset notAfter, string? nameConstraint)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign | X509KeyUsageFlags.DigitalSignature, critical: true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false));
        if (nameConstraint is not null)
        {
            request.CertificateExtensions.Add(UriNameConstraints(nameConstraint));
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
        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName(uris.Length == 0 ? "CN=no-uri" : string.Empty), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(isCa, false, 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(isCa ? X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.DigitalSignature : X509KeyUsageFlags.DigitalSignature, critical: true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], critical: false));
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

    public X509Certificate2 CreateCraftedLeaf(string[] uris, DateTimeOffset? notBefore = null, DateTimeOffset? notAfter = null, IEnumerable<X509Extension>? extra = null)
    {
        var now = Time.GetUtcNow();
        return CreateLeaf(CraftedRoot, uris, notBefore ?? now.AddMinutes(-5), notAfter ?? now.AddHours(1), extra: extra);
    }

    public static X509Extension UriNameConstraints(string host)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            using (writer.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 0, isConstructed: true)))
            {
                using (writer.PushSequence())
                {
                    writer.WriteCharacterString(UniversalTagNumber.IA5String, host, new Asn1Tag(TagClass.ContextSpecific, 6));
                }
            }
        }

        return new X509Extension("2.5.29.30", writer.Encode(), critical: true);
    }

    private static byte[] Serial()
    {
        var serial = new byte[16];
        RandomNumberGenerator.Fill(serial);
        serial[0] = (byte)((serial[0] & 0x7F) | 0x40);
        return serial;
    }

    public void Dispose()
    {
        foreach (var owner in _issued)
        {
            owner.Dispose();
        }

        Ca.Dispose();
        OtherCa.Dispose();
        CraftedRoot.Dispose();
        UnknownRoot.Dispose();
    }
}
