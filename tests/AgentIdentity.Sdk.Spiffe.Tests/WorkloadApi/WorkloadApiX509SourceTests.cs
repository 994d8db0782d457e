using AgentIdentity.Spiffe.Proto;
using Google.Protobuf;
using Grpc.Core;

namespace AgentIdentity.Spiffe.Tests;

public sealed class WorkloadApiX509SourceTests : IDisposable
{
    private readonly SpiffeTestEnvironment _env = new();

    public void Dispose() => _env.Dispose();

    private X509SVIDResponse Valid(string path = "/workload/a")
    {
        var response = new X509SVIDResponse();
        response.Svids.Add(_env.MintWireSvid(path));
        return response;
    }

    private static async Task<(WorkloadApiX509Source Source, Channel<string> Rejections)> StartAsync(ScriptedWorkloadApi fake, X509SVIDResponse first, TimeProvider? time = null)
    {
        var rejections = System.Threading.Channels.Channel.CreateUnbounded<string>();
        var source = WorkloadApiX509Source.Start(new WorkloadApiOptions { Address = fake.Address }, time);
        source.OnRejected = reason => rejections.Writer.TryWrite(reason);
        fake.Script.X509.Writer.TryWrite(first);
        await source.WhenReadyAsync().Within30s();
        return (source, new Channel<string>(rejections));
    }

    [Fact]
    public async Task Stream_EverySecurityHeaderSent()
    {
        await using var fake = await ScriptedWorkloadApi.StartAsync(_env.SocketPath("h.sock"));
        var (source, _) = await StartAsync(fake, Valid());
        await using (source)
        {
            Assert.Equal("true", fake.Script.LastHeaders!.GetValue("workload.spiffe.io"));
        }
    }

    public static TheoryData<string, string> MalformedCases => new()
    {
        { "no-svids", "has no SVIDs" },
        { "empty-spiffe-id", "empty required field 'spiffe_id'" },
        { "empty-x509-svid", "empty required field 'x509_svid'" },
        { "empty-key", "empty required field 'x509_svid_key'" },
        { "empty-bundle", "empty required field 'bundle'" },
        { "bad-der", "is not valid DER" },
        { "truncated-der", "is not valid DER" },
        { "bad-key", "not an unencrypted PKCS#8 key" },
        { "wrong-key", "does not match the leaf" },
        { "id-mismatch", "does not match the ID" },
        { "bad-id", "is not a SPIFFE ID" },
        { "unknown-trust-domain-key", "is not a trust domain" },
        { "own-domain-federated", "repeats the SVID's own trust domain" },
        { "bundle-not-ca", "is not a valid X.509 bundle" },
    };

    [Theory]
    [MemberData(nameof(MalformedCases))]
    public async Task Update_MalformedMessage_ReportedAndDiscardedKeepingPreviousState(string defect, string reason)
    {
        await using var fake = await ScriptedWorkloadApi.StartAsync(_env.SocketPath(defect + ".sock"));
        var (source, rejections) = await StartAsync(fake, Valid());
        await using (source)
        {
            var before = source.GetCurrent();
            var bad = Valid("/workload/b");
            var other = _env.MintWireSvid("/workload/c");
            var svid = bad.Svids[0];
            switch (defect)
            {
                case "no-svids": bad.Svids.Clear(); break;
                case "empty-spiffe-id": svid.SpiffeId = string.Empty; break;
                case "empty-x509-svid": svid.X509Svid = ByteString.Empty; break;
                case "empty-key": svid.X509SvidKey = ByteString.Empty; break;
                case "empty-bundle": svid.Bundle = ByteString.Empty; break;
                case "bad-der": svid.X509Svid = ByteString.CopyFrom(0x30, 0x03, 0x02, 0x01); break;
                case "truncated-der": svid.X509Svid = ByteString.CopyFrom(svid.X509Svid.Span[..^10]); break;
                case "bad-key": svid.X509SvidKey = ByteString.CopyFrom(1, 2, 3, 4); break;
                case "wrong-key": svid.X509SvidKey = other.X509SvidKey; break;
                case "id-mismatch": svid.SpiffeId = "spiffe://example.org/workload/not-b"; break;
                case "bad-id": svid.SpiffeId = "spiffe://Example.org/x"; break;
                case "unknown-trust-domain-key": bad.FederatedBundles["spiffe://bad domain"] = svid.Bundle; break;
                case "own-domain-federated": bad.FederatedBundles["spiffe://example.org"] = svid.Bundle; break;
                case "bundle-not-ca": svid.Bundle = ByteString.CopyFrom(svid.X509Svid.Span); break;
            }

            fake.Script.X509.Writer.TryWrite(bad);
            var rejected = await rejections.NextAsync();
            Assert.Contains(reason, rejected, StringComparison.Ordinal);
            Assert.Same(before, source.GetCurrent());
            Assert.False(before.IsSuperseded);
            Assert.Equal(1, source.RejectedCount);
            Assert.Equal(WorkloadApiSourceState.Ready, source.State);

            // The stream stays open: the next good message is applied.
            var changed = source.GetChangeToken().WhenChanged();
            fake.Script.X509.Writer.TryWrite(Valid("/workload/d"));
            await changed.Within30s();
            Assert.Equal("spiffe://example.org/workload/d", source.GetCurrent().Id.ToString());
        }
    }

    [Fact]
    public async Task Update_HintNotPresent_MessageRejected()
    {
        await using var fake = await ScriptedWorkloadApi.StartAsync(_env.SocketPath("hint.sock"));
        var rejections = System.Threading.Channels.Channel.CreateUnbounded<string>();
        await using var source = WorkloadApiX509Source.Start(new WorkloadApiOptions { Address = fake.Address, Hint = "external" });
        source.OnRejected = reason => rejections.Writer.TryWrite(reason);
        fake.Script.X509.Writer.TryWrite(Valid());
        var reason = await rejections.Reader.ReadAsync().AsTask().Within30s();
        Assert.Contains("no SVID has the configured hint 'external'", reason, StringComparison.Ordinal);
        Assert.Throws<IdentityUnavailableException>(source.GetCurrent);

        var duplicated = new X509SVIDResponse();
        duplicated.Svids.Add(_env.MintWireSvid("/first", "external"));
        duplicated.Svids.Add(_env.MintWireSvid("/second", "external"));
        fake.Script.X509.Writer.TryWrite(duplicated);
        await source.WhenReadyAsync().Within30s();
        Assert.Equal("spiffe://example.org/first", source.GetCurrent().Id.ToString());
    }

    [Theory]
    [InlineData(StatusCode.InvalidArgument)]
    [InlineData(StatusCode.Unimplemented)]
    public async Task Stream_NonRetriedStatus_StopsAndFailsReadiness(StatusCode code)
    {
        await using var fake = await ScriptedWorkloadApi.StartAsync(_env.SocketPath($"{code}.sock"));
        var time = SpiffeTestEnvironment.ClientTime();
        var source = WorkloadApiX509Source.Start(new WorkloadApiOptions { Address = fake.Address }, time);
        await using (source)
        {
            fake.Script.X509.Writer.TryWrite(new RpcException(new Status(code, "scripted")));
            var ex = await Assert.ThrowsAsync<WorkloadApiException>(() => source.WhenReadyAsync().Within30s());
            Assert.Equal(code, ex.StatusCode);
            Assert.Equal(WorkloadApiSourceState.Stopped, source.State);
        }
    }

    [Fact]
    public async Task Stream_UnavailableRepeatedly_LinearBackoffCappedAndResetAfterMessage()
    {
        await using var fake = await ScriptedWorkloadApi.StartAsync(_env.SocketPath("backoff.sock"));
        var time = SpiffeTestEnvironment.ClientTime();
        await using var source = WorkloadApiX509Source.Start(new WorkloadApiOptions { Address = fake.Address, BackoffStep = TimeSpan.FromSeconds(1), MaxBackoff = TimeSpan.FromSeconds(3) }, time);
        var expected = new[] { 1, 2, 3, 3 };
        foreach (var seconds in expected)
        {
            fake.Script.X509.Writer.TryWrite(new RpcException(new Status(StatusCode.Unavailable, "agent starting")));
            Assert.Equal(TimeSpan.FromSeconds(seconds), await time.NextTimerAsync());
            time.Advance(TimeSpan.FromSeconds(seconds));
        }

        fake.Script.X509.Writer.TryWrite(Valid());
        await source.WhenReadyAsync().Within30s();
        fake.Script.X509.Writer.TryWrite(new RpcException(new Status(StatusCode.Unavailable, "load shedding")));
        Assert.Equal(TimeSpan.FromSeconds(1), await time.NextTimerAsync());
        Assert.Equal(WorkloadApiSourceState.Retrying, source.State);
        Assert.NotNull(source.GetCurrent());
    }

    [Fact]
    public async Task GetCurrent_SvidExpiredWithoutUpdate_ThrowsIdentityUnavailable()
    {
        await using var fake = await ScriptedWorkloadApi.StartAsync(_env.SocketPath("expiry.sock"));
        var time = SpiffeTestEnvironment.ClientTime();
        var (source, _) = await StartAsync(fake, Valid(), time);
        await using (source)
        {
            var svid = source.GetCurrent();
            time.Advance(svid.NotAfter - time.GetUtcNow() + TimeSpan.FromSeconds(1));
            var ex = Assert.Throws<IdentityUnavailableException>(source.GetCurrent);
            Assert.Contains("expired", ex.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task ServerRestart_ClientKeepsSvidAndReconnectsWithBackoff()
    {
        var socket = _env.SocketPath("restart.sock");
        var time = SpiffeTestEnvironment.ClientTime();
        var first = await WorkloadApiServer.StartAsync(_env.Ca, _env.ServerOptions("restart.sock", SpiffeTestEnvironment.ForThisUser("/workload/a")), SpiffeTestEnvironment.ServerTime());
        await using var source = await WorkloadApiX509Source.CreateAsync(new WorkloadApiOptions { Address = "unix://" + socket }, time).Within30s();
        var before = source.GetCurrent();

        await first.DisposeAsync();
        Assert.Equal(TimeSpan.FromSeconds(1), await time.NextTimerAsync());
        Assert.Same(before, source.GetCurrent());
        Assert.Equal(WorkloadApiSourceState.Retrying, source.State);

        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(TimeSpan.FromSeconds(2), await time.NextTimerAsync());
        Assert.Same(before, source.GetCurrent());

        await using var second = await WorkloadApiServer.StartAsync(_env.Ca, _env.ServerOptions("restart.sock", SpiffeTestEnvironment.ForThisUser("/workload/a")), SpiffeTestEnvironment.ServerTime());
        var superseded = before.ChangeToken.WhenChanged();
        time.Advance(TimeSpan.FromSeconds(2));
        await superseded.Within30s();
        var after = source.GetCurrent();
        Assert.Equal(before.Id, after.Id);
        Assert.NotEqual(before.SerialNumber, after.SerialNumber);
        Assert.Equal(WorkloadApiSourceState.Ready, source.State);
    }

    [Fact]
    public void Start_NoAddressAndNoEnvironment_ExplainsWhatToSet()
    {
        var previous = Environment.GetEnvironmentVariable(WorkloadApiAddress.EnvironmentVariable);
        try
        {
            Environment.SetEnvironmentVariable(WorkloadApiAddress.EnvironmentVariable, null);
            var ex = Assert.Throws<InvalidOperationException>(() => WorkloadApiX509Source.Start());
            Assert.Contains("SPIFFE_ENDPOINT_SOCKET", ex.Message, StringComparison.Ordinal);

            Environment.SetEnvironmentVariable(WorkloadApiAddress.EnvironmentVariable, "unix://relative");
            Assert.Throws<FormatException>(() => WorkloadApiX509Source.Start());
        }
        finally
        {
            Environment.SetEnvironmentVariable(WorkloadApiAddress.EnvironmentVariable, previous);
        }
    }

    [Fact]
    public async Task Start_AddressFromEnvironment_Connects()
    {
        await using var fake = await ScriptedWorkloadApi.StartAsync(_env.SocketPath("env.sock"));
        var previous = Environment.GetEnvironmentVariable(WorkloadApiAddress.EnvironmentVariable);
        WorkloadApiX509Source source;
        try
        {
            Environment.SetEnvironmentVariable(WorkloadApiAddress.EnvironmentVariable, fake.Address);
            source = WorkloadApiX509Source.Start();
        }
        finally
        {
            Environment.SetEnvironmentVariable(WorkloadApiAddress.EnvironmentVariable, previous);
        }

        await using (source)
        {
            fake.Script.X509.Writer.TryWrite(Valid());
            await source.WhenReadyAsync().Within30s();
            Assert.Equal(fake.Address, source.Address.Value);
        }
    }

    public sealed class Channel<T>(System.Threading.Channels.Channel<T> inner)
    {
        public Task<T> NextAsync() => inner.Reader.ReadAsync().AsTask().Within30s();
    }
}
