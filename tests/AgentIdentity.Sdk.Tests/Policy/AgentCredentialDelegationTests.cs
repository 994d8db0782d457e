using System.Collections.Concurrent;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Time.Testing;

namespace AgentIdentity.Tests.Policy;

public sealed class AgentCredentialDelegationTests : IAsyncLifetime
{
    private static readonly TrustDomain Td = TrustDomain.Parse("td.example");
    private static readonly SpiffeId PlannerId = SpiffeId.Parse("spiffe://td.example/agent/planner/1");
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 28, 10, 0, 0, TimeSpan.Zero));
    private DevelopmentCertificateAuthority _ca = null!;
    private RecordingIssuer _issuer = null!;
    private AgentCredential _planner = null!;

    private static readonly AgentPolicy PlannerPolicy = new(
        services: ["spiffe://td.example/svc/*"],
        actions: ["invoices:*", "orders:read"],
        tools: ["Erp.*"],
        maxDelegationDepth: 2,
        delegationTargets: ["spiffe://td.example/agent/planner/*"]);

    private static readonly AgentPolicy TaskPolicy = new(
        services: ["spiffe://td.example/svc/erp", "spiffe://td.example/svc/crm"],
        actions: ["invoices:read", "orders:read"],
        tools: ["Erp.GetInvoice"],
        maxDelegationDepth: 1,
        delegationTargets: ["spiffe://td.example/agent/planner/1/task/*"]);

    /// <summary>The real development CA, with every request recorded (so that tests can count issuances and read proofs).</summary>
    private sealed class RecordingIssuer(DevelopmentCertificateAuthority ca) : IX509SvidIssuer
    {
        public ConcurrentQueue<X509SvidRequest> Requests { get; } = new();

        public TaskCompletionSource<X509SvidRequest>? NextTaskRequest { get; set; }

        public ValueTask<X509SvidIssuance> IssueAsync(X509SvidRequest request, CancellationToken cancellationToken = default)
        {
            Requests.Enqueue(request);
            if (request.Delegation is not null)
            {
                NextTaskRequest?.TrySetResult(request);
            }

            return ca.IssueAsync(request, cancellationToken);
        }
    }

    public async Task InitializeAsync()
    {
        _ca = DevelopmentCertificateAuthority.Create(Td, timeProvider: _time);
        _issuer = new RecordingIssuer(_ca);
        _planner = await AgentCredential.CreateAsync(PlannerId, _issuer, new AgentCredentialOptions { Policy = PlannerPolicy }, _time);
    }

    public async Task DisposeAsync()
    {
        await _planner.DisposeAsync();
        _ca.Dispose();
    }

    [Fact]
    public async Task DelegateAsync_NarrowerPolicy_ReturnsTaskCredentialUnderParent()
    {
        await using var task = await _planner.DelegateAsync("t1", TaskPolicy);

        var svid = task.GetCurrent();
        Assert.Equal("spiffe://td.example/agent/planner/1/task/t1", task.Id.ToString());
        Assert.Same(_planner, task.Parent);
        Assert.Equal(TaskPolicy.WithTaskId("t1"), svid.Policy);
        Assert.Equal(_time.GetUtcNow() + AgentCredential.DefaultTaskLifetime, svid.NotAfter, TimeSpan.FromSeconds(1));
        Assert.Equal(PlannerId, Assert.Single(svid.DelegationChain!).Id);
        Assert.Equal(_planner.GetCurrent().GetCertificateHash(), svid.DelegationChain![0].GetCertificateHash());
    }

    [Fact]
    public async Task ParentRotation_TaskRenewsAtOnce_ChainNamesParentsNewCertificate()
    {
        // 1 h planner SVID renewed at 27-33 min; a 40 min task minted at 20 min would renew itself only at 38-42 min.
        _time.Advance(TimeSpan.FromMinutes(20));
        var minted = _time.GetUtcNow();
        await using var task = await _planner.DelegateAsync("t1", TaskPolicy, TimeSpan.FromMinutes(40));
        var taskBefore = task.GetCurrent();
        var plannerBefore = _planner.GetCurrent();
        var plannerRotated = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var renewed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var plannerRegistration = plannerBefore.ChangeToken.RegisterChangeCallback(_ => plannerRotated.TrySetResult(), null);
        using var registration = taskBefore.ChangeToken.RegisterChangeCallback(_ => renewed.TrySetResult(), null);

        // To 34 min: past the planner's renewal point, not the task's own. The clock then stands still: only the parent's rotation can renew the task.
        _time.Advance(TimeSpan.FromMinutes(14));
        await plannerRotated.Task.WaitAsync(TimeSpan.FromSeconds(30));
        await renewed.Task.WaitAsync(TimeSpan.FromSeconds(30));

        var plannerAfter = _planner.GetCurrent();
        Assert.NotEqual(plannerBefore.Thumbprint, plannerAfter.Thumbprint);
        Assert.Equal(plannerAfter.GetCertificateHash(), task.GetCurrent().DelegationChain!.Parent.GetCertificateHash());
    }

    [Fact]
    public async Task DelegateAsync_EffectivePolicy_IsIntersectionAlongChain()
    {
        // The task asks for crm, which the parent allows (svc/*); the effective policy is the intersection, with the task id.
        await using var task = await _planner.DelegateAsync("t1", TaskPolicy);
        var effective = task.GetEffectivePolicy()!;
        Assert.Equal(PlannerPolicy.Intersect(TaskPolicy).WithTaskId("t1"), effective);
        Assert.True(effective.AllowsAction("invoices:read"));
        Assert.False(effective.AllowsAction("invoices:write"));
        Assert.Equal("t1", effective.TaskId);
    }

    [Fact]
    public async Task DelegateAsync_Nested_BuildsTwoLinkChainThatVerifiesOffline()
    {
        await using var task = await _planner.DelegateAsync("t1", TaskPolicy);
        var subPolicy = new AgentPolicy(services: ["spiffe://td.example/svc/erp"], actions: ["invoices:read"]);
        await using var sub = await task.DelegateAsync("t2", subPolicy, TimeSpan.FromMinutes(5));

        var svid = sub.GetCurrent();
        Assert.Equal("spiffe://td.example/agent/planner/1/task/t1/task/t2", sub.Id.ToString());
        Assert.Equal([PlannerId, task.Id], svid.DelegationChain!.Select(l => l.Id));
        var result = DelegationChainVerifier.Verify(svid.Certificate, svid.Intermediates, _ca.Bundle, _time.GetUtcNow(),
            ancestorCertificates: [_planner.GetCurrent().Certificate, task.GetCurrent().Certificate]);
        Assert.True(result.IsValid, result.Reason);
        Assert.Equal(subPolicy.WithTaskId("t2"), result.EffectivePolicy);

        // depth 0 now: the grandchild cannot delegate further
        var ex = await Assert.ThrowsAsync<CertificateIssuanceException>(() => sub.DelegateAsync("t3", AgentPolicy.Empty));
        Assert.Contains("has delegation depth 0", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DelegateAsync_Refused_ThrowsAtOnceWithoutRetry()
    {
        var before = _issuer.Requests.Count;
        var ex = await Assert.ThrowsAsync<CertificateIssuanceException>(() =>
            _planner.DelegateAsync("t1", new AgentPolicy(services: ["spiffe://td.example/*"])));
        Assert.Contains("service pattern 'spiffe://td.example/*' is not covered", ex.Message, StringComparison.Ordinal);
        Assert.Equal(before + 1, _issuer.Requests.Count);
    }

    [Theory]
    [InlineData("a/b")]
    [InlineData("")]
    [InlineData("..")]
    public async Task DelegateAsync_BadTaskId_ThrowsArgumentException(string taskId) =>
        await Assert.ThrowsAsync<ArgumentException>(() => _planner.DelegateAsync(taskId, TaskPolicy));

    [Fact]
    public async Task DelegateAsync_PolicyNamesOtherTask_ThrowsArgumentException()
    {
        var ex = await Assert.ThrowsAsync<ArgumentException>(() => _planner.DelegateAsync("t1", TaskPolicy.WithTaskId("t9")));
        Assert.Contains("names task 't9'", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DelegateAsync_LifetimeLongerThanParentsRemainingLife_IsShortenedToIt()
    {
        _time.Advance(TimeSpan.FromMinutes(25)); // the planner (1 h) has not renewed yet (renewal at ~27-33 min)
        var parent = _planner.GetCurrent();
        await using var task = await _planner.DelegateAsync("t1", TaskPolicy, TimeSpan.FromHours(2));
        Assert.True(task.GetCurrent().NotAfter <= parent.NotAfter);
    }

    [Fact]
    public async Task Renewal_SignedByParentsCurrentSvid_AndStopsWhenDisposed()
    {
        var task = await _planner.DelegateAsync("t1", TaskPolicy, TimeSpan.FromMinutes(10));
        var plannerFirst = _planner.GetCurrent();
        Assert.Equal(plannerFirst.GetCertificateHash(), task.GetCurrent().DelegationChain![0].GetCertificateHash());

        // The planner rotates at about half its hour (27-33 min); the clock jumps past it at once, so the task's SVID (10 min) expires meanwhile.
        var plannerRotated = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using (plannerFirst.ChangeToken.RegisterChangeCallback(_ => plannerRotated.TrySetResult(), null))
        {
            _time.Advance(TimeSpan.FromMinutes(34));
            await plannerRotated.Task.WaitAsync(TimeSpan.FromSeconds(30));
        }

        // The task renews (its own timer, and at once after the planner's rotation), ending signed by and chained to the planner's new SVID.
        var plannerNew = _planner.GetCurrent();
        await WaitForRenewalAsync(task, svid => svid.DelegationChain![0].GetCertificateHash().AsSpan().SequenceEqual(plannerNew.GetCertificateHash()));
        Assert.True(task.TryGetCurrent(out var renewed));
        Assert.Equal(plannerNew.GetCertificateHash(), renewed.DelegationChain![0].GetCertificateHash());
        Assert.True(DelegationChainVerifier.Verify(renewed.Certificate, renewed.Intermediates, _ca.Bundle, _time.GetUtcNow(), [plannerNew.Certificate]).IsValid);

        await task.DisposeAsync();
        var count = _issuer.Requests.Count(r => r.Id == task.Id);
        await _time.AdvanceUntilAsync(() => false, TimeSpan.FromMinutes(20));
        Assert.Equal(count, _issuer.Requests.Count(r => r.Id == task.Id));
        Assert.Throws<ObjectDisposedException>(() => task.GetCurrent());
    }

    /// <summary>Awaits the credential's rotations (signals, no clock) until its current SVID satisfies <paramref name="done"/>.</summary>
    private static async Task WaitForRenewalAsync(AgentCredential credential, Func<X509Svid, bool> done)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (true)
        {
            var rotated = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            using var registration = credential.GetChangeToken().RegisterChangeCallback(_ => rotated.TrySetResult(), null);
            if (credential.TryGetCurrent(out var svid) && done(svid))
            {
                return;
            }

            await rotated.Task.WaitAsync(timeout.Token);
        }
    }

    [Fact]
    public async Task DisposeAsync_Parent_DisposesTaskCredentials()
    {
        var task = await _planner.DelegateAsync("t1", TaskPolicy);
        await _planner.DisposeAsync();
        Assert.Throws<ObjectDisposedException>(() => task.GetCurrent());
        Assert.Equal(HealthStatus.Unhealthy, task.GetStatus().Health);
    }
}

internal static class FakeTimeTestExtensions
{
    /// <summary>
    /// Advances fake time in 30-second steps, yielding to background renewal loops between steps, until <paramref name="done"/>
    /// holds or <paramref name="max"/> of fake time has passed. No wall-clock waiting.
    /// </summary>
    public static async Task AdvanceUntilAsync(this FakeTimeProvider time, Func<bool> done, TimeSpan max)
    {
        var step = TimeSpan.FromSeconds(30);
        for (var elapsed = TimeSpan.Zero; !done() && elapsed < max; elapsed += step)
        {
            time.Advance(step);
            for (var i = 0; i < 50 && !done(); i++)
            {
                await Task.Yield();
            }
        }
    }
}
