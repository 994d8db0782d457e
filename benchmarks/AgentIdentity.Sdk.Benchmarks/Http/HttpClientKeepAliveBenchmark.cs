using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.DependencyInjection;

namespace AgentIdentity.Benchmarks.Http;

/// <summary>Per-request overhead of the agent HttpClient on a kept-alive mTLS connection, against a plain HttpClient with a static
/// client certificate talking to the same loopback Kestrel server.</summary>
[MemoryDiagnoser]
public class HttpClientKeepAliveBenchmark
{
    private LoopbackMtlsServer _server = null!;
    private ServiceProvider _services = null!;
    private HttpClient _agent = null!;
    private HttpClient _plain = null!;

    [GlobalSetup]
    public async Task SetupAsync()
    {
        _server = await LoopbackMtlsServer.StartAsync();
        (_services, _agent, var credential) = _server.CreateAgentClient(allowTlsResume: false, newConnectionPerRequest: false);
        _plain = _server.CreatePlainClient(credential.GetCurrent(), allowTlsResume: false, newConnectionPerRequest: false);
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
