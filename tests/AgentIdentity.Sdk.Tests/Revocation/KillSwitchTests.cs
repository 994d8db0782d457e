using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace AgentIdentity.Tests.Revocation;

#pragma warning disable CA1001 // Disposed in DisposeAsync (IAsyncLifetime).
public sealed class KillSwitchTests : IAsyncLifetime
#pragma warning restore CA1001
{
    private static readonly SpiffeId PlannerId = SpiffeId.Parse("spiffe://td.example/agent/planner/1");
    private static readonly AgentPolicy PlannerPolicy = new(
        services: ["spiffe://td.example/svc/*"], actions: ["invoices:*"], tools: ["Erp.*"], maxDelegationDepth: 2,
        delegationTargets: ["spiffe://td.example/agent/planner/*"]);

    private static readonly AgentPolicy TaskPolicy = new(
        services: ["spiffe://td.example/svc/erp"], actions: ["invoices:read"], tools: ["Erp.GetInvoice"], maxDelegationDepth: 1,
        delegationTargets: ["spiffe://td.example/agent/planner/1/task/*"]);

    private readonly RevocationTestPki _pki = new();
    private readonly RevocationSet _set = new();
    private AgentCredential _planner = null!;
    private AgentRevocationMonitor _monitor = null!;

    public async Task InitializeAsync()
    {
        _planner = await AgentCredential.CreateAsync(PlannerId, new RevocationAwareIssuer(_pki.Ca, _pki.Registry), new AgentCredentialOptions { Policy = PlannerPolicy }, _pki.Time);
        _monitor = new AgentRevocationMonitor(_set);
        _monitor.Watch(_planner);
    }

    public async Task DisposeAsync()
    {
        _monitor.Dispose();
        await _planner.DisposeAsync();
        _pki.Dispose();
    }

    private async Task DeliverAsync()
    {
        foreach (var entry in await _pki.Registry.GetEntriesAsync(_set.LastSequence, 100))
        {
            _set.Apply(_pki.Verifier.Verify(entry.GetEncoded()));
        }
    }

    [Fact]
    public async Task WaitForSequence_StartedWhileHandlersRun_CompletesOnlyAfterTheKillSwitchTripped()
    {
        var entry = await _pki.Registry.RevokeIdentityAsync(PlannerId, System.Security.Cryptography.X509Certificates.X509RevocationReason.KeyCompromise);
        Task? waitStartedInHandler = null;
        var revokedWhenHandlerStarted = true;
        void OnApplied(object? sender, RevocationEntry applied)
        {
            // Subscribed after the monitor, so it runs after the kill switch; a waiter starting now must still wait for every
            // handler of this entry, because "applied" promises "enforced".
            revokedWhenHandlerStarted = _planner.IsRevoked;
            waitStartedInHandler = _set.WaitForSequenceAsync(applied.Sequence);
            Assert.False(waitStartedInHandler.IsCompleted, "the entry is not enforced until its handlers return");
        }

        _set.EntryApplied += OnApplied;
        try
        {
            foreach (var encoded in await _pki.Registry.GetEntriesAsync(0, 100))
            {
                Assert.Equal(RevocationApplyResult.Applied, _set.Apply(_pki.Verifier.Verify(encoded.GetEncoded())));
            }
        }
        finally
        {
            _set.EntryApplied -= OnApplied;
        }

        Assert.True(revokedWhenHandlerStarted);
        Assert.NotNull(waitStartedInHandler);
        await waitStartedInHandler.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(_set.WaitForSequenceAsync(entry.Sequence).IsCompleted);
    }

    [Fact]
    public async Task IdentityRevoked_TripsKillSwitch_GetCurrentThrowsIdentityRevokedAndHealthUnhealthy()
    {
        Assert.False(_planner.IsRevoked);
        _ = _planner.GetCurrent();

        await _pki.Registry.RevokeIdentityAsync(PlannerId, System.Security.Cryptography.X509Certificates.X509RevocationReason.KeyCompromise);
        await DeliverAsync();

        Assert.True(_planner.IsRevoked);
        var ex = Assert.Throws<IdentityRevokedException>(() => _planner.GetCurrent());
        Assert.Equal(PlannerId, ex.Id);
        Assert.Contains("kill switch", ex.Message, StringComparison.Ordinal);
        Assert.IsAssignableFrom<AgentIdentityException>(ex);
        Assert.False(_planner.TryGetCurrent(out _));
        var status = _planner.GetStatus();
        Assert.Equal(HealthStatus.Unhealthy, status.Health);
        Assert.Contains("revoked", status.LastError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CurrentSerialRevoked_TripsKillSwitch_OtherSerialDoesNot()
    {
        await _pki.Registry.RevokeCertificateAsync("0102");
        await DeliverAsync();
        Assert.False(_planner.IsRevoked);

        await _pki.Registry.RevokeCertificateAsync(_planner.GetCurrent().SerialNumber);
        await DeliverAsync();

        Assert.True(_planner.IsRevoked);
        Assert.Equal(RevocationKind.Serial, _planner.Revocation!.Kind);
    }

    [Fact]
    public async Task ParentRevoked_TaskIdentityTripsToo()
    {
        await using var task = await _planner.DelegateAsync("t1", TaskPolicy);
        _ = task.GetCurrent();

        await _pki.Registry.RevokeIdentityAsync(PlannerId);
        await DeliverAsync();

        Assert.Throws<IdentityRevokedException>(() => task.GetCurrent());
    }

    [Fact]
    public async Task DisposeTaskIdentity_WithRegistry_RevokesIt_AndLeavesParentValid()
    {
        _planner.UseIdentityRevoker(_pki.Registry);
        var task = await _planner.DelegateAsync("t1", TaskPolicy);
        var serial = task.GetCurrent().SerialNumber;

        await task.DisposeAsync();

        var entry = Assert.Single(await _pki.Registry.GetEntriesAsync(0, 10));
        Assert.Equal(task.Id, entry.Id);
        Assert.Equal(System.Security.Cryptography.X509Certificates.X509RevocationReason.CessationOfOperation, entry.Reason);
        Assert.NotNull(await _pki.Registry.GetCertificateRevocationAsync(serial));
        await DeliverAsync();
        Assert.False(_planner.IsRevoked);
        _ = _planner.GetCurrent();
    }

    [Fact]
    public async Task DisposeTaskIdentity_WithoutRegistry_RevokesNothing()
    {
        var task = await _planner.DelegateAsync("t1", TaskPolicy);

        await task.DisposeAsync();

        Assert.Equal(0, _pki.Registry.LastSequence);
    }

    [Fact]
    public async Task HealthCheck_RevokedCredential_ReportsUnhealthy()
    {
        var factory = new SingleCredentialFactory(_planner);
        var check = new AgentIdentityHealthCheck(factory);
        Assert.Equal(HealthStatus.Healthy, (await check.CheckHealthAsync(new HealthCheckContext())).Status);

        await _pki.Registry.RevokeIdentityAsync(PlannerId);
        await DeliverAsync();

        var result = await check.CheckHealthAsync(new HealthCheckContext());
        Assert.Equal(HealthStatus.Unhealthy, result.Status);
        Assert.Contains("revoked", result.Description, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Watch_AlreadyRevokedIdentity_TripsImmediately()
    {
        await _pki.Registry.RevokeIdentityAsync(SpiffeId.Parse("spiffe://td.example/agent/planner"));
        await DeliverAsync();
        using var monitor = new AgentRevocationMonitor(_set);

        Assert.True(monitor.Watch(_planner));
        Assert.True(_planner.IsRevoked);
    }

    private sealed class SingleCredentialFactory(AgentCredential credential) : IAgentCredentialFactory
    {
        public TrustDomain TrustDomain => credential.Id.TrustDomain;

        public IEnumerable<AgentCredential> Credentials => [credential];

        public Task<AgentCredential> CreateAsync(string agentName, Action<AgentCredentialOptions>? configure = null, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public AgentCredential Create(string agentName, Action<AgentCredentialOptions>? configure = null) => throw new NotSupportedException();
    }
}
