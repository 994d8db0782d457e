using System.Security.Cryptography.X509Certificates;

namespace AgentIdentity.SemanticKernel.Tests.TestInfrastructure;

/// <summary>
/// The real revocation path, issuer to agent: the CA's revocation signer and registry on one side; on the agent's side the feed
/// verifier, the revoked set and the monitor that trips a watched credential's kill switch. <see cref="RevokeAsync"/> delivers the
/// signed entries the way the feed subscriber does (verify, then apply), without a socket in between.
/// </summary>
internal sealed class KillSwitch : IDisposable
{
    private readonly RevocationSigner _signer;
    private readonly InMemoryRevocationRegistry _registry;
    private readonly RevocationFeedVerifier _verifier;
    private readonly RevocationSet _set = new();
    private readonly AgentRevocationMonitor _monitor;

    public KillSwitch(TestAgents agents)
    {
        _signer = agents.Ca.CreateRevocationSigner();
        _registry = new InMemoryRevocationRegistry(_signer, timeProvider: agents.Time);
        _verifier = new RevocationFeedVerifier(_signer.Certificate, TestAgents.Corp);
        _monitor = new AgentRevocationMonitor(_set);
    }

    /// <summary>Watches a credential, as the agent host does for each of its agents.</summary>
    public void Watch(AgentCredential credential) => _monitor.Watch(credential);

    /// <summary>Revokes an identity at the issuer and delivers the feed to the agent side.</summary>
    public async Task RevokeAsync(SpiffeId id)
    {
        await _registry.RevokeIdentityAsync(id, X509RevocationReason.KeyCompromise);
        foreach (var entry in await _registry.GetEntriesAsync(_set.LastSequence, 100))
        {
            _set.Apply(_verifier.Verify(entry.GetEncoded()));
        }
    }

    public void Dispose()
    {
        _monitor.Dispose();
        _verifier.Dispose();
    }
}
