using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace AgentIdentity;

/// <summary>The key type of agent SVIDs. Keys are generated in-process and never leave it.</summary>
public enum KeyAlgorithm
{
    /// <summary>ECDSA on NIST P-256 with SHA-256 (the default).</summary>
    EcdsaP256 = 0,

    /// <summary>ECDSA on NIST P-384 with SHA-384.</summary>
    EcdsaP384,

    /// <summary>RSA 2048 with SHA-256, for legacy peers.</summary>
    Rsa2048,

    /// <summary>RSA 3072 with SHA-256, for legacy peers.</summary>
    Rsa3072,
}

/// <summary>Generates keys and CSRs for X.509-SVIDs.</summary>
internal static class SvidKeys
{
    public static AsymmetricAlgorithm Generate(KeyAlgorithm algorithm) => algorithm switch
    {
        KeyAlgorithm.EcdsaP256 => ECDsa.Create(ECCurve.NamedCurves.nistP256),
        KeyAlgorithm.EcdsaP384 => ECDsa.Create(ECCurve.NamedCurves.nistP384),
        KeyAlgorithm.Rsa2048 => RSA.Create(2048),
        KeyAlgorithm.Rsa3072 => RSA.Create(3072),
        _ => throw new ArgumentOutOfRangeException(nameof(algorithm), algorithm, "Unknown key algorithm."),
    };

    /// <summary>Creates a DER PKCS#10 CSR for <paramref name="id"/> signed with <paramref name="key"/>: empty subject, critical URI SAN.</summary>
    public static byte[] CreateSigningRequest(SpiffeId id, AsymmetricAlgorithm key) => Pkcs10.Create(id, key);

    /// <summary>Attaches the private key to the issued leaf and disposes the public-only copy.</summary>
    public static X509Certificate2 AttachKey(X509Certificate2 issued, AsymmetricAlgorithm key)
    {
        try
        {
            if (!issued.PublicKey.ExportSubjectPublicKeyInfo().AsSpan().SequenceEqual(key.ExportSubjectPublicKeyInfo()))
            {
                throw new CertificateIssuanceException($"The issuer returned a certificate (serial {issued.SerialNumber}) for a different key than the one in the CSR; it was discarded.");
            }

            return key switch
            {
                ECDsa ec => issued.CopyWithPrivateKey(ec),
                RSA rsa => issued.CopyWithPrivateKey(rsa),
                _ => throw new ArgumentException("Unsupported key type.", nameof(key)),
            };
        }
        finally
        {
            issued.Dispose();
        }
    }
}
