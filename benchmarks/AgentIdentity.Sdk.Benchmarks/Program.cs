using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Running;

// One switcher for every benchmark: dotnet run -c Release --project benchmarks/AgentIdentity.Sdk.Benchmarks -- --filter '*Name*'
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly)
    .Run(args, ManualConfig.Create(DefaultConfig.Instance).AddDiagnoser(MemoryDiagnoser.Default));
