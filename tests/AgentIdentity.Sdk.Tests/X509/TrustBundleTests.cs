using System.Security.Cryptography.X509Certificates;
using System.Text.Json;

namespace AgentIdentity.Tests.X509;

public sealed class TrustBundleTests : IDisposable
{
    private static readonly DateTimeOffset Now = new(2026, 11, 28, 12, 0, 0, TimeSpan.Zero);
    private readonly TestPki _pki = TestPki.Create("example.org", Now);

    [Fact]
    public void ToJson_Parse_RoundTripsAuthoritiesSequenceAndHint()
    {
        var bundle = new TrustBundle(_pki.TrustDomain, [X509CertificateLoader.LoadCertificate(_pki.Root.RawData)], sequenceNumber: 42, refreshHint: TimeSpan.FromSeconds(300));

        var json = bundle.ToJsonString();
        var parsed = TrustBundle.Parse(_pki.TrustDomain, json);

        Assert.Equal(42, parsed.SequenceNumber);
        Assert.Equal(TimeSpan.FromSeconds(300), parsed.RefreshHint);
        Assert.Equal(_pki.Root.RawData, Assert.Single(parsed.X509Authorities).RawData);
        using var doc = JsonDocument.Parse(json);
        var key = doc.RootElement.GetProperty("keys")[0];
        Assert.Equal("x509-svid", key.GetProperty("use").GetString());
        Assert.Equal("EC", key.GetProperty("kty").GetString());
        Assert.Equal("P-256", key.GetProperty("crv").GetString());
        Assert.False(key.TryGetProperty("kid", out _));
        Assert.Equal(json, parsed.ToJsonString());
    }

    [Fact]
    public void Parse_JwtAuthority_IsKeptVerbatim()
    {
        var json = """{"keys":[{"kty":"EC","use":"jwt-svid","kid":"k1","crv":"P-256","x":"AA","y":"BB"}],"spiffe_sequence":1}""";
        var bundle = TrustBundle.Parse(_pki.TrustDomain, json);
        Assert.Empty(bundle.X509Authorities);
        Assert.Contains("\"kid\":\"k1\"", Assert.Single(bundle.JwtAuthorities), StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_UnknownUseOrKtyOrMissingX5c_IgnoresThatKeyOnly()
    {
        var root = Convert.ToBase64String(_pki.Root.RawData);
        var json = $$"""
            {"keys":[
              {"kty":"EC","use":"something-else","x5c":["{{root}}"]},
              {"kty":"oct","use":"x509-svid","x5c":["{{root}}"]},
              {"kty":"EC","use":"x509-svid"},
              {"kty":"EC","x5c":["{{root}}"]},
              {"kty":"EC","use":"x509-svid","x5c":["{{root}}"]}
            ]}
            """;
        Assert.Single(TrustBundle.Parse(_pki.TrustDomain, json).X509Authorities);
    }

    [Theory]
    [InlineData("not json", "is not valid JSON")]
    [InlineData("[]", "must be a JSON object")]
    [InlineData("{}", "'keys' member is missing")]
    [InlineData("""{"keys":{}}""", "'keys' member must be an array")]
    [InlineData("""{"keys":[], "keys":[]}""", "is not valid JSON")]
    [InlineData("""{"keys":[],"spiffe_sequence":"1"}""", "'spiffe_sequence' must be a non-negative integer")]
    [InlineData("""{"keys":[],"spiffe_sequence":-1}""", "'spiffe_sequence' must be a non-negative integer")]
    [InlineData("""{"keys":[],"spiffe_refresh_hint":1.5}""", "'spiffe_refresh_hint'")]
    [InlineData("""{"keys":[1]}""", "keys[0] must be a JSON object")]
    [InlineData("""{"keys":[{"use":"x509-svid"}]}""", "keys[0] has no 'kty'")]
    [InlineData("""{"keys":[{"kty":"EC","use":"x509-svid","x5c":["!!!"]}]}""", "keys[0].x5c[0] is not a base64 DER certificate")]
    [InlineData("""{"keys":[{"kty":"EC","use":"x509-svid","x5c":["AAAA"]}]}""", "keys[0].x5c[0] is not a base64 DER certificate")]
    [InlineData("""{"keys":[{"kty":"EC","use":"jwt-svid","x":"a"}]}""", "jwt-svid key without a 'kid'")]
    public void Parse_Malformed_ThrowsFormatExceptionSayingWhat(string json, string fragment)
    {
        var ex = Assert.Throws<FormatException>(() => TrustBundle.Parse(_pki.TrustDomain, json));
        Assert.Contains(fragment, ex.Message, StringComparison.Ordinal);
        Assert.Contains("example.org", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_LeafCertificateAsAuthority_IsRejected()
    {
        using var leaf = _pki.IssueLeaf();
        var json = $$"""{"keys":[{"kty":"EC","use":"x509-svid","x5c":["{{Convert.ToBase64String(leaf.RawData)}}"]}]}""";
        Assert.Contains("is not a CA certificate", Assert.Throws<FormatException>(() => TrustBundle.Parse(_pki.TrustDomain, json)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_EcCoordinatesNotMatchingCertificate_IsRejected()
    {
        using var other = TestPki.Create("other.org", Now);
        var otherJwk = JsonDocument.Parse(other.Bundle.ToJsonString()).RootElement.GetProperty("keys")[0];
        var json = $$"""{"keys":[{"kty":"EC","use":"x509-svid","crv":"P-256","x":"{{otherJwk.GetProperty("x").GetString()}}","y":"{{otherJwk.GetProperty("y").GetString()}}","x5c":["{{Convert.ToBase64String(_pki.Root.RawData)}}"]}]}""";
        Assert.Contains("do not match", Assert.Throws<FormatException>(() => TrustBundle.Parse(_pki.TrustDomain, json)).Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("5", "\"y\"")]
    [InlineData("\"x\"", "null")]
    [InlineData("{}", "[]")]
    public void Parse_EcCoordinateNotAString_ThrowsFormatException(string x, string y)
    {
        // Was InvalidOperationException from JsonElement.GetString (issue 18, defect 10).
        var json = $$"""{"keys":[{"kty":"EC","use":"x509-svid","crv":"P-256","x":{{x}},"y":{{y}},"x5c":["{{Convert.ToBase64String(_pki.Root.RawData)}}"]}]}""";
        var ex = Assert.Throws<FormatException>(() => TrustBundle.Parse(_pki.TrustDomain, json));
        Assert.Contains("keys[0] has EC coordinates 'x' and 'y' that are not both base64url strings", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ToJson_KeysTheSdkIgnores_AreWrittenBackVerbatim()
    {
        // SPIFFE bundles may carry keys of other uses (wit-svid for WIMSE workload identity tokens) or types this SDK does not
        // read: a bundle endpoint relaying the bundle must not strip them (issue 18, defect 16).
        var root = Convert.ToBase64String(_pki.Root.RawData);
        string[] ignored =
        [
            """{"kty":"OKP","use":"wit-svid","kid":"w1","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","custom":[1,{"a":null}]}""",
            """{"kty":"oct","use":"x509-svid","x5c":["AAAA"]}""",
            """{"kty":"EC","use":"x509-svid"}""",
            """{"kty":"EC","crv":"P-256"}""",
        ];
        var json = $$"""{"spiffe_sequence":7,"keys":[{{ignored[0]}},{"kty":"EC","use":"x509-svid","x5c":["{{root}}"]},{{string.Join(",", ignored[1..])}}]}""";

        var bundle = TrustBundle.Parse(_pki.TrustDomain, json);
        var written = bundle.ToJsonString();

        Assert.Single(bundle.X509Authorities);
        using var document = JsonDocument.Parse(written);
        var keys = document.RootElement.GetProperty("keys").EnumerateArray().Select(k => k.GetRawText()).ToList();
        Assert.Equal(5, keys.Count);
        foreach (var key in ignored)
        {
            Assert.Contains(key, keys);
        }

        Assert.Equal(written, TrustBundle.Parse(_pki.TrustDomain, written).ToJsonString());
    }

    [Fact]
    public void TryGetBundle_OnlyForItsOwnTrustDomain()
    {
        Assert.True(_pki.Bundle.TryGetBundle(_pki.TrustDomain, out var same));
        Assert.Same(_pki.Bundle, same);
        Assert.False(_pki.Bundle.TryGetBundle(TrustDomain.Parse("other.org"), out _));
    }

    public void Dispose() => _pki.Dispose();
}
