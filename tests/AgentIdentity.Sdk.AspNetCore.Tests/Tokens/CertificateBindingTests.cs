using System.Text.Json;

namespace AgentIdentity.AspNetCore.Tests.Tokens;

/// <summary>The one RFC 8705 <c>cnf.x5t#S256</c> check (src/Common/Tokens), as the service side uses it.</summary>
public sealed class CertificateBindingTests
{
    [Fact]
    public void Matches_ComparesTheExactEncodingOfTheHash()
    {
        var hash = System.Security.Cryptography.SHA256.HashData("certificate"u8);
        var encoded = System.Buffers.Text.Base64Url.EncodeToString(hash);

        Assert.True(CertificateBinding.Matches(encoded, hash));
        Assert.False(CertificateBinding.Matches(encoded[..^1] + (encoded[^1] == 'A' ? 'B' : 'A'), hash));
        Assert.False(CertificateBinding.Matches(encoded + "=", hash));
        Assert.False(CertificateBinding.Matches(Convert.ToHexString(hash), hash));
    }

    [Theory]
    [InlineData("""{"sub":"a"}""", true, null)]
    [InlineData("""{"cnf":{"x5t#S256":"abc"}}""", true, "abc")]
    [InlineData("""{"cnf":{"jkt":"abc"}}""", false, null)]
    [InlineData("""{"cnf":{"x5t#S256":7}}""", false, null)]
    [InlineData("""{"cnf":"abc"}""", false, null)]
    public void TryReadConfirmation_AbsentBoundOrMalformed(string claims, bool readable, string? thumbprint)
    {
        using var document = JsonDocument.Parse(claims);

        Assert.Equal(readable, CertificateBinding.TryReadConfirmation(document.RootElement, out var read));
        Assert.Equal(thumbprint, read);
        Assert.Equal(thumbprint is not null, CertificateBinding.TryGetThumbprint(document.RootElement, out _));
    }

    [Fact]
    public void ReadClaims_CnfWithoutX5t_FailsNamingRfc8705()
    {
        using var document = JsonDocument.Parse("""{"sub":"a","cnf":{"jkt":"abc"}}""");

        var result = JwtAccessTokenValidator.ReadClaims(document.RootElement);

        Assert.False(result.IsValid);
        Assert.Equal("The access token's cnf claim has no x5t#S256 string; only RFC 8705 certificate binding is supported.", result.Error);
    }

    [Fact]
    public void ReadClaims_BoundToken_CarriesTheThumbprint()
    {
        using var document = JsonDocument.Parse("""{"sub":"a","cnf":{"x5t#S256":"abc"}}""");

        Assert.Equal("abc", JwtAccessTokenValidator.ReadClaims(document.RootElement).ConfirmationThumbprint);
    }
}
