using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace AgentIdentity;

/// <summary>The issuer side of policies: vets a request's policy and delegation proof and builds the extensions to embed.</summary>
internal static class PolicyIssuance
{
    /// <summary>
    /// Returns the policy and delegation-chain extensions for <paramref name="request"/> (none when it has neither), or throws
    /// <see cref="CertificateIssuanceException"/> naming the rule a delegated request breaks.
    /// </summary>
    public static List<X509Extension> BuildExtensions(X509SvidRequest request, ITrustBundleSource bundles, DateTimeOffset now)
    {
        var extensions = new List<X509Extension>(2);
        if (request.Delegation is not { } proof)
        {
            if (request.Policy is { } own)
            {
                extensions.Add(CreatePolicyExtension(request.Id, own));
            }

            return extensions;
        }

        var parent = X509SvidValidator.Validate(proof.ParentCertificate, proof.ParentIntermediates, bundles, now);
        if (!parent.IsValid)
        {
            throw Refuse(request.Id, DelegationError.InvalidCertificate, $"the parent certificate is not a valid SVID of this issuer: {parent.Reason}");
        }

        if (!proof.VerifySignature(request.Id, request.CertificateSigningRequest.Span))
        {
            throw Refuse(request.Id, DelegationError.InvalidProof, $"the delegation proof is not signed by the key of '{parent.Id}' over this CSR");
        }

        AgentPolicy? parentPolicy;
        DelegationChain? parentChain;
        try
        {
            parentPolicy = AgentPolicyExtension.ReadPolicy(proof.ParentCertificate);
            parentChain = AgentPolicyExtension.ReadDelegationChain(proof.ParentCertificate);
        }
        catch (PolicyFormatException ex)
        {
            throw Refuse(request.Id, DelegationError.MalformedExtension, $"the parent certificate's policy cannot be read: {ex.Message}");
        }

        var parentNotAfter = new DateTimeOffset(proof.ParentCertificate.NotAfter.ToUniversalTime());
        var error = DelegationRules.Check(parent.Id, parentPolicy, parentChain?.Count ?? 0, parentNotAfter, request.Id, request.Policy, now + request.Lifetime, out var reason);
        if (error != DelegationError.None)
        {
            throw Refuse(request.Id, error, reason);
        }

        var link = new DelegationLink(parent.Id, proof.ParentCertificate.GetCertHash(HashAlgorithmName.SHA256), parentNotAfter, parentPolicy!);
        var chain = parentChain is null ? new DelegationChain([link]) : parentChain.Append(link);
        extensions.Add(CreatePolicyExtension(request.Id, request.Policy!));
        extensions.Add(AgentPolicyExtension.CreateDelegationChainExtension(chain));
        return extensions;
    }

    private static X509Extension CreatePolicyExtension(SpiffeId id, AgentPolicy policy)
    {
        try
        {
            return AgentPolicyExtension.CreatePolicyExtension(policy);
        }
        catch (InvalidOperationException ex)
        {
            throw new CertificateIssuanceException($"Cannot issue '{id}': {ex.Message}", ex);
        }
    }

    private static CertificateIssuanceException Refuse(SpiffeId id, DelegationError error, string reason) =>
        new($"Cannot issue '{id}' by delegation ({error}): {reason}.") { Data = { ["DelegationError"] = error } };
}
