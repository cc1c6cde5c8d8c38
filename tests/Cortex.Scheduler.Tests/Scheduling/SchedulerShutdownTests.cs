using Cortex.LoadTests;
using Cortex.Scheduler.Tests.Infrastructure;
using Cortex.Shared.Hosting;
using Cortex.Testing;

namespace Cortex.Scheduler.Tests.Scheduling;

/// <summary>
/// A real scheduler process stopped in the middle of a campaign fan-out: by SIGTERM (a Kubernetes scale-in or rollout,
/// where Quartz cancels the running job through its token) or by SIGKILL (a crash). Either way the next run finishes the
/// campaign with every recipient enqueued; only a SIGKILL between a push and its commit can put one batch in twice.
/// </summary>
public sealed class SchedulerShutdownTests(SchedulerFixture fixture) : IClassFixture<SchedulerFixture>
{
    private const int Recipients = 40_000;
    private static readonly TimeSpan s_hangGuard = TimeSpan.FromSeconds(60);

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task StoppedMidCampaign_NextRunResumesAndEveryRecipientIsEnqueuedOnce(bool graceful)
    {
        var database = await fixture.CreateMigratedDatabaseAsync();
        var queue = RedisFixture.UniqueQueueName();
        await using var h = Harness(database, queue);
        await SeedCampaignAsync(h);
        await using var process = ServiceProcess.Start("Cortex.Scheduler.dll", Environment(database, fixture.Redis.Configuration, queue));
        await WaitForEnqueuedAsync(h, process);

        if (graceful)
        {
            await process.StopAsync(s_hangGuard);
            Assert.Equal(0, process.ExitCode);
            Assert.Contains(process.Lines, l => l.Contains("Job campaigns stopped by shutdown", StringComparison.Ordinal));
        }
        else
        {
            await process.KillAsync();
        }

        // SIGTERM commits every push it made: no copy. SIGKILL between a push and its commit leaves that one batch pending,
        // and it is pushed again: copies with the same message id, which the sender sends once. Never more than a batch.
        await AssertNextRunCompletesAsync(h, graceful ? 0 : 100);
    }

    [Fact]
    public async Task RedisConnectionDeadMidCampaign_ExitsWith75AndTheNextRunEnqueuesEveryRecipient()
    {
        // The scheduler's connection goes silent for good while Redis answers new connections (a Redis host lost without
        // a reset): the watchdog stops the process for a restart, instead of a campaign push waiting about 15 minutes.
        var database = await fixture.CreateMigratedDatabaseAsync();
        var queue = RedisFixture.UniqueQueueName();
        await using var h = Harness(database, queue);
        await SeedCampaignAsync(h);
        await using var proxy = new LoopbackProxy(fixture.Redis.Port);
        var environment = Environment(database, $"127.0.0.1:{proxy.Port},abortConnect=false,connectTimeout=2000", queue);
        environment["Cortex__Redis__DeadConnectionTimeout"] = "00:00:02";
        await using var process = ServiceProcess.Start("Cortex.Scheduler.dll", environment);
        await WaitForEnqueuedAsync(h, process);

        proxy.SilenceOpenConnections();

        Assert.Equal(CortexHost.RedisConnectionDeadExitCode, await process.WaitForExitAsync(TimeSpan.FromMinutes(2)));
        Assert.Contains(process.Lines, l => l.Contains("[3301]", StringComparison.Ordinal));

        // The campaign job stopped at the stop, rather than waiting on a push the dead connection will never answer
        // until Quartz gave up on it at the host's shutdown limit.
        Assert.Contains(process.Lines, l => l.Contains("Job campaigns stopped by shutdown", StringComparison.Ordinal));

        // A push the dead connection never delivered is pushed by the next run; one it delivered but whose batch was not
        // committed is pushed again: never more than a batch of copies.
        await AssertNextRunCompletesAsync(h, 100);
    }

    private static async Task SeedCampaignAsync(SchedulerHarness h)
    {
        await h.ExecuteAsync("INSERT INTO cortex.message_templates (key, body) VALUES ('promo', 'Oi {name}!')");
        await h.ExecuteAsync("INSERT INTO cortex.campaigns (id, name, template_key, run_at) VALUES (1, 'big', 'promo', now() - interval '1 minute')");
        await h.ExecuteAsync(
            "INSERT INTO cortex.campaign_recipients (campaign_id, id, phone, name) SELECT 1, i, '+55119' || lpad(i::text, 8, '0'), 'P' || i FROM generate_series(1, @n) AS i",
            ("n", Recipients));
    }

    private SchedulerHarness Harness(string database, string queue) =>
        new(database, fixture.Connection, queue, new FakeTimeProvider(TimeProvider.System.GetUtcNow()), new()
        {
            ["Cortex:Scheduler:BatchSize"] = "100",
            ["Cortex:Scheduler:QuietHours:Start"] = "00:00",
            ["Cortex:Scheduler:QuietHours:End"] = "00:00",
        });

    private static Dictionary<string, string> Environment(string database, string redisConfiguration, string queue) => new()
    {
        ["Cortex__Postgres__ConnectionString"] = database,
        ["Cortex__Redis__Configuration"] = redisConfiguration,
        ["Cortex__Queue__Name"] = queue,
        ["Cortex__Scheduler__BatchSize"] = "100",
        ["Cortex__Scheduler__Campaigns__Cron"] = "* * * * * ?",
        ["Cortex__Scheduler__Billing__Enabled"] = "false",
        ["Cortex__Scheduler__FollowUps__Enabled"] = "false",
        ["Cortex__Scheduler__QuietHours__Start"] = "00:00",
        ["Cortex__Scheduler__QuietHours__End"] = "00:00",
        ["Logging__Console__FormatterOptions__SingleLine"] = "true",
    };

    // Some batches committed, well before the 400 batches are done.
    private static async Task WaitForEnqueuedAsync(SchedulerHarness h, ServiceProcess process)
    {
        using var guard = new CancellationTokenSource(s_hangGuard);
        while (await h.ScalarAsync<int>("SELECT coalesce(max(enqueued), 0) FROM cortex.campaign_runs") < 1_000)
        {
            Assert.False(process.HasExited, string.Join(System.Environment.NewLine, process.Lines));
            await Task.Delay(20, guard.Token);
        }
    }

    private static async Task AssertNextRunCompletesAsync(SchedulerHarness h, int copiesAllowed)
    {
        var stoppedAt = await h.ScalarAsync<int>("SELECT enqueued FROM cortex.campaign_runs");
        Assert.InRange(stoppedAt, 1_000, Recipients - 1);
        Assert.Equal("running", await h.ScalarAsync<string>("SELECT status FROM cortex.campaign_runs"));

        // A stopped process's PostgreSQL session ends when its backend notices the closed socket, which on a loaded
        // machine can be after this point: its transaction's row locks would make the run skip the campaign (SKIP LOCKED,
        // as for a run another replica holds), and CI once saw only the 1,400 pushed before the kill. The next scheduled
        // run finds them released; this waits for PostgreSQL to end that transaction (the table locks conflict with its).
        await h.ExecuteAsync("DO $$ BEGIN LOCK TABLE cortex.campaign_runs, cortex.dispatch_ledger IN EXCLUSIVE MODE; END $$");
        await h.Campaigns.RunAsync(default);

        var ids = (await h.QueuedAsync()).Select(m => m.Envelope.Id).ToList();
        Assert.Equal(Recipients, ids.Distinct().Count());
        Assert.InRange(ids.Count - Recipients, 0, copiesAllowed);
        Assert.Equal($"completed|{Recipients}", await h.ScalarAsync<string>("SELECT status || '|' || enqueued FROM cortex.campaign_runs"));
    }
}
