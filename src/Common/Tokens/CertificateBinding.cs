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
    /// <returns><see langword="true"/> when the token is certificate-bound.</returns>
    public static bool TryGetThumbprint(JsonElement claims, [NotNullWhen(true)] out string? thumbprint) =>
        TryReadConfirmation(claims, out thumbprint) && thumbprint is not null;

    /// <summary>Reads a token's RFC 7800 <c>cnf</c> claim, which must carry the RFC 8705 <c>x5t#S256</c> member when present.</summary>
    /// <param name="claims">The token's claims (a JWT payload or an introspection response).</param>
    /// <param name="thumbprint">The <c>x5t#S256</c> value; <see langword="null"/> when the token has no <c>cnf</c> claim.</param>
    /// <returns><see langword="false"/> when a <c>cnf</c> claim is present but has no <c>x5t#S256</c> string (another
    /// confirmation method, or a malformed one).</returns>
    public static bool TryReadConfirmation(JsonElement claims, out string? thumbprint)
    {
        thumbprint = null;
        if (claims.ValueKind != JsonValueKind.Object || !claims.TryGetProperty("cnf", out var cnf))
        {
            return true;
        }

        if (cnf.ValueKind != JsonValueKind.Object || !cnf.TryGetProperty("x5t#S256", out var x5t) || x5t.ValueKind != JsonValueKind.String)
        {
            return false;
        }

        thumbprint = x5t.GetString();
        return true;
    }

    /// <summary>Whether <paramref name="thumbprint"/> is exactly the base64url encoding of <paramref name="certificateHash"/>, compared in constant time.</summary>
    public static bool Matches(string thumbprint, ReadOnlySpan<byte> certificateHash)
    {
        Span<char> expected = stackalloc char[Base64Url.GetEncodedLength(certificateHash.Length)];
        var written = Base64Url.EncodeToChars(certificateHash, expected);
        return CryptographicOperations.FixedTimeEquals(MemoryMarshal.AsBytes(expected[..written]), MemoryMarshal.AsBytes(thumbprint.AsSpan()));
    }
}
