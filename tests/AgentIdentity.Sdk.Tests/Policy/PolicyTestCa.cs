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
    public PolicyTestCa(TrustDomain trustDomain, DateTimeOffset now)
    {
        TrustDomain = trustDomain;
        Root = TestPki.CreateCa($"CN=Lenient Test CA, O={trustDomain}", null, now.AddDays(-1), now.AddDays(30), nameConstraint: null, keyUsage: X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign);
        Bundle = new TrustBundle(trustDomain, [TestPki.Public(Root)]);
    }

    public TrustDomain TrustDomain { get; }

    public X509Certificate2 Root { get; }

    public TrustBundle Bundle { get; }

    public X509Certificate2 Issue(string id, DateTimeOffset notBefore, DateTimeOffset notAfter, AgentPolicy? policy = null, DelegationChain? chain = null, byte[]? rawPolicy = null)
    {
        var extra = new List<X509Extension>();
        if (rawPolicy is not null)
        {
            extra.Add(new X509Extension(AgentPolicyExtension.PolicyOid, rawPolicy, critical: false));
        }
        else if (policy is not null)
        {
            extra.Add(AgentPolicyExtension.CreatePolicyExtension(policy));
        }

        if (chain is not null)
        {
            extra.Add(AgentPolicyExtension.CreateDelegationChainExtension(chain));
        }

        return TestPki.CreateLeaf(Root, [id], notBefore, notAfter, extra: extra);
    }

    public static DelegationLink LinkFor(X509Certificate2 certificate, AgentPolicy policy) =>
        new(SpiffeId.Parse(certificate.GetNameInfo(X509NameType.UrlName, forIssuer: false)), certificate.GetCertHash(HashAlgorithmName.SHA256), new DateTimeOffset(certificate.NotAfter.ToUniversalTime()), policy);

    public void Dispose() => Root.Dispose();
}
