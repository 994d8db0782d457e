using System.Security.Cryptography.X509Certificates;
using Org.BouncyCastle.Asn1;
using Org.BouncyCastle.Asn1.Ocsp;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.Ocsp;
using Org.BouncyCastle.X509;

namespace AgentIdentity.Tests.Revocation;

public sealed class OcspResponderTests : IDisposable
{
    private readonly RevocationTestPki _pki = new();
    private readonly OcspResponder _responder;

    public OcspResponderTests() => _responder = new OcspResponder(_pki.Registry, _pki.Signer, timeProvider: _pki.Time);

    public void Dispose() => _pki.Dispose();

    private static byte[] Request(X509Certificate2 issuer, X509Certificate2 certificate, byte[]? nonce = null)
    {
        var bcIssuer = new X509CertificateParser().ReadCertificate(issuer.RawData);
        var bcCert = new X509CertificateParser().ReadCertificate(certificate.RawData);
        var generator = new OcspReqGenerator();
        generator.AddRequest(new CertificateID(CertificateID.DigestSha1, bcIssuer, bcCert.SerialNumber));
        if (nonce is not null)
        {
            generator.SetRequestExtensions(new X509Extensions(new Dictionary<DerObjectIdentifier, Org.BouncyCastle.Asn1.X509.X509Extension>
            {
                [OcspObjectIdentifiers.PkixOcspNonce] = new(false, new DerOctetString(new DerOctetString(nonce))),
            }));
        }

        return generator.Generate().GetEncoded();
    }

    private BasicOcspResp Parse(byte[] response)
    {
        var resp = new OcspResp(response);
        Assert.Equal(OcspRespStatus.Successful, resp.Status);
        var basic = Assert.IsType<BasicOcspResp>(resp.GetResponseObject());
        var issuerKey = new X509CertificateParser().ReadCertificate(_pki.Ca.IntermediateCertificate.RawData).GetPublicKey();
        Assert.True(basic.Verify(issuerKey), "the response is signed by the issuing CA");
        return basic;
    }

    [Fact]
    public async Task RespondAsync_NotRevoked_IsGood()
    {
        using var cert = await _pki.IssueAsync("spiffe://td.example/agent/a/1");

        var basic = Parse(await _responder.RespondAsync(Request(_pki.Ca.IntermediateCertificate, cert)));

        var single = Assert.Single(basic.Responses);
        Assert.Null(single.GetCertStatus()); // null is "good"
        Assert.NotNull(single.NextUpdate);
    }

    [Fact]
    public async Task RespondAsync_RevokedSerial_IsRevokedWithTimeAndReason()
    {
        using var cert = await _pki.IssueAsync("spiffe://td.example/agent/a/1");
        await _pki.Registry.RevokeCertificateAsync(cert.SerialNumber, X509RevocationReason.KeyCompromise);

        var basic = Parse(await _responder.RespondAsync(Request(_pki.Ca.IntermediateCertificate, cert)));

        var status = Assert.IsType<RevokedStatus>(Assert.Single(basic.Responses).GetCertStatus());
        Assert.Equal((int)X509RevocationReason.KeyCompromise, status.RevocationReason);
        Assert.Equal(_pki.Time.GetUtcNow().UtcDateTime, status.RevocationTime);
    }

    [Fact]
    public async Task RespondAsync_DescendantOfRevokedIdentity_IsRevoked()
    {
        using var task = await _pki.IssueAsync("spiffe://td.example/agent/a/1/task/t1");
        await _pki.Registry.RevokeIdentityAsync(SpiffeId.Parse("spiffe://td.example/agent/a/1"));

        var basic = Parse(await _responder.RespondAsync(Request(_pki.Ca.IntermediateCertificate, task)));

        Assert.IsType<RevokedStatus>(Assert.Single(basic.Responses).GetCertStatus());
    }

    [Fact]
    public async Task RespondAsync_OtherIssuer_IsUnknown()
    {
        using var other = new RevocationTestPki();
        using var cert = await other.IssueAsync("spiffe://td.example/agent/a/1");

        var basic = Parse(await _responder.RespondAsync(Request(other.Ca.IntermediateCertificate, cert)));

        Assert.IsType<UnknownStatus>(Assert.Single(basic.Responses).GetCertStatus());
    }

    [Fact]
    public async Task RespondAsync_Nonce_IsEchoed()
    {
        using var cert = await _pki.IssueAsync("spiffe://td.example/agent/a/1");
        byte[] nonce = [1, 2, 3, 4, 5, 6, 7, 8];

        var basic = Parse(await _responder.RespondAsync(Request(_pki.Ca.IntermediateCertificate, cert, nonce)));

        var echoed = basic.GetExtensionValue(OcspObjectIdentifiers.PkixOcspNonce);
        Assert.NotNull(echoed);
        Assert.Equal(nonce, ((Asn1OctetString)Asn1Object.FromByteArray(echoed.GetOctets())).GetOctets());
    }

    [Theory]
    [InlineData(new byte[0])]
    [InlineData(new byte[] { 0x30, 0x00 })]
    [InlineData(new byte[] { 1, 2, 3 })]
    public async Task RespondAsync_Malformed_ReturnsMalformedRequestStatus(byte[] request)
    {
        var resp = new OcspResp(await _responder.RespondAsync(request));

        Assert.Equal(OcspRespStatus.MalformedRequest, resp.Status);
    }
}
