using System.Security.Cryptography.X509Certificates;

namespace AgentIdentity;

/// <summary>The X.509 extensions that carry an <see cref="AgentPolicy"/> and a <see cref="DelegationChain"/> in a certificate.</summary>
/// <remarks>Both are non-critical, so TLS stacks that do not know them still accept the certificate. See docs/policy-extension.md.</remarks>
public static class AgentPolicyExtension
{
    /// <summary>The OID arc owned by this project (a UUID OID under <c>2.25</c>).</summary>
    public const string ArcOid = Oids.Arc;

    /// <summary>The OID of the agent policy extension.</summary>
    public const string PolicyOid = Oids.AgentPolicy;

    /// <summary>The OID of the delegation chain extension.</summary>
    public const string DelegationChainOid = Oids.DelegationChain;

    /// <summary>Builds the non-critical policy extension.</summary>
    /// <param name="policy">The policy.</param>
    /// <returns>The extension.</returns>
    /// <exception cref="InvalidOperationException">The policy exceeds the encoding limits.</exception>
    public static X509Extension CreatePolicyExtension(AgentPolicy policy)
    {
        ArgumentNullException.ThrowIfNull(policy);
        return new X509Extension(PolicyOid, policy.EncodeChecked(), critical: false);
    }

    /// <summary>Builds the non-critical delegation-chain extension.</summary>
    /// <param name="chain">The chain.</param>
    /// <returns>The extension.</returns>
    public static X509Extension CreateDelegationChainExtension(DelegationChain chain)
    {
        ArgumentNullException.ThrowIfNull(chain);
        return new X509Extension(DelegationChainOid, chain.ToDer(), critical: false);
    }

    /// <summary>Reads the policy of <paramref name="certificate"/>.</summary>
    /// <param name="certificate">The certificate.</param>
    /// <returns>The policy, or <see langword="null"/> when the certificate has no policy extension.</returns>
    /// <exception cref="PolicyFormatException">The extension is present but malformed, duplicated, or marked critical.</exception>
    public static AgentPolicy? ReadPolicy(X509Certificate2 certificate)
    {
        var extension = FindSingle(certificate, PolicyOid, "policy");
        return extension is null ? null : AgentPolicyCodec.DecodePolicy(extension.RawData);
    }

    /// <summary>Reads the delegation chain of <paramref name="certificate"/>.</summary>
    /// <param name="certificate">The certificate.</param>
    /// <returns>The chain, or <see langword="null"/> when the certificate has no delegation-chain extension (it is not a task identity).</returns>
    /// <exception cref="PolicyFormatException">The extension is present but malformed, duplicated, or marked critical.</exception>
    public static DelegationChain? ReadDelegationChain(X509Certificate2 certificate)
    {
        var extension = FindSingle(certificate, DelegationChainOid, "delegation chain");
        return extension is null ? null : AgentPolicyCodec.DecodeChain(extension.RawData);
    }

    private static X509Extension? FindSingle(X509Certificate2 certificate, string oid, string what)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        X509Extension? found = null;
        foreach (var extension in certificate.Extensions)
        {
            if (extension.Oid?.Value != oid)
            {
                continue;
            }

            if (found is not null)
            {
                throw new PolicyFormatException($"Certificate with serial {certificate.SerialNumber} carries the {what} extension twice.");
            }

            if (extension.Critical)
            {
                throw new PolicyFormatException($"Certificate with serial {certificate.SerialNumber} marks the {what} extension critical; it must be non-critical.");
            }

            found = extension;
        }

        return found;
    }
}
