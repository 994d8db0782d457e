using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Time.Testing;

namespace AgentIdentity.Tests.Issuance;

public sealed class DevelopmentCertificateAuthorityCrlTests
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));

    [Fact]
    public void BuildCrl_RevokedSerials_ListsThemSignedByIntermediateWithIncreasingNumber()
    {
        using var ca = DevelopmentCertificateAuthority.Create(TrustDomain.Parse("corp.example"), timeProvider: _time);

        var first = ca.BuildCrl(["4A0B", "7F00FF"]);
        var second = ca.BuildCrl([]);

        var builder = CertificateRevocationListBuilder.Load(first, out var firstNumber);
        CertificateRevocationListBuilder.Load(second, out var secondNumber);
        Assert.True(secondNumber > firstNumber);
        Assert.True(builder.RemoveEntry(Convert.FromHexString("4A0B")));
        Assert.True(builder.RemoveEntry(Convert.FromHexString("7F00FF")));
        Assert.False(builder.RemoveEntry(Convert.FromHexString("01")));
        Assert.Equal(ca.IntermediateCertificate.SubjectName.RawData, ReadIssuer(first));
    }

    [Fact]
    public void BuildRootCrl_IsIssuedByRoot()
    {
        using var ca = DevelopmentCertificateAuthority.Create(TrustDomain.Parse("corp.example"), timeProvider: _time);

        Assert.Equal(ca.RootCertificate.SubjectName.RawData, ReadIssuer(ca.BuildRootCrl()));
    }

    [Fact]
    public void BuildCrl_SerialNotHex_ThrowsFormatExceptionNamingIt()
    {
        using var ca = DevelopmentCertificateAuthority.Create(TrustDomain.Parse("corp.example"), timeProvider: _time);

        var error = Assert.Throws<FormatException>(() => ca.BuildCrl(["not-hex"]));

        Assert.Contains("'not-hex'", error.Message, StringComparison.Ordinal);
    }

    private static byte[] ReadIssuer(byte[] crl)
    {
        // CertificateList ::= SEQUENCE { tbsCertList SEQUENCE { version?, signature, issuer Name, ... }, ... }
        var reader = new System.Formats.Asn1.AsnReader(crl, System.Formats.Asn1.AsnEncodingRules.DER).ReadSequence().ReadSequence();
        if (reader.PeekTag().TagValue == (int)System.Formats.Asn1.UniversalTagNumber.Integer)
        {
            reader.ReadInteger();
        }

        reader.ReadSequence();
        return reader.ReadEncodedValue().ToArray();
    }
}
