using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace AgentIdentity.Tests.Policy;

/// <summary>
/// A deliberately lenient CA for tests: it signs SVID-shaped leaves with whatever policy and chain extensions it is given,
/// so that the offline verifier can be shown forged or inconsistent chains that a conforming issuer would never produce.
/// Its root goes into the bundle, as if a buggy or compromised issuer had signed them.
/// </summary>
internal sealed class PolicyTestCa : IDisposable
{
    private readonly ECDsa _key = ECDsa.Create(ECCurve.NamedCurves.nistP256);

    public PolicyTestCa(TrustDomain trustDomain, DateTimeOffset now)
    {
        TrustDomain = trustDomain;
        var request = new CertificateRequest($"CN=Lenient Test CA, O={trustDomain}", _key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, critical: true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false));
        Root = request.CreateSelfSigned(now.AddDays(-1), now.AddDays(30));
        Bundle = new TrustBundle(trustDomain, [X509CertificateLoader.LoadCertificate(Root.RawData)]);
    }

    public TrustDomain TrustDomain { get; }

    public X509Certificate2 Root { get; }

    public TrustBundle Bundle { get; }

    public X509Certificate2 Issue(string id, DateTimeOffset notBefore, DateTimeOffset notAfter, AgentPolicy? policy = null, DelegationChain? chain = null, byte[]? rawPolicy = null)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName(string.Empty), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, critical: true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], critical: false));
        var san = new SubjectAlternativeNameBuilder();
        san.AddUri(new Uri(id));
        request.CertificateExtensions.Add(san.Build(critical: true));
        if (rawPolicy is not null)
        {
            request.CertificateExtensions.Add(new X509Extension(AgentPolicyExtension.PolicyOid, rawPolicy, critical: false));
        }
        else if (policy is not null)
        {
            request.CertificateExtensions.Add(AgentPolicyExtension.CreatePolicyExtension(policy));
        }

        if (chain is not null)
        {
            request.CertificateExtensions.Add(AgentPolicyExtension.CreateDelegationChainExtension(chain));
        }

        var serial = new byte[16];
        RandomNumberGenerator.Fill(serial);
        serial[0] &= 0x7F;
        var generator = X509SignatureGenerator.CreateForECDsa(_key);
        using var issued = request.Create(Root.SubjectName, generator, notBefore, notAfter, serial);
        return issued.CopyWithPrivateKey(key);
    }

    public static DelegationLink LinkFor(X509Certificate2 certificate, AgentPolicy policy) =>
        new(SpiffeId.Parse(certificate.GetNameInfo(X509NameType.UrlName, forIssuer: false)), certificate.GetCertHash(HashAlgorithmName.SHA256), new DateTimeOffset(certificate.NotAfter.ToUniversalTime()), policy);

    public void Dispose()
    {
        Root.Dispose();
        _key.Dispose();
    }
}
