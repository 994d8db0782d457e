using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.DependencyInjection;

namespace AgentIdentity.Benchmarks.Http;

/// <summary>New-connection mTLS handshakes (one new connection per request: PooledConnectionLifetime = 0), agent client vs a plain
/// SocketsHttpHandler with a static certificate, with TLS resumption off (the SDK default, dotnet/runtime#123238) and on.</summary>
[MemoryDiagnoser]
public class HttpClientHandshakeBenchmark
{
    private LoopbackMtlsServer _server = null!;
    private ServiceProvider _services = null!;
    private HttpClient _agent = null!;
    private HttpClient _plain = null!;

    [Params(false, true)]
    public bool AllowTlsResume { get; set; }

    [GlobalSetup]
    public async Task SetupAsync()
    {
        _server = await LoopbackMtlsServer.StartAsync();
        (_services, _agent, var credential) = _server.CreateAgentClient(AllowTlsResume, newConnectionPerRequest: true);
        _plain = _server.CreatePlainClient(credential.GetCurrent(), AllowTlsResume, newConnectionPerRequest: true);
        await _agent.GetStringAsync("/ping");
        await _plain.GetStringAsync("/ping");
    }

    [Benchmark(Baseline = true)]
    public Task<string> PlainStaticCertificate() => _plain.GetStringAsync("/ping");

    [Benchmark]
    public Task<string> AgentIdentityClient() => _agent.GetStringAsync("/ping");

    [GlobalCleanup]
    public async Task CleanupAsync()
    {
        _plain.Dispose();
        await _services.DisposeAsync();
        await _server.DisposeAsync();
    }
}
