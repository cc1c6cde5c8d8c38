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
/// A Redis whose ACL is narrowed while the scheduler runs refuses its pushes (the start-up check cannot see a later
/// ACL SETUSER). A job says so as a refusal, not as a transient fault or a bug, and what it was writing goes out once,
/// after the permission is back: the daily billing run is run again for the same day, a campaign resumes on its next run.
/// </summary>
public sealed class RedisRefusalTests(SchedulerFixture fixture) : IClassFixture<SchedulerFixture>
{
    private const string Never = "0 0 0 1 1 ? 2099";

    // 09:00 in São Paulo on the charges' due date: outside quiet hours, so every reminder is ready at once.
    private static readonly DateTimeOffset s_morning = new(2026, 11, 20, 12, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan s_hangGuard = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task BillingPushRefused_LoggedAsARefusal_TheDayIsRunAgainAndSentOnceItIsRestored()
    {
        await using var s = await RunningScheduler.StartAsync(await fixture.CreateMigratedDatabaseAsync());
        for (var i = 1; i <= 3; i++)
        {
            await s.H.ExecuteAsync(
                "INSERT INTO cortex.charges (id, customer_name, phone, amount, due_date) VALUES (@id, 'Cliente', @phone, 10, '2026-11-20')",
                ("id", (long)i),
                ("phone", "+551198765000" + i));
        }

        await s.RedisCliAsync("ACL", "SETUSER", "default", "-lpush");
        await s.TriggerAsync(BillingReminderJob.JobName);
        await s.WaitForAsync(() => Task.FromResult(s.Logs.Lines.Any(l => l.Contains("[2014]", StringComparison.Ordinal))), "the refusal logged", advance: false);
        await s.RedisCliAsync("ACL", "SETUSER", "default", "+lpush");

        // The retry waits on the injected clock: moved on until the day is in Redis.
        await s.WaitForAsync(async () => (await s.H.QueuedAsync()).Count >= 3, "the day's 3 reminders in Redis", advance: true);
        await s.App.StopAsync();

        var ids = (await s.H.QueuedAsync()).Select(m => m.Envelope.Id).ToList();
        Assert.Equal(3, ids.Count);
        Assert.Equal(3, ids.Distinct().Count());
        var refusal = Assert.Single(s.Logs.Lines, l => l.Contains("[2014]", StringComparison.Ordinal));
        Assert.StartsWith("Error", refusal, StringComparison.Ordinal);
        Assert.Contains("Billing reminders for 2026-11-20: Redis refused a push: NOPERM", refusal, StringComparison.Ordinal);
        Assert.Contains("lacks a permission the scheduler needs", refusal, StringComparison.Ordinal);
        Assert.DoesNotContain(s.Logs.Lines, l => l.Contains("[2012]", StringComparison.Ordinal) || l.Contains("[2006]", StringComparison.Ordinal));
    }

    [Fact]
    public async Task CampaignPushRefused_LoggedAsARefusal_TheNextRunSendsEveryRecipientOnce()
    {
        await using var s = await RunningScheduler.StartAsync(await fixture.CreateMigratedDatabaseAsync());
        await s.H.ExecuteAsync("INSERT INTO cortex.message_templates (key, body) VALUES ('promo', 'Oi {name}!')");
        await s.H.ExecuteAsync("INSERT INTO cortex.campaigns (id, name, template_key, run_at) VALUES (1, 'bf', 'promo', @runAt)", ("runAt", s_morning.AddMinutes(-1).UtcDateTime));
        await s.H.ExecuteAsync(
            "INSERT INTO cortex.campaign_recipients (campaign_id, id, phone, name) SELECT 1, i, '+55119876500' || lpad(i::text, 2, '0'), 'P' || i FROM generate_series(1, 5) AS i");

        await s.RedisCliAsync("ACL", "SETUSER", "default", "-lpush");
        await s.TriggerAsync(CampaignJob.JobName);
        await s.WaitForAsync(() => Task.FromResult(s.Logs.Lines.Any(l => l.Contains("[2015]", StringComparison.Ordinal))), "the refusal logged", advance: false);
        Assert.Empty(await s.H.QueuedAsync());
        await s.RedisCliAsync("ACL", "SETUSER", "default", "+lpush");
        await s.TriggerAsync(CampaignJob.JobName);
        await s.WaitForAsync(async () => (await s.H.QueuedAsync()).Count >= 5, "the 5 recipients in Redis", advance: false);
        await s.App.StopAsync();

        var ids = (await s.H.QueuedAsync()).Select(m => m.Envelope.Id).ToList();
        Assert.Equal(5, ids.Count);
        Assert.Equal(5, ids.Distinct().Count());
        var refusal = Assert.Single(s.Logs.Lines, l => l.Contains("[2015]", StringComparison.Ordinal));
        Assert.StartsWith("Error", refusal, StringComparison.Ordinal);
        Assert.Contains("Job campaigns: Redis refused a push: NOPERM", refusal, StringComparison.Ordinal);
        Assert.DoesNotContain(s.Logs.Lines, l => l.Contains("[2006]", StringComparison.Ordinal));
    }

    /// <summary>A scheduler started in process over its own Redis (the tests change its ACL) and a migrated database.</summary>
    private sealed class RunningScheduler : IAsyncDisposable
    {
        private readonly FakeTimeProvider _clock = new(s_morning);
        private RedisServer _redis = null!;
        private StackExchange.Redis.ConnectionMultiplexer _connection = null!;

        public CapturedLogs Logs { get; } = new();

        public SchedulerHarness H { get; private set; } = null!;

        public WebApplication App { get; private set; } = null!;

        public static async Task<RunningScheduler> StartAsync(string database)
        {
            var s = new RunningScheduler();
            s._redis = await RedisServer.StartAsync();
            s._connection = await s._redis.ConnectAsync();
            var queueName = RedisFixture.UniqueQueueName();
            s.H = new SchedulerHarness(database, s._connection, queueName, s._clock, null);
            s.App = SchedulerApplication.Build([], builder =>
            {
                builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
                {
                    ["Cortex:Postgres:ConnectionString"] = database,
                    ["Cortex:Redis:Configuration"] = s._redis.Configuration,
                    ["Cortex:Queue:Name"] = queueName,
                    ["Cortex:Observability:Port"] = "0",
                    ["Cortex:Scheduler:InstanceName"] = "t" + Guid.NewGuid().ToString("N")[..8],
                    ["Cortex:Scheduler:Billing:Cron"] = Never,
                    ["Cortex:Scheduler:Campaigns:Cron"] = Never,
                    ["Cortex:Scheduler:FollowUps:Enabled"] = "false",
                    ["Cortex:Scheduler:OutboxRepairCron"] = Never,
                });
                builder.Logging.AddProvider(s.Logs);
                builder.Services.AddSingleton<TimeProvider>(s._clock);
            });
            await s.App.StartAsync();
            return s;
        }

        public async Task TriggerAsync(string job)
        {
            var scheduler = await App.Services.GetRequiredService<ISchedulerFactory>().GetScheduler();
            await scheduler.TriggerJob(new JobKey(job, JobSchedule.Group));
        }

        /// <summary>Polls <paramref name="condition"/>; with <paramref name="advance"/> the injected clock moves a second a poll.</summary>
        public async Task WaitForAsync(Func<Task<bool>> condition, string what, bool advance)
        {
            var started = TimeProvider.System.GetTimestamp();
            while (!await condition())
            {
                if (TimeProvider.System.GetElapsedTime(started) > s_hangGuard)
                {
                    throw new TimeoutException("timed out waiting for: " + what);
                }

                if (advance)
                {
                    _clock.Advance(TimeSpan.FromSeconds(1));
                }

                await Task.Delay(20);
            }
        }

        public async Task RedisCliAsync(params string[] command)
        {
            var result = await ExternalTool.RunAsync(
                "redis-cli",
                ["-p", _redis.Port.ToString(CultureInfo.InvariantCulture), .. command],
                "It comes with redis-server (`make test` installs it).");
            Assert.True(result.ExitCode == 0 && result.Output.Trim() == "OK", result.ToString());
        }

        public async ValueTask DisposeAsync()
        {
            await App.DisposeAsync();
            await H.DisposeAsync();
            _connection.Dispose();
            await _redis.DisposeAsync();
            Logs.Dispose();
        }
    }
}
