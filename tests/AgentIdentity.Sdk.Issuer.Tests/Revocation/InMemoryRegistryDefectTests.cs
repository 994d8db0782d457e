using AgentIdentity.Issuer.Tests.ControlPlane;

namespace AgentIdentity.Tests.Revocation;

/// <summary>§7.6 and §7.1 of the control-plane issue for the in-memory registry (tests and the development CA).</summary>
public sealed class InMemoryRegistryDefectTests : IDisposable
{
    private readonly RevocationTestPki _pki = new();

    public void Dispose() => _pki.Dispose();

    [Fact]
    public async Task Crl_IdentityRevokedSerial_LeavesTheListOnceExpired()
    {
        using var cert = await _pki.IssueAsync("spiffe://td.example/agent/planner/1");
        await _pki.Registry.RevokeIdentityAsync(SpiffeId.Parse("spiffe://td.example/agent/planner/1"));
        Assert.Contains(cert.SerialNumber, StoreRevocationRegistryTests.ReadCrl(await _pki.Registry.GetCrlAsync(), out _));

        // Past its expiry (plus clock skew) and after another issuance pruned the issued set, it leaves the CRL.
        _pki.Time.Advance(TimeSpan.FromHours(2));
        using var later = await _pki.IssueAsync("spiffe://td.example/agent/worker/2");
        await _pki.Registry.RevokeCertificateAsync("0A"); // forces a new CRL
        Assert.DoesNotContain(cert.SerialNumber, StoreRevocationRegistryTests.ReadCrl(await _pki.Registry.GetCrlAsync(), out _));
    }

    [Fact]
    public async Task CrlNumber_NewRegistryInstance_DoesNotRestartAtOne()
    {
        await _pki.Registry.RevokeCertificateAsync("0A");
        StoreRevocationRegistryTests.ReadCrl(await _pki.Registry.GetCrlAsync(), out var first);
        var restarted = new InMemoryRevocationRegistry(_pki.Signer, timeProvider: _pki.Time); // "the process restarted"
        _pki.Time.Advance(TimeSpan.FromSeconds(1));
        await restarted.RevokeCertificateAsync("0A");
        StoreRevocationRegistryTests.ReadCrl(await restarted.GetCrlAsync(), out var second);
        Assert.True(second > first, $"CRL number {second} after a restart must exceed {first}");
    }
}
