using System.Security.Cryptography.X509Certificates;
using AgentIdentity.Spiffe.Proto;
using Grpc.Core;

namespace AgentIdentity.Spiffe.Tests;

public sealed class WorkloadApiServerTests : IDisposable
{
    private readonly SpiffeTestEnvironment _env = new();

    public void Dispose() => _env.Dispose();

    [Fact]
    public async Task CreateAsync_RegisteredCaller_ReceivesSvidAndBundleOverUnixSocket()
    {
        var registration = SpiffeTestEnvironment.ForThisUser("/workload/tool");
        await using var server = await WorkloadApiServer.StartAsync(_env.Ca, _env.ServerOptions("a.sock", registration), SpiffeTestEnvironment.ServerTime());
        await using var source = await WorkloadApiX509Source.CreateAsync(new WorkloadApiOptions { Address = server.Address.Value }).Within30s();

        var svid = source.GetCurrent();
        Assert.Equal(registration.Id, svid.Id);
        Assert.True(svid.Certificate.HasPrivateKey);
        Assert.Equal(WorkloadApiSourceState.Ready, source.State);
        Assert.True(source.TryGetBundle(_env.Ca.TrustDomain, out var bundle));
        Assert.Equal(_env.Ca.RootCertificate.RawData, bundle.X509Authorities[0].RawData);

        // The SVID verifies against the bundle the stream delivered.
        var result = X509SvidValidator.Validate(svid.Certificate, svid.Intermediates, source, SpiffeTestEnvironment.Now);
        Assert.True(result.IsValid, result.Reason);
    }

    [Fact]
    public async Task RotateAsync_OpenStream_ClientSwitchesToNewSvidAndOldTokenFires()
    {
        await using var server = await WorkloadApiServer.StartAsync(_env.Ca, _env.ServerOptions("b.sock", SpiffeTestEnvironment.ForThisUser("/workload/a")), SpiffeTestEnvironment.ServerTime());
        await using var source = await WorkloadApiX509Source.CreateAsync(new WorkloadApiOptions { Address = server.Address.Value }).Within30s();
        var first = source.GetCurrent();
        var firstChanged = first.ChangeToken.WhenChanged();

        for (var i = 0; i < 3; i++)
        {
            var changed = source.GetChangeToken().WhenChanged();
            await server.RotateAsync();
            await changed.Within30s();
        }

        await firstChanged.Within30s();
        var current = source.GetCurrent();
        Assert.NotEqual(first.SerialNumber, current.SerialNumber);
        Assert.Equal(first.Id, current.Id);
        Assert.True(first.IsSuperseded);
        Assert.False(current.IsSuperseded);
        Assert.Equal(4, source.UpdateCount);
    }

    [Fact]
    public async Task RotationInterval_ServerClockAdvances_PushesNewSvid()
    {
        var serverTime = SpiffeTestEnvironment.ServerTime();
        var options = _env.ServerOptions("c.sock", SpiffeTestEnvironment.ForThisUser("/workload/a"));
        options.SvidLifetime = TimeSpan.FromMinutes(10);
        await using var server = await WorkloadApiServer.StartAsync(_env.Ca, options, serverTime);
        await using var source = await WorkloadApiX509Source.CreateAsync(new WorkloadApiOptions { Address = server.Address.Value }).Within30s();
        var first = source.GetCurrent();

        var changed = first.ChangeToken.WhenChanged();
        serverTime.Advance(TimeSpan.FromMinutes(5));
        await changed.Within30s();
        Assert.NotEqual(first.SerialNumber, source.GetCurrent().SerialNumber);
    }

    [Fact]
    public async Task SetFederatedBundles_AddThenDrop_ClientLoadsThenUnloadsTrustDomain()
    {
        await using var server = await WorkloadApiServer.StartAsync(_env.Ca, _env.ServerOptions("d.sock", SpiffeTestEnvironment.ForThisUser("/workload/a")), SpiffeTestEnvironment.ServerTime());
        await using var source = await WorkloadApiX509Source.CreateAsync(new WorkloadApiOptions { Address = server.Address.Value }).Within30s();
        var partner = TrustDomain.Parse("partner.example");
        Assert.False(source.TryGetBundle(partner, out _));

        using var foreignRoot = SpiffeTestEnvironment.CreateForeignRoot("partner.example");
        var changed = source.GetChangeToken().WhenChanged();
        server.SetFederatedBundles([new TrustBundle(partner, [foreignRoot])]);
        await changed.Within30s();
        Assert.True(source.TryGetBundle(partner, out var federated));
        Assert.Equal(foreignRoot.RawData, federated.X509Authorities[0].RawData);
        Assert.Equal(2, source.Bundles.Bundles.Count);

        changed = source.GetChangeToken().WhenChanged();
        server.SetFederatedBundles([]);
        await changed.Within30s();
        Assert.False(source.TryGetBundle(partner, out _));
        Assert.True(source.TryGetBundle(_env.Ca.TrustDomain, out _));
    }

    [Fact]
    public async Task CreateAsync_SeveralSvids_PicksFirstByDefaultAndByHintWhenConfigured()
    {
        var options = _env.ServerOptions("e.sock",
            SpiffeTestEnvironment.ForThisUser("/workload/default", "internal"),
            SpiffeTestEnvironment.ForThisUser("/workload/external", "external"));
        await using var server = await WorkloadApiServer.StartAsync(_env.Ca, options, SpiffeTestEnvironment.ServerTime());

        await using var byDefault = await WorkloadApiX509Source.CreateAsync(new WorkloadApiOptions { Address = server.Address.Value }).Within30s();
        Assert.Equal("spiffe://example.org/workload/default", byDefault.GetCurrent().Id.ToString());
        Assert.Equal("internal", byDefault.CurrentHint);

        await using var byHint = await WorkloadApiX509Source.CreateAsync(new WorkloadApiOptions { Address = server.Address.Value, Hint = "external" }).Within30s();
        Assert.Equal("spiffe://example.org/workload/external", byHint.GetCurrent().Id.ToString());
    }

    [Fact]
    public async Task FetchX509Svid_UnregisteredCaller_PermissionDeniedAndNoSvid()
    {
        var (uid, _) = SpiffeTestEnvironment.CurrentUser();
        var otherUser = new WorkloadRegistration(SpiffeId.Parse("spiffe://example.org/someone-else")) { UserId = uid + 1 };
        var otherPath = new WorkloadRegistration(SpiffeId.Parse("spiffe://example.org/other-binary")) { UserId = uid, ExecutablePath = "/usr/bin/not-this-process" };
        await using var server = await WorkloadApiServer.StartAsync(_env.Ca, _env.ServerOptions("f.sock", otherUser, otherPath), SpiffeTestEnvironment.ServerTime());
        var time = SpiffeTestEnvironment.ClientTime();
        var denied = new TaskCompletionSource<(StatusCode, TimeSpan)>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var source = WorkloadApiX509Source.Start(new WorkloadApiOptions { Address = server.Address.Value }, time, null, (code, delay) => denied.TrySetResult((code, delay)));

        var (status, backoff) = await denied.Task.Within30s();
        Assert.Equal(StatusCode.PermissionDenied, status);
        Assert.Equal(TimeSpan.FromSeconds(1), backoff);
        Assert.Equal(WorkloadApiSourceState.PermissionDenied, source.State);
        var ex = Assert.Throws<IdentityUnavailableException>(source.GetCurrent);
        Assert.Contains("PermissionDenied", ex.Message, StringComparison.Ordinal);
        Assert.False(source.WhenReadyAsync().IsCompleted);
    }

    [Fact]
    public async Task FetchX509Svid_ExecutablePathSelector_MatchesThisProcess()
    {
        var registration = new WorkloadRegistration(SpiffeId.Parse("spiffe://example.org/by-path")) { UserId = SpiffeTestEnvironment.CurrentUser().Uid, ExecutablePath = new FileInfo("/proc/self/exe").LinkTarget };
        await using var server = await WorkloadApiServer.StartAsync(_env.Ca, _env.ServerOptions("g.sock", registration), SpiffeTestEnvironment.ServerTime());
        await using var source = await WorkloadApiX509Source.CreateAsync(new WorkloadApiOptions { Address = server.Address.Value }).Within30s();
        Assert.Equal(registration.Id, source.GetCurrent().Id);
    }

    [Fact]
    public async Task SetRegistrations_EntryRemoved_ClientStopsUsingPreviousSvid()
    {
        await using var server = await WorkloadApiServer.StartAsync(_env.Ca, _env.ServerOptions("h.sock", SpiffeTestEnvironment.ForThisUser("/workload/a")), SpiffeTestEnvironment.ServerTime());
        var time = SpiffeTestEnvironment.ClientTime();
        await using var source = await WorkloadApiX509Source.CreateAsync(new WorkloadApiOptions { Address = server.Address.Value }, time).Within30s();
        var svid = source.GetCurrent();
        var superseded = svid.ChangeToken.WhenChanged();

        server.SetRegistrations([]);
        await superseded.Within30s();
        Assert.Equal(WorkloadApiSourceState.PermissionDenied, source.State);
        Assert.Throws<IdentityUnavailableException>(source.GetCurrent);

        // Granting the entry again brings the identity back after the backoff.
        Assert.Equal(TimeSpan.FromSeconds(1), await time.NextTimerAsync());
        server.SetRegistrations([SpiffeTestEnvironment.ForThisUser("/workload/a")]);
        var back = source.GetChangeToken().WhenChanged();
        time.Advance(TimeSpan.FromSeconds(1));
        await back.Within30s();
        Assert.Equal(svid.Id, source.GetCurrent().Id);
        Assert.Equal(WorkloadApiSourceState.Ready, source.State);
    }

    [Fact]
    public async Task FetchX509Svid_WithoutSecurityHeader_InvalidArgument()
    {
        await using var server = await WorkloadApiServer.StartAsync(_env.Ca, _env.ServerOptions("i.sock", SpiffeTestEnvironment.ForThisUser("/workload/a")), SpiffeTestEnvironment.ServerTime());
        using var channel = WorkloadApiChannel.Create(server.Address);
        var client = WorkloadApiChannel.CreateClient(channel);

        using var call = client.FetchX509SVID(new X509SVIDRequest());
        var ex = await Assert.ThrowsAsync<RpcException>(() => call.ResponseStream.MoveNext(CancellationToken.None)).Within30s();
        Assert.Equal(StatusCode.InvalidArgument, ex.StatusCode);
        Assert.Contains("workload.spiffe.io", ex.Status.Detail, StringComparison.Ordinal);

        var wrongValue = new Metadata { { "workload.spiffe.io", "TRUE" } };
        using var call2 = client.FetchX509SVID(new X509SVIDRequest(), wrongValue);
        var ex2 = await Assert.ThrowsAsync<RpcException>(() => call2.ResponseStream.MoveNext(CancellationToken.None)).Within30s();
        Assert.Equal(StatusCode.InvalidArgument, ex2.StatusCode);
    }

    [Fact]
    public async Task FetchX509Bundles_RegisteredCaller_StreamsOwnAndFederatedBundles()
    {
        var options = _env.ServerOptions("j.sock", SpiffeTestEnvironment.ForThisUser("/workload/a"));
        using var foreignRoot = SpiffeTestEnvironment.CreateForeignRoot("partner.example");
        options.FederatedBundles.Add(new TrustBundle(TrustDomain.Parse("partner.example"), [foreignRoot]));
        await using var server = await WorkloadApiServer.StartAsync(_env.Ca, options, SpiffeTestEnvironment.ServerTime());
        using var channel = WorkloadApiChannel.Create(server.Address);
        var client = WorkloadApiChannel.CreateClient(channel);
        using var cts = new CancellationTokenSource();

        using var call = client.FetchX509Bundles(new X509BundlesRequest(), WorkloadApiChannel.SecurityHeader(), cancellationToken: cts.Token);
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None).Within30s());
        var bundles = call.ResponseStream.Current.Bundles;
        Assert.Equal(_env.Ca.RootCertificate.RawData, bundles["spiffe://example.org"].ToByteArray());
        Assert.Equal(foreignRoot.RawData, bundles["spiffe://partner.example"].ToByteArray());
        await cts.CancelAsync();
    }

    [Fact]
    public async Task StartAsync_InvalidOptions_ThrowsActionableError()
    {
        var relative = new WorkloadApiServerOptions { SocketPath = "agent.sock" };
        var ex = await Assert.ThrowsAsync<ArgumentException>(() => WorkloadApiServer.StartAsync(_env.Ca, relative));
        Assert.Contains("absolute path", ex.Message, StringComparison.Ordinal);

        var noSelector = _env.ServerOptions("k.sock", new WorkloadRegistration(SpiffeId.Parse("spiffe://example.org/x")));
        var ex2 = await Assert.ThrowsAsync<ArgumentException>(() => WorkloadApiServer.StartAsync(_env.Ca, noSelector));
        Assert.Contains("no selector", ex2.Message, StringComparison.Ordinal);
    }
    [Fact]
    public async Task FetchX509Svid_IssuerFails_UnavailableThenRecoversWhenIssuerAnswers()
    {
        var issuer = new SwitchableIssuer(_env.Ca);
        await using var server = await WorkloadApiServer.StartAsync(issuer, _env.ServerOptions("l.sock", SpiffeTestEnvironment.ForThisUser("/workload/a")), SpiffeTestEnvironment.ServerTime());
        var time = SpiffeTestEnvironment.ClientTime();
        var retried = new TaskCompletionSource<StatusCode>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var source = WorkloadApiX509Source.Start(new WorkloadApiOptions { Address = server.Address.Value }, time, null, (code, _) => retried.TrySetResult(code));

        Assert.Equal(StatusCode.Unavailable, await retried.Task.Within30s());
        Assert.Contains("issuer offline", source.LastError, StringComparison.Ordinal);
        Assert.Equal(WorkloadApiSourceState.Connecting, source.State);

        issuer.Online = true;
        Assert.Equal(TimeSpan.FromSeconds(1), await time.NextTimerAsync());
        time.Advance(TimeSpan.FromSeconds(1));
        await source.WhenReadyAsync().Within30s();
        Assert.Equal("spiffe://example.org/workload/a", source.GetCurrent().Id.ToString());
    }

    /// <summary>An issuer that is offline until the test says otherwise: a failure the development CA cannot produce.</summary>
    private sealed class SwitchableIssuer(IX509SvidIssuer inner) : IX509SvidIssuer
    {
        public volatile bool Online;

        public ValueTask<X509SvidIssuance> IssueAsync(X509SvidRequest request, CancellationToken cancellationToken = default) =>
            Online ? inner.IssueAsync(request, cancellationToken) : throw new CertificateIssuanceException("issuer offline");
    }
}
