namespace Cortex.LoadTests.Load;

/// <summary>
/// How much load each scenario gets. <see cref="Smoke"/> is what <c>make test</c> runs: tiny, and it checks correctness
/// only (no loss, no duplicate, everything accounted for), never speed. <see cref="Short"/> is <c>make loadtest</c>, a few
/// minutes; <see cref="Full"/> (<c>FULL=1</c>) adds the 1,000,000-message burst.
/// </summary>
internal sealed record LoadProfile(
    string Name,
    bool CheckTargets,
    int[] Bursts,
    TimeSpan SteadyDuration,
    double? SteadyRate,
    int RateLimitedMessages,
    double GlobalRate,
    double FaultRate,
    TimeSpan FaultClean,
    TimeSpan FaultPhase,
    TimeSpan FaultRecovery,
    int SchedulerCharges,
    int SchedulerRuns,
    int CeilingMessages,
    int BadInputValid,
    int BadInputMalformed,
    int BadInputMegabytes,
    int BadInputRounds)
{
    /// <summary>The Cloud API's default rate per phone number, the rate-limited scenario.</summary>
    public const double CloudApiRate = 80;

    public static readonly LoadProfile Smoke = new(
        "smoke", false, [2_000], TimeSpan.FromSeconds(3), 300, 600, 300, 300,
        TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(4), TimeSpan.FromSeconds(2), 1_000, 1, 2_000, 400, 300, 2, 1);

    public static readonly LoadProfile Short = new(
        "short", true, [100_000], TimeSpan.FromSeconds(60), null, 2_800, CloudApiRate, 500,
        TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(20), 200_000, 3, 100_000, 50_000, 10_000, 20, 5);

    public static readonly LoadProfile Full = Short with { Name = "full", Bursts = [100_000, 1_000_000], CeilingMessages = 200_000 };

    public static LoadProfile? Named(string name) => name switch
    {
        "smoke" => Smoke,
        "short" => Short,
        "full" => Full,
        _ => null,
    };
}
