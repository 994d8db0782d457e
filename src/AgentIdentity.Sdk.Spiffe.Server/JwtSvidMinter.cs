using System.Buffers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using AgentIdentity.Spiffe.Proto;
using Google.Protobuf;

namespace AgentIdentity.Spiffe;

/// <summary>Mints ES256 JWT-SVIDs with the server's JWT key and publishes that key as the JWT bundle of each served trust domain.</summary>
internal static class JwtSvidMinter
{
    public static string Mint(WorkloadApiState state, SpiffeId id, IEnumerable<string> audiences)
    {
        var now = state.Time.GetUtcNow();
        var header = Json(w =>
        {
            w.WriteString("alg", "ES256");
            w.WriteString("kid", state.JwtKeyId);
            w.WriteString("typ", "JWT");
        });
        var audienceList = audiences.ToArray();
        var claims = Json(w =>
        {
            w.WriteString("sub", id.ToString());
            if (audienceList.Length == 1)
            {
                w.WriteString("aud", audienceList[0]);
            }
            else
            {
                w.WriteStartArray("aud");
                foreach (var audience in audienceList)
                {
                    w.WriteStringValue(audience);
                }

                w.WriteEndArray();
            }

            w.WriteNumber("exp", (now + state.JwtSvidLifetime).ToUnixTimeSeconds());
            w.WriteNumber("iat", now.ToUnixTimeSeconds());
        });
        var signingInput = string.Concat(System.Buffers.Text.Base64Url.EncodeToString(header), ".", System.Buffers.Text.Base64Url.EncodeToString(claims));
        var signature = state.JwtKey.SignData(Encoding.ASCII.GetBytes(signingInput), HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
        return string.Concat(signingInput, ".", System.Buffers.Text.Base64Url.EncodeToString(signature));
    }

    public static byte[] Jwks(WorkloadApiState state)
    {
        var p = state.JwtKey.ExportParameters(false);
        return Json(w =>
        {
            w.WriteStartArray("keys");
            w.WriteStartObject();
            w.WriteString("kty", "EC");
            w.WriteString("use", "jwt-svid");
            w.WriteString("kid", state.JwtKeyId);
            w.WriteString("crv", "P-256");
            w.WriteString("x", System.Buffers.Text.Base64Url.EncodeToString(p.Q.X));
            w.WriteString("y", System.Buffers.Text.Base64Url.EncodeToString(p.Q.Y));
            w.WriteEndObject();
            w.WriteEndArray();
        });
    }

    public static JWTBundlesResponse BuildBundles(WorkloadApiState state)
    {
        var response = new JWTBundlesResponse();
        var jwks = ByteString.CopyFrom(Jwks(state));
        foreach (var td in state.Registrations.Select(r => r.Id.TrustDomain).Distinct())
        {
            response.Bundles[td.Id.ToString()] = jwks;
        }

        return response;
    }

    public static TrustBundleSet BundleSet(WorkloadApiState state)
    {
        var jwks = Jwks(state);
        return new TrustBundleSet(state.Registrations.Select(r => r.Id.TrustDomain).Distinct().Select(td => TrustBundle.Parse(td, jwks)));
    }

    private static byte[] Json(Action<Utf8JsonWriter> write)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            write(writer);
            writer.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }
}
