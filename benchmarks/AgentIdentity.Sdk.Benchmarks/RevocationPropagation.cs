using System.Diagnostics;
using System.Net;
using AgentIdentity;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace AgentIdentity.Benchmarks;

/// <summary>
/// Propagation latency of a revocation, from the revoke call to the moment every subscribing service rejects the certificate (its
/// revocation set holds the entry), with N services each on its own loopback SSE connection to a real Kestrel issuer. Baseline: the
/// same services polling the CRL endpoint every P ms and parsing the CRL. Reports p50/p99 over the revocations.
/// Run: dotnet run -c Release --project benchmarks/AgentIdentity.Sdk.Benchmarks -- revocation-propagation [services=10] [revocations=200] [crl-poll-ms=1000]
/// </summary>
internal static class RevocationPropagation
{
    public static async Task<int> RunAsync(int services, int revocations, int crlPollMs)
    {
        using var ca = DevelopmentCertificateAuthority.Create(TrustDomain.Parse("bench.example"));
        var signer = ca.CreateRevocationSigner();
        var registry = new InMemoryRevocationRegistry(signer);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        builder.Services.AddSingleton<IRevocationRegistry>(registry);
        await using var app = builder.Build();
        app.MapAgentIdentityRevocation();
        await app.StartAsync();
        var baseUri = new Uri(app.Urls.Single());

        // Push: N subscribers, each with its own HttpClient (its own connection), as N services would have.
        var subscribers = new List<(HttpClient Http, RevocationFeedSubscriber Subscriber)>();
        var arrivals = new long[services];
        var pending = 0;
        TaskCompletionSource? allApplied = null;
        for (var i = 0; i < services; i++)
        {
            var http = new HttpClient { Timeout = Timeout.InfiniteTimeSpan };
            var subscriber = new RevocationFeedSubscriber(http, new Uri(baseUri, "/revocation/feed"), new RevocationFeedVerifier(signer.Certificate, ca.TrustDomain), new RevocationSet());
            var index = i;
            subscriber.Set.EntryApplied += (_, _) =>
            {
                arrivals[index] = Stopwatch.GetTimestamp();
                if (Interlocked.Decrement(ref pending) == 0)
                {
                    allApplied!.TrySetResult();
                }
            };
            var connected = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            subscriber.ConnectionChanged += (_, up) => { if (up) { connected.TrySetResult(); } };
            subscriber.Start();
            await connected.Task.WaitAsync(TimeSpan.FromSeconds(30));
            subscribers.Add((http, subscriber));
        }

        var all = new List<double>(revocations);
        var each = new List<double>(revocations * services);
        for (var r = 0; r < revocations + 10; r++)
        {
            allApplied = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            pending = services;
            var start = Stopwatch.GetTimestamp();
            await registry.RevokeCertificateAsync(Serial(r));
            await allApplied.Task.WaitAsync(TimeSpan.FromSeconds(30));
            if (r < 10)
            {
                continue; // warm-up
            }

            all.Add(Stopwatch.GetElapsedTime(start, arrivals.Max()).TotalMilliseconds);
            each.AddRange(arrivals.Select(a => Stopwatch.GetElapsedTime(start, a).TotalMilliseconds));
        }

        Console.WriteLine($"Push feed (SSE), {services} services, {revocations} revocations:");
        Console.WriteLine($"  until ALL services reject: p50 {Percentile(all, 50):F3} ms, p99 {Percentile(all, 99):F3} ms, max {all.Max():F3} ms");
        Console.WriteLine($"  per service:               p50 {Percentile(each, 50):F3} ms, p99 {Percentile(each, 99):F3} ms");
        foreach (var (http, subscriber) in subscribers)
        {
            await subscriber.DisposeAsync();
            http.Dispose();
        }

        // Baseline: CRL polling every crlPollMs by each service, for fewer revocations (each takes about a poll interval).
        var baselineCount = Math.Min(revocations, 30);
        var crlUri = new Uri(baseUri, "/revocation/crl");
        using var stop = new CancellationTokenSource();
        var seen = new long[services][];
        var pollers = new List<Task>();
        var clients = Enumerable.Range(0, services).Select(_ => new HttpClient()).ToArray();
        var target = string.Empty;
        var found = new long[services];
        TaskCompletionSource? allFound = null;
        var remaining = 0;
        for (var i = 0; i < services; i++)
        {
            var index = i;
            pollers.Add(Task.Run(async () =>
            {
                // Stagger the pollers as independent services would be.
                await Task.Delay(TimeSpan.FromMilliseconds(Random.Shared.Next(crlPollMs)), stop.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(crlPollMs));
                while (!stop.IsCancellationRequested)
                {
                    var crl = await clients[index].GetByteArrayAsync(crlUri);
                    var wanted = Volatile.Read(ref target);
                    if (wanted.Length > 0 && Volatile.Read(ref found[index]) == 0 && CrlContains(crl, wanted))
                    {
                        found[index] = Stopwatch.GetTimestamp();
                        if (Interlocked.Decrement(ref remaining) == 0)
                        {
                            allFound!.TrySetResult();
                        }
                    }

                    try
                    {
                        await timer.WaitForNextTickAsync(stop.Token);
                    }
                    catch (OperationCanceledException)
                    {
                        break;
                    }
                }
            }));
        }

        var baseline = new List<double>(baselineCount);
        for (var r = 0; r < baselineCount; r++)
        {
            allFound = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            Array.Clear(found);
            remaining = services;
            var serial = Serial(100_000 + r);
            var start = Stopwatch.GetTimestamp();
            await registry.RevokeCertificateAsync(serial);
            Volatile.Write(ref target, serial);
            await allFound.Task.WaitAsync(TimeSpan.FromSeconds(60));
            baseline.Add(Stopwatch.GetElapsedTime(start, found.Max()).TotalMilliseconds);
            Volatile.Write(ref target, string.Empty);
        }

        await stop.CancelAsync();
        await Task.WhenAll(pollers).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        Console.WriteLine($"Baseline: CRL polling every {crlPollMs} ms, {services} services, {baselineCount} revocations:");
        Console.WriteLine($"  until ALL services reject: p50 {Percentile(baseline, 50):F3} ms, p99 {Percentile(baseline, 99):F3} ms");
        Console.WriteLine($"Ratio (push / CRL polling): p50 {Percentile(all, 50) / Percentile(baseline, 50):F5}, p99 {Percentile(all, 99) / Percentile(baseline, 99):F5}");
        foreach (var client in clients)
        {
            client.Dispose();
        }

        await app.StopAsync();
        _ = seen;
        return 0;
    }

    private static string Serial(int i) => "7" + i.ToString("X7", System.Globalization.CultureInfo.InvariantCulture) + "00112233445566778899AABB";

    private static bool CrlContains(byte[] crl, string serial)
    {
        var needle = Convert.FromHexString(serial);
        return crl.AsSpan().IndexOf(needle) >= 0;
    }

    private static double Percentile(List<double> values, int percentile)
    {
        var sorted = values.Order().ToArray();
        var index = (int)Math.Ceiling(percentile / 100.0 * sorted.Length) - 1;
        return sorted[Math.Clamp(index, 0, sorted.Length - 1)];
    }
}
