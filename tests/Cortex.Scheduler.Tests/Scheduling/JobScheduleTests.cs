using Cortex.Scheduler.Scheduling;
using Cortex.Scheduler.Tests.Infrastructure;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Quartz;
using Quartz.Extensibility;

namespace Cortex.Scheduler.Tests.Scheduling;

/// <summary>The stored triggers brought in line with configuration at start, in Quartz's PostgreSQL store.</summary>
public sealed class JobScheduleTests(SchedulerFixture fixture) : IClassFixture<SchedulerFixture>
{
    private static readonly TriggerKey s_billing = new(BillingReminderJob.JobName, JobSchedule.Group);

    [Fact]
    public async Task Start_BillingMovedToATimeThatPassedToday_TodaysRunFiresAtOnce()
    {
        // The billing run moved from an hour from now to half an hour ago, say from 09:00 to 08:00 at 08:30. The new trigger
        // started now and first fired tomorrow: nothing ran today, and no later run sends that day's reminders.
        var now = TimeProvider.System.GetUtcNow();
        var oldTime = now.AddHours(1);
        var newTime = now.AddMinutes(-30);

        var firings = await BillingFiringsAsync(Daily(oldTime), firedAt: AtMinute(oldTime).AddDays(-1), Daily(newTime));

        // Once at once, then on the new schedule from tomorrow.
        Assert.Equal(2, firings.Length);
        Assert.Equal(AtMinute(newTime).AddDays(1), firings[0]);
        Assert.True(firings[1] <= TimeProvider.System.GetUtcNow(), $"today's run is due at once, not at {firings[1]:O}");
    }

    [Fact]
    public async Task Start_BillingMovedToATimeStillAheadToday_FiresThenAndNotAtOnce()
    {
        // The other way round: moved from half an hour ago, which ran, to an hour from now. The day runs again at the new
        // time (the ledger makes that run send only what the first did not), and nothing fires at once.
        var now = TimeProvider.System.GetUtcNow();
        var oldTime = now.AddMinutes(-30);
        var newTime = now.AddHours(1);

        var firings = await BillingFiringsAsync(Daily(oldTime), firedAt: AtMinute(oldTime), Daily(newTime));

        Assert.Equal([AtMinute(newTime)], firings);
    }

    private static string Daily(DateTimeOffset at) => $"0 {at.Minute} {at.Hour} * * ?";

    private static DateTimeOffset AtMinute(DateTimeOffset at) => new(at.Year, at.Month, at.Day, at.Hour, at.Minute, 0, TimeSpan.Zero);

    /// <summary>
    /// Stores the billing trigger as an earlier start did, with <paramref name="oldCron"/>, last fired at
    /// <paramref name="firedAt"/>; starts the schedule with <paramref name="newCron"/> (zone UTC); returns when each of the
    /// billing job's triggers fires next, the cron trigger's first. Quartz is never started: nothing fires.
    /// </summary>
    private async Task<DateTimeOffset?[]> BillingFiringsAsync(string oldCron, DateTimeOffset firedAt, string newCron)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Cortex:Postgres:ConnectionString"] = await fixture.CreateMigratedDatabaseAsync(),
            ["Cortex:Scheduler:TimeZone"] = "UTC",
            ["Cortex:Scheduler:Billing:Cron"] = newCron,
        }).Build();
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(configuration);
        services.AddLogging();
        services.AddCortexScheduler(configuration);
        await using var provider = services.BuildServiceProvider();
        var scheduler = await provider.GetRequiredService<ISchedulerFactory>().GetScheduler();
        try
        {
            var job = JobSchedule.Jobs(new SchedulerOptions()).Single(j => j.Job.Key.Name == BillingReminderJob.JobName).Job;
            var old = TriggerBuilder.Create()
                .WithIdentity(s_billing)
                .ForJob(job.Key)
                .WithCronSchedule(oldCron, b => b.InTimeZone(TimeZoneInfo.Utc).WithMisfireInstruction(CronTriggerMisfireInstruction.FireAndProceed))
                .StartAt(firedAt.AddDays(-7))
                .Build();
            ((IMutableTrigger)old).PreviousFireTimeUtc = firedAt;
            await scheduler.ScheduleJob(job, [old], ScheduleJobOptions.Replacing);
            Assert.Equal(firedAt, (await scheduler.GetTrigger(s_billing))!.PreviousFireTimeUtc);

            await provider.GetRequiredService<JobSchedule>().StartAsync(CancellationToken.None);

            var trigger = Assert.IsAssignableFrom<ICronTrigger>(await scheduler.GetTrigger(s_billing));
            Assert.Equal(newCron, trigger.CronExpressionString);
            var others = (await scheduler.GetTriggersOfJob(job.Key)).Where(t => !t.Key.Equals(s_billing)).Select(t => t.NextFireTimeUtc);
            return [trigger.NextFireTimeUtc, .. others];
        }
        finally
        {
            await scheduler.Shutdown(waitForJobsToComplete: false);
        }
    }
}
