using System.Formats.Asn1;
using System.Security.Cryptography.X509Certificates;

namespace AgentIdentity.Tests.Revocation;

public sealed class RevocationRegistryTests : IDisposable
{
    private readonly RevocationTestPki _pki = new();

    public void Dispose() => _pki.Dispose();

    [Fact]
    public async Task RevokeCertificateAsync_FirstRevocation_SignedEntryWithSequenceOneVerifies()
    {
        using var cert = await _pki.IssueAsync("spiffe://td.example/agent/planner/1");

        var entry = await _pki.Registry.RevokeCertificateAsync(cert.SerialNumber, X509RevocationReason.KeyCompromise);
        var verified = _pki.Verifier.Verify(entry.GetEncoded());

        Assert.Equal(1, verified.Sequence);
        Assert.Equal(RevocationKind.Serial, verified.Kind);
        Assert.Equal(cert.SerialNumber, verified.SerialNumber);
        Assert.Equal(X509RevocationReason.KeyCompromise, verified.Reason);
        Assert.Equal(_pki.Time.GetUtcNow(), verified.RevokedAt);
        Assert.Equal(1, _pki.Registry.LastSequence);
    }

    [Fact]
    public async Task RevokeAsync_SeveralRevocations_SequenceIncreasesWithoutGapsAndRepeatsAreIdempotent()
    {
        var first = await _pki.Registry.RevokeCertificateAsync("0A0B");
        var second = await _pki.Registry.RevokeIdentityAsync(SpiffeId.Parse("spiffe://td.example/agent/a/1"));
        var again = await _pki.Registry.RevokeCertificateAsync("000a0b");
        var third = await _pki.Registry.RevokeCertificateAsync("0C");

        Assert.Equal([1L, 2L, 3L], new[] { first.Sequence, second.Sequence, third.Sequence });
        Assert.Same(first, again);
        var all = await _pki.Registry.GetEntriesAsync(0, 100);
        Assert.Equal([1L, 2L, 3L], all.Select(e => e.Sequence));
        var tail = await _pki.Registry.GetEntriesAsync(2, 100);
        Assert.Equal(3L, Assert.Single(tail).Sequence);
    }

    [Fact]
    public async Task Verify_EntryWithAlteredSubject_IsRejectedAsForged()
    {
        var entry = await _pki.Registry.RevokeIdentityAsync(SpiffeId.Parse("spiffe://td.example/agent/planner/1"));
        var bytes = entry.GetEncoded();
        var text = System.Text.Encoding.ASCII.GetBytes("planner");
        var at = bytes.AsSpan().IndexOf(text);
        bytes[at] = (byte)'q'; // spiffe://td.example/agent/qlanner/1: still well-formed, signature no longer matches

        var ex = Assert.Throws<RevocationFeedException>(() => _pki.Verifier.Verify(bytes));
        Assert.Contains("does not verify", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Verify_EntrySignedByAnotherCa_IsRejected()
    {
        using var other = new RevocationTestPki();
        var forged = await other.Registry.RevokeIdentityAsync(SpiffeId.Parse("spiffe://td.example/svc/erp"));

        var ex = Assert.Throws<RevocationFeedException>(() => _pki.Verifier.Verify(forged.GetEncoded()));
        Assert.Contains("forged", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(new byte[] { 0x30, 0x03, 0x02, 0x01, 0x01 })]
    [InlineData(new byte[] { 0x04, 0x00 })]
    [InlineData(new byte[0])]
    public void Verify_Garbage_ThrowsSpecificError(byte[] bytes)
    {
        var ex = Assert.Throws<RevocationFeedException>(() => _pki.Verifier.Verify(bytes));
        Assert.False(string.IsNullOrEmpty(ex.Message));
    }

    [Fact]
    public void Verify_NotBase64Url_ThrowsSpecificError()
    {
        var ex = Assert.Throws<RevocationFeedException>(() => _pki.Verifier.Verify("not base64!"));
        Assert.Contains("base64url", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Verify_EntryForOtherTrustDomain_IsRejected()
    {
        using var verifier = new RevocationFeedVerifier(_pki.Signer.Certificate, TrustDomain.Parse("other.example"));
        var entry = await _pki.Registry.RevokeCertificateAsync("01");

        var ex = Assert.Throws<RevocationFeedException>(() => verifier.Verify(entry.GetEncoded()));
        Assert.Contains("other.example", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void FromTrustBundle_SignerFromBundle_Accepted_ForeignSignerRejected()
    {
        using var verifier = RevocationFeedVerifier.FromTrustBundle(_pki.Signer.Certificate, _pki.Ca.Bundle, _pki.Time.GetUtcNow());
        Assert.Equal(_pki.Ca.IntermediateCertificate.Thumbprint, verifier.SignerCertificate.Thumbprint);

        using var other = new RevocationTestPki();
        var ex = Assert.Throws<RevocationFeedException>(() => RevocationFeedVerifier.FromTrustBundle(other.Signer.Certificate, _pki.Ca.Bundle, _pki.Time.GetUtcNow()));
        Assert.Contains("does not chain", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Apply_OutOfOrderEntry_IsGapAndNotApplied_ReplayIsIgnored()
    {
        var one = await _pki.Registry.RevokeCertificateAsync("01");
        var two = await _pki.Registry.RevokeCertificateAsync("02");
        var three = await _pki.Registry.RevokeCertificateAsync("03");
        var set = new RevocationSet();

        Assert.Equal(RevocationApplyResult.Applied, set.Apply(_pki.Verifier.Verify(one.GetEncoded())));
        Assert.Equal(RevocationApplyResult.Gap, set.Apply(_pki.Verifier.Verify(three.GetEncoded())));
        Assert.False(set.IsRevoked("03", default, null, out _));
        Assert.Equal(RevocationApplyResult.AlreadyApplied, set.Apply(one));
        Assert.Equal(RevocationApplyResult.Applied, set.Apply(two));
        Assert.Equal(RevocationApplyResult.Applied, set.Apply(three));
        Assert.True(set.IsRevoked("03", default, null, out var entry));
        Assert.Equal(3, entry.Sequence);
        Assert.Equal(3, set.LastSequence);
    }

    [Fact]
    public async Task RevokeIdentity_CascadesToDescendantsButNotToSiblingsWithSamePrefix()
    {
        await _pki.Registry.RevokeIdentityAsync(SpiffeId.Parse("spiffe://td.example/agent/planner/1"));
        var set = _pki.Registry.Set;

        Assert.True(set.IsIdentityRevoked(SpiffeId.Parse("spiffe://td.example/agent/planner/1"), out _));
        Assert.True(set.IsIdentityRevoked(SpiffeId.Parse("spiffe://td.example/agent/planner/1/task/t1"), out _));
        Assert.True(set.IsIdentityRevoked(SpiffeId.Parse("spiffe://td.example/agent/planner/1/task/t1/task/t2"), out _));
        Assert.False(set.IsIdentityRevoked(SpiffeId.Parse("spiffe://td.example/agent/planner/10"), out _));
        Assert.False(set.IsIdentityRevoked(SpiffeId.Parse("spiffe://td.example/agent/planner"), out _));
        // A certificate whose delegation chain names the revoked identity is revoked, whatever its own ID.
        Assert.True(set.IsRevoked("AB", SpiffeId.Parse("spiffe://td.example/agent/helper/7"), [SpiffeId.Parse("spiffe://td.example/agent/planner/1")], out var byChain));
        Assert.Equal(RevocationKind.Identity, byChain.Kind);
    }

    [Fact]
    public async Task RevokeIdentity_TrustDomainOrForeignId_ThrowsWithAdvice()
    {
        var ex = await Assert.ThrowsAsync<ArgumentException>(() => _pki.Registry.RevokeIdentityAsync(SpiffeId.Parse("spiffe://td.example")).AsTask());
        Assert.Contains("rotate the intermediate", ex.Message, StringComparison.Ordinal);
        var foreign = await Assert.ThrowsAsync<ArgumentException>(() => _pki.Registry.RevokeIdentityAsync(SpiffeId.Parse("spiffe://other.example/a")).AsTask());
        Assert.Contains("td.example", foreign.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<FormatException>(() => _pki.Registry.RevokeCertificateAsync("xyz").AsTask());
    }

    [Fact]
    public async Task GetCrlAsync_AfterRevocations_ListsSerialsAndIdentityCertificates_CrlNumberIncreases()
    {
        using var planner = await _pki.IssueAsync("spiffe://td.example/agent/planner/1");
        using var task = await _pki.IssueAsync("spiffe://td.example/agent/planner/1/task/t1");
        using var other = await _pki.IssueAsync("spiffe://td.example/agent/other/1");
        using var single = await _pki.IssueAsync("spiffe://td.example/agent/single/1");

        var before = await _pki.Registry.GetCrlAsync();
        await _pki.Registry.RevokeCertificateAsync(single.SerialNumber);
        await _pki.Registry.RevokeIdentityAsync(SpiffeId.Parse("spiffe://td.example/agent/planner/1"));
        var after = await _pki.Registry.GetCrlAsync();

        CertificateRevocationListBuilder.Load(before, out var beforeNumber);
        var builder = CertificateRevocationListBuilder.Load(after, out var afterNumber);
        Assert.True(afterNumber > beforeNumber);
        var serials = ReadCrlSerials(after);
        Assert.Equal(new[] { planner.SerialNumber, task.SerialNumber, single.SerialNumber }.Order(), serials.Order());
        Assert.DoesNotContain(other.SerialNumber, serials);
        var (thisUpdate, nextUpdate) = ReadCrlTimes(after);
        Assert.True(thisUpdate < _pki.Time.GetUtcNow(), "thisUpdate is backdated for clock skew");
        Assert.Equal(_pki.Time.GetUtcNow() + TimeSpan.FromDays(1), nextUpdate);
        Assert.NotNull(builder);
    }

    [Fact]
    public async Task IssueAsync_AfterIdentityRevoked_RefusesAndCertificateIssuedEarlierIsOnCrl()
    {
        using var before = await _pki.IssueAsync("spiffe://td.example/agent/planner/1/task/t1");
        await _pki.Registry.RevokeIdentityAsync(SpiffeId.Parse("spiffe://td.example/agent/planner/1"));

        var ex = await Assert.ThrowsAsync<CertificateIssuanceException>(() => _pki.IssueAsync("spiffe://td.example/agent/planner/1/task/t2"));
        Assert.Contains("revoked", ex.Message, StringComparison.Ordinal);
        Assert.NotNull(await _pki.Registry.GetCertificateRevocationAsync(before.SerialNumber));
    }

    [Fact]
    public async Task WaitForEntriesAsync_CompletesOnRevocation()
    {
        var wait = _pki.Registry.WaitForEntriesAsync(0);
        Assert.False(wait.IsCompleted);

        await _pki.Registry.RevokeCertificateAsync("01");

        await wait.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True(_pki.Registry.WaitForEntriesAsync(0).IsCompleted);
    }

    [Fact]
    public async Task DevelopmentCa_WithDistributionPointAndOcsp_WritesThemIntoSvids()
    {
        using var pki = new RevocationTestPki(new DevelopmentCertificateAuthorityOptions
        {
            CrlDistributionPoint = new Uri("http://127.0.0.1:8080/revocation/crl"),
            OcspResponder = new Uri("http://127.0.0.1:8080/revocation/ocsp"),
        });
        using var cert = await pki.IssueAsync("spiffe://td.example/agent/a/1");

        var aia = Assert.Single(cert.Extensions.OfType<X509AuthorityInformationAccessExtension>());
        Assert.Equal("http://127.0.0.1:8080/revocation/ocsp", Assert.Single(aia.EnumerateOcspUris()));
        var cdp = Assert.Single(cert.Extensions.Cast<X509Extension>(), e => e.Oid!.Value == "2.5.29.31");
        Assert.Contains("http://127.0.0.1:8080/revocation/crl", System.Text.Encoding.ASCII.GetString(cdp.RawData), StringComparison.Ordinal);
        using var plain = await _pki.IssueAsync("spiffe://td.example/agent/a/1");
        Assert.DoesNotContain(plain.Extensions.Cast<X509Extension>(), e => e.Oid!.Value is "2.5.29.31" or "1.3.6.1.5.5.7.1.1");
    }

    [Fact]
    public void DevelopmentCa_RelativeDistributionPoint_ThrowsSpecificError()
    {
        var ex = Assert.Throws<ArgumentException>(() => DevelopmentCertificateAuthority.Create(RevocationTestPki.Td, new DevelopmentCertificateAuthorityOptions { CrlDistributionPoint = new Uri("/crl", UriKind.Relative) }));
        Assert.Contains("CrlDistributionPoint", ex.Message, StringComparison.Ordinal);
    }

    internal static List<string> ReadCrlSerials(byte[] crl)
    {
        var list = ReadTbsCertList(crl);
        var serials = new List<string>();
        if (list.HasData && list.PeekTag() == Asn1Tag.Sequence)
        {
            var revoked = list.ReadSequence();
            while (revoked.HasData)
            {
                var entry = revoked.ReadSequence();
                serials.Add(Convert.ToHexString(entry.ReadIntegerBytes().Span));
            }
        }

        return serials;
    }

    private static (DateTimeOffset ThisUpdate, DateTimeOffset NextUpdate) ReadCrlTimes(byte[] crl)
    {
        var tbs = new AsnReader(crl, AsnEncodingRules.DER).ReadSequence().ReadSequence();
        tbs.ReadInteger();
        tbs.ReadSequence();
        tbs.ReadSequence();
        return (tbs.ReadUtcTime(), tbs.ReadUtcTime());
    }

    private static AsnReader ReadTbsCertList(byte[] crl)
    {
        var tbs = new AsnReader(crl, AsnEncodingRules.DER).ReadSequence().ReadSequence();
        tbs.ReadInteger(); // version
        tbs.ReadSequence(); // signature
        tbs.ReadSequence(); // issuer
        tbs.ReadEncodedValue(); // thisUpdate
        tbs.ReadEncodedValue(); // nextUpdate
        return tbs;
    }
}
