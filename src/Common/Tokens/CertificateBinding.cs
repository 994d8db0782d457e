using System.Buffers.Text;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text.Json;

namespace AgentIdentity;

/// <summary>RFC 8705 §3.1 certificate binding: a token's <c>cnf.x5t#S256</c> is base64url(SHA-256(DER)) of the certificate it is bound to.</summary>
internal static class CertificateBinding
{
    /// <summary>Reads <c>cnf.x5t#S256</c> from a token's claims.</summary>
    public static bool TryGetThumbprint(JsonElement claims, [NotNullWhen(true)] out string? thumbprint)
    {
        thumbprint = claims.ValueKind == JsonValueKind.Object &&
            claims.TryGetProperty("cnf", out var cnf) && cnf.ValueKind == JsonValueKind.Object &&
            cnf.TryGetProperty("x5t#S256", out var x5t) && x5t.ValueKind == JsonValueKind.String
                ? x5t.GetString()
                : null;
        return thumbprint is not null;
    }

    /// <summary>Whether <paramref name="thumbprint"/> is exactly the base64url encoding of <paramref name="certificateHash"/>, compared in constant time.</summary>
    public static bool Matches(string thumbprint, ReadOnlySpan<byte> certificateHash)
    {
        Span<char> expected = stackalloc char[Base64Url.GetEncodedLength(certificateHash.Length)];
        var written = Base64Url.EncodeToChars(certificateHash, expected);
        return CryptographicOperations.FixedTimeEquals(MemoryMarshal.AsBytes(expected[..written]), MemoryMarshal.AsBytes(thumbprint.AsSpan()));
    }
}
