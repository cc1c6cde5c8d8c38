using Microsoft.Extensions.Options;
using Npgsql;
using Quartz;

namespace Cortex.Scheduler.Scheduling;

/// <summary>
/// Brings the stored Quartz jobs and cron triggers in line with validated configuration before the scheduler starts:
/// a trigger whose cron or time zone changed is replaced, an unchanged one is left alone (its next fire time and
/// misfire state survive restarts), a disabled job's triggers are removed. Misfires fire once on recovery.
/// </summary>
public sealed class JobSchedule(ISchedulerFactory schedulerFactory, NpgsqlDataSource dataSource, IOptions<SchedulerOptions> options) : IHostedService
{
    public const string Group = "cortex";

    // Differs from the migrations' lock (0x436F72746578); any fixed number does.
    private const long SyncLockKey = 0x436F72746579;

    /// <summary>Every Cortex job: its stored definition, cron and whether it is enabled.</summary>
    public static IReadOnlyList<(IJobDetail Job, string Cron, bool Enabled)> Jobs(SchedulerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return
        [
            (Define<BillingReminderJob>(BillingReminderJob.JobName), options.Billing.Cron, options.Billing.Enabled),
            (Define<FollowUpJob>(FollowUpJob.JobName), options.FollowUps.Cron, options.FollowUps.Enabled),
            (Define<CampaignJob>(CampaignJob.JobName), options.Campaigns.Cron, options.Campaigns.Enabled),
            (Define<OutboxRepairJob>(OutboxRepairJob.JobName), options.OutboxRepairCron, true),
        ];
    }

    // RequestRecovery: a firing cut by its node's death (SIGKILL, OOM, node loss) is run again on a live node once the
    // cluster check declares the dead one gone. Without it the daily billing run would wait for tomorrow's firing.
    private static IJobDetail Define<T>(string name)
        where T : IJob => JobBuilder.Create<T>().WithIdentity(name, Group).StoreDurably().RequestRecovery().Build();

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var settings = options.Value;
        var scheduler = await schedulerFactory.GetScheduler(cancellationToken);

        // Replicas starting together must not each see "no trigger yet" and each replace it: the second replacement,
        // built a moment before the first replica's Quartz fired, would schedule that same fire time again.
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await LockAsync(connection, "SELECT pg_advisory_lock(@key)", cancellationToken);
        try
        {
            await SyncAsync(scheduler, settings, cancellationToken);
        }
        finally
        {
            // Explicitly: a pooled connection's session, and its lock, outlive Close until the pool reuses it.
            await LockAsync(connection, "SELECT pg_advisory_unlock(@key)", CancellationToken.None);
        }
    }

    private static async Task LockAsync(NpgsqlConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        command.Parameters.AddWithValue("key", SyncLockKey);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private static async Task SyncAsync(IScheduler scheduler, SchedulerOptions settings, CancellationToken cancellationToken)
    {
        foreach (var (job, cron, enabled) in Jobs(settings))
        {
            var triggerKey = new TriggerKey(job.Key.Name, Group);
            if (!enabled)
            {
                // Its owed days too (OwedDays): a disabled billing job runs no day, not even one an earlier run left unfinished.
                var triggers = (await scheduler.GetTriggersOfJob(job.Key, cancellationToken)).Select(t => t.Key).Where(k => OwedDays.DayOf(k) is not null);
                await scheduler.UnscheduleJobs([triggerKey, .. triggers], cancellationToken);
                continue;
            }

            // The stored definition too, not only the trigger: one stored by an older version lacks RequestRecovery.
            await scheduler.AddJob(job, AddJobOptions.Replacing, cancellationToken);
            var existing = await scheduler.GetTrigger(triggerKey, cancellationToken) as ICronTrigger;
            if (existing is not null && existing.CronExpressionString == cron && existing.TimeZone.Id == settings.Zone.Id)
            {
                continue;
            }

            var trigger = TriggerBuilder.Create()
                .WithIdentity(triggerKey)
                .ForJob(job.Key)
                .WithCronSchedule(cron, b => b.InTimeZone(settings.Zone).WithMisfireInstruction(CronTriggerMisfireInstruction.FireAndProceed))
                .Build();
            await scheduler.ScheduleJob(job, [trigger], ScheduleJobOptions.Replacing, cancellationToken);

            // The new trigger starts now: moved from 09:00 to 08:00 at 08:30, it first fired tomorrow, and nothing ran
            // today. A firing of the new schedule that fell since the old trigger last fired (or was stored) is owed, as a
            // misfire is: it fires once at once. A second run of a day that already ran (09:00 moved to 10:00 after it ran)
            // is not made here; the new trigger makes it at 10:00, and the ledger keeps it from sending anything twice.
            var missed = existing is null ? null : new CronExpression(cron, settings.Zone).GetNextValidTimeAfter(existing.PreviousFireTimeUtc ?? existing.StartTimeUtc);
            if (missed <= TimeProvider.System.GetUtcNow())
            {
                await scheduler.TriggerJob(job.Key, cancellationToken);
            }
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
