using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace AgentIdentity.Spiffe;

/// <summary>How a Workload API endpoint is reached.</summary>
public enum WorkloadApiTransport
{
    /// <summary>A Unix domain socket: <c>unix:///absolute/path</c>.</summary>
    Unix = 0,

    /// <summary>TCP to an IP literal and port: <c>tcp://127.0.0.1:8000</c>.</summary>
    Tcp,
}

/// <summary>
/// A validated SPIFFE Workload API endpoint address (SPIFFE Workload Endpoint §4, SPECS.md §5.2): <c>unix:///abs/path</c> or
/// <c>tcp://&lt;IP&gt;:&lt;port&gt;</c>. Immutable.
/// </summary>
/// <remarks>
/// The spec is followed where go-spiffe is lenient: go-spiffe accepts <c>unix://foo</c> (an authority instead of a path); this
/// parser rejects it, because the spec says a <c>unix</c> address has no authority and an absolute path.
/// </remarks>
public sealed class WorkloadApiAddress
{
    /// <summary>The environment variable that names the endpoint when none is configured: <c>SPIFFE_ENDPOINT_SOCKET</c>.</summary>
    public const string EnvironmentVariable = "SPIFFE_ENDPOINT_SOCKET";

    private WorkloadApiAddress(string value, WorkloadApiTransport transport, string? socketPath, IPEndPoint? tcpEndPoint)
    {
        Value = value;
        Transport = transport;
        SocketPath = socketPath;
        TcpEndPoint = tcpEndPoint;
    }

    /// <summary>Gets the address as given.</summary>
    public string Value { get; }

    /// <summary>Gets the transport.</summary>
    public WorkloadApiTransport Transport { get; }

    /// <summary>Gets the absolute socket path of a <see cref="WorkloadApiTransport.Unix"/> address; otherwise <see langword="null"/>.</summary>
    public string? SocketPath { get; }

    /// <summary>Gets the IP end point of a <see cref="WorkloadApiTransport.Tcp"/> address; otherwise <see langword="null"/>.</summary>
    public IPEndPoint? TcpEndPoint { get; }

    internal EndPoint EndPoint => Transport == WorkloadApiTransport.Unix ? new UnixDomainSocketEndPoint(SocketPath!) : TcpEndPoint!;

    /// <summary>Creates the address of a Unix domain socket.</summary>
    /// <param name="socketPath">The absolute path of the socket.</param>
    /// <returns>The address <c>unix://&lt;socketPath&gt;</c>.</returns>
    /// <exception cref="FormatException">The path is not absolute.</exception>
    public static WorkloadApiAddress ForUnixSocket(string socketPath)
    {
        ArgumentNullException.ThrowIfNull(socketPath);
        return Parse("unix://" + socketPath);
    }

    /// <summary>Parses an endpoint address.</summary>
    /// <param name="value">The address, for example <c>unix:///run/spire/sockets/agent.sock</c>.</param>
    /// <returns>The address.</returns>
    /// <exception cref="FormatException">The address is invalid; the message names the rule it breaks.</exception>
    public static WorkloadApiAddress Parse(string value) =>
        TryParse(value, out var address, out var error)
            ? address
            : throw new FormatException($"Workload API address '{DisplayText.Truncate(value)}' is invalid: {error}. Use unix:///absolute/path/to/agent.sock or tcp://<IP>:<port>.");

    /// <summary>Tries to parse an endpoint address and says why it is invalid.</summary>
    /// <param name="value">The address.</param>
    /// <param name="address">The address, when valid.</param>
    /// <param name="error">The rule it breaks, when invalid.</param>
    /// <returns><see langword="true"/> when the address is valid.</returns>
    public static bool TryParse([NotNullWhen(true)] string? value, [NotNullWhen(true)] out WorkloadApiAddress? address, [NotNullWhen(false)] out string? error)
    {
        address = null;
        if (string.IsNullOrEmpty(value))
        {
            error = "the address is empty";
            return false;
        }

        foreach (var c in value)
        {
            if (c <= ' ' || c == 0x7f)
            {
                error = "the address contains a control character or space";
                return false;
            }
        }

        var colon = value.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 0)
        {
            error = "the address is not a URI with a scheme";
            return false;
        }

        var scheme = value[..colon];
        var rest = value[(colon + 1)..];
        if (scheme is not ("unix" or "tcp"))
        {
            error = $"scheme '{scheme}' is not supported (only 'unix' and 'tcp', lowercase)";
            return false;
        }

        if (!rest.StartsWith("//", StringComparison.Ordinal))
        {
            error = $"a '{scheme}' address must not be opaque: it needs '{scheme}://'";
            return false;
        }

        rest = rest[2..];
        if (rest.IndexOfAny(['?', '#']) is var queryOrFragment and >= 0)
        {
            error = rest[queryOrFragment] == '?' ? "a query is not allowed" : "a fragment is not allowed";
            return false;
        }

        var slash = rest.IndexOf('/', StringComparison.Ordinal);
        var authority = slash < 0 ? rest : rest[..slash];
        var path = slash < 0 ? string.Empty : rest[slash..];
        if (authority.Contains('@', StringComparison.Ordinal))
        {
            error = "userinfo is not allowed";
            return false;
        }

        if (scheme == "unix")
        {
            if (authority.Length != 0)
            {
                error = $"a 'unix' address has no authority ('{authority}'); the socket path must be absolute, as in unix:///path (go-spiffe accepts this form, the spec does not)";
                return false;
            }

            if (path.Length <= 1)
            {
                error = "the socket path is missing";
                return false;
            }

            string decoded;
            try
            {
                decoded = Uri.UnescapeDataString(path);
            }
            catch (UriFormatException ex)
            {
                error = $"the socket path is not valid percent-encoding ({ex.Message})";
                return false;
            }

            if (decoded.Contains('\0', StringComparison.Ordinal))
            {
                error = "the socket path contains a NUL byte";
                return false;
            }

            address = new WorkloadApiAddress(value, WorkloadApiTransport.Unix, decoded, null);
            error = null;
            return true;
        }

        if (path.Length != 0)
        {
            error = "a 'tcp' address has no path";
            return false;
        }

        if (authority.Length == 0)
        {
            error = "the host is missing";
            return false;
        }

        string host;
        string? port;
        if (authority.StartsWith('['))
        {
            var close = authority.IndexOf(']', StringComparison.Ordinal);
            if (close < 0)
            {
                error = "the IPv6 host has no closing ']'";
                return false;
            }

            host = authority[1..close];
            var after = authority[(close + 1)..];
            port = after.StartsWith(':') ? after[1..] : after.Length == 0 ? null : "invalid";
            if (!IPAddress.TryParse(host, out var v6) || v6.AddressFamily != AddressFamily.InterNetworkV6)
            {
                error = $"host '{host}' is not an IPv6 literal";
                return false;
            }
        }
        else
        {
            var lastColon = authority.LastIndexOf(':');
            host = lastColon < 0 ? authority : authority[..lastColon];
            port = lastColon < 0 ? null : authority[(lastColon + 1)..];
            if (!IsDottedQuad(host))
            {
                error = $"host '{host}' is not an IP address (a 'tcp' address needs an IP literal, not a name)";
                return false;
            }
        }

        if (port is null || port.Length == 0)
        {
            error = "the port is missing";
            return false;
        }

        if (!port.All(char.IsAsciiDigit) || !int.TryParse(port, NumberStyles.None, CultureInfo.InvariantCulture, out var portNumber) || portNumber is < 1 or > 65535)
        {
            error = $"port '{port}' is not a number from 1 to 65535";
            return false;
        }

        address = new WorkloadApiAddress(value, WorkloadApiTransport.Tcp, null, new IPEndPoint(IPAddress.Parse(host), portNumber));
        error = null;
        return true;
    }

    /// <summary>Reads the address from <c>SPIFFE_ENDPOINT_SOCKET</c>.</summary>
    /// <returns>The address.</returns>
    /// <exception cref="InvalidOperationException">The variable is not set.</exception>
    /// <exception cref="FormatException">The variable's value is invalid.</exception>
    public static WorkloadApiAddress FromEnvironment()
    {
        var value = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (string.IsNullOrEmpty(value))
        {
            throw new InvalidOperationException($"No Workload API address is configured and the {EnvironmentVariable} environment variable is not set. Set WorkloadApiOptions.Address or {EnvironmentVariable}, for example to unix:///run/spire/sockets/agent.sock.");
        }

        return Parse(value);
    }

    private static bool IsDottedQuad(string host)
    {
        var parts = host.Split('.');
        if (parts.Length != 4)
        {
            return false;
        }

        foreach (var part in parts)
        {
            if (part.Length is 0 or > 3 || !part.All(char.IsAsciiDigit) || (part.Length > 1 && part[0] == '0') || int.Parse(part, CultureInfo.InvariantCulture) > 255)
            {
                return false;
            }
        }

        return true;
    }

    /// <inheritdoc/>
    public override string ToString() => Value;
}
