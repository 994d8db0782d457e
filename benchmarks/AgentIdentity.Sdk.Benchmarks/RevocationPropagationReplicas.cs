using System.Diagnostics;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using AgentIdentity.Issuer;
using AgentIdentity.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AgentIdentity.Benchmarks;

/// <summary>
/// Revocation propagation across issuer replicas (issue 15 §9): two real issuer services (Kestrel + TLS) on one real PostgreSQL
/// (started by <see cref="PostgreSqlServer"/>, the tests' harness). Every revocation is committed on replica A; N subscribers follow
/// replica B's feed (woken by PostgreSQL LISTEN/NOTIFY) and, in the same run and for the same revocations, N subscribers follow
/// replica A's own feed: the same-replica figure. Reports p50/p99 until all N subscribers of a replica hold the entry, and the ratio.
/// Run: dotnet run -c Release --project benchmarks/AgentIdentity.Sdk.Benchmarks -- revocation-propagation-replicas [subscribers=10] [revocations=200]
/// </summary>
internal static class RevocationPropagationReplicas
{
    private const string Kek = "benchmark-kek-0123456789abcdef";

    public static async Task<int> RunAsync(int subscribers, int revocations)
    {
        var postgres = new PostgreSqlServer();
        await postgres.InitializeAsync();
        try
        {
            var connectionString = await postgres.CreateDatabaseAsync();
            await using var a = await StartReplicaAsync(connectionString);
            await using var b = await StartReplicaAsync(connectionString);
            var registryA = a.Services.GetRequiredService<IRevocationRegistry>();

            var sameReplica = await SubscribeAsync(a, subscribers);
            var otherReplica = await SubscribeAsync(b, subscribers);
            var same = new List<double>(revocations);
            var across = new List<double>(revocations);
            for (var r = 0; r < revocations + 10; r++)
            {
                sameReplica.Arm();
                otherReplica.Arm();
                var start = Stopwatch.GetTimestamp();
                await registryA.RevokeCertificateAsync(Serial(r));
                await Task.WhenAll(sameReplica.AllApplied, otherReplica.AllApplied).WaitAsync(TimeSpan.FromSeconds(30));
                if (r >= 10) // warm-up
                {
                    same.Add(Stopwatch.GetElapsedTime(start, sameReplica.Last).TotalMilliseconds);
                    across.Add(Stopwatch.GetElapsedTime(start, otherReplica.Last).TotalMilliseconds);
                }
            }

            Console.WriteLine($"Revocation propagation across replicas: PostgreSQL {postgres.Port}, revoke on A, {subscribers} subscribers on each replica's feed (SSE over TLS), {revocations} revocations:");
            Console.WriteLine($"  same replica (A -> A subscribers):  p50 {Percentile(same, 50):F3} ms, p99 {Percentile(same, 99):F3} ms, max {same.Max():F3} ms");
            Console.WriteLine($"  across replicas (A -> B subscribers): p50 {Percentile(across, 50):F3} ms, p99 {Percentile(across, 99):F3} ms, max {across.Max():F3} ms");
            Console.WriteLine($"  ratio (across / same): p50 {Percentile(across, 50) / Percentile(same, 50):F2}x, p99 {Percentile(across, 99) / Percentile(same, 99):F2}x (target: p99 < 1000 ms and <= 1.5x)");
            await sameReplica.DisposeAsync();
            await otherReplica.DisposeAsync();
            await a.StopAsync();
            await b.StopAsync();
            return 0;
        }
        finally
        {
            await postgres.DisposeAsync();
        }
    }

    private static async Task<WebApplication> StartReplicaAsync(string connectionString)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, lo => lo.UseAgentIdentityIssuerHttps()));
        builder.Services.AddAgentIdentityIssuer(o =>
        {
            o.TrustDomain = "bench.example";
            o.KeyEncryptionKey = Kek;
            o.KeyEncryptionIterations = 100_000;
            o.RateLimitPermits = 1_000_000;
        }).UsePostgreSql(connectionString);
        var app = builder.Build();
        app.MapAgentIdentityIssuer();
        await app.StartAsync();
        return app;
    }

    private static async Task<Subscribers> SubscribeAsync(WebApplication replica, int count)
    {
        var issuer = replica.Services.GetRequiredService<AgentIdentityIssuer>();
        var registry = replica.Services.GetRequiredService<IRevocationRegistry>();
        var address = new Uri(replica.Urls.Single().Replace("http://", "https://", StringComparison.Ordinal));
        var feed = new Uri(address, "/agent-identity/revocation/feed");
        var group = new Subscribers(count);
        for (var i = 0; i < count; i++)
        {
            var handler = new SocketsHttpHandler();
            handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, chain, _) =>
                certificate is X509Certificate2 leaf
                && X509SvidValidator.Validate(leaf, chain?.ChainPolicy.ExtraStore, issuer.GetBundle(), TimeProvider.System.GetUtcNow()) is { IsValid: true } result
                && result.Id == issuer.ServerId;
            var http = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
            var subscriber = new RevocationFeedSubscriber(http, feed, new RevocationFeedVerifier(registry.SignerCertificate, issuer.TrustDomain), new RevocationSet());
            subscriber.Set.EntryApplied += (_, _) => group.OnApplied();
            var connected = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            subscriber.ConnectionChanged += (_, up) =>
            {
                if (up)
                {
                    connected.TrySetResult();
                }
            };
            subscriber.Start();
            await connected.Task.WaitAsync(TimeSpan.FromSeconds(30));
            group.Add(http, subscriber);
        }

        return group;
    }

    private static string Serial(int i) => "6" + i.ToString("X7", System.Globalization.CultureInfo.InvariantCulture) + "00112233445566778899AABB";

    private static double Percentile(List<double> values, int percentile)
    {
        var sorted = values.Order().ToArray();
        var index = (int)Math.Ceiling(percentile / 100.0 * sorted.Length) - 1;
        return sorted[Math.Clamp(index, 0, sorted.Length - 1)];
    }

    /// <summary>N subscribers of one replica; <see cref="AllApplied"/> completes when every one holds the current revocation.</summary>
    private sealed class Subscribers(int count) : IAsyncDisposable
    {
        private readonly List<(HttpClient Http, RevocationFeedSubscriber Subscriber)> _members = [];
        private TaskCompletionSource _all = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _pending;

        public Task AllApplied => _all.Task;

        public long Last { get; private set; }

        public void Add(HttpClient http, RevocationFeedSubscriber subscriber) => _members.Add((http, subscriber));

        public void Arm()
        {
            _all = new(TaskCreationOptions.RunContinuationsAsynchronously);
            Volatile.Write(ref _pending, count);
        }

        public void OnApplied()
        {
            var now = Stopwatch.GetTimestamp();
            if (Interlocked.Decrement(ref _pending) == 0)
            {
                Last = now;
                _all.TrySetResult();
            }
        }

        public async ValueTask DisposeAsync()
        {
            foreach (var (http, subscriber) in _members)
            {
                await subscriber.DisposeAsync();
                http.Dispose();
            }
        }
    }
}
