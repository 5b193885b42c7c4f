using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;

// In process: the portal is hosted by the benchmark itself (WebApplicationFactory), as in the tests.
// Run with: dotnet run -c Release --project AccountsPortal.Benchmarks -- --filter '*'
var config = DefaultConfig.Instance.AddJob(Job.ShortRun.WithToolchain(InProcessEmitToolchain.Instance));
BenchmarkSwitcher.FromAssembly(typeof(AccountsPortal.Benchmarks.LoginBenchmarks).Assembly).Run(args, config);
