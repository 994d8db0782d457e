using System.Net;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;

namespace AgentIdentity.AspNetCore;

/// <summary>
/// The address of the transport peer of a request: the remote end of the socket the request arrived on. Unlike
/// <c>HttpContext.Connection.RemoteIpAddress</c> (the request's <c>IHttpConnectionFeature</c>, which <c>UseForwardedHeaders</c>
/// rewrites from <c>X-Forwarded-For</c>), it is read from the connection's own features, which no middleware rewrites.
/// </summary>
internal static class TransportPeer
{
    /// <summary>Returns the transport peer address (IPv4-mapped addresses unmapped), or <see langword="null"/> when the connection
    /// is not a socket connection with an IP remote end.</summary>
    public static IPAddress? GetRemoteAddress(HttpContext context)
    {
        var endPoint = context.Features.Get<IConnectionEndPointFeature>()?.RemoteEndPoint;
        if (endPoint is null && context.Features.Get<IConnectionSocketFeature>()?.Socket is { } socket)
        {
            try
            {
                endPoint = socket.RemoteEndPoint;
            }
            catch (ObjectDisposedException)
            {
                return null;
            }
        }

        return endPoint is IPEndPoint ip ? (ip.Address.IsIPv4MappedToIPv6 ? ip.Address.MapToIPv4() : ip.Address) : null;
    }
}
