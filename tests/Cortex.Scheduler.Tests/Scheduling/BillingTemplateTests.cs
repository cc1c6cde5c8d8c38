using System.Globalization;
using Cortex.Scheduler.Scheduling;
using Cortex.Scheduler.Tests.Infrastructure;
using Cortex.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Quartz;

namespace Cortex.Scheduler.Tests.Scheduling;

/// <summary>
/// The daily billing run meets a template it cannot render (a row deleted or renamed in cortex.message_templates). Its
/// charges used to be skipped as invalid rows, the run ended as a success and the day was done: billing fires once a day,
/// so those reminders were never sent. The run fails instead, naming the template, and the day stays owed, so the fixed
/// template sends them the same day. An in-process scheduler on a real PostgreSQL and Redis.
/// </summary>
public sealed class BillingTemplateTests(SchedulerFixture fixture) : IClassFixture<SchedulerFixture>
{
    private const string Never = "0 0 0 1 1 ? 2099";
    private static readonly TimeSpan s_hangGuard = TimeSpan.FromSeconds(60);

    // 09:00 in São Paulo on 2026-11-20, outside quiet hours.
    private static readonly DateTimeOffset s_morning = new(2026, 11, 20, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task DueTemplateMissing_RunFailsNamingIt_TheDayStaysOwedAndGoesOutOnceItIsFixed()
    {
        var database = await fixture.CreateMigratedDatabaseAsync();
        var queue = RedisFixture.UniqueQueueName();

        // Quartz runs on the injected clock too: "again in a minute" is when it has moved on a minute.
        var clock = new FakeTimeProvider(s_morning);
        await using var h = new SchedulerHarness(database, fixture.Connection, queue, clock, null);
        var today = h.Billing.Today();
        await h.ExecuteAsync("UPDATE cortex.message_templates SET key = 'billing.due.old' WHERE tenant = '' AND key = 'billing.due'");
        await Billing.BillingRemindersTests.SeedManyAsync(h, 3, today.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture));
        using var logs = new CapturedLogs();
        await using var app = await StartAsync(database, queue, clock, logs, quietHours: false);
        var scheduler = await app.Services.GetRequiredService<ISchedulerFactory>().GetScheduler();
        var job = new JobKey(BillingReminderJob.JobName, JobSchedule.Group);

        await scheduler.TriggerJob(job);
        await WaitForAsync(() => Task.FromResult(logs.Lines.Any(l => l.Contains("[2020]", StringComparison.Ordinal))), () => "the broken template logged");

        var error = Assert.Single(logs.Lines, l => l.Contains("[2020]", StringComparison.Ordinal));
        Assert.StartsWith("Error", error, StringComparison.Ordinal);
        Assert.Contains($"Billing reminders for {today:yyyy-MM-dd}: 3 charges got no reminder, since their template cannot be rendered: template 'billing.due' of the default tenant: cortex.message_templates has no row for key 'billing.due' for the default tenant", error, StringComparison.Ordinal);
        Assert.Empty(await h.QueuedAsync());

        // Still owed (logged once it is), and not again at once into the same fault: a minute later.
        var retry = Assert.Single(await OwedTriggersAsync(scheduler, job, today));
        Assert.Equal(clock.GetUtcNow() + BillingReminderJob.TemplateRetry, retry.StartTimeUtc, TimeSpan.FromSeconds(1));
        Assert.Single(logs.Lines, l => l.Contains("[2020]", StringComparison.Ordinal));

        // The template fixed; a minute later (Quartz keeps the injected clock) the owed day is run and written.
        await h.ExecuteAsync("UPDATE cortex.message_templates SET key = 'billing.due' WHERE tenant = '' AND key = 'billing.due.old'");
        clock.Advance(BillingReminderJob.TemplateRetry);
        await WaitForAsync(async () => (await h.QueuedAsync()).Count >= 3, () => "the day's 3 reminders in Redis", clock);
        await WaitForAsync(async () => (await OwedTriggersAsync(scheduler, job, today)).Count == 0, () => "nothing owed", clock);
        await app.StopAsync();

        Assert.Equal(3, (await h.QueuedAsync()).Select(m => m.Envelope.Id).Distinct().Count());
        Assert.Contains(logs.Lines, l => l.Contains($"Billing reminders for {today:yyyy-MM-dd}: resuming the day", StringComparison.Ordinal));
        Assert.Contains(logs.Lines, l => l.Contains($"Billing reminders for {today:yyyy-MM-dd}: 3 due, 3 new, 0 opted out, 0 invalid, 3 pushed", StringComparison.Ordinal));
        Assert.DoesNotContain(logs.Lines, l => l.Contains("[2006]", StringComparison.Ordinal));
    }

    [Fact]
    public async Task TemplateFixedOnlyInTheEveningsQuietHours_WritesNoReminderForTheNextMorning_AndSaysWhy()
    {
        // 20:59:30 in São Paulo: the run fails on the missing template; fixed, it runs again at 21:00:30, inside the
        // default 21:00–08:00 quiet hours. Its reminders could go out only at 08:00 on the 21st, saying "vence hoje
        // (20/11/2026)" an hour before that charge's D+1 reminder: they are not written, and the day is done.
        var database = await fixture.CreateMigratedDatabaseAsync();
        var queue = RedisFixture.UniqueQueueName();
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 11, 20, 23, 59, 30, TimeSpan.Zero));
        await using var h = new SchedulerHarness(database, fixture.Connection, queue, clock, null);
        var today = h.Billing.Today();
        await h.ExecuteAsync("UPDATE cortex.message_templates SET key = 'billing.due.old' WHERE tenant = '' AND key = 'billing.due'");
        await Billing.BillingRemindersTests.SeedManyAsync(h, 3, today.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture));
        using var logs = new CapturedLogs();
        await using var app = await StartAsync(database, queue, clock, logs, quietHours: true);
        var scheduler = await app.Services.GetRequiredService<ISchedulerFactory>().GetScheduler();
        var job = new JobKey(BillingReminderJob.JobName, JobSchedule.Group);
        await scheduler.TriggerJob(job);
        await WaitForAsync(() => Task.FromResult(logs.Lines.Any(l => l.Contains("[2020]", StringComparison.Ordinal))), () => "the broken template logged");

        await h.ExecuteAsync("UPDATE cortex.message_templates SET key = 'billing.due' WHERE tenant = '' AND key = 'billing.due.old'");
        clock.Advance(BillingReminderJob.TemplateRetry);
        await WaitForAsync(async () => (await OwedTriggersAsync(scheduler, job, today)).Count == 0, () => "nothing owed", clock);
        await app.StopAsync();

        Assert.Empty(await h.QueuedAsync());
        var warning = Assert.Single(logs.Lines, l => l.Contains("[2022]", StringComparison.Ordinal));
        Assert.StartsWith("Warning", warning, StringComparison.Ordinal);
        Assert.Contains($"Billing reminders for {today:yyyy-MM-dd}: 3 charges got no reminder, since it could go out only at 2026-11-21T11:00:00.0000000+00:00 (the end of the quiet hours), after the day", warning, StringComparison.Ordinal);
        Assert.Equal(0L, await h.ScalarAsync<long>("SELECT count(*) FROM cortex.dispatch_ledger"));
    }

    /// <summary>An in-process scheduler whose billing job fires only when triggered (offset D0); quiet hours off or the default 21:00–08:00.</summary>
    private async Task<WebApplication> StartAsync(string database, string queue, FakeTimeProvider clock, CapturedLogs logs, bool quietHours)
    {
        var app = SchedulerApplication.Build([], builder =>
        {
            var settings = new Dictionary<string, string?>
            {
                ["Cortex:Postgres:ConnectionString"] = database,
                ["Cortex:Redis:Configuration"] = fixture.Redis.Configuration,
                ["Cortex:Queue:Name"] = queue,
                ["Cortex:Observability:Port"] = "0",
                ["Cortex:Scheduler:InstanceName"] = "t" + Guid.NewGuid().ToString("N")[..8],
                ["Cortex:Scheduler:Billing:Cron"] = Never,
                ["Cortex:Scheduler:Billing:Offsets"] = "0",
                ["Cortex:Scheduler:Campaigns:Enabled"] = "false",
                ["Cortex:Scheduler:FollowUps:Enabled"] = "false",
                ["Cortex:Scheduler:OutboxRepairCron"] = Never,
            };
            if (!quietHours)
            {
                settings["Cortex:Scheduler:QuietHours:Start"] = "00:00";
                settings["Cortex:Scheduler:QuietHours:End"] = "00:00";
            }

            builder.Configuration.AddInMemoryCollection(settings);
            builder.Logging.AddProvider(logs);
            builder.Services.AddSingleton<TimeProvider>(clock);
        });
        await app.StartAsync();
        return app;
    }

    private static async Task<List<ITrigger>> OwedTriggersAsync(IScheduler scheduler, JobKey job, DateOnly day) =>
        [.. (await scheduler.GetTriggersOfJob(job)).Where(t => OwedDays.DayOf(t.Key) == day)];

    /// <summary>Polls <paramref name="condition"/>; with a <paramref name="clock"/>, moves it a second a poll (Quartz's idle waits).</summary>
    private static async Task WaitForAsync(Func<Task<bool>> condition, Func<string> what, FakeTimeProvider? clock = null)
    {
        var started = TimeProvider.System.GetTimestamp();
        while (!await condition())
        {
            if (TimeProvider.System.GetElapsedTime(started) > s_hangGuard)
            {
                throw new TimeoutException("timed out waiting for: " + what());
            }

            clock?.Advance(TimeSpan.FromSeconds(1));
            await Task.Delay(20);
        }
    }
}
