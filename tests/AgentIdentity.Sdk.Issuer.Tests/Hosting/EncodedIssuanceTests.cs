using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace AgentIdentity.Issuer.Tests.Hosting;

/// <summary>The issuer records and returns a signed leaf without loading it into an <see cref="X509Certificate2"/>
/// (<see cref="X509SvidSigner.IssueEncoded"/>, <see cref="CertificateDer"/>), and the issuer client decodes only the leaf of each
/// issuance: what is recorded must be exactly what the certificate says.</summary>
public sealed class EncodedIssuanceTests : IAsyncLifetime
{
    private IssuerHost _host = null!;

    public async Task InitializeAsync() => _host = await IssuerHost.StartAsync();

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync();
        _host.DeleteDirectory();
    }

    [Fact]
    public void IssueEncoded_SerialAndValidity_AreWhatTheCertificateEncodes()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        for (var i = 0; i < 64; i++)
        {
            // Sub-second clock positions: the recorded validity must be truncated to whole seconds as the certificate encodes it.
            _host.Time.Advance(TimeSpan.FromMilliseconds(137));
            var id = IssuerHost.AgentId("planner");
            var leaf = _host.Issuer.State.Signer.IssueEncoded(new X509SvidRequest(id, TestPki.Csr(id, key), TimeSpan.FromMinutes(5)));
            using var parsed = X509CertificateLoader.LoadCertificate(leaf.Certificate);
            Assert.Equal(parsed.SerialNumber, leaf.SerialNumber);
            Assert.Equal(new DateTimeOffset(parsed.NotBefore.ToUniversalTime()), leaf.NotBefore);
            Assert.Equal(new DateTimeOffset(parsed.NotAfter.ToUniversalTime()), leaf.NotAfter);
            Assert.Equal(TimeSpan.Zero, leaf.NotAfter.Offset);
            Assert.Equal(id, X509SvidValidator.Validate(parsed, leaf.Intermediates, _host.Issuer.GetBundle(), _host.Time.GetUtcNow()).Id);
        }
    }

    [Fact]
    public async Task Enrollment_RecordsTheReturnedCertificate_AndSharesTheUnchangedIntermediates()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var issuances = new List<X509SvidIssuance>();
        for (var i = 0; i < 2; i++)
        {
            var token = await _host.Issuer.CreateJoinTokenAsync("planner", new AgentPolicy(actions: ["read"]), TimeSpan.FromMinutes(5));
            using var enrolling = new IssuerClient(_host.ClientOptions(token), _host.Time);
            var id = IssuerHost.AgentId("planner");
            issuances.Add(await enrolling.IssueAsync(new X509SvidRequest(id, TestPki.Csr(id, key), TimeSpan.FromMinutes(5))));
        }

        foreach (var issuance in issuances)
        {
            var record = await _host.Issuer.Store.FindCertificateAsync(issuance.Certificate.SerialNumber);
            Assert.NotNull(record);
            Assert.Equal(issuance.Certificate.RawData, record.Certificate);
            Assert.Equal(new DateTimeOffset(issuance.Certificate.NotBefore.ToUniversalTime()), record.NotBefore);
            Assert.Equal(new DateTimeOffset(issuance.Certificate.NotAfter.ToUniversalTime()), record.NotAfter);
            Assert.Equal(
                _host.Issuer.State.Signer.Intermediates.Select(c => Convert.ToHexString(c.RawData)),
                issuance.Intermediates.Select(c => Convert.ToHexString(c.RawData)));
        }

        issuances[0].Certificate.Dispose();
        issuances[1].Certificate.Dispose();
    }

    [Fact]
    public async Task IssuerClient_SameChainTwice_DecodesTheIntermediatesOnce()
    {
        var token1 = await _host.Issuer.CreateJoinTokenAsync("planner", null, TimeSpan.FromMinutes(5));
        var token2 = await _host.Issuer.CreateJoinTokenAsync("planner", null, TimeSpan.FromMinutes(5));
        var tokens = new Queue<string>([token1, token2]);
        var options = _host.ClientOptions();
        options.JoinTokenCallback = (_, _) => ValueTask.FromResult<string?>(tokens.Dequeue());
        using var enrolling = new IssuerClient(options, _host.Time);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var a = IssuerHost.AgentId("planner");
        var b = IssuerHost.AgentId("planner");
        var first = await enrolling.IssueAsync(new X509SvidRequest(a, TestPki.Csr(a, key), TimeSpan.FromMinutes(5)));
        var second = await enrolling.IssueAsync(new X509SvidRequest(b, TestPki.Csr(b, key), TimeSpan.FromMinutes(5)));
        Assert.NotSame(first.Certificate, second.Certificate);
        Assert.Same(first.Intermediates[0], second.Intermediates[0]);
        first.Certificate.Dispose();
        second.Certificate.Dispose();
    }

    [Fact]
    public void CertificateDer_FindsThePolicyExtension_AsTheCertificateReaderDoes()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var id = IssuerHost.AgentId("planner");
        var policy = new AgentPolicy(actions: ["invoices:read"], tools: ["Erp.*"]);
        var leaf = _host.Issuer.State.Signer.IssueEncoded(new X509SvidRequest(id, TestPki.Csr(id, key), TimeSpan.FromMinutes(5)) { Policy = policy });
        using var parsed = X509CertificateLoader.LoadCertificate(leaf.Certificate);

        Assert.Equal(1, CertificateDer.FindExtension(leaf.Certificate, AgentPolicyExtension.PolicyOid, out var value, out var critical));
        Assert.False(critical);
        Assert.Equal(parsed.Extensions[AgentPolicyExtension.PolicyOid]!.RawData, value.ToArray());
        Assert.Equal(policy, AgentPolicyExtension.ReadPolicy(parsed));

        Assert.Equal(1, CertificateDer.FindExtension(leaf.Certificate, "2.5.29.17", out _, out var sanCritical));
        Assert.True(sanCritical);
        Assert.Equal(0, CertificateDer.FindExtension(leaf.Certificate, AgentPolicyExtension.DelegationChainOid, out var none, out _));
        Assert.True(none.IsEmpty);
    }

    [Theory]
    [InlineData("")]
    [InlineData("3000")]
    [InlineData("30023001")]
    [InlineData("300a3008a003020102020101")]
    public void CertificateDer_NotACertificate_ThrowsAsnContentException(string hex) =>
        Assert.ThrowsAny<AsnContentException>(() => CertificateDer.FindExtension(Convert.FromHexString(hex), AgentPolicyExtension.PolicyOid, out _, out _));
}
