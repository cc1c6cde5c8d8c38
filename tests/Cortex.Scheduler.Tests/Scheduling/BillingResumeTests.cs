using System.Globalization;
using Cortex.Scheduler.Data;
using Cortex.Scheduler.Scheduling;
using Cortex.Scheduler.Tests.Infrastructure;
using Cortex.Testing;
using Npgsql;
using Quartz;

namespace Cortex.Scheduler.Tests.Scheduling;

/// <summary>
/// The daily billing run cut before the day is written, by what a retry inside the process cannot outlive: a graceful stop
/// (a rolling deploy at 09:00) or a PostgreSQL login refused after a password rotation, which only a restart with the new
/// password fixes. No firing comes again today, so the day is owed in Quartz's store and the next process runs it.
/// Real scheduler processes on a real PostgreSQL and Redis.
/// </summary>
public sealed class BillingResumeTests(SchedulerFixture fixture) : IClassFixture<SchedulerFixture>
{
    private const int Reminders = 40_000;
    private const string Never = "0 0 0 1 1 ? 2099";
    private static readonly TimeSpan s_hangGuard = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task StoppedMidBillingRun_ANewProcessResumesTheDay_EveryReminderOnceAndNothingLeftOwed()
    {
        var database = await fixture.CreateMigratedDatabaseAsync();
        var queue = RedisFixture.UniqueQueueName();
        await using var h = Harness(database, queue);
        await SeedAsync(h);

        await using var first = ServiceProcess.Start("Cortex.Scheduler.dll", Environment(database, queue));
        await TriggerBillingAsync(database, queue);
        var cut = await WaitForAsync(h, n => n >= 1_000, first);
        await first.StopAsync(s_hangGuard);
        Assert.Equal(0, first.ExitCode);
        Assert.Contains(first.Lines, l => l.Contains("Job billing-reminders stopped by shutdown", StringComparison.Ordinal));
        Assert.InRange(cut, 1_000, Reminders - 1);

        // The billing cron never fires again: only the owed day can bring the rest.
        await using var second = ServiceProcess.Start("Cortex.Scheduler.dll", Environment(database, queue));
        await WaitForAsync(h, n => n >= Reminders, second);
        await WaitForNothingOwedAsync(h, second);
        await second.StopAsync(s_hangGuard);

        var ids = (await h.QueuedAsync()).Select(m => m.Envelope.Id).ToList();
        Assert.Equal(Reminders, ids.Distinct().Count());
        Assert.Equal(Reminders, ids.Count);
        var today = h.Billing.Today().ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
        Assert.Single(second.Lines, l => l.Contains($"Billing reminders for {today}: resuming the day", StringComparison.Ordinal));
        Assert.Single(second.Lines, l => l.Contains($"Billing reminders for {today}:", StringComparison.Ordinal) && l.Contains(" due, ", StringComparison.Ordinal));
        Assert.DoesNotContain(first.Lines, l => l.Contains("resuming the day", StringComparison.Ordinal));
    }

    /// <remarks>
    /// The refused process cannot tell PostgreSQL its run ended, so Quartz on the restarted one also recovers the cut
    /// firing once the old one stops checking in: whichever of the two runs first writes the day, and it removes the
    /// other's owed trigger. This passed before the day was owed too: it holds what the runbook says.
    /// </remarks>
    [Fact]
    public async Task LoginRefusedMidBillingRun_TheDayIsRunOnceRestartedWithTheNewPassword()
    {
        const string Before = "pg-billing-before-4f1a";
        const string After = "pg-billing-after-7c3e";
        await using var postgres = await PostgresServer.StartAsync(Before);
        var database = await postgres.CreateDatabaseAsync();
        await using (var dataSource = NpgsqlDataSource.Create(database))
        {
            await new Migrator(dataSource).MigrateAsync();
        }

        var queue = RedisFixture.UniqueQueueName();
        await using var h = Harness(database, queue);
        await SeedAsync(h);
        await using var first = ServiceProcess.Start("Cortex.Scheduler.dll", Environment(database, queue));
        await TriggerBillingAsync(database, queue);
        await WaitForAsync(h, n => n >= 1_000, first);

        // Rotated in PostgreSQL, not yet in the service: its connections are cut and every new login is refused (28P01).
        var rotated = await PostgresServer.RotatePasswordAsync(database, After);
        await WaitUntilAsync(() => first.Lines.Any(l => l.Contains("stay owed", StringComparison.Ordinal)), "the day left owed", first);
        await first.StopAsync(s_hangGuard);
        var cut = (await h.QueuedAsync()).Select(m => m.Envelope.Id).Distinct().Count();
        Assert.InRange(cut, 1_000, Reminders - 1);

        await using var second = ServiceProcess.Start("Cortex.Scheduler.dll", Environment(rotated, queue));
        await using var after = Harness(rotated, queue);
        await WaitForAsync(after, n => n >= Reminders, second);
        await WaitForNothingOwedAsync(after, second);
        await second.StopAsync(s_hangGuard);

        var ids = (await after.QueuedAsync()).Select(m => m.Envelope.Id).ToList();
        Assert.Equal(Reminders, ids.Distinct().Count());

        // Connections cut mid-transaction: a batch pushed whose commit was cut is pushed again (same ids; the sender
        // sends an id once). Two publish transactions can be open.
        Assert.InRange(ids.Count - Reminders, 0, 200);
        Assert.Contains(second.Lines, l => l.Contains(" due, ", StringComparison.Ordinal));
        Assert.DoesNotContain(first.Lines.Concat(second.Lines), l => l.Contains(Before, StringComparison.Ordinal) || l.Contains(After, StringComparison.Ordinal));
    }

    [Fact]
    public async Task OwedDayAlreadyOver_NotRunLate_ReportedAsAFailureAndNoLongerOwed()
    {
        var database = await fixture.CreateMigratedDatabaseAsync();
        var queue = RedisFixture.UniqueQueueName();
        await using var h = Harness(database, queue);
        var today = h.Billing.Today();
        await Billing.BillingRemindersTests.SeedManyAsync(h, 10, today.AddDays(-1).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture));
        await Billing.BillingRemindersTests.SeedManyAsync(h, 10, today.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture), firstId: 100);
        await StartScheduleAsync(Harness(database, queue), scheduler => scheduler.ScheduleJob(
            OwedDays.Trigger(new JobKey(BillingReminderJob.JobName, JobSchedule.Group), today.AddDays(-1)), new ScheduleJobOptions()).AsTask());

        await using var node = ServiceProcess.Start("Cortex.Scheduler.dll", Environment(database, queue));
        await WaitForNothingOwedAsync(h, node);
        await WaitUntilAsync(() => node.Lines.Any(l => l.Contains("Job billing-reminders failed", StringComparison.Ordinal)), "the failure reported", node);
        await node.StopAsync(s_hangGuard);

        // Yesterday's texts count days from yesterday ("vence em 3 dias"); today's reminders wait for today's firing.
        Assert.Empty(await h.QueuedAsync());
        Assert.Contains(node.Lines, l => l.Contains($"billing reminders for {today.AddDays(-1):yyyy-MM-dd} were left unfinished by a run cut short, and that day is over", StringComparison.Ordinal));
    }

    [Fact]
    public async Task BillingDisabled_TheNextStartRemovesItsOwedDaysWithItsSchedule()
    {
        var database = await fixture.CreateMigratedDatabaseAsync();
        var queue = RedisFixture.UniqueQueueName();
        await StartScheduleAsync(Harness(database, queue), scheduler => scheduler.ScheduleJob(
            OwedDays.Trigger(new JobKey(BillingReminderJob.JobName, JobSchedule.Group), new DateOnly(2026, 12, 4)), new ScheduleJobOptions()).AsTask());
        await using var h = Harness(database, queue);
        Assert.Equal(2L, await BillingTriggersAsync(h));

        await StartScheduleAsync(Harness(database, queue, enabled: false), _ => Task.CompletedTask);

        // Disabled means no billing run at all, not even the rest of a day an earlier run left unfinished.
        Assert.Equal(0L, await BillingTriggersAsync(h));
    }

    private static async Task StartScheduleAsync(SchedulerHarness node, Func<IScheduler, Task> then)
    {
        await using (node)
        {
            await node.Get<JobSchedule>().StartAsync(CancellationToken.None);
            var scheduler = await node.Get<ISchedulerFactory>().GetScheduler();
            await then(scheduler);
            await scheduler.Shutdown(waitForJobsToComplete: false);
        }
    }

    private static Task<long> BillingTriggersAsync(SchedulerHarness h) =>
        h.ScalarAsync<long>("SELECT count(*) FROM qrtz_triggers WHERE job_name = @job", ("job", BillingReminderJob.JobName));

    private SchedulerHarness Harness(string database, string queue, bool enabled = true) =>
        new(database, fixture.Connection, queue, new FakeTimeProvider(TimeProvider.System.GetUtcNow()), new()
        {
            ["Cortex:Scheduler:BatchSize"] = "100",
            ["Cortex:Scheduler:Billing:Enabled"] = enabled ? "true" : "false",
        });

    // Due today in the scheduler's zone by the real clock the processes use; only the D0 offset, so one reminder each.
    private static Task SeedAsync(SchedulerHarness h) =>
        Billing.BillingRemindersTests.SeedManyAsync(h, Reminders, h.Billing.Today().ToString("yyyy-MM-dd", CultureInfo.InvariantCulture));

    private Dictionary<string, string> Environment(string database, string queue) => new()
    {
        ["Cortex__Postgres__ConnectionString"] = database,
        ["Cortex__Redis__Configuration"] = fixture.Redis.Configuration,
        ["Cortex__Queue__Name"] = queue,
        ["Cortex__Scheduler__BatchSize"] = "100",
        ["Cortex__Scheduler__Billing__Cron"] = Never,
        ["Cortex__Scheduler__Billing__Offsets"] = "0",
        ["Cortex__Scheduler__FollowUps__Enabled"] = "false",
        ["Cortex__Scheduler__Campaigns__Enabled"] = "false",
        ["Cortex__Scheduler__OutboxRepairCron"] = Never,
        ["Cortex__Scheduler__QuietHours__Start"] = "00:00",
        ["Cortex__Scheduler__QuietHours__End"] = "00:00",
        ["Logging__Console__FormatterOptions__SingleLine"] = "true",
    };

    /// <summary>Fires billing on the cluster as <c>cortex jobs trigger</c> does: a Quartz scheduler that is never started.</summary>
    private async Task TriggerBillingAsync(string database, string queue)
    {
        await using var client = Harness(database, queue);
        var scheduler = await client.Get<ISchedulerFactory>().GetScheduler();
        var job = new JobKey(BillingReminderJob.JobName, JobSchedule.Group);
        using var guard = new CancellationTokenSource(s_hangGuard);
        while (!await scheduler.Exists(job, guard.Token))
        {
            // The process stores the job at start.
            await Task.Delay(50, guard.Token);
        }

        await scheduler.TriggerJob(job, guard.Token);
        await scheduler.Shutdown(waitForJobsToComplete: false);
    }

    /// <summary>Polls the distinct reminder ids in Redis until <paramref name="done"/>; returns the last count.</summary>
    private static async Task<int> WaitForAsync(SchedulerHarness h, Func<int, bool> done, ServiceProcess process)
    {
        var count = 0;
        await WaitUntilAsync(
            async () => done(count = (await h.QueuedAsync()).Select(m => m.Envelope.Id).Distinct().Count()),
            "reminders in Redis",
            process);
        return count;
    }

    private static Task WaitForNothingOwedAsync(SchedulerHarness h, ServiceProcess process) => WaitUntilAsync(
        async () => await h.ScalarAsync<long>("SELECT count(*) FROM qrtz_triggers WHERE trigger_group = @group", ("group", OwedDays.Group)) == 0,
        "no owed day left in Quartz's store",
        process);

    private static Task WaitUntilAsync(Func<bool> condition, string what, ServiceProcess process) =>
        WaitUntilAsync(() => Task.FromResult(condition()), what, process);

    private static async Task WaitUntilAsync(Func<Task<bool>> condition, string what, ServiceProcess process)
    {
        var started = TimeProvider.System.GetTimestamp();
        while (!await condition())
        {
            Assert.False(process.HasExited, $"the scheduler exited while waiting for {what}:\n{process.Output}");
            if (TimeProvider.System.GetElapsedTime(started) > s_hangGuard)
            {
                throw new TimeoutException($"timed out waiting for {what}; the scheduler said:\n{string.Join('\n', process.Lines.TakeLast(40))}");
            }

            await Task.Delay(50);
        }
    }
}
