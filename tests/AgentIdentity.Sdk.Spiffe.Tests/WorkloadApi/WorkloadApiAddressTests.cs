using System.Net;

namespace AgentIdentity.Spiffe.Tests;

public class WorkloadApiAddressTests
{
    // go-spiffe workloadapi/addr_test.go cases, plus the spec's own examples (SPECS.md §5.2).
    [Theory]
    [InlineData("\t", "control character")]
    [InlineData("blah", "not a URI with a scheme")]
    [InlineData("tcp:opaque", "opaque")]
    [InlineData("tcp://", "host is missing")]
    [InlineData("tcp://1.2.3.4:5?whatever", "query")]
    [InlineData("tcp://1.2.3.4:5#whatever", "fragment")]
    [InlineData("tcp://john:doe@1.2.3.4:5/path", "userinfo")]
    [InlineData("tcp://1.2.3.4:5/path", "no path")]
    [InlineData("tcp://127.0.0.1:8000/foo", "no path")]
    [InlineData("tcp://foo", "not an IP address")]
    [InlineData("tcp://localhost:8000", "not an IP address")]
    [InlineData("tcp://1.2.3.4", "port is missing")]
    [InlineData("tcp://1.2.3.4:", "port is missing")]
    [InlineData("tcp://1.2.3.4:0", "from 1 to 65535")]
    [InlineData("tcp://1.2.3.4:65536", "from 1 to 65535")]
    [InlineData("tcp://1.2.3:5", "not an IP address")]
    [InlineData("tcp://[::1", "closing ']'")]
    [InlineData("unix:opaque", "opaque")]
    [InlineData("unix://", "socket path is missing")]
    [InlineData("unix://foo?whatever", "query")]
    [InlineData("unix://foo#whatever", "fragment")]
    [InlineData("unix://john:doe@foo/path", "userinfo")]
    [InlineData("unix://foo", "no authority")]
    [InlineData("unix:///", "socket path is missing")]
    [InlineData("UNIX:///tmp/agent.sock", "not supported")]
    [InlineData("http://1.2.3.4:5", "not supported")]
    [InlineData("npipe:foo", "not supported")]
    [InlineData("", "empty")]
    public void TryParse_InvalidAddress_FailsWithReason(string value, string reason)
    {
        Assert.False(WorkloadApiAddress.TryParse(value, out var address, out var error));
        Assert.Null(address);
        Assert.Contains(reason, error, StringComparison.Ordinal);
        var ex = Assert.Throws<FormatException>(() => WorkloadApiAddress.Parse(value));
        Assert.Contains("unix:///", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("tcp://1.2.3.4:5", "1.2.3.4", 5)]
    [InlineData("tcp://127.0.0.1:8000", "127.0.0.1", 8000)]
    [InlineData("tcp://[::1]:8081", "::1", 8081)]
    public void Parse_TcpAddress_ReturnsEndPoint(string value, string ip, int port)
    {
        var address = WorkloadApiAddress.Parse(value);
        Assert.Equal(WorkloadApiTransport.Tcp, address.Transport);
        Assert.Equal(new IPEndPoint(IPAddress.Parse(ip), port), address.TcpEndPoint);
        Assert.Null(address.SocketPath);
    }

    [Theory]
    [InlineData("unix:///run/spire/sockets/agent.sock", "/run/spire/sockets/agent.sock")]
    [InlineData("unix:///tmp/with%20space.sock", "/tmp/with space.sock")]
    public void Parse_UnixAddress_ReturnsAbsolutePath(string value, string path)
    {
        var address = WorkloadApiAddress.Parse(value);
        Assert.Equal(WorkloadApiTransport.Unix, address.Transport);
        Assert.Equal(path, address.SocketPath);
        Assert.Null(address.TcpEndPoint);
    }

    [Fact]
    public void ForUnixSocket_AbsolutePath_RoundTrips()
    {
        var address = WorkloadApiAddress.ForUnixSocket("/tmp/a/agent.sock");
        Assert.Equal("unix:///tmp/a/agent.sock", address.Value);
        Assert.Equal("/tmp/a/agent.sock", address.SocketPath);
        Assert.Throws<FormatException>(() => WorkloadApiAddress.ForUnixSocket("relative.sock"));
    }
}
