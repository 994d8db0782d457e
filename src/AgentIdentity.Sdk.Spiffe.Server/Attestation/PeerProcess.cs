using System.Globalization;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace AgentIdentity.Spiffe;

/// <summary>The device and inode of a file: what identifies an executable across mount namespaces, where paths do not.</summary>
internal readonly record struct FileIdentity(ulong Device, ulong Inode)
{
    /// <summary>Reads the identity of the file at <paramref name="path"/>, following symbolic links (and the <c>/proc/&lt;pid&gt;/exe</c>
    /// magic link, which leads to the executable itself whatever namespace the process runs in).</summary>
    /// <returns>The identity, or <see langword="null"/> when the file cannot be read.</returns>
    public static FileIdentity? Of(string path) => PeerProcess.Native.Statx(path, out var identity) ? identity : null;

    /// <inheritdoc/>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"dev {Device >> 32}:{Device & 0xFFFFFFFF} ino {Inode}");
}

/// <summary>
/// The process on the other end of a Workload API connection, pinned by a pidfd (<c>SO_PEERPIDFD</c>, or <c>pidfd_open</c> on kernels
/// before 6.5) so that a reused pid is never mistaken for it, with what the server saw when the connection was accepted: its start
/// time and its executable's device and inode. Every call re-reads both and is denied if either changed, so a process that
/// connects and then executes another program (or exits, its pid going to another process) loses the identity it was attested for.
/// </summary>
internal sealed partial class PeerProcess : IDisposable
{
    private const int SolSocket = 1;
    private const int SoPeerPidFd = 77;

    private readonly SafeFileHandle _pidfd;

    private PeerProcess(SafeFileHandle pidfd, int pid, long startTime, FileIdentity executable, string? executablePath)
    {
        _pidfd = pidfd;
        ProcessId = pid;
        StartTime = startTime;
        Executable = executable;
        ExecutablePath = executablePath;
    }

    public int ProcessId { get; }

    /// <summary>The start time of the process (<c>/proc/&lt;pid&gt;/stat</c> field 22, in clock ticks since boot).</summary>
    public long StartTime { get; }

    public FileIdentity Executable { get; }

    public string? ExecutablePath { get; }

    /// <summary>Pins the peer of <paramref name="socket"/> and reads its start time and executable.</summary>
    /// <returns>The process, or <see langword="null"/> when it cannot be pinned or read (it exited, or the kernel has no pidfds):
    /// such a caller is not attested.</returns>
    public static PeerProcess? Open(Socket socket, int pid)
    {
        if (pid <= 0)
        {
            return null;
        }

        var pidfd = OpenPidFd(socket, pid);
        if (pidfd is null)
        {
            return null;
        }

        var path = ReadLink($"/proc/{pid}/exe");
        if (ReadStartTime(pid) is not { } start || FileIdentity.Of($"/proc/{pid}/exe") is not { } executable || !IsAlive(pidfd))
        {
            // Not alive after the reads: the pid may name another process by now, so nothing read through /proc counts.
            pidfd.Dispose();
            return null;
        }

        return new PeerProcess(pidfd, pid, start, executable, path);
    }

    /// <summary>Tells whether the process is still the one attested: alive (so its pid is still its own), same start time, and
    /// running the same executable file.</summary>
    public bool IsUnchanged(out string reason)
    {
        var start = ReadStartTime(ProcessId);
        var executable = FileIdentity.Of($"/proc/{ProcessId}/exe");
        if (_pidfd.IsClosed || !IsAlive(_pidfd) || start != StartTime)
        {
            reason = "the process that connected has exited";
            return false;
        }

        if (executable != Executable)
        {
            reason = $"the process that connected now runs another executable ({executable?.ToString() ?? "unreadable"}, was {Executable}): it executed a new program after it connected";
            return false;
        }

        reason = string.Empty;
        return true;
    }

    public void Dispose() => _pidfd.Dispose();

    private static SafeFileHandle? OpenPidFd(Socket socket, int pid)
    {
        // SO_PEERPIDFD (Linux 6.5) names the very process that called connect(), with no window for pid reuse.
        try
        {
            Span<byte> value = stackalloc byte[4];
            if (socket.GetRawSocketOption(SolSocket, SoPeerPidFd, value) == 4)
            {
                var fd = BitConverter.ToInt32(value);
                if (fd >= 0)
                {
                    return new SafeFileHandle(fd, ownsHandle: true);
                }
            }
        }
        catch (SocketException)
        {
            // An older kernel: fall back to pidfd_open (Linux 5.3).
        }

        var opened = Native.PidFdOpen(pid);
        if (opened < 0)
        {
            return null;
        }

        return new SafeFileHandle((nint)opened, ownsHandle: true);
    }

    private static bool IsAlive(SafeFileHandle pidfd)
    {
        // A pidfd becomes readable when its process exits.
        var added = false;
        try
        {
            pidfd.DangerousAddRef(ref added);
            var poll = new Native.PollFd { Fd = (int)pidfd.DangerousGetHandle(), Events = Native.PollIn };
            var ready = Native.Poll(ref poll, 1, 0);
            return ready == 0;
        }
        finally
        {
            if (added)
            {
                pidfd.DangerousRelease();
            }
        }
    }

    private static long? ReadStartTime(int pid)
    {
        string stat;
        try
        {
            stat = File.ReadAllText($"/proc/{pid}/stat");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }

        // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so count fields from the last ')'.
        var close = stat.LastIndexOf(')');
        if (close < 0)
        {
            return null;
        }

        var fields = stat[(close + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);

        // fields[0] is field 3 (state); the start time is field 22.
        return fields.Length > 19 && long.TryParse(fields[19], NumberStyles.None, CultureInfo.InvariantCulture, out var start) ? start : null;
    }

    private static string? ReadLink(string path)
    {
        try
        {
            return new FileInfo(path).LinkTarget;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    internal static partial class Native
    {
        public const short PollIn = 1;
        private const int AtFdCwd = -100;
        private const uint StatxIno = 0x100;
        private const uint StatxType = 0x1;
        private const long SysPidFdOpen = 434; // the same number on every architecture (the unified table from 424 on)

        [StructLayout(LayoutKind.Sequential)]
        public struct PollFd
        {
            public int Fd;
            public short Events;
            public short Revents;
        }

        public static bool Statx(string path, out FileIdentity identity)
        {
            identity = default;
            Span<byte> buffer = stackalloc byte[256];
            buffer.Clear();
            if (StatxNative(AtFdCwd, path, 0, StatxType | StatxIno, ref MemoryMarshal.GetReference(buffer)) != 0)
            {
                return false;
            }

            // struct statx: stx_mask at 0, stx_ino at 32, stx_dev_major at 136, stx_dev_minor at 140 (the same on every architecture).
            var mask = BitConverter.ToUInt32(buffer);
            if ((mask & StatxIno) == 0)
            {
                return false;
            }

            var inode = BitConverter.ToUInt64(buffer[32..]);
            var major = BitConverter.ToUInt32(buffer[136..]);
            var minor = BitConverter.ToUInt32(buffer[140..]);
            identity = new FileIdentity(((ulong)major << 32) | minor, inode);
            return true;
        }

        public static long PidFdOpen(int pid) => Syscall(SysPidFdOpen, pid, 0);

        [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        private static partial int StatxNative(int dirfd, string path, int flags, uint mask, ref byte buffer);

        [LibraryImport("libc", EntryPoint = "poll", SetLastError = true)]
        public static partial int Poll(ref PollFd fds, nuint count, int timeout);

        [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
        private static partial long Syscall(long number, long argument1, long argument2);
    }
}
