using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;

namespace Cortex.Benchmarks;

/// <summary>
/// The job every benchmark runs with: one process, 3 warm-up and 5 measured iterations. That is BenchmarkDotNet's
/// ShortRun with two more measured iterations, so the whole suite fits in about five minutes on a 2-core machine; the
/// error column is wider than a full run's, which is why bench/README.md reads differences under ~10% as noise.
/// The default configuration already exports GitHub Markdown and CSV, which scripts/bench.sh copies to bench/results/.
/// </summary>
internal static class BenchConfig
{
    public static IConfig Create() => DefaultConfig.Instance
        .AddJob(Job.Default.WithLaunchCount(1).WithWarmupCount(3).WithIterationCount(5).WithId("Short"))
        .WithOptions(ConfigOptions.DisableLogFile);
}
