using AgentIdentity.AspNetCore.Tests.TestInfrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace AgentIdentity.AspNetCore.Tests.Authentication;

public sealed class AgentCallerCacheTests : IDisposable
{
    private readonly FakeTimeProvider _time = new(DateTimeOffset.UtcNow);
    private readonly TestPki _pki;

    public AgentCallerCacheTests() => _pki = TestPki.ForCorp(_time);

    public void Dispose() => _pki.Dispose();

    [Fact]
    public async Task Authenticate_CachedCertificateAfterItExpires_FailsAsExpired()
    {
        using var services = InProcessAuthentication.BuildServices(_pki.Bundles, _time, o => o.ClockSkew = TimeSpan.FromSeconds(30));
        var svid = _pki.IssueSvid("spiffe://corp.example/agent/planner/1", TimeSpan.FromMinutes(10));

        var first = await InProcessAuthentication.AuthenticateAsync(services, svid.Certificate, svid.Intermediates);
        Assert.True(first.Succeeded, first.Failure?.Message);

        _time.Advance(TimeSpan.FromMinutes(11));
        var second = await InProcessAuthentication.AuthenticateAsync(services, svid.Certificate, svid.Intermediates);

        Assert.False(second.Succeeded);
        Assert.Contains("expired", second.Failure!.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Authenticate_TrustBundleReplaced_RevalidatesCachedCertificate()
    {
        var bundles = new MutableBundleSource(_pki.Bundles);
        using var services = InProcessAuthentication.BuildServices(bundles, _time);
        using var leaf = _pki.CreateCraftedLeaf(["spiffe://corp.example/agent/planner/1"]);
        Assert.True((await InProcessAuthentication.AuthenticateAsync(services, leaf)).Succeeded);

        // The crafted root is removed from the bundle: the cached validation must not survive.
        bundles.Current = new TrustBundleSet([new TrustBundle(TestPki.Corp, [_pki.Ca.RootCertificate])]);
        var result = await InProcessAuthentication.AuthenticateAsync(services, leaf);

        Assert.False(result.Succeeded);
        Assert.Contains("does not lead to an X.509 authority", result.Failure!.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Add_BeyondCapacity_StaysBounded()
    {
        var cache = new AgentCallerCache(capacity: 10);
        var now = _time.GetUtcNow();
        for (var i = 0; i < 25; i++)
        {
            using var leaf = _pki.CreateCraftedLeaf([$"spiffe://corp.example/agent/a/{i}"]);
            var hash = System.Security.Cryptography.SHA256.HashData(leaf.RawData);
            _pki.Bundles.TryGetBundle(TestPki.Corp, out var bundle);
            cache.Add(new AgentCaller(SpiffeId.Parse($"spiffe://corp.example/agent/a/{i}"), leaf, [leaf], hash, bundle!), now);
            Assert.True(cache.Count <= 10, $"cache holds {cache.Count} entries");
        }

        Assert.True(cache.Count >= 1);
    }

    [Fact]
    public async Task Authenticate_ZeroCacheSize_ValidatesEveryTime()
    {
        using var services = InProcessAuthentication.BuildServices(_pki.Bundles, _time, o => o.ValidationCacheSize = 0);
        using var leaf = _pki.CreateCraftedLeaf(["spiffe://corp.example/agent/planner/1"]);

        Assert.True((await InProcessAuthentication.AuthenticateAsync(services, leaf)).Succeeded);
        Assert.True((await InProcessAuthentication.AuthenticateAsync(services, leaf)).Succeeded);

        var logs = services.GetFakeLogCollector().GetSnapshot().Where(r => r.Id.Id == 3000).ToList();
        Assert.Equal(2, logs.Count);
        Assert.All(logs, r => Assert.EndsWith("cached validation: False.", r.Message, StringComparison.Ordinal));
    }

    [Fact]
    public void AddAgentIdentity_NoTrustBundle_FailsWithActionableMessage()
    {
        var collection = new ServiceCollection();
        collection.AddLogging();
        collection.AddAuthentication().AddAgentIdentity();
        using var services = collection.BuildServiceProvider();
        var monitor = services.GetRequiredService<IOptionsMonitor<AgentIdentityAuthenticationOptions>>();

        var error = Assert.Throws<InvalidOperationException>(() => monitor.Get(AgentIdentityAuthenticationDefaults.AuthenticationScheme).Validate());

        Assert.Contains("UseDevelopmentCertificateAuthority", error.Message, StringComparison.Ordinal);
    }
}
