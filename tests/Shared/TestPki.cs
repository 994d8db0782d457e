using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace AgentIdentity.Tests;

/// <summary>What a crafted leaf certificate looks like; every field can be set to break one SVID rule.</summary>
internal sealed class LeafSpec
{
    public List<string> Uris { get; } = [];
    public List<string> DnsNames { get; } = [];
    public bool SanCritical { get; set; } = true;
    public string Subject { get; set; } = string.Empty;
    public X509KeyUsageFlags? KeyUsage { get; set; } = X509KeyUsageFlags.DigitalSignature;
    public bool KeyUsageCritical { get; set; } = true;
    public bool IsCertificateAuthority { get; set; }
    public string[]? ExtendedKeyUsages { get; set; } = ["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"];
    public DateTimeOffset? NotBefore { get; set; }
    public DateTimeOffset? NotAfter { get; set; }
}

/// <summary>A run-time test PKI: root and intermediate (optionally name-constrained), and crafted leaves. Keys are generated per run.</summary>
internal sealed class TestPki : IDisposable
{
    private TestPki(TrustDomain trustDomain, X509Certificate2 root, X509Certificate2 intermediate, DateTimeOffset now)
    {
        TrustDomain = trustDomain;
        Root = root;
        Intermediate = intermediate;
        Now = now;
        Bundle = new TrustBundle(trustDomain, [X509CertificateLoader.LoadCertificate(root.RawData)]);
    }

    public TrustDomain TrustDomain { get; }
    public X509Certificate2 Root { get; }
    public X509Certificate2 Intermediate { get; }
    public DateTimeOffset Now { get; }
    public TrustBundle Bundle { get; }

    public static TestPki Create(string trustDomain, DateTimeOffset now, string? constrainTo = null, bool nameConstraints = true)
    {
        var td = TrustDomain.Parse(trustDomain);
        var constraint = constrainTo ?? trustDomain;
        var notBefore = now.AddDays(-1);
        var notAfter = now.AddDays(30);
        using var rootKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var rootRequest = CaRequest($"CN=Test Root {trustDomain}", rootKey, nameConstraints ? constraint : null, 1);
        var root = rootRequest.CreateSelfSigned(notBefore, notAfter);

        using var intermediateKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var intermediateRequest = CaRequest($"CN=Test Intermediate {trustDomain}", intermediateKey, nameConstraints ? constraint : null, 0);
        intermediateRequest.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(root, true, false));
        using var issued = intermediateRequest.Create(root, notBefore, notAfter, Serial());
        var intermediate = issued.CopyWithPrivateKey(intermediateKey);
        return new TestPki(td, root, intermediate, now);
    }

    /// <summary>Issues a leaf signed by the intermediate (or by <paramref name="issuer"/>), with its private key.</summary>
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
            var oids = new OidCollection();
            foreach (var eku in ekus)
            {
                oids.Add(new Oid(eku));
            }

            request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(oids, false));
        }

        if (spec.Uris.Count > 0 || spec.DnsNames.Count > 0)
        {
            request.CertificateExtensions.Add(BuildSan(spec.Uris, spec.DnsNames, spec.SanCritical));
        }

        var signer = issuer ?? Intermediate;
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(signer, true, false));
        var notBefore = spec.NotBefore ?? Now.AddMinutes(-1);
        var notAfter = spec.NotAfter ?? Now.AddHours(1);
        using var leaf = request.Create(signer, notBefore, notAfter, Serial());
        return leaf.CopyWithPrivateKey(key);
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

    private static CertificateRequest CaRequest(string subject, ECDsa key, string? constraint, int pathLength)
    {
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, pathLength, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        if (constraint is not null)
        {
            var writer = new AsnWriter(AsnEncodingRules.DER);
            using (writer.PushSequence())
            using (writer.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 0, true)))
            using (writer.PushSequence())
            {
                writer.WriteCharacterString(UniversalTagNumber.IA5String, constraint, new Asn1Tag(TagClass.ContextSpecific, 6));
            }

            request.CertificateExtensions.Add(new X509Extension("2.5.29.30", writer.Encode(), true));
        }

        return request;
    }

    private static byte[] Serial()
    {
        var serial = new byte[12];
        RandomNumberGenerator.Fill(serial);
        serial[0] = (byte)((serial[0] & 0x7F) | 0x10);
        return serial;
    }

    public void Dispose()
    {
        Root.Dispose();
        Intermediate.Dispose();
    }
}
