using System.Threading.Channels;
using AgentIdentity.Spiffe.Proto;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;

namespace AgentIdentity.Spiffe.Tests;

/// <summary>
/// A fake Workload API on a real Unix socket that sends whatever the test scripts: a way to produce malformed messages and
/// failure codes that a correct server never sends.
/// </summary>
internal sealed class ScriptedWorkloadApi : IAsyncDisposable
{
    private readonly TestHost _host;

    private ScriptedWorkloadApi(TestHost host, ScriptState script, string socketPath)
    {
        _host = host;
        Script = script;
        SocketPath = socketPath;
    }

    public ScriptState Script { get; }

    public string SocketPath { get; }

    public string Address => "unix://" + SocketPath;

    public static async Task<ScriptedWorkloadApi> StartAsync(string socketPath)
    {
        var script = new ScriptState();
        var builder = TestHost.CreateUnixSocketBuilder(socketPath, l => l.Protocols = HttpProtocols.Http2);
        builder.Services.AddSingleton(script);
        builder.Services.AddGrpc();
        var app = builder.Build();
        app.MapGrpcService<ScriptedService>();
        return new ScriptedWorkloadApi(await TestHost.StartAsync(app), script, socketPath);
    }

    public async ValueTask DisposeAsync()
    {
        Script.X509.Writer.TryComplete();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await _host.StopAsync(timeout.Token);
        await _host.DisposeAsync();
    }

    internal sealed class ScriptState
    {
        /// <summary>Each item is sent on the open FetchX509SVID stream; an RpcException item ends the stream with its status.</summary>
        public Channel<object> X509 { get; } = Channel.CreateUnbounded<object>();

        public Channel<bool> CallsSeen { get; } = Channel.CreateUnbounded<bool>();

        public Metadata? LastHeaders { get; set; }
    }

    private sealed class ScriptedService(ScriptState script) : SpiffeWorkloadAPI.SpiffeWorkloadAPIBase
    {
        public override async Task FetchX509SVID(X509SVIDRequest request, IServerStreamWriter<X509SVIDResponse> responseStream, ServerCallContext context)
        {
            script.LastHeaders = context.RequestHeaders;
            script.CallsSeen.Writer.TryWrite(true);
            await foreach (var item in script.X509.Reader.ReadAllAsync(context.CancellationToken))
            {
                if (item is RpcException ex)
                {
                    throw ex;
                }

                await responseStream.WriteAsync((X509SVIDResponse)item);
            }
        }
    }
}
