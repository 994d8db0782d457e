using BenchmarkDotNet.Configs;
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

BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly)
    .Run(args, ManualConfig.Create(DefaultConfig.Instance).AddDiagnoser(MemoryDiagnoser.Default));
return 0;
