using AgentIdentity.IntegrationTests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace AgentIdentity.IntegrationTests.Revocation;

/// <summary>The kill switch on the agent's outbound HttpClient, over real mTLS on loopback.</summary>
public sealed class KillSwitchHttpTests
{
    private const string EchoId = "spiffe://example.org/svc/echo";

    [Fact]
    public async Task GetAsync_AfterIdentityRevoked_FailsWithIdentityRevokedException()
    {
        using var pki = TestPki.OnFakeClock();
        var registry = new InMemoryRevocationRegistry(pki.Ca.CreateRevocationSigner(), timeProvider: pki.Time);
        await using var server = await MtlsTestServer.StartAsync(pki);
        await using var services = AgentClient.Build(pki, server.BaseAddress, b => b.AddAgentIdentity(o => o.ServerId = EchoId), new RevocationAwareIssuer(pki.Ca, registry));
        var credential = await AgentClient.ReadyAsync(services);
        var set = new RevocationSet();
        using var monitor = new AgentRevocationMonitor(set);
        monitor.Watch(credential);
        var client = services.GetRequiredService<IHttpClientFactory>().CreateClient(AgentClient.Name);
        Assert.Equal(credential.GetCurrent().Thumbprint, await client.GetStringAsync("/whoami"));

        set.Apply(await registry.RevokeIdentityAsync(credential.Id));

        var ex = await Assert.ThrowsAsync<IdentityRevokedException>(() => client.GetStringAsync("/whoami"));
        Assert.Equal(credential.Id, ex.Id);
        Assert.Contains("kill switch", ex.Message, StringComparison.Ordinal);
    }
}
