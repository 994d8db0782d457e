using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;

namespace AgentIdentity.Testing;

/// <summary>
/// A real nginx (Debian package) started as a child process on a free port with a generated configuration in a temp directory
/// (pid, logs and temp paths inside it; the default site is not included). Its private key is written encrypted
/// (PKCS#8, AES-256) with a run-time password file, and the whole directory is deleted when the server stops.
/// </summary>
public sealed class NginxServer : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private NginxServer(Process process, string directory, int port)
    {
        _process = process;
        Directory = directory;
        Port = port;
    }

    public string Directory { get; }

    public int Port { get; }

    public Uri BaseAddress => new($"https://localhost:{Port}/");

    public string ErrorLog => ReadShared(Path.Combine(Directory, "error.log"));

    public static string? FindExecutable() =>
        new[] { "/usr/sbin/nginx", "/usr/bin/nginx", "/usr/local/sbin/nginx" }.FirstOrDefault(File.Exists);

    /// <summary>Writes the files and starts nginx; <paramref name="serverBlock"/> receives the port and directory and returns the http{} body.</summary>
    public static async Task<NginxServer> StartAsync(IReadOnlyDictionary<string, string> files, Func<int, string, string> serverBlock)
    {
        var executable = FindExecutable() ?? throw new InvalidOperationException("nginx is not installed: run eng/test.sh (it installs the Debian package) or apt-get install nginx.");
        var directory = System.IO.Directory.CreateTempSubdirectory("agentidentity-nginx-").FullName;
        foreach (var (name, content) in files)
        {
            var path = Path.Combine(directory, name);
            await File.WriteAllTextAsync(path, content);
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            }
        }

        var port = FreePort();
        var config = $$"""
            daemon off;
            master_process off;
            worker_processes 1;
            pid {{directory}}/nginx.pid;
            error_log {{directory}}/error.log info;
            events { worker_connections 64; }
            http {
                access_log {{directory}}/access.log;
                client_body_temp_path {{directory}}/client_body;
                proxy_temp_path {{directory}}/proxy;
                fastcgi_temp_path {{directory}}/fastcgi;
                uwsgi_temp_path {{directory}}/uwsgi;
                scgi_temp_path {{directory}}/scgi;
                {{serverBlock(port, directory)}}
            }
            """;
        var configPath = Path.Combine(directory, "nginx.conf");
        await File.WriteAllTextAsync(configPath, config);

        var pidFile = Path.Combine(directory, "nginx.pid");
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var watcher = new FileSystemWatcher(directory, "nginx.pid") { EnableRaisingEvents = true };
        watcher.Created += (_, _) => started.TrySetResult();
        watcher.Changed += (_, _) => started.TrySetResult();

        var process = new Process
        {
            StartInfo = new ProcessStartInfo(executable)
            {
                ArgumentList = { "-p", directory, "-c", configPath, "-e", Path.Combine(directory, "error.log") },
                RedirectStandardError = true,
                RedirectStandardOutput = true,
                UseShellExecute = false,
            },
            EnableRaisingEvents = true,
        };
        var server = new NginxServer(process, directory, port);
        process.OutputDataReceived += (_, e) => server.Append(e.Data);
        process.ErrorDataReceived += (_, e) => server.Append(e.Data);
        process.Exited += (_, _) => started.TrySetException(new InvalidOperationException($"nginx exited with {process.ExitCode}: {server.Describe()}"));
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (File.Exists(pidFile))
        {
            started.TrySetResult();
        }

        // nginx writes its pid file after it has bound the listening socket (master_process off, daemon off).
        await started.Task.WaitAsync(TimeSpan.FromSeconds(30));
        return server;
    }

    public static string EncryptedKeyPem(AsymmetricAlgorithm key, string password) => key switch
    {
        ECDsa ec => ec.ExportEncryptedPkcs8PrivateKeyPem(password, new PbeParameters(PbeEncryptionAlgorithm.Aes256Cbc, HashAlgorithmName.SHA256, 100_000)),
        _ => throw new ArgumentException("Only ECDSA keys are used in these tests.", nameof(key)),
    };

    private void Append(string? line)
    {
        if (line is not null)
        {
            lock (_output)
            {
                _output.AppendLine(line);
            }
        }
    }

    private string Describe()
    {
        lock (_output)
        {
            return _output + ReadShared(Path.Combine(Directory, "error.log"));
        }
    }

    private static string ReadShared(string path)
    {
        if (!File.Exists(path))
        {
            return string.Empty;
        }

        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        }

        _process.Dispose();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
            // Best effort; the directory holds only test material.
        }
    }
}
