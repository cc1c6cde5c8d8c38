using System.Diagnostics;
using Cortex.LoadTests.Load;
using Cortex.LoadTests.Reporting;

namespace Cortex.LoadTests.Chaos;

/// <summary>
/// make chaos: the fault scenarios of issue #7 in order against one Redis, each with its own queue and fresh sender
/// processes, written as the load test's report (HTML, Markdown summary, JSON). A scenario that throws is reported as
/// failed with its error, and the others still run.
/// </summary>
internal static class ChaosRun
{
    /// <summary>The command line: <c>chaos --profile short|smoke [--out DIR]</c>; exit 0 only if every check passed.</summary>
    public static async Task<int> MainAsync(string redis, string senderDll, string profileName, string output)
    {
        if (ChaosProfile.Named(profileName) is not { } profile)
        {
            Console.Error.WriteLine("usage: Cortex.LoadTests chaos --redis host:port [--profile short|smoke] [--out DIR]");
            return 2;
        }

        var run = await RunAsync(redis, senderDll, profile, profile == ChaosProfile.Short ? "make chaos" : $"make chaos PROFILE={profile.Name}", Console.Error);
        foreach (var path in ReportFiles.Write(run, output))
        {
            Console.WriteLine($"wrote {path}");
        }

        Console.WriteLine(run.Passed ? "chaos: PASS" : $"chaos: FAIL ({string.Join(", ", run.Scenarios.Where(s => !s.Passed).Select(s => s.Id))})");
        return run.Passed ? 0 : 1;
    }

    public static async Task<RunReport> RunAsync(string redis, string senderDll, ChaosProfile profile, string command, TextWriter progress)
    {
        var started = TimeProvider.System.GetUtcNow();
        var clock = Stopwatch.StartNew();

        // PostgreSQL plays no part in these faults; the load profile only fills the context's required slot.
        await using var context = await LoadContext.ConnectAsync(redis, string.Empty, senderDll, LoadProfile.Smoke, progress);
        var reports = new List<ScenarioReport>();

        async Task Run(string id, string title, Func<Task<ScenarioReport>> scenario)
        {
            progress.WriteLine($"[{clock.Elapsed:mm\\:ss}] {id}: {title}");
            ScenarioReport report;
            try
            {
                report = await scenario();
            }
            catch (Exception ex) when (ex is InvalidOperationException or StackExchange.Redis.RedisException or HttpRequestException or TimeoutException)
            {
                report = new ScenarioReport(id, title, string.Empty, string.Empty, [], [], [], ex.Message);
            }

            reports.Add(report);
            progress.WriteLine($"[{clock.Elapsed:mm\\:ss}] {report.Id}: {(report.Passed ? "pass" : "FAIL" + (report.Error is null ? string.Empty : ": " + report.Error))}");
        }

        await Run("K1", "sender killed with SIGKILL, restarted", () => ProcessFaults.KillAsync(context, profile));
        await Run("K2", "sender stopped with SIGTERM, replaced", () => ProcessFaults.StopAsync(context, profile));

        var machine = $"{Environment.ProcessorCount} vCPU, {Environment.OSVersion.VersionString}, .NET {Environment.Version}";
        return new RunReport($"chaos-{profile.Name}", started, clock.Elapsed, machine, command, reports);
    }
}
