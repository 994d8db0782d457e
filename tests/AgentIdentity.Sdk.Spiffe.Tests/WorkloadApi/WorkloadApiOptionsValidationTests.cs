namespace AgentIdentity.Spiffe.Tests.WorkloadApi;

/// <summary>The source-generated validator and rules of the Workload API client and server options.</summary>
public sealed class WorkloadApiOptionsValidationTests : IDisposable
{
    private readonly SpiffeTestEnvironment _env = new();

    public void Dispose() => _env.Dispose();

    public static TheoryData<Action<WorkloadApiOptions>, string> BadClientOptions => new()
    {
        { o => o.BackoffStep = TimeSpan.Zero, "WorkloadApiOptions.BackoffStep must be positive; it is 00:00:00." },
        { o => o.MaxBackoff = TimeSpan.FromMilliseconds(500), "WorkloadApiOptions.MaxBackoff (00:00:00.5000000) must be at least BackoffStep (00:00:01)." },
        { o => o.Hint = string.Empty, "WorkloadApiOptions.Hint is empty; use null to take the first SVID." },
    };

    [Theory]
    [MemberData(nameof(BadClientOptions))]
    public void WorkloadApiClient_BadOptions_ThrowsTheSpecificMessage(Action<WorkloadApiOptions> breakIt, string message)
    {
        var options = new WorkloadApiOptions { Address = "unix:///tmp/agent.sock" };
        breakIt(options);

        var ex = Assert.Throws<ArgumentException>(() => new WorkloadApiClient(options));

        Assert.Contains(message, ex.Message, StringComparison.Ordinal);
    }

    public static TheoryData<Action<WorkloadApiServerOptions>, string> BadServerOptions => new()
    {
        { o => o.SocketPath = null, "WorkloadApiServerOptions.SocketPath is required: the absolute path of the Unix socket to listen on." },
        { o => o.SocketPath = "agent.sock", "WorkloadApiServerOptions.SocketPath must be an absolute path, not 'agent.sock'." },
        { o => o.SvidLifetime = TimeSpan.FromSeconds(1), "WorkloadApiServerOptions.SvidLifetime must be longer than 1 second; it is 00:00:01." },
        { o => o.JwtSvidLifetime = TimeSpan.Zero, "WorkloadApiServerOptions.JwtSvidLifetime must be positive; it is 00:00:00." },
        { o => o.RotationFraction = 1, "WorkloadApiServerOptions.RotationFraction must be between 0 exclusive and 1 exclusive." },
        { o => o.Registrations.Add(new WorkloadRegistration(SpiffeId.Parse("spiffe://example.org/x"))), "WorkloadApiServerOptions.Registrations: the registration for 'spiffe://example.org/x' has no selector" },
        { o => o.Registrations.Add(new WorkloadRegistration(SpiffeId.Parse("spiffe://example.org/x")) { ExecutablePath = "/usr/bin/tool" }), "the registration for 'spiffe://example.org/x' has an ExecutablePath selector without UserId; set UserId too" },
        { o => o.Registrations.Add(new WorkloadRegistration(SpiffeId.Parse("spiffe://example.org/x")) { UserId = 1, ExecutablePath = "bin/tool" }), "has the ExecutablePath 'bin/tool', which is not absolute" },
    };

    [Theory]
    [MemberData(nameof(BadServerOptions))]
    public async Task WorkloadApiServer_BadOptions_ThrowsTheSpecificMessage(Action<WorkloadApiServerOptions> breakIt, string message)
    {
        var options = new WorkloadApiServerOptions { SocketPath = _env.SocketPath("v.sock") };
        breakIt(options);

        var ex = await Assert.ThrowsAsync<ArgumentException>(() => WorkloadApiServer.StartAsync(_env.Ca, options));

        Assert.Contains(message, ex.Message, StringComparison.Ordinal);
    }
}
