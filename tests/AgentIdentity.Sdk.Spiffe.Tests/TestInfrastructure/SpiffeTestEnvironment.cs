using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using AgentIdentity.Spiffe.Proto;
using Google.Protobuf;
using Microsoft.Extensions.Time.Testing;

namespace AgentIdentity.Spiffe.Tests;

/// <summary>A temp directory for sockets, the test PKI's development CA, and helpers to build Workload API messages by hand.</summary>
internal sealed class SpiffeTestEnvironment : IDisposable
{
    public SpiffeTestEnvironment(string trustDomain = "example.org")
    {
        Directory = System.IO.Directory.CreateTempSubdirectory("spiffe-test-");
        Pki = new TestPki(trustDomain);
    }

    public DirectoryInfo Directory { get; }

    public TestPki Pki { get; }

    public DevelopmentCertificateAuthority Ca => Pki.Ca;

    public string SocketPath(string name = "agent.sock") => Path.Combine(Directory.FullName, name);

    public static DateTimeOffset Now => TimeProvider.System.GetUtcNow();

    /// <summary>The uid/gid of this process, read the way the kernel reports them.</summary>
    public static (int Uid, int Gid) CurrentUser()
    {
        int uid = -1, gid = -1;
        foreach (var line in File.ReadLines("/proc/self/status"))
        {
            if (line.StartsWith("Uid:", StringComparison.Ordinal))
            {
                uid = int.Parse(line.Split('\t', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture);
            }
            else if (line.StartsWith("Gid:", StringComparison.Ordinal))
            {
                gid = int.Parse(line.Split('\t', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture);
            }
        }

        return (uid, gid);
    }

    public WorkloadApiServerOptions ServerOptions(string socket, params WorkloadRegistration[] registrations)
    {
        var options = new WorkloadApiServerOptions { SocketPath = SocketPath(socket) };
        foreach (var registration in registrations)
        {
            options.Registrations.Add(registration);
        }

        return options;
    }

    public static WorkloadRegistration ForThisUser(string path, string? hint = null) =>
        new(SpiffeId.Parse("spiffe://example.org" + path)) { UserId = CurrentUser().Uid, Hint = hint };

    /// <summary>An X509SVID wire message minted by the CA, with its PKCS#8 key.</summary>
    public X509SVID MintWireSvid(string path, string? hint = null)
    {
        var id = SpiffeId.Parse("spiffe://example.org" + path);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var issuance = Ca.Issue(new X509SvidRequest(id, TestPki.Csr(id, key), TimeSpan.FromHours(1)));
        var svid = new X509SVID
        {
            SpiffeId = id.ToString(),
            X509Svid = Concat([issuance.Certificate, .. issuance.Intermediates]),
            X509SvidKey = ByteString.CopyFrom(key.ExportPkcs8PrivateKey()),
            Bundle = Concat(issuance.Bundle.X509Authorities),
        };
        if (hint is not null)
        {
            svid.Hint = hint;
        }

        return svid;
    }

    public static ByteString Concat(IEnumerable<X509Certificate2> certificates) =>
        ByteString.CopyFrom([.. certificates.SelectMany(c => c.RawData)]);

    /// <summary>A self-signed CA certificate for a federated trust domain.</summary>
    public static X509Certificate2 CreateForeignRoot(string trustDomain)
    {
        // The trust domain's own SPIFFE ID, without the trailing slash System.Uri would add.
        var san = TestPki.BuildSan([$"spiffe://{trustDomain}"], [], critical: false);
        return TestPki.CreateCa($"CN={trustDomain} root", null, Now.AddDays(-1), Now.AddDays(30), nameConstraint: null, keyUsage: X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, extra: [san]);
    }

    public static ObservableTimeProvider ClientTime() => new(Now);

    public static FakeTimeProvider ServerTime() => new(Now);

    public void Dispose()
    {
        Pki.Dispose();
        try
        {
            Directory.Delete(recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

internal static class TaskTestExtensions
{
    public static Task<T> Within30s<T>(this Task<T> task) => task.WaitAsync(TimeSpan.FromSeconds(30));

    public static Task Within30s(this Task task) => task.WaitAsync(TimeSpan.FromSeconds(30));

    /// <summary>Completes when the change token fires.</summary>
    public static Task WhenChanged(this Microsoft.Extensions.Primitives.IChangeToken token)
    {
        var tcs = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        token.RegisterChangeCallback(static s => ((TaskCompletionSource)s!).TrySetResult(), tcs);
        return tcs.Task;
    }
}
