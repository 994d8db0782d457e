namespace AgentIdentity.Tests.Issuance;

/// <summary>The source-generated validator and rules of <see cref="DevelopmentCertificateAuthorityOptions"/>.</summary>
public sealed class DevelopmentCertificateAuthorityOptionsTests
{
    public static TheoryData<Action<DevelopmentCertificateAuthorityOptions>, string> BadOptions => new()
    {
        { o => o.CertificateAuthorityLifetime = TimeSpan.Zero, "DevelopmentCertificateAuthorityOptions.CertificateAuthorityLifetime must be positive; it is 00:00:00." },
        { o => o.MaxSvidLifetime = TimeSpan.FromHours(-1), "DevelopmentCertificateAuthorityOptions.MaxSvidLifetime must be positive; it is -01:00:00." },
        { o => o.NotBeforeBackdate = TimeSpan.FromSeconds(-1), "DevelopmentCertificateAuthorityOptions.NotBeforeBackdate must be zero or positive; it is -00:00:01." },
        { o => o.CrlDistributionPoint = new Uri("/revocation/crl", UriKind.Relative), "DevelopmentCertificateAuthorityOptions.CrlDistributionPoint must be an absolute http(s) URI; '/revocation/crl' is not." },
        { o => o.OcspResponder = new Uri("ldap://ca.example/ocsp"), "DevelopmentCertificateAuthorityOptions.OcspResponder must be an absolute http(s) URI; 'ldap://ca.example/ocsp' is not." },
    };

    [Theory]
    [MemberData(nameof(BadOptions))]
    public void Create_BadOption_ThrowsTheSpecificMessage(Action<DevelopmentCertificateAuthorityOptions> breakIt, string message)
    {
        var options = new DevelopmentCertificateAuthorityOptions();
        breakIt(options);

        var ex = Assert.Throws<ArgumentException>(() => DevelopmentCertificateAuthority.Create(TrustDomain.Parse("example.org"), options));

        Assert.Contains(message, ex.Message, StringComparison.Ordinal);
        Assert.Equal("options", ex.ParamName);
    }

    [Fact]
    public void Create_ZeroBackdateAndHttpPointers_IsValid()
    {
        using var ca = DevelopmentCertificateAuthority.Create(TrustDomain.Parse("example.org"), new DevelopmentCertificateAuthorityOptions
        {
            NotBeforeBackdate = TimeSpan.Zero,
            CrlDistributionPoint = new Uri("http://ca.example/revocation/crl"),
            OcspResponder = new Uri("https://ca.example/ocsp"),
        });

        Assert.Equal(TrustDomain.Parse("example.org"), ca.TrustDomain);
    }
}
