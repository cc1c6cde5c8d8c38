using System.Diagnostics;
using Cortex.LoadTests.Load;
using Cortex.LoadTests.Reporting;

namespace Cortex.LoadTests.Chaos;

/// <summary>
/// make chaos: the fault scenarios of issue #7 in order, the process faults against the given Redis, each with its own queue and fresh sender
/// processes (the Redis and scheduler faults on servers of their own, which they crash), written as the load test's report (HTML, Markdown summary, JSON). A scenario that throws is reported as
/// failed with its error, and the others still run.
/// </summary>
internal static class ChaosRun
{
    public const string AllScenarios = "K1,K2,K3,K4,K5,K6,K7";

    /// <summary>The command line: <c>chaos --profile short|smoke [--scenarios K1,K2,K3,K4,K5,K6,K7] [--out DIR]</c>; exit 0 only if every check passed.</summary>
    public static async Task<int> MainAsync(string redis, string senderDll, string profileName, string scenarios, string output)
    {
        var selected = scenarios.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToHashSet(StringComparer.OrdinalIgnoreCase);
        if (ChaosProfile.Named(profileName) is not { } profile || selected.Count == 0
            || !selected.IsSubsetOf([.. AllScenarios.Split(','), "K1b", "K4b", "K4c", "K4d", RefusedMessages.Id, .. GatewayFaults.Cases(profile).Select(c => c.Id), SharedThrottling.Id]))
        {
            Console.Error.WriteLine("usage: Cortex.LoadTests chaos --redis host:port [--profile short|smoke] [--scenarios K1,K2,K3,K4,K5,K6,K7 (or rows: K1b, K4b, K4c, K4d, K5a..K5m, K7b)] [--out DIR]");
            return 2;
        }

        var command = "make chaos" + (profile == ChaosProfile.Short ? string.Empty : $" PROFILE={profile.Name}") + (selected.SetEquals(AllScenarios.Split(',')) ? string.Empty : $" SCENARIOS={scenarios}");
        var run = await RunAsync(redis, senderDll, profile, selected, command, Console.Error);
        foreach (var path in ReportFiles.Write(run, output))
        {
            Console.WriteLine($"wrote {path}");
        }

        Console.WriteLine(run.Passed ? "chaos: PASS" : $"chaos: FAIL ({string.Join(", ", run.Scenarios.Where(s => !s.Passed).Select(s => s.Id))})");
        return run.Passed ? 0 : 1;
    }

    public static async Task<RunReport> RunAsync(string redis, string senderDll, ChaosProfile profile, IReadOnlySet<string> scenarios, string command, TextWriter progress)
    {
        var started = TimeProvider.System.GetUtcNow();
        var clock = Stopwatch.StartNew();

        // PostgreSQL plays no part in these faults; the load profile only fills the context's required slot.
        await using var context = await LoadContext.ConnectAsync(redis, string.Empty, senderDll, LoadProfile.Smoke, progress);
        var reports = new List<ScenarioReport>();

        // group: the id that selects every row of a scenario (K5 runs K5a..K5g); a row's own id selects it alone.
        async Task Run(string id, string title, Func<Task<ScenarioReport>> scenario, string? group = null)
        {
            if (!scenarios.Contains(id) && !(group is not null && scenarios.Contains(group)))
            {
                return;
            }

            progress.WriteLine($"[{clock.Elapsed:mm\\:ss}] {id}: {title}");
            var logs = ProcessLogs.Collect();
            ScenarioReport report;
            try
            {
                report = await scenario();
            }
            catch (Exception ex) when (ex is InvalidOperationException or StackExchange.Redis.RedisException or HttpRequestException or TimeoutException or Npgsql.NpgsqlException)
            {
                report = new ScenarioReport(id, title, string.Empty, string.Empty, [], [], [], ex.Message);
            }

            reports.Add(report);
            progress.WriteLine($"[{clock.Elapsed:mm\\:ss}] {report.Id}: {(report.Passed ? "pass" : "FAIL" + (report.Error is null ? string.Empty : ": " + report.Error))}");
            if (logs.Settle(report.Passed) is { } kept)
            {
                progress.WriteLine($"[{clock.Elapsed:mm\\:ss}] {report.Id}: {kept}");
            }
        }

        await Run("K1", "sender killed with SIGKILL, restarted", () => ProcessFaults.KillAsync(context, profile));
        await Run("K1b", "sender frozen with SIGSTOP past the consumer timeout, continued", () => ProcessFaults.FreezeAsync(context, profile), group: "K1");
        await Run("K2", "sender stopped with SIGTERM, replaced", () => ProcessFaults.StopAsync(context, profile));

        // The Redis faults need a redis-server this run can crash and restart, whatever --redis points at.
        await Run("K3", "Redis crashed and restarted on its AOF", () => RedisFaults.OutageAsync(senderDll, profile, progress, crash: true));
        await Run("K4", $"Redis away for {profile.Outage.TotalSeconds:N0} s", () => RedisFaults.OutageAsync(senderDll, profile, progress, crash: false));
        await Run("K4b", "Redis away under three senders", () => RedisFaults.OutageSeveralSendersAsync(senderDll, profile, progress, silent: false), group: "K4");
        await Run("K4c", "Redis silent under three senders", () => RedisFaults.OutageSeveralSendersAsync(senderDll, profile, progress, silent: true), group: "K4");
        await Run("K4d", "a sender's Redis connection dead without failing", () => RedisFaults.DeadConnectionAsync(senderDll, profile, progress), group: "K4");

        // The gateway faults, one row each, against the run's Redis.
        foreach (var fault in GatewayFaults.Cases(profile))
        {
            await Run(fault.Id, fault.Title, () => GatewayFaults.RunAsync(context, profile, fault), GatewayFaults.Group);
        }

        await Run(SharedThrottling.Id, SharedThrottling.Title(profile), () => SharedThrottling.RunAsync(context, profile), GatewayFaults.Group);

        // The scheduler faults need a PostgreSQL and a redis-server this run can crash, and real scheduler processes.
        var schedulerDll = Path.Combine(Path.GetDirectoryName(senderDll) ?? ".", "Cortex.Scheduler.dll");
        await Run("K6", "PostgreSQL crashed during a billing run", () => SchedulerFaults.PostgresCrashAsync(schedulerDll, profile, progress));
        await Run("K6", "three schedulers racing on the same firings", () => SchedulerFaults.RaceAsync(schedulerDll, profile, progress));
        await Run("K6", "scheduler SIGKILLed mid-campaign, restarted", () => SchedulerFaults.KillMidCampaignAsync(schedulerDll, profile, progress));
        await Run("K6", "scheduler SIGKILLed mid billing run, restarted", () => SchedulerFaults.KillMidBillingAsync(schedulerDll, profile, progress));
        await Run("K6", "scheduler SIGTERMed mid billing run, rolling update", () => SchedulerFaults.StopMidBillingAsync(schedulerDll, profile, progress));
        await Run("K6", "Redis crashed during a billing run", () => SchedulerFaults.RedisCrashAsync(schedulerDll, profile, progress));
        await Run("K7", "poison message that kills its sender", () => PoisonMessages.CrashingMessageAsync(context, profile));
        await Run(RefusedMessages.Id, RefusedMessages.Title, () => RefusedMessages.RunAsync(context, profile), group: "K7");

        var machine = $"{Environment.ProcessorCount} vCPU, {Environment.OSVersion.VersionString}, .NET {Environment.Version}";
        return new RunReport($"chaos-{profile.Name}", started, clock.Elapsed, machine, command, reports);
    }
}
