namespace Cortex.LoadTests.Reporting;

/// <summary>One point per time bucket (normally 1 s) of a scenario; null means no data in that bucket.</summary>
internal sealed record Sample(double Seconds, double? Throughput, double? P50Ms, double? P95Ms, double? P99Ms, long? QueueDepth, double? RssMb, double? CpuCores);

/// <summary>A pass/fail check against a target, e.g. ("throughput", "≥ 25,000 msg/s", "46,764 msg/s", true).</summary>
internal sealed record Check(string Name, string Target, string Measured, bool Passed);

/// <summary>A headline figure, e.g. ("p99 enqueue→accepted", "18.2 ms").</summary>
internal sealed record Figure(string Name, string Value);

/// <summary>What one scenario measured; <see cref="Model"/> is "open (rate-driven)", "closed (burst)" or "baseline".</summary>
internal sealed record ScenarioReport(
    string Id,
    string Title,
    string Model,
    string Description,
    IReadOnlyList<Figure> Figures,
    IReadOnlyList<Check> Checks,
    IReadOnlyList<Sample> Samples,
    string? Error = null)
{
    /// <summary>A scenario that threw passes nothing, whatever its checks say.</summary>
    public bool Passed => Error is null && Checks.All(c => c.Passed);
}

/// <summary>One load-test run: where and how it ran, and every scenario it measured.</summary>
internal sealed record RunReport(
    string Profile,
    DateTimeOffset StartedAt,
    TimeSpan Duration,
    string Machine,
    string Command,
    IReadOnlyList<ScenarioReport> Scenarios)
{
    public bool Passed => Scenarios.All(s => s.Passed);
}
