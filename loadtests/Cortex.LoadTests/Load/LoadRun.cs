using System.Diagnostics;
using System.Globalization;
using Cortex.LoadTests.Reporting;

namespace Cortex.LoadTests.Load;

/// <summary>
/// make loadtest: runs the scenarios of a profile in order against one Redis and PostgreSQL, each with its own queue and
/// fresh sender processes, and writes the HTML report, the Markdown summary and the JSON of the run. A scenario that
/// throws is reported as failed with its error, and the others still run.
/// </summary>
internal static class LoadRun
{
    public const string AllScenarios = "1,2,3,4,5,6,7";

    /// <summary>The command line: <c>loadtest --profile short|full|smoke [--scenarios 1,2,...] [--out DIR]</c>; exit 0 only if every check passed.</summary>
    public static async Task<int> MainAsync(string redis, string postgres, string senderDll, string profileName, string scenarios, string output)
    {
        if (LoadProfile.Named(profileName) is not { } profile || Parse(scenarios) is not { } selected)
        {
            Console.Error.WriteLine("usage: Cortex.LoadTests loadtest --redis host:port --postgres \"connection string\" [--profile short|full|smoke] [--scenarios 1,2,3,4,5,6,7] [--out DIR]");
            return 2;
        }

        var command = $"make loadtest{(profile == LoadProfile.Full ? " FULL=1" : string.Empty)}{(scenarios == AllScenarios ? string.Empty : $" SCENARIOS={scenarios}")}";
        var run = await RunAsync(redis, postgres, senderDll, profile, selected, command, Console.Error);
        foreach (var path in ReportFiles.Write(run, output))
        {
            Console.WriteLine($"wrote {path}");
        }

        Console.WriteLine(run.Passed ? "load test: PASS" : $"load test: FAIL ({string.Join(", ", run.Scenarios.Where(s => !s.Passed).Select(s => s.Id))})");
        return run.Passed ? 0 : 1;
    }

    public static async Task<RunReport> RunAsync(string redis, string postgres, string senderDll, LoadProfile profile, IReadOnlySet<int> scenarios, string command, TextWriter progress)
    {
        var started = TimeProvider.System.GetUtcNow();
        var clock = Stopwatch.StartNew();
        await using var context = await LoadContext.ConnectAsync(redis, postgres, senderDll, profile, progress);
        var reports = new List<ScenarioReport>();
        double? capacity = null;

        async Task Run(int id, string title, Func<Task<ScenarioReport>> scenario)
        {
            if (!scenarios.Contains(id))
            {
                return;
            }

            progress.WriteLine($"[{clock.Elapsed:mm\\:ss}] scenario {id}: {title}");
            var logs = ProcessLogs.Collect();
            ScenarioReport report;
            try
            {
                report = await scenario();
            }
            catch (Exception ex) when (ex is InvalidOperationException or StackExchange.Redis.RedisException or Npgsql.NpgsqlException or HttpRequestException or TimeoutException)
            {
                report = new ScenarioReport(id.ToString(CultureInfo.InvariantCulture), title, string.Empty, string.Empty, [], [], [], ex.Message);
            }

            reports.Add(report);
            progress.WriteLine($"[{clock.Elapsed:mm\\:ss}] scenario {report.Id}: {(report.Passed ? "pass" : "FAIL" + (report.Error is null ? string.Empty : ": " + report.Error))}");
            if (logs.Settle(report.Passed) is { } kept)
            {
                progress.WriteLine($"[{clock.Elapsed:mm\\:ss}] scenario {report.Id}: {kept}");
            }
        }

        foreach (var burst in profile.Bursts)
        {
            await Run(1, $"burst drain of {burst:N0}", async () =>
            {
                var (report, throughput) = await Scenarios.BurstAsync(context, burst);
                capacity ??= throughput;
                return report;
            });
        }

        await Run(2, "steady rate at half capacity", async () =>
        {
            if (capacity is null && profile.SteadyRate is null)
            {
                progress.WriteLine("  no burst in this run: measuring capacity with a burst of 20,000 first");
                capacity = (await Scenarios.BurstAsync(context, 20_000)).Throughput;
            }

            return await Scenarios.SteadyAsync(context, capacity ?? 0);
        });
        await Run(3, "rate-limited across processes", () => Scenarios.RateLimitedAsync(context));
        await Run(4, "gateway faults", () => Scenarios.FaultsAsync(context));
        await Run(5, "scheduler enqueue", () => Scenarios.SchedulerAsync(context));
        await Run(6, "ceilings and the bare HttpClient baseline", () => Scenarios.CeilingsAsync(context));
        await Run(7, "bad input among valid traffic", () => Scenarios.BadInputAsync(context));

        var machine = $"{Environment.ProcessorCount} vCPU, {Environment.OSVersion.VersionString}, .NET {Environment.Version}";
        return new RunReport(profile.Name, started, clock.Elapsed, machine, command, reports);
    }

    private static HashSet<int>? Parse(string list)
    {
        var ids = new HashSet<int>();
        foreach (var part in list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!int.TryParse(part, CultureInfo.InvariantCulture, out var id) || id is < 1 or > 7)
            {
                return null;
            }

            ids.Add(id);
        }

        return ids.Count == 0 ? null : ids;
    }
}
