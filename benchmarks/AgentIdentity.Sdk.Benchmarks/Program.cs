using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using BenchmarkDotNet.Diagnosers;
using AgentIdentity.Benchmarks;
using BenchmarkDotNet.Running;

// One switcher for every benchmark: dotnet run -c Release --project benchmarks/AgentIdentity.Sdk.Benchmarks -- --filter '*Name*'
// Memory per held identity is a plain measurement, not a BenchmarkDotNet run: ... -- identity-memory [count]
if (args.Length > 0 && args[0] == "identity-memory")
{
    return await IdentityMemory.RunAsync(args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 10_000);
}

// SPIFFE Workload API (issue 10): ... -- spiffe-first-svid [runs] | spiffe-fanout [clients]
if (args.Length > 0 && args[0].StartsWith("spiffe-", StringComparison.Ordinal))
{
    return await SpiffeWorkloadApiMeasurements.RunAsync(args);
}

// Revocation propagation is a plain measurement over loopback: ... -- revocation-propagation [services] [revocations] [crl-poll-ms]
if (args.Length > 0 && args[0] == "revocation-propagation")
{
    int Arg(int i, int fallback) => args.Length > i ? int.Parse(args[i], System.Globalization.CultureInfo.InvariantCulture) : fallback;
    return await RevocationPropagation.RunAsync(Arg(1, 10), Arg(2, 200), Arg(3, 1000));
}

// Sustained revocations per second through v1/revoke (issue 15): ... -- revocation-throughput [revocations] [concurrency] [postgresql-connection-string]
if (args.Length > 0 && args[0] == "revocation-throughput")
{
    int Arg(int i, int fallback) => args.Length > i ? int.Parse(args[i], System.Globalization.CultureInfo.InvariantCulture) : fallback;
    return await RevocationThroughput.RunAsync(Arg(1, 2000), Arg(2, 8), args.Length > 3 ? args[3] : null);
}

// Across issuer replicas on a real PostgreSQL (started here; needs the postgresql package): ... -- revocation-propagation-replicas [subscribers] [revocations]
if (args.Length > 0 && args[0] == "revocation-propagation-replicas")
{
    int Arg(int i, int fallback) => args.Length > i ? int.Parse(args[i], System.Globalization.CultureInfo.InvariantCulture) : fallback;
    return await RevocationPropagationReplicas.RunAsync(Arg(1, 10), Arg(2, 200));
}

// Enrollment CPU and wall time per enrollment, closed loop (issue 15): ... -- enroll-breakdown [enrollments] [in-flight] [issuer|in-process]
if (args.Length > 0 && args[0] == "enroll-breakdown")
{
    int Arg(int i, int fallback) => args.Length > i ? int.Parse(args[i], System.Globalization.CultureInfo.InvariantCulture) : fallback;
    return await IssuerEndToEndBenchmarks.RunBreakdownAsync(Arg(1, 2000), Arg(2, IssuerEndToEndBenchmarks.Concurrency), args.Length > 3 ? args[3] : null);
}

// Keep-alive latency percentiles, agent vs plain HttpClient (issue 3): ... -- http-keepalive-percentiles [requests] [rounds] [block]
if (args.Length > 0 && args[0] == "http-keepalive-percentiles")
{
    int Arg(int i, int fallback) => args.Length > i ? int.Parse(args[i], System.Globalization.CultureInfo.InvariantCulture) : fallback;
    return await AgentIdentity.Benchmarks.Http.HttpKeepAlivePercentiles.RunAsync(Arg(1, 20_000), Arg(2, 5), Arg(3, 100));
}

// BenchmarkDotNet's default toolchain builds a separate project per run and gives up after two minutes, which a 2-core machine
// does not meet ("failed to build the auto-generated boilerplate code"). So the default job runs in process (InProcessEmit:
// same JIT and GC settings as the host process, no separate build); --outOfProcess restores the separate-process toolchain,
// with a build timeout that fits a small machine. Types with their own [Config] keep it.
var outOfProcess = args.Contains("--outOfProcess");
var config = ManualConfig.Create(DefaultConfig.Instance)
    .AddDiagnoser(MemoryDiagnoser.Default)
    .WithBuildTimeout(TimeSpan.FromMinutes(15));
if (!outOfProcess)
{
    config = config.AddJob(Job.Default.WithToolchain(InProcessEmitToolchain.Instance).AsDefault());
}

BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run([.. args.Where(a => a != "--outOfProcess")], config);
return 0;
