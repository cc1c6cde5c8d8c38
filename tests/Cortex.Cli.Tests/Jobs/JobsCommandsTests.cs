using System.Globalization;
using System.Text.Json;
using Cortex.Cli.Tests.Infrastructure;
using Cortex.Scheduler.Scheduling;
using Cortex.Shared.Contract;
using Cortex.Testing;
using Quartz;

namespace Cortex.Cli.Tests.Jobs;

[Collection(DatabaseCollection.Name)]
public sealed class JobsCommandsTests(CliFixture fixture)
{
    private static readonly string[] s_jobs = ["billing-reminders", "conversation-follow-ups", "campaigns", "outbox-repair"];

    [Fact]
    public async Task List_NoNodeHasStarted_ShowsEveryJobAsNotRegistered()
    {
        var cli = await fixture.DatabaseAsync();

        var table = await cli.RunAsync("jobs", "list");
        var json = await ListJsonAsync(cli);

        Assert.True(table.ExitCode == 0, table.ToString());
        Assert.Contains("not registered (no scheduler node has started)", table.Out, StringComparison.Ordinal);
        Assert.Equal(s_jobs, json.Select(j => j.GetProperty("name").GetString()));
        Assert.All(json, j => Assert.False(j.GetProperty("registered").GetBoolean()));

        // A script reading --json got the table's dash ("–") as the state of a job no node has registered.
        Assert.All(json, j => Assert.Equal(JsonValueKind.Null, j.GetProperty("state").ValueKind));
    }

    [Fact]
    public async Task List_JobsRegistered_ShowsCronZoneStateAndNextFireTime()
    {
        var cli = await fixture.DatabaseAsync();
        await SchedulerNode.RegisterJobsAsync(cli.Postgres!);

        var table = await cli.RunAsync("jobs", "list");
        var json = await ListJsonAsync(cli);

        Assert.True(table.ExitCode == 0, table.ToString());
        Assert.Contains("0 0 9 * * ?", table.Out, StringComparison.Ordinal);
        Assert.Contains("America/Sao_Paulo", table.Out, StringComparison.Ordinal);
        Assert.Equal(s_jobs, json.Select(j => j.GetProperty("name").GetString()));
        var billing = json[0];
        Assert.True(billing.GetProperty("registered").GetBoolean());
        Assert.Equal("0 0 9 * * ?", billing.GetProperty("cron").GetString());
        Assert.Equal("America/Sao_Paulo", billing.GetProperty("timeZone").GetString());
        Assert.Equal("Normal", billing.GetProperty("state").GetString());
        Assert.Equal(JsonValueKind.Null, billing.GetProperty("previousFireTime").ValueKind);
        var next = billing.GetProperty("nextFireTime").GetDateTimeOffset();
        Assert.Equal(new TimeSpan(9, 0, 0), TimeZoneInfo.ConvertTime(next, TimeZoneInfo.FindSystemTimeZoneById("America/Sao_Paulo")).TimeOfDay);
        Assert.All(json, j => Assert.Equal(0, j.GetProperty("pendingManualTriggers").GetInt32()));
    }

    [Fact]
    public async Task Trigger_StoresOneFiringForTheClusterAndExecutesNothingItself()
    {
        var cli = await fixture.DatabaseAsync();
        await SchedulerNode.RegisterJobsAsync(cli.Postgres!);

        var result = await cli.RunAsync("jobs", "trigger", "outbox-repair");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("triggered outbox-repair", result.Out, StringComparison.Ordinal);
        Assert.Equal("WAITING", await cli.ScalarAsync<string>(
            "SELECT trigger_state FROM qrtz_triggers WHERE sched_name = 'cortex' AND job_name = 'outbox-repair' AND trigger_type <> 'CRON'"));

        // The CLI's scheduler never started: it did not join the cluster, fire, or run the job.
        Assert.Equal(0L, await cli.ScalarAsync<long>("SELECT count(*) FROM qrtz_scheduler_state"));
        Assert.Equal(0L, await cli.ScalarAsync<long>("SELECT count(*) FROM qrtz_fired_triggers"));
        var listed = (await ListJsonAsync(cli)).Single(j => j.GetProperty("name").GetString() == "outbox-repair");
        Assert.Equal(1, listed.GetProperty("pendingManualTriggers").GetInt32());
    }

    [Fact]
    public async Task List_UnmigratedDatabase_SaysToMigrate()
    {
        var cli = new CliDriver(new FakeTimeProvider()) { Postgres = await fixture.Postgres.CreateDatabaseAsync() };

        var result = await cli.RunAsync("jobs", "list");

        Assert.True(result.ExitCode == 1, result.ToString());
        Assert.Contains("Run 'cortex migrate'", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task List_PostgresUnreachable_Exits69()
    {
        var cli = new CliDriver(new FakeTimeProvider()) { Postgres = "Host=127.0.0.1;Port=1;Username=postgres;Timeout=2" };

        var result = await cli.RunAsync("jobs", "list");

        Assert.True(result.ExitCode == 69, result.ToString());
        Assert.Contains("PostgreSQL is unreachable at 127.0.0.1:1", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Trigger_UnknownJob_ExitsTwoListingTheJobs()
    {
        var cli = await fixture.DatabaseAsync();

        var result = await cli.RunAsync("jobs", "trigger", "billing");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("no job 'billing'; the jobs are: billing-reminders, conversation-follow-ups, campaigns, outbox-repair", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Trigger_JobNotRegisteredYet_ExitsOneAndStoresNothing()
    {
        var cli = await fixture.DatabaseAsync();

        var result = await cli.RunAsync("jobs", "trigger", "campaigns");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("no scheduler node has started", result.Error, StringComparison.Ordinal);
        Assert.Equal(0L, await cli.ScalarAsync<long>("SELECT count(*) FROM qrtz_triggers"));
    }

    [Fact]
    public async Task List_BillingDayOwed_ShowsTheUnfinishedDayNotAManualFiring()
    {
        var cli = await fixture.DatabaseAsync();
        var day = new DateOnly(2026, 12, 4);
        await SchedulerNode.RegisterJobsAsync(cli.Postgres!, scheduler => scheduler.ScheduleJob(
            OwedDays.Trigger(new JobKey("billing-reminders", JobSchedule.Group), day), new ScheduleJobOptions()).AsTask());

        var table = await cli.RunAsync("jobs", "list");
        var billing = (await ListJsonAsync(cli)).Single(j => j.GetProperty("name").GetString() == "billing-reminders");

        // A run cut short left the day to a node: the operator sees which day, and that nothing needs triggering by hand.
        Assert.True(table.ExitCode == 0, table.ToString());
        Assert.Contains("unfinished day(s) 2026-12-04: a running node resumes it", table.Out.ReplaceLineEndings(" "), StringComparison.Ordinal);
        Assert.Equal(["2026-12-04"], billing.GetProperty("unfinishedDays").EnumerateArray().Select(d => d.GetString()));
        Assert.Equal(0, billing.GetProperty("pendingManualTriggers").GetInt32());
    }

    [Fact]
    public async Task Trigger_WithARunningNode_TheNodeRunsTheJobOnce()
    {
        // Quartz stamps the manual firing with the CLI's clock; the node runs on the real one, so they must agree here.
        var cli = await fixture.DatabaseAsync(new FakeTimeProvider(TimeProvider.System.GetUtcNow()));
        await cli.ExecuteAsync("INSERT INTO cortex.message_templates (key, body) VALUES ('promo.cli', 'Oi {name}!')");
        var recipients = Path.Combine(Path.GetTempPath(), "cortex-cli-" + Guid.NewGuid().ToString("N") + ".csv");
        await File.WriteAllTextAsync(recipients, "+5511900000001,Ana\n+5511900000002,Bruno\n");
        var created = await cli.RunAsync("campaign", "create", "--name", "Promo", "--template", "promo.cli", "--run-at", cli.Time.GetUtcNow().ToString("O", CultureInfo.InvariantCulture), "--recipients", recipients);
        File.Delete(recipients);
        Assert.True(created.ExitCode == 0, created.ToString());

        // The node's own schedules never fire the campaign job: only the CLI's trigger can. Billing fires every 2 s (and
        // finds nothing), so the node looks at the store often.
        const string never = "0 0 0 1 1 ? 2099";
        await using var node = SchedulerNode.Start(new Dictionary<string, string>
        {
            ["Cortex__Postgres__ConnectionString"] = cli.Postgres!,
            ["Cortex__Redis__Configuration"] = fixture.Redis.Configuration,
            ["Cortex__Queue__Name"] = cli.QueueName!,
            ["Cortex__Scheduler__ApplyMigrations"] = "false",
            ["Cortex__Scheduler__Billing__Cron"] = "*/2 * * * * ?",
            ["Cortex__Scheduler__FollowUps__Cron"] = never,
            ["Cortex__Scheduler__Campaigns__Cron"] = never,
            ["Cortex__Scheduler__OutboxRepairCron"] = never,
            ["Cortex__Scheduler__QuietHours__Start"] = "00:00:00",
            ["Cortex__Scheduler__QuietHours__End"] = "00:00:00",
        });
        await Eventually.TrueAsync(
            async () => await cli.ScalarAsync<long>("SELECT count(*) FROM qrtz_triggers WHERE job_name = 'billing-reminders' AND trigger_type = 'CRON' AND coalesce(prev_fire_time, -1) > 0") > 0,
            TimeSpan.FromSeconds(60),
            () => "the node never ran billing: " + node.Output);
        Assert.Equal(0L, await cli.ScalarAsync<long>("SELECT count(*) FROM cortex.campaign_runs"));

        var result = await cli.RunAsync("jobs", "trigger", "campaigns");

        Assert.True(result.ExitCode == 0, result.ToString());
        // The run is marked completed in the transaction that writes the last ledger rows; the push to Redis follows it
        // (transactional outbox), so wait for the rows to be enqueued, not for the run's status.
        await Eventually.TrueAsync(
            async () => await cli.ScalarAsync<string>("SELECT status FROM cortex.campaign_runs") == "completed"
                && await cli.ScalarAsync<long>("SELECT count(*) FROM cortex.dispatch_ledger WHERE status = 'enqueued'") == 2,
            TimeSpan.FromSeconds(60),
            () => "the campaign never ran: " + node.Output);
        Assert.Equal(["+5511900000001", "+5511900000002"], (await fixture.Connection.ReadyAsync(cli.Keys, Priority.Low)).Select(m => m.To).Order());
        Assert.Equal(1L, await cli.ScalarAsync<long>("SELECT count(*) FROM cortex.campaign_runs"));

        // Quartz deletes the one-shot trigger once the job has returned, after its last push: wait for that, not race it.
        await Eventually.TrueAsync(
            async () => await cli.ScalarAsync<long>("SELECT count(*) FROM qrtz_triggers WHERE job_name = 'campaigns' AND trigger_type <> 'CRON'") == 0,
            TimeSpan.FromSeconds(30),
            () => "the CLI's one-shot trigger was never removed: " + node.Output);
    }

    private static async Task<List<JsonElement>> ListJsonAsync(CliDriver cli)
    {
        var result = await cli.RunAsync("jobs", "list", "--json");
        Assert.True(result.ExitCode == 0, result.ToString());
        using var json = JsonDocument.Parse(result.Out);
        return json.RootElement.EnumerateArray().Select(e => e.Clone()).ToList();
    }
}
