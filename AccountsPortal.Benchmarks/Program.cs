using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;

// HTTP load driver against the portal as separate Release processes (see Load/LoadCommand.cs):
//   dotnet run -c Release --project AccountsPortal.Benchmarks -- load --clients 32 --seconds 10
if (args.Length > 0 && args[0] == "load")
{
    return await AccountsPortal.Benchmarks.Load.LoadCommand.RunAsync(args[1..]);
}

// In process: the portal is hosted by the benchmark itself (WebApplicationFactory), as in the tests.
// Run with: dotnet run -c Release --project AccountsPortal.Benchmarks -- --filter '*'
var config = DefaultConfig.Instance.AddJob(Job.ShortRun.WithToolchain(InProcessEmitToolchain.Instance));
BenchmarkSwitcher.FromAssembly(typeof(AccountsPortal.Benchmarks.LoginBenchmarks).Assembly).Run(args, config);
return 0;
