using System.Diagnostics;
using AgentIdentity;

namespace AgentIdentity.Benchmarks;

/// <summary>
/// Memory per held identity: creates 10 000 agent credentials (each with its own key, SVID and renewal schedule) and reports
/// the managed heap and process working-set growth per identity. Target: at most 8 KB each.
/// Run: dotnet run -c Release --project benchmarks/AgentIdentity.Sdk.Benchmarks -- identity-memory [count]
/// </summary>
internal static class IdentityMemory
{
    public static async Task<int> RunAsync(int count)
    {
        using var ca = DevelopmentCertificateAuthority.Create(TrustDomain.Parse("bench.example"));
        // Warm up code paths and pools so that they are not counted as per-identity cost.
        await (await AgentCredential.CreateAsync(SpiffeId.NewAgentInstance(ca.TrustDomain, "warmup"), ca)).DisposeAsync();

        var process = Process.GetCurrentProcess();
        Collect();
        process.Refresh();
        var heapBefore = GC.GetTotalMemory(forceFullCollection: true);
        var rssBefore = process.WorkingSet64;

        var credentials = new AgentCredential[count];
        var stopwatch = Stopwatch.StartNew();
        for (var i = 0; i < count; i++)
        {
            credentials[i] = await AgentCredential.CreateAsync(SpiffeId.NewAgentInstance(ca.TrustDomain, "worker"), ca);
        }

        stopwatch.Stop();
        Collect();
        process.Refresh();
        var heap = GC.GetTotalMemory(forceFullCollection: true) - heapBefore;
        var rss = process.WorkingSet64 - rssBefore;
        GC.KeepAlive(credentials);

        Console.WriteLine($"identities:                 {count}");
        Console.WriteLine($"created in:                 {stopwatch.Elapsed.TotalSeconds:F1} s ({stopwatch.Elapsed.TotalMilliseconds * 1000 / count:F0} µs each)");
        Console.WriteLine($"managed heap per identity:  {heap / (double)count / 1024:F2} KB");
        Console.WriteLine($"working set per identity:   {rss / (double)count / 1024:F2} KB (managed + native: OpenSSL certificate and key objects)");
        Console.WriteLine($"target:                     <= 8 KB per identity -> {(rss / (double)count <= 8 * 1024 ? "met" : "NOT met")}");

        foreach (var credential in credentials)
        {
            await credential.DisposeAsync();
        }

        return 0;
    }

    private static void Collect()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        if (OperatingSystem.IsLinux())
        {
            // Return freed native pages (CSR building, signing, chain validation scratch) to the OS, so that the working
            // set counts what the identities hold rather than allocator slack.
            _ = MallocTrim(0);
        }
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "malloc_trim")]
    private static extern int MallocTrim(nuint pad);
}
