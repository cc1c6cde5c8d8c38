using System.CommandLine;
using Cortex.Cli.Hosting;
using Cortex.Cli.Output;
using Cortex.Scheduler;
using Cortex.Scheduler.Scheduling;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Npgsql;
using Quartz;

namespace Cortex.Cli.Jobs;

/// <summary>
/// cortex jobs list | trigger: the scheduler cluster's Quartz jobs, read from and written to its PostgreSQL store.
/// The CLI's Quartz scheduler is built but never started: it stores a trigger for the cluster and executes nothing itself.
/// </summary>
internal static class JobsCommands
{
    public static Command Create(CliConsole console, GlobalOptions global)
    {
        var jobs = new Command("jobs", "The scheduler cluster's jobs: schedule, state, last and next firing; fire one now");
        jobs.Add(List(console, global));
        jobs.Add(Trigger(console, global));
        return jobs;
    }

    private static Command List(CliConsole console, GlobalOptions global)
    {
        var json = new Option<bool>("--json") { Description = "Print a JSON array: name, cron, timeZone, state, previousFireTime, nextFireTime, pendingManualTriggers, unfinishedDays" };
        var command = new Command("list", "List every Cortex job with its cron, time zone, state and previous/next fire time") { json };
        command.SetAction((parse, ct) => CliHost.RunAsync(
            global.Context(console, parse),
            Needs.Postgres,
            (services, token) => WithSchedulerAsync(services, async scheduler =>
            {
                var rows = await ReadAsync(scheduler, services.GetRequiredService<IOptions<SchedulerOptions>>().Value, token);
                if (parse.GetValue(json))
                {
                    Terminal.WriteJson(console, w =>
                    {
                        w.WriteStartArray();
                        foreach (var r in rows)
                        {
                            w.WriteStartObject();
                            w.WriteString("name", r.Name);
                            w.WriteBoolean("registered", r.Registered);
                            w.WriteString("cron", r.Cron);
                            w.WriteString("timeZone", r.TimeZone);
                            w.WriteString("state", r.State);
                            w.WriteTime("previousFireTime", r.Previous);
                            w.WriteTime("nextFireTime", r.Next);
                            w.WriteNumber("pendingManualTriggers", r.Manual);
                            w.WriteStartArray("unfinishedDays");
                            foreach (var day in r.Owed)
                            {
                                w.WriteStringValue(day.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture));
                            }

                            w.WriteEndArray();
                            w.WriteEndObject();
                        }

                        w.WriteEndArray();
                    });
                }
                else
                {
                    var table = Terminal.Table("Job", "Cron", "Time zone", "Previous fire", "Next fire", "State").NoWrap(0, 1);
                    foreach (var r in rows)
                    {
                        var state = !r.Registered ? "not registered (no scheduler node has started)"
                            : r.Manual > 0 ? $"{r.State}, {r.Manual} manual firing(s) pending" : r.State;
                        if (r.Owed.Count > 0)
                        {
                            state += $", unfinished day(s) {string.Join(", ", r.Owed.Select(d => d.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture)))}: a running node resumes it";
                        }

                        table.Row(r.Name, r.Cron ?? "–", r.TimeZone ?? "–", Local(r.Previous, r.Zone), Local(r.Next, r.Zone), state);
                    }

                    Terminal.Out(console).Write(table);
                }

                return ExitCodes.Success;
            }, token),
            ct));
        return command;
    }

    private static Command Trigger(CliConsole console, GlobalOptions global)
    {
        var name = new Argument<string>("job") { Description = "Job name: billing-reminders, conversation-follow-ups, campaigns or outbox-repair" };
        var command = new Command("trigger", "Fire a job now on the cluster: a running scheduler node runs it once (within about 30 s)") { name };
        command.SetAction((parse, ct) => CliHost.RunAsync(
            global.Context(console, parse),
            Needs.Postgres,
            async (services, token) =>
            {
                var job = parse.GetRequiredValue(name);
                var names = JobSchedule.Jobs(services.GetRequiredService<IOptions<SchedulerOptions>>().Value).Select(j => j.Job.Key.Name).ToList();
                if (!names.Contains(job, StringComparer.Ordinal))
                {
                    throw CliException.Usage($"no job '{job}'; the jobs are: {string.Join(", ", names)}");
                }

                return await WithSchedulerAsync(services, async scheduler =>
                {
                    var key = new JobKey(job, JobSchedule.Group);
                    if (!await scheduler.Exists(key, token))
                    {
                        await console.Error.WriteLineAsync($"job '{job}' is not in the cluster's store yet: no scheduler node has started against this database (or the job is disabled). Start one, then trigger it.");
                        return ExitCodes.Partial;
                    }

                    await scheduler.TriggerJob(key, token);
                    await console.Out.WriteLineAsync($"triggered {job}: one running scheduler node runs it once; nodes poll the store, so within about 30 s (if none is running, when one starts)");
                    return ExitCodes.Success;
                }, token);
            },
            ct));
        return command;
    }

    /// <summary>
    /// Gets the host's Quartz scheduler without starting it. A scheduler that is not started never acquires a trigger: the
    /// store calls here (read jobs and triggers, insert a trigger) go straight to the cluster's tables, and the running
    /// nodes do the executing. It is shut down afterwards so nothing of it outlives the command.
    /// </summary>
    private static async Task<int> WithSchedulerAsync(IServiceProvider services, Func<IScheduler, Task<int>> action, CancellationToken cancellationToken)
    {
        // Asked first, directly: Quartz retries an unreachable store for a long while, and words a missing table its own way.
        await using (var probe = services.GetRequiredService<NpgsqlDataSource>().CreateCommand("SELECT to_regclass('qrtz_job_details') IS NOT NULL"))
        {
            if (await probe.ExecuteScalarAsync(cancellationToken) is not true)
            {
                throw new CliException(ExitCodes.Partial, "the Quartz tables are missing: the database is not migrated. Run 'cortex migrate'.");
            }
        }

        var scheduler = await services.GetRequiredService<ISchedulerFactory>().GetScheduler(cancellationToken);
        try
        {
            if (await scheduler.GetStatus(cancellationToken) is not (SchedulerStatus.Created or SchedulerStatus.Standby))
            {
                throw new InvalidOperationException("the CLI's Quartz scheduler must never start: it would execute jobs in this process");
            }

            return await action(scheduler);
        }
        finally
        {
            await scheduler.Shutdown(waitForJobsToComplete: false, CancellationToken.None);
        }
    }

    private static async Task<List<JobRow>> ReadAsync(IScheduler scheduler, SchedulerOptions options, CancellationToken cancellationToken)
    {
        var rows = new List<JobRow>();
        var page = await scheduler.QueryJobs(new JobQuery { Group = GroupMatcher<JobKey>.GroupEquals(JobSchedule.Group), Take = PagedQuery.All }, cancellationToken);
        var stored = page.Items.Select(j => j.Key).ToHashSet();
        var known = JobSchedule.Jobs(options).Select(j => j.Job.Key).ToList();
        foreach (var key in known.Concat(stored.Where(k => !known.Contains(k)).OrderBy(k => k.Name, StringComparer.Ordinal)))
        {
            if (!stored.Contains(key))
            {
                // No state to report: --json says null, as for its cron and times, not the table's dash.
                rows.Add(new JobRow(key.Name, false, null, null, null, null, null, null, 0, []));
                continue;
            }

            var triggers = (await scheduler.QueryTriggers(new TriggerQuery { Job = key, Take = PagedQuery.All }, cancellationToken)).Items;
            var schedule = triggers.FirstOrDefault(t => t.TriggerType == "CRON");
            var cron = schedule is null ? null : await scheduler.GetTrigger(schedule.Key, cancellationToken) as ICronTrigger;
            var owed = triggers.Select(t => OwedDays.DayOf(t.Key)).OfType<DateOnly>().Distinct().Order().ToList();
            var manual = triggers.Count(t => t.TriggerType != "CRON" && OwedDays.DayOf(t.Key) is null);
            rows.Add(new JobRow(
                key.Name,
                true,
                cron?.CronExpressionString,
                cron?.TimeZone.Id,
                cron?.TimeZone,
                schedule is null ? "no schedule (disabled)" : schedule.State.ToString(),
                schedule?.PreviousFireTimeUtc,
                triggers.Select(t => t.NextFireTimeUtc).Where(t => t is not null).Min(),
                manual,
                owed));
        }

        return rows;
    }

    private static string Local(DateTimeOffset? utc, TimeZoneInfo? zone) =>
        utc is not { } t ? "–"
        : zone is null ? Terminal.Time(t)
        : TimeZoneInfo.ConvertTime(t, zone).ToString("yyyy-MM-dd HH:mm:sszzz", System.Globalization.CultureInfo.InvariantCulture);

    private sealed record JobRow(string Name, bool Registered, string? Cron, string? TimeZone, TimeZoneInfo? Zone, string? State, DateTimeOffset? Previous, DateTimeOffset? Next, int Manual, List<DateOnly> Owed);
}
