using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace AgentIdentity;

/// <summary>Signs with a certificate's private key and verifies with its public key: ECDSA (IEEE P1363) or RSA (PKCS#1 v1.5),
/// SHA-256 in both cases. The proofs of possession the issuer accepts (delegation, renewal after expiry) are made this way.</summary>
internal static class CertificateKeySignature
{
    /// <summary>Signs <paramref name="content"/> with the private key of <paramref name="certificate"/>.</summary>
    /// <returns>The signature, or <see langword="null"/> when the key is neither ECDSA nor RSA (or absent).</returns>
    public static byte[]? Sign(X509Certificate2 certificate, byte[] content)
    {
        using (var ec = certificate.GetECDsaPrivateKey())
        {
            if (ec is not null)
            {
                return ec.SignData(content, HashAlgorithmName.SHA256);
            }
        }

        using var rsa = certificate.GetRSAPrivateKey();
        return rsa?.SignData(content, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
    }

    /// <summary>Verifies <paramref name="signature"/> over <paramref name="content"/> with the public key of <paramref name="certificate"/>.</summary>
    /// <returns><see langword="true"/> when it verifies; <see langword="false"/> otherwise (also for an unusable key or a malformed signature).</returns>
    public static bool Verify(X509Certificate2 certificate, byte[] content, byte[] signature)
    {
        try
        {
            using (var ec = certificate.GetECDsaPublicKey())
            {
                if (ec is not null)
                {
                    return ec.VerifyData(content, signature, HashAlgorithmName.SHA256);
                }
            }

            using var rsa = certificate.GetRSAPublicKey();
            return rsa is not null && rsa.VerifyData(content, signature, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        }
        catch (CryptographicException)
        {
            return false;
        }
    }
}
