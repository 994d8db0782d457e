using System.Buffers.Binary;
using System.Net.Sockets;

namespace AgentIdentity.Spiffe;

/// <summary>Who is on the other end of a Unix socket, as the kernel reports it (<c>SO_PEERCRED</c>) at connect time, plus the
/// executable read from <c>/proc/&lt;pid&gt;/exe</c> while the process is pinned by a pidfd: its path and, for path selectors, its
/// device and inode. Immutable.</summary>
public sealed class PeerCredentials
{
    private const int SolSocket = 1;
    private const int SoPeerCred = 17;

    /// <summary>Initializes a new instance of the <see cref="PeerCredentials"/> class.</summary>
    /// <param name="processId">The peer's process id.</param>
    /// <param name="userId">The peer's effective user id.</param>
    /// <param name="groupId">The peer's effective group id.</param>
    /// <param name="executablePath">The peer's executable, or <see langword="null"/> when it could not be read.</param>
    public PeerCredentials(int processId, int userId, int groupId, string? executablePath)
    {
        ProcessId = processId;
        UserId = userId;
        GroupId = groupId;
        ExecutablePath = executablePath;
    }

    /// <summary>Gets the peer's process id.</summary>
    public int ProcessId { get; }

    /// <summary>Gets the peer's user id.</summary>
    public int UserId { get; }

    /// <summary>Gets the peer's group id.</summary>
    public int GroupId { get; }

    /// <summary>Gets the peer's executable path, or <see langword="null"/> when it could not be read (process gone, no permission).
    /// Informational: it is the path in the peer's mount namespace, so <see cref="WorkloadRegistration.ExecutablePath"/> is matched by
    /// the executable's device and inode, not by this string.</summary>
    public string? ExecutablePath { get; }

    /// <summary>Gets the device and inode of the peer's executable, read while the process was pinned; <see langword="null"/> when unknown.</summary>
    internal FileIdentity? Executable { get; private init; }

    /// <summary>Gets the pinned peer process of a Workload API connection, re-checked on every call; <see langword="null"/> otherwise.</summary>
    internal PeerProcess? Process { get; private init; }

    /// <summary>Reads the credentials of the process connected to a Unix domain socket (Linux).</summary>
    /// <param name="socket">An accepted or connected Unix domain socket.</param>
    /// <returns>The peer's credentials.</returns>
    /// <exception cref="PlatformNotSupportedException">Not Linux, or not a Unix domain socket.</exception>
    /// <exception cref="SocketException">The kernel refused <c>SO_PEERCRED</c>.</exception>
    public static PeerCredentials FromSocket(Socket socket)
    {
        var credentials = Attest(socket);
        credentials.Process?.Dispose();
        return new PeerCredentials(credentials.ProcessId, credentials.UserId, credentials.GroupId, credentials.ExecutablePath) { Executable = credentials.Executable };
    }

    /// <summary>Reads the credentials of a connection's peer and keeps its process pinned (<see cref="Process"/>; the caller disposes it).</summary>
    internal static PeerCredentials Attest(Socket socket)
    {
        ArgumentNullException.ThrowIfNull(socket);
        if (!OperatingSystem.IsLinux() || socket.AddressFamily != AddressFamily.Unix)
        {
            throw new PlatformNotSupportedException("Peer credentials (SO_PEERCRED) are read only from Unix domain sockets on Linux.");
        }

        // struct ucred { pid_t pid; uid_t uid; gid_t gid; } — three 32-bit values in host byte order.
        Span<byte> ucred = stackalloc byte[12];
        var length = socket.GetRawSocketOption(SolSocket, SoPeerCred, ucred);
        if (length != 12)
        {
            throw new PlatformNotSupportedException($"SO_PEERCRED returned {length} bytes instead of 12.");
        }

        var pid = BinaryPrimitives.ReadInt32LittleEndian(ucred);
        var uid = BinaryPrimitives.ReadInt32LittleEndian(ucred[4..]);
        var gid = BinaryPrimitives.ReadInt32LittleEndian(ucred[8..]);
        if (!BitConverter.IsLittleEndian)
        {
            pid = BinaryPrimitives.ReverseEndianness(pid);
            uid = BinaryPrimitives.ReverseEndianness(uid);
            gid = BinaryPrimitives.ReverseEndianness(gid);
        }

        // The executable is read only through a pidfd-pinned process: a pid read from SO_PEERCRED may name another process by now.
        var process = PeerProcess.Open(socket, pid);
        return new PeerCredentials(pid, uid, gid, process?.ExecutablePath) { Executable = process?.Executable, Process = process };
    }

    /// <inheritdoc/>
    public override string ToString() => $"pid {ProcessId}, uid {UserId}, gid {GroupId}, executable {ExecutablePath ?? "<unknown>"}";
}
