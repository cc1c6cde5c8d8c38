using BenchmarkDotNet.Running;
using Cortex.Benchmarks;

// make bench (scripts/bench.sh) passes --filter '*' or FILTER; without a filter BenchmarkSwitcher asks which to run.
if (BenchRedis.Address is null)
{
    Console.Error.WriteLine($"warning: {BenchRedis.Variable} is not set: the queue, rate-limiter and scrape benchmarks will fail. 'make bench' sets it.");
}

var summaries = BenchmarkSwitcher.FromAssembly(typeof(EnvelopeBenchmarks).Assembly).Run(args, BenchConfig.Create());
var failed = summaries.Any(s => s.HasCriticalValidationErrors || s.Reports.Any(r => !r.Success));
return failed ? 1 : 0;
