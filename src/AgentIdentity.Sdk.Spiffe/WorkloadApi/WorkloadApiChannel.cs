using System.Net.Sockets;
using AgentIdentity.Spiffe.Proto;
using Grpc.Core;
using Grpc.Net.Client;

namespace AgentIdentity.Spiffe;

/// <summary>Creates the plaintext HTTP/2 gRPC channel to a Workload API endpoint and the security header every call carries.</summary>
internal static class WorkloadApiChannel
{
    public static GrpcChannel Create(WorkloadApiAddress address)
    {
        var endPoint = address.EndPoint;
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (_, cancellationToken) =>
            {
                var socket = address.Transport == WorkloadApiTransport.Unix
                    ? new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified)
                    : new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    await socket.ConnectAsync(endPoint, cancellationToken).ConfigureAwait(false);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
            PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan,
            KeepAlivePingDelay = TimeSpan.FromSeconds(60),
            KeepAlivePingTimeout = TimeSpan.FromSeconds(30),
        };

        // The Workload API is plaintext h2c by spec; the socket carries no TLS and the host name is not used.
        return GrpcChannel.ForAddress("http://localhost", new GrpcChannelOptions { HttpHandler = handler, DisposeHttpClient = true });
    }

    public static SpiffeWorkloadAPI.SpiffeWorkloadAPIClient CreateClient(GrpcChannel channel) => new(channel);

    /// <summary>The metadata every Workload API call must carry (SSRF hardening; servers reject calls without it).</summary>
    public static Metadata SecurityHeader() => new() { { WorkloadApiHeaders.SecurityHeaderName, WorkloadApiHeaders.SecurityHeaderValue } };
}
