using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace AgentIdentity.Spiffe;

/// <summary>The outcome of validating a JWT-SVID.</summary>
public sealed class JwtSvidValidationResult
{
    private JwtSvidValidationResult(string? error, SpiffeId id, IReadOnlyList<string> audience, DateTimeOffset expiresAt, string claimsJson)
    {
        Error = error;
        Id = id;
        Audience = audience;
        ExpiresAt = expiresAt;
        ClaimsJson = claimsJson;
    }

    /// <summary>Gets a value indicating whether the token is a valid JWT-SVID for the audience.</summary>
    public bool IsValid => Error is null;

    /// <summary>Gets why the token was rejected, or <see langword="null"/> when it is valid.</summary>
    public string? Error { get; }

    /// <summary>Gets the SPIFFE ID (<c>sub</c>) of a valid token.</summary>
    public SpiffeId Id { get; }

    /// <summary>Gets the audiences (<c>aud</c>) of a valid token.</summary>
    public IReadOnlyList<string> Audience { get; }

    /// <summary>Gets the expiry (<c>exp</c>) of a valid token.</summary>
    public DateTimeOffset ExpiresAt { get; }

    /// <summary>Gets the claims as JSON (empty object when invalid).</summary>
    public string ClaimsJson { get; }

    internal static JwtSvidValidationResult Fail(string error) => new(error, default, [], default, "{}");

    internal static JwtSvidValidationResult Success(SpiffeId id, IReadOnlyList<string> audience, DateTimeOffset expiresAt, string claimsJson) =>
        new(null, id, audience, expiresAt, claimsJson);
}

/// <summary>
/// Validates JWT-SVIDs (SPECS.md §3) against the JWT authorities of trust bundles, without a JWT library: JWS compact only,
/// <c>alg</c> from the SPIFFE allow-list (RS/ES/PS 256/384/512; never <c>none</c>, HMAC or EdDSA), <c>typ</c> absent or
/// <c>JWT</c>/<c>JOSE</c>, no <c>crit</c>, <c>sub</c> a SPIFFE ID, the key found by <c>kid</c> in the JWT bundle of
/// <c>sub</c>'s trust domain only (all of its keys are tried when <c>kid</c> is absent), the signature verified with a key of the
/// matching type, then <c>exp</c>, <c>nbf</c> and <c>aud</c>.
/// </summary>
public static class JwtSvidValidator
{
    /// <summary>The default clock leeway for <c>exp</c> and <c>nbf</c> (go-jose's: one minute).</summary>
    public static readonly TimeSpan DefaultLeeway = TimeSpan.FromMinutes(1);

    /// <summary>Validates a JWT-SVID.</summary>
    /// <param name="token">The JWS compact token.</param>
    /// <param name="audience">The audience the token must name.</param>
    /// <param name="bundles">The JWT bundles (from <c>FetchJWTBundles</c>); X.509 bundles must not be used for JWT-SVIDs.</param>
    /// <param name="now">The current time.</param>
    /// <param name="leeway">The clock leeway; <see langword="null"/> for <see cref="DefaultLeeway"/>.</param>
    /// <returns>The result; <see cref="JwtSvidValidationResult.Error"/> says why a token was rejected.</returns>
    public static JwtSvidValidationResult Validate(string token, string audience, ITrustBundleSource bundles, DateTimeOffset now, TimeSpan? leeway = null)
    {
        ArgumentNullException.ThrowIfNull(bundles);
        if (string.IsNullOrEmpty(audience))
        {
            return JwtSvidValidationResult.Fail("no audience was given to validate against");
        }

        if (string.IsNullOrEmpty(token))
        {
            return JwtSvidValidationResult.Fail("the token is empty");
        }

        if (token.TrimStart().StartsWith('{'))
        {
            return JwtSvidValidationResult.Fail("JWS JSON serialization is not allowed; a JWT-SVID uses the compact serialization");
        }

        var parts = token.Split('.');
        if (parts.Length != 3)
        {
            return JwtSvidValidationResult.Fail(parts.Length == 5 ? "the token is a JWE; a JWT-SVID must be a JWS" : $"the token has {parts.Length} parts; a JWS compact token has 3");
        }

        if (!TryDecode(parts[0], out var headerBytes) || !TryDecode(parts[1], out var claimsBytes) || !TryDecode(parts[2], out var signature))
        {
            return JwtSvidValidationResult.Fail("a token part is not base64url");
        }

        string alg;
        string? kid = null;
        try
        {
            using var header = JsonDocument.Parse(headerBytes);
            var root = header.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                return JwtSvidValidationResult.Fail("the header is not a JSON object");
            }

            if (!root.TryGetProperty("alg", out var algElement) || algElement.ValueKind != JsonValueKind.String)
            {
                return JwtSvidValidationResult.Fail("the header has no 'alg'");
            }

            alg = algElement.GetString()!;
            if (alg is not ("RS256" or "RS384" or "RS512" or "ES256" or "ES384" or "ES512" or "PS256" or "PS384" or "PS512"))
            {
                return JwtSvidValidationResult.Fail($"algorithm '{DisplayText.Truncate(alg)}' is not allowed for JWT-SVIDs");
            }

            if (root.TryGetProperty("typ", out var typ) && (typ.ValueKind != JsonValueKind.String || typ.GetString() is not ("JWT" or "JOSE")))
            {
                return JwtSvidValidationResult.Fail($"header 'typ' is {DisplayText.Truncate(typ.GetRawText())}; only JWT or JOSE are allowed");
            }

            if (root.TryGetProperty("crit", out _))
            {
                return JwtSvidValidationResult.Fail("header 'crit' is not supported");
            }

            if (root.TryGetProperty("kid", out var kidElement))
            {
                if (kidElement.ValueKind != JsonValueKind.String)
                {
                    return JwtSvidValidationResult.Fail("header 'kid' is not a string");
                }

                kid = kidElement.GetString();
            }
        }
        catch (JsonException ex)
        {
            return JwtSvidValidationResult.Fail($"the header is not valid JSON ({ex.Message})");
        }

        JsonDocument claims;
        try
        {
            claims = JsonDocument.Parse(claimsBytes);
        }
        catch (JsonException ex)
        {
            return JwtSvidValidationResult.Fail($"the claims are not valid JSON ({ex.Message})");
        }

        using (claims)
        {
            var root = claims.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                return JwtSvidValidationResult.Fail("the claims are not a JSON object");
            }

            if (!root.TryGetProperty("sub", out var sub) || sub.ValueKind != JsonValueKind.String)
            {
                return JwtSvidValidationResult.Fail("the token has no 'sub' claim");
            }

            if (!root.TryGetProperty("exp", out var exp) || exp.ValueKind != JsonValueKind.Number || !exp.TryGetInt64(out var expSeconds))
            {
                return JwtSvidValidationResult.Fail("the token has no numeric 'exp' claim");
            }

            if (!SpiffeId.TryParse(sub.GetString(), out var id, out var idError))
            {
                return JwtSvidValidationResult.Fail($"'sub' is not a SPIFFE ID: {idError}");
            }

            if (!bundles.TryGetBundle(id.TrustDomain, out var bundle))
            {
                return JwtSvidValidationResult.Fail($"no JWT bundle for trust domain '{id.TrustDomain}'");
            }

            var candidates = FindKeys(bundle, kid);
            if (candidates.Count == 0)
            {
                return JwtSvidValidationResult.Fail(kid is null ? $"the JWT bundle of '{id.TrustDomain}' has no keys" : $"no key '{DisplayText.Truncate(kid)}' in the JWT bundle of '{id.TrustDomain}'");
            }

            var signedBytes = Encoding.ASCII.GetBytes(string.Concat(parts[0], ".", parts[1]));
            string? keyError = null;
            var verified = false;
            foreach (var jwk in candidates)
            {
                verified = Verify(alg, jwk, signedBytes, signature, out keyError);
                if (verified)
                {
                    break;
                }
            }

            if (!verified)
            {
                return JwtSvidValidationResult.Fail(keyError ?? "the signature does not verify");
            }

            var skew = leeway ?? DefaultLeeway;
            var expiresAt = DateTimeOffset.FromUnixTimeSeconds(Math.Clamp(expSeconds, -62135596800L, 253402300799L));
            if (now > expiresAt + skew)
            {
                return JwtSvidValidationResult.Fail($"the token expired at {expiresAt:O}");
            }

            if (root.TryGetProperty("nbf", out var nbf))
            {
                if (nbf.ValueKind != JsonValueKind.Number || !nbf.TryGetInt64(out var nbfSeconds))
                {
                    return JwtSvidValidationResult.Fail("'nbf' is not a number");
                }

                var notBefore = DateTimeOffset.FromUnixTimeSeconds(Math.Clamp(nbfSeconds, -62135596800L, 253402300799L));
                if (now + skew < notBefore)
                {
                    return JwtSvidValidationResult.Fail($"the token is not valid before {notBefore:O}");
                }
            }

            var audiences = new List<string>();
            if (!root.TryGetProperty("aud", out var aud))
            {
                return JwtSvidValidationResult.Fail("the token has no 'aud' claim");
            }

            if (aud.ValueKind == JsonValueKind.String)
            {
                audiences.Add(aud.GetString()!);
            }
            else if (aud.ValueKind == JsonValueKind.Array)
            {
                foreach (var item in aud.EnumerateArray())
                {
                    if (item.ValueKind != JsonValueKind.String)
                    {
                        return JwtSvidValidationResult.Fail("'aud' holds a value that is not a string");
                    }

                    audiences.Add(item.GetString()!);
                }
            }

            if (audiences.Count == 0)
            {
                return JwtSvidValidationResult.Fail("'aud' is empty");
            }

            if (!audiences.Contains(audience, StringComparer.Ordinal))
            {
                return JwtSvidValidationResult.Fail($"audience '{audience}' is not among the token's audiences");
            }

            return JwtSvidValidationResult.Success(id, audiences, expiresAt, root.GetRawText());
        }
    }

    private static List<JsonElement> FindKeys(TrustBundle bundle, string? kid)
    {
        var keys = new List<JsonElement>();
        foreach (var text in bundle.JwtAuthorities)
        {
            using var document = JsonDocument.Parse(text);
            var key = document.RootElement.Clone();
            if (kid is null || (key.TryGetProperty("kid", out var k) && k.ValueKind == JsonValueKind.String && string.Equals(k.GetString(), kid, StringComparison.Ordinal)))
            {
                keys.Add(key);
            }
        }

        return keys;
    }

    private static bool Verify(string alg, JsonElement jwk, byte[] data, byte[] signature, out string? error)
    {
        error = null;
        var kty = jwk.TryGetProperty("kty", out var k) ? k.GetString() : null;
        var hash = alg[2..] switch
        {
            "256" => HashAlgorithmName.SHA256,
            "384" => HashAlgorithmName.SHA384,
            _ => HashAlgorithmName.SHA512,
        };
        try
        {
            if (alg[0] == 'E')
            {
                var (crv, size) = alg switch { "ES256" => ("P-256", 32), "ES384" => ("P-384", 48), _ => ("P-521", 66) };
                if (kty != "EC" || !jwk.TryGetProperty("crv", out var c) || c.GetString() != crv)
                {
                    error = $"algorithm {alg} does not match the key type ({kty}, {(jwk.TryGetProperty("crv", out var cc) ? cc.GetString() : "no curve")})";
                    return false;
                }

                if (signature.Length != 2 * size)
                {
                    error = $"an {alg} signature must be {2 * size} bytes, not {signature.Length}";
                    return false;
                }

                using var ec = ECDsa.Create(new ECParameters
                {
                    Curve = crv switch { "P-256" => ECCurve.NamedCurves.nistP256, "P-384" => ECCurve.NamedCurves.nistP384, _ => ECCurve.NamedCurves.nistP521 },
                    Q = new ECPoint { X = Base64UrlDecode(jwk, "x", size), Y = Base64UrlDecode(jwk, "y", size) },
                });
                if (!ec.VerifyData(data, signature, hash, DSASignatureFormat.IeeeP1363FixedFieldConcatenation))
                {
                    error = "the signature does not verify";
                    return false;
                }

                return true;
            }

            if (kty != "RSA")
            {
                error = $"algorithm {alg} needs an RSA key, not {kty}";
                return false;
            }

            using var rsa = RSA.Create(new RSAParameters { Modulus = Base64UrlDecode(jwk, "n", null), Exponent = Base64UrlDecode(jwk, "e", null) });
            if (rsa.KeySize < 2048)
            {
                error = $"the RSA key has {rsa.KeySize} bits; at least 2048 are required";
                return false;
            }

            var padding = alg[0] == 'P' ? RSASignaturePadding.Pss : RSASignaturePadding.Pkcs1;
            if (!rsa.VerifyData(data, signature, hash, padding))
            {
                error = "the signature does not verify";
                return false;
            }

            return true;
        }
        catch (Exception ex) when (ex is CryptographicException or FormatException or InvalidOperationException or KeyNotFoundException)
        {
            error = $"the JWT key is unusable ({ex.Message})";
            return false;
        }
    }

    private static byte[] Base64UrlDecode(JsonElement jwk, string name, int? length)
    {
        var value = jwk.GetProperty(name).GetString() ?? throw new FormatException($"JWK member '{name}' is not a string.");
        var bytes = System.Buffers.Text.Base64Url.DecodeFromChars(value);
        if (length is { } expected && bytes.Length != expected)
        {
            throw new FormatException($"JWK member '{name}' has {bytes.Length} bytes instead of {expected}.");
        }

        return bytes;
    }

    private static bool TryDecode(string part, out byte[] bytes)
    {
        try
        {
            bytes = System.Buffers.Text.Base64Url.DecodeFromChars(part);
            return true;
        }
        catch (FormatException)
        {
            bytes = [];
            return false;
        }
    }
}
