using System.Security.Cryptography;
using System.Text;

namespace AgentIdentity;

/// <summary>
/// The proof of possession of an expired SVID's key that <c>POST v1/renew-expired</c> accepts (the idea of step-ca's
/// <c>allowRenewalAfterExpiry</c>, where the expired certificate travels in a token signed by its key, not over TLS). The key
/// signs the UTF-8 string <c>"AgentIdentity renew-expired v1\n" + trustDomain + "\n" + spiffeId + "\n" + serialNumber + "\n" + proofTime + "\n"</c>
/// followed by the SHA-256 of the DER CSR, with the rules of <c>CertificateKeySignature</c> (ECDSA P1363 or RSA PKCS#1 v1.5, SHA-256).
/// </summary>
/// <remarks>
/// Why a replay gains nothing: the proof names the CSR, so replaying it can only certify the key of that CSR, which the replayer
/// does not hold; it is accepted only within <see cref="MaxAge"/> of the issuer's clock; and once it renewed, the expired
/// certificate is superseded in the identity's lineage, so a second use is refused as a superseded certificate.
/// </remarks>
internal static class ExpiredRenewalProof
{
    /// <summary>How far the proof time may be from the issuer's clock, either way.</summary>
    public static readonly TimeSpan MaxAge = TimeSpan.FromMinutes(5);

    private const string Context = "AgentIdentity renew-expired v1\n";

    /// <summary>The signed content.</summary>
    public static byte[] BuildContent(TrustDomain trustDomain, SpiffeId id, string serialNumber, long proofTime, ReadOnlySpan<byte> csr)
    {
        var prefix = Encoding.UTF8.GetBytes(string.Concat(
            Context, trustDomain.Name, "\n", id.ToString(), "\n", serialNumber.ToUpperInvariant(), "\n", proofTime.ToString(System.Globalization.CultureInfo.InvariantCulture), "\n"));
        var content = new byte[prefix.Length + 32];
        prefix.CopyTo(content, 0);
        SHA256.HashData(csr, content.AsSpan(prefix.Length));
        return content;
    }
}
