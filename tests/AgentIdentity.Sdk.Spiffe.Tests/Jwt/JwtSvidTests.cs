using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Grpc.Core;

namespace AgentIdentity.Spiffe.Tests;

public sealed class JwtSvidTests : IDisposable
{
    private static readonly TrustDomain Td = TrustDomain.Parse("example.org");
    private readonly SpiffeTestEnvironment _env = new();

    public void Dispose() => _env.Dispose();

    [Fact]
    public async Task FetchJwtSvid_RegisteredCaller_TokenValidatesAgainstFetchedJwtBundle()
    {
        var registration = SpiffeTestEnvironment.ForThisUser("/workload/a");
        await using var server = await WorkloadApiServer.StartAsync(_env.Ca, _env.ServerOptions("jwt.sock", registration), SpiffeTestEnvironment.ServerTime());
        using var client = new WorkloadApiClient(new WorkloadApiOptions { Address = server.Address.Value });

        var svid = await client.FetchJwtSvidAsync("https://erp.example").Within30s();
        Assert.Equal(registration.Id, svid.Id);
        Assert.Equal(["https://erp.example"], svid.Audience);
        var bundles = await client.FetchJwtBundlesAsync().Within30s();
        Assert.True(bundles.TryGetBundle(Td, out var bundle));
        Assert.Single(bundle.JwtAuthorities);

        var result = JwtSvidValidator.Validate(svid.Token, "https://erp.example", bundles, SpiffeTestEnvironment.Now);
        Assert.True(result.IsValid, result.Error);
        Assert.Equal(registration.Id, result.Id);
        Assert.Equal(svid.ExpiresAt, result.ExpiresAt);

        var wrongAudience = JwtSvidValidator.Validate(svid.Token, "https://other.example", bundles, SpiffeTestEnvironment.Now);
        Assert.Contains("audience 'https://other.example'", wrongAudience.Error, StringComparison.Ordinal);

        var (id, claims) = await client.ValidateJwtSvidAsync(svid.Token, "https://erp.example").Within30s();
        Assert.Equal(registration.Id, id);
        Assert.Contains("\"sub\"", claims, StringComparison.Ordinal);
        var rejected = await Assert.ThrowsAsync<WorkloadApiException>(() => client.ValidateJwtSvidAsync(svid.Token, "https://other.example")).Within30s();
        Assert.Equal(StatusCode.InvalidArgument, rejected.StatusCode);
    }

    [Fact]
    public async Task FetchJwtSvid_UnregisteredOrUnentitled_PermissionDenied()
    {
        var (uid, _) = SpiffeTestEnvironment.CurrentUser();
        var registration = SpiffeTestEnvironment.ForThisUser("/workload/a");
        await using var server = await WorkloadApiServer.StartAsync(_env.Ca, _env.ServerOptions("jwt2.sock", registration), SpiffeTestEnvironment.ServerTime());
        using var client = new WorkloadApiClient(new WorkloadApiOptions { Address = server.Address.Value });

        var notEntitled = await Assert.ThrowsAsync<WorkloadApiException>(() => client.FetchJwtSvidAsync("aud", SpiffeId.Parse("spiffe://example.org/workload/b"))).Within30s();
        Assert.Equal(StatusCode.PermissionDenied, notEntitled.StatusCode);
        Assert.Throws<ArgumentException>(() => client.FetchJwtSvidsAsync([]).GetAwaiter().GetResult());

        server.SetRegistrations([new WorkloadRegistration(registration.Id) { UserId = uid + 1 }]);
        var unregistered = await Assert.ThrowsAsync<WorkloadApiException>(() => client.FetchJwtSvidAsync("aud")).Within30s();
        Assert.Equal(StatusCode.PermissionDenied, unregistered.StatusCode);
    }

    public static TheoryData<string, string> InvalidTokens => new()
    {
        { "alg-none", "algorithm 'none' is not allowed" },
        { "alg-hs256", "algorithm 'HS256' is not allowed" },
        { "typ", "only JWT or JOSE" },
        { "crit", "'crit' is not supported" },
        { "kid-unknown", "no key 'other'" },
        { "foreign-domain", "no JWT bundle for trust domain 'partner.example'" },
        { "sub-not-spiffe", "'sub' is not a SPIFFE ID" },
        { "no-exp", "no numeric 'exp'" },
        { "expired", "expired" },
        { "not-yet", "not valid before" },
        { "tampered", "does not verify" },
        { "alg-key-mismatch", "does not match the key type" },
        { "json-serialization", "JSON serialization is not allowed" },
        { "two-parts", "has 2 parts" },
        { "no-aud", "no 'aud'" },
    };

    [Theory]
    [MemberData(nameof(InvalidTokens))]
    public void Validate_InvalidToken_RejectedWithReason(string defect, string reason)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var bundles = new TrustBundleSet([TrustBundle.Parse(Td, Jwks(key, "k1"))]);
        var now = SpiffeTestEnvironment.Now;
        var header = new Dictionary<string, object> { ["alg"] = "ES256", ["kid"] = "k1", ["typ"] = "JWT" };
        var claims = new Dictionary<string, object> { ["sub"] = "spiffe://example.org/a", ["aud"] = "svc", ["exp"] = now.AddMinutes(5).ToUnixTimeSeconds() };
        switch (defect)
        {
            case "alg-none": header["alg"] = "none"; break;
            case "alg-hs256": header["alg"] = "HS256"; break;
            case "typ": header["typ"] = "at+jwt"; break;
            case "crit": header["crit"] = new[] { "exp" }; break;
            case "kid-unknown": header["kid"] = "other"; break;
            case "foreign-domain": claims["sub"] = "spiffe://partner.example/a"; break;
            case "sub-not-spiffe": claims["sub"] = "https://example.org/a"; break;
            case "no-exp": claims.Remove("exp"); break;
            case "expired": claims["exp"] = now.AddMinutes(-2).ToUnixTimeSeconds(); break;
            case "not-yet": claims["nbf"] = now.AddMinutes(2).ToUnixTimeSeconds(); break;
            case "alg-key-mismatch": header["alg"] = "ES384"; break;
            case "no-aud": claims.Remove("aud"); break;
        }

        var token = Sign(key, header, claims);
        token = defect switch
        {
            "tampered" => token[..^4] + (token[^4] == 'A' ? "BAAA" : "AAAA"),
            "json-serialization" => "{\"payload\":\"x\"}",
            "two-parts" => token[..token.LastIndexOf('.')],
            _ => token,
        };

        var result = JwtSvidValidator.Validate(token, "svc", bundles, now);
        Assert.False(result.IsValid);
        Assert.Contains(reason, result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_Rsa256AndPs256AndMissingKid_Accepted()
    {
        using var rsa = RSA.Create(2048);
        var p = rsa.ExportParameters(false);
        var jwks = $$"""{"keys":[{"kty":"RSA","use":"jwt-svid","kid":"r1","n":"{{B64(p.Modulus!)}}","e":"{{B64(p.Exponent!)}}"}]}""";
        var bundles = new TrustBundleSet([TrustBundle.Parse(Td, jwks)]);
        var now = SpiffeTestEnvironment.Now;
        var claims = new Dictionary<string, object> { ["sub"] = "spiffe://example.org/a", ["aud"] = new[] { "x", "svc" }, ["exp"] = now.AddMinutes(5).ToUnixTimeSeconds() };
        foreach (var (alg, padding) in new[] { ("RS256", RSASignaturePadding.Pkcs1), ("PS256", RSASignaturePadding.Pss) })
        {
            var header = new Dictionary<string, object> { ["alg"] = alg };
            var input = $"{B64(JsonSerializer.SerializeToUtf8Bytes(header))}.{B64(JsonSerializer.SerializeToUtf8Bytes(claims))}";
            var token = input + "." + B64(rsa.SignData(Encoding.ASCII.GetBytes(input), HashAlgorithmName.SHA256, padding));
            var result = JwtSvidValidator.Validate(token, "svc", bundles, now);
            Assert.True(result.IsValid, $"{alg}: {result.Error}");
            Assert.Equal(["x", "svc"], result.Audience);
        }
    }

    private static string Sign(ECDsa key, Dictionary<string, object> header, Dictionary<string, object> claims)
    {
        var input = $"{B64(JsonSerializer.SerializeToUtf8Bytes(header))}.{B64(JsonSerializer.SerializeToUtf8Bytes(claims))}";
        return input + "." + B64(key.SignData(Encoding.ASCII.GetBytes(input), HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation));
    }

    private static string Jwks(ECDsa key, string kid)
    {
        var p = key.ExportParameters(false);
        return $$"""{"keys":[{"kty":"EC","use":"jwt-svid","kid":"{{kid}}","crv":"P-256","x":"{{B64(p.Q.X!)}}","y":"{{B64(p.Q.Y!)}}"}]}""";
    }

    private static string B64(byte[] data) => System.Buffers.Text.Base64Url.EncodeToString(data);
}
