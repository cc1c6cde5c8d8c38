using System.Net;
using Cortex.Scheduler.Data;
using Cortex.Scheduler.Metrics;
using Cortex.Scheduler.Outbox;
using Cortex.Scheduler.Scheduling;
using Cortex.Scheduler.Tests.Infrastructure;
using Cortex.Shared.Contract;
using Cortex.Shared.Metrics;
using Cortex.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using Npgsql;
using Quartz;

namespace Cortex.Scheduler.Tests;

/// <summary>The scheduler as Program.cs runs it: jobs plus /metrics and /health, against real PostgreSQL and Redis.</summary>
public class SchedulerApplicationTests(SchedulerFixture fixture) : IClassFixture<SchedulerFixture>
{
    // Without a Database the endpoint read "127.0.0.1:1/", as if something were cut off.
    [Theory]
    [InlineData("Host=127.0.0.1;Port=1;Database=cortex;Username=cortex;Password=s3cret-pw;Timeout=2", "127.0.0.1:1/cortex")]
    [InlineData("Host=127.0.0.1;Port=1;Username=cortex;Password=s3cret-pw;Timeout=2", "127.0.0.1:1")]
    public async Task Migrate_PostgresUnreachable_Exits69NamingTheEndpointNotThePassword(string connectionString, string endpoint)
    {
        await using var app = SchedulerApplication.Build([], b => b.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Cortex:Postgres:ConnectionString"] = connectionString,
            ["Cortex:Observability:Port"] = "0",
        }));
        using var output = new StringWriter();
        using var error = new StringWriter();

        var exitCode = await SchedulerApplication.MigrateAsync(app, output, error);

        Assert.True(exitCode == SchedulerApplication.UnavailableExitCode, $"exit {exitCode}: {error}");
        Assert.StartsWith($"PostgreSQL is unreachable at {endpoint} (Cortex:Postgres:ConnectionString): ", error.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("s3cret-pw", error.ToString(), StringComparison.Ordinal);
        Assert.Empty(output.ToString());
    }

    [Fact]
    public async Task Migrate_TwiceOnAnEmptyDatabase_AppliesThenSaysUpToDate()
    {
        var database = await fixture.Postgres.CreateDatabaseAsync();
        async Task<(int, string)> MigrateOnceAsync()
        {
            await using var app = SchedulerApplication.Build([], b => b.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Cortex:Postgres:ConnectionString"] = database,
                ["Cortex:Observability:Port"] = "0",
            }));
            using var output = new StringWriter();
            var exitCode = await SchedulerApplication.MigrateAsync(app, output, TextWriter.Null);
            return (exitCode, output.ToString().Trim());
        }

        Assert.Equal((0, "applied 0001_cortex_schema, 0002_quartz_tables, 0003_template_fallbacks, 0004_withdrawn_messages, 0005_conversations_closed_by, 0006_campaign_cron_changed_at, 0007_campaign_recipients_phone, 0008_campaign_runs_expired"), await MigrateOnceAsync());
        Assert.Equal((0, "database is up to date"), await MigrateOnceAsync());
    }

    [Fact]
    public async Task Migrate_RoleWithoutTheRightToCreate_NamesTheRightOnAFreshDatabaseAndFindsNothingToDoOnAMigratedOne()
    {
        // A DBA's set-up: the migrations applied by an owner, the service's role given only what running Cortex takes.
        var database = await fixture.Postgres.CreateDatabaseAsync();
        var role = "app_" + Guid.NewGuid().ToString("N")[..8];
        var asRole = new NpgsqlConnectionStringBuilder(database) { Username = role, Password = "app-pw" }.ConnectionString;
        await ExecuteAsync(database, $"CREATE ROLE {role} LOGIN PASSWORD 'app-pw'");

        var (exitCode, output, error) = await MigrateAsync(asRole);

        Assert.True(exitCode == SchedulerApplication.UnavailableExitCode, $"exit {exitCode}: {error}");
        Assert.Contains("refused the role of Cortex:Postgres:ConnectionString a right it needs: permission denied for database", error, StringComparison.Ordinal);
        Assert.Contains("Cortex:Scheduler:ApplyMigrations=false", error, StringComparison.Ordinal);
        Assert.DoesNotContain("app-pw", error, StringComparison.Ordinal);

        Assert.Equal(0, (await MigrateAsync(database)).ExitCode);
        await ExecuteAsync(database, $"GRANT USAGE ON SCHEMA cortex TO {role}; GRANT SELECT ON cortex.schema_migrations TO {role}");

        Assert.Equal((0, "database is up to date", string.Empty), await MigrateAsync(asRole));

        // Or the DBA creates the schema for the role and lets it apply the migrations itself.
        var prepared = await fixture.Postgres.CreateDatabaseAsync();
        var preparedAsRole = new NpgsqlConnectionStringBuilder(prepared) { Username = role, Password = "app-pw" }.ConnectionString;
        await ExecuteAsync(prepared, $"CREATE SCHEMA cortex AUTHORIZATION {role}; GRANT CREATE ON SCHEMA public TO {role}");

        Assert.Equal(0, (await MigrateAsync(preparedAsRole)).ExitCode);
        await using var preparedSource = NpgsqlDataSource.Create(prepared);
        Assert.Equal(Migrator.All.Select(m => m.Version), await new Migrator(preparedSource).AppliedAsync());

        static async Task<(int ExitCode, string Output, string Error)> MigrateAsync(string connectionString)
        {
            await using var app = SchedulerApplication.Build([], b => b.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Cortex:Postgres:ConnectionString"] = connectionString,
                ["Cortex:Observability:Port"] = "0",
            }));
            using var output = new StringWriter();
            using var error = new StringWriter();
            var exitCode = await SchedulerApplication.MigrateAsync(app, output, error);
            return (exitCode, output.ToString().Trim(), error.ToString().Trim());
        }

        static async Task ExecuteAsync(string connectionString, string sql)
        {
            await using var dataSource = NpgsqlDataSource.Create(connectionString);
            await using var command = dataSource.CreateCommand(sql);
            await command.ExecuteNonQueryAsync();
        }
    }

    [Fact]
    public async Task Ledger_AsTheApplicationBuildsIt_ListensForTheWatchdogsVerdict()
    {
        // A push sent on a connection the watchdog found dead is given up at the stop, not after 5 s of grace
        // (PushAtStopTests); that needs the ledger to be handed the watchdog's token, which None could never cancel.
        await using var app = SchedulerApplication.Build([], b => b.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Cortex:Postgres:ConnectionString"] = "Host=127.0.0.1;Database=cortex;Username=cortex",
            ["Cortex:Redis:Configuration"] = fixture.Redis.Configuration,
            ["Cortex:Observability:Port"] = "0",
        }));

        Assert.True(app.Services.GetRequiredService<DispatchLedger>().ConnectionDead.CanBeCanceled);
    }

    [Fact]
    public async Task Metrics_OutboxAndCampaignsBeforeAJob_ThenItsRunPushesAndQueueDepth_WithNoSenderRunning()
    {
        await using var app = await StartAsync(await fixture.CreateMigratedDatabaseAsync());
        await SeedAsync(app.Services);
        using var client = new OperationsClient(app);
        var queue = app.Services.GetRequiredService<Cortex.Shared.Queue.IMessageQueue>().Keys.Name;

        var before = await client.ScrapeAsync();
        Assert.Equal(2, before.Value("cortex_scheduler_outbox_pending"));
        Assert.Equal(10, before.Value("cortex_scheduler_campaign_recipients", ("state", "total")));
        Assert.Equal(4, before.Value("cortex_scheduler_campaign_recipients", ("state", "enqueued")));
        Assert.Equal(1, before.Value("cortex_scheduler_campaign_recipients", ("state", "skipped")));
        Assert.Equal(0, before.Value("cortex_queue_depth", ("queue", queue), ("state", "ready"), ("priority", "normal")));
        Assert.Equal(0, before.Value("cortex_scheduler_job_runs_total", ("quartz_job", OutboxRepairJob.JobName), ("outcome", "failure")));
        Assert.Equal(0, before.Value("cortex_scheduler_job_runs_total", ("quartz_job", OutboxRepairJob.JobName), ("outcome", "success")));

        var scheduler = await app.Services.GetRequiredService<ISchedulerFactory>().GetScheduler();
        await scheduler.TriggerJob(new JobKey(OutboxRepairJob.JobName, JobSchedule.Group));
        IReadOnlyList<PrometheusText.Sample> after = [];
        // A scrape reads the queue depth from Redis and the success time (observable gauges) before it reads the job
        // counters: one that began while the job was pushing or ending can show the run counted and those not yet. The
        // next one shows them all.
        await WaitForAsync(async () => (after = await client.ScrapeAsync()).Value("cortex_scheduler_job_runs_total", ("quartz_job", OutboxRepairJob.JobName), ("outcome", "success")) == 1
            && after.Value("cortex_queue_depth", ("queue", queue), ("state", "ready"), ("priority", "normal")) == 2
            && after.Value("cortex_scheduler_job_last_success_timestamp_seconds", ("quartz_job", OutboxRepairJob.JobName)) is not null);

        var lint = await Promtool.CheckMetricsAsync(await client.ScrapeTextAsync());
        Assert.True(lint.ExitCode == 0 && lint.Output.Length == 0, $"promtool check metrics on a real scheduler scrape: {lint}");
        Assert.Equal(2, after.Value("cortex_scheduler_enqueued_total", ("quartz_job", OutboxRepairJob.JobName)));
        Assert.Equal(1, after.Value("cortex_scheduler_job_duration_seconds_count", ("quartz_job", OutboxRepairJob.JobName)));
        Assert.NotNull(after.Value("cortex_scheduler_job_last_success_timestamp_seconds", ("quartz_job", OutboxRepairJob.JobName)));
        Assert.Equal(0, after.Value("cortex_scheduler_outbox_pending"));

        // The depth a KEDA scaler or an alert needs while zero senders run comes from the scheduler.
        Assert.Equal(2, after.Value("cortex_queue_depth", ("queue", queue), ("state", "ready"), ("priority", "normal")));
        Assert.NotNull(after.Value("cortex_queue_oldest_ready_timestamp_seconds", ("queue", queue)));
    }

    [Fact]
    public async Task Metrics_AnotherScrapeCollectingMeanwhile_StillHasTheOutboxAndCampaignSeries()
    {
        // Two Prometheus servers, or Prometheus and an operator's curl: a collection that began by clearing the shared
        // snapshot emptied the one another scrape had just collected and was about to write.
        await using var app = await StartAsync(await fixture.CreateMigratedDatabaseAsync());
        await SeedAsync(app.Services);
        var metrics = app.Services.GetRequiredService<SchedulerMetrics>();
        var exporter = app.Services.GetRequiredService<PrometheusExporter>();
        var dataSource = app.Services.GetRequiredService<NpgsqlDataSource>();
        await metrics.CollectAsync(CancellationToken.None);

        // The second collection waits on a lock of the campaign runs, as it would behind a slow PostgreSQL.
        await using var locker = await dataSource.OpenConnectionAsync();
        await using var transaction = await locker.BeginTransactionAsync();
        await using (var lockRuns = new NpgsqlCommand("LOCK TABLE cortex.campaign_runs IN ACCESS EXCLUSIVE MODE", locker, transaction))
        {
            await lockRuns.ExecuteNonQueryAsync();
        }

        var second = metrics.CollectAsync(CancellationToken.None);
        await WaitForAsync(async () =>
        {
            await using var waiting = dataSource.CreateCommand("SELECT count(*) FROM pg_locks WHERE relation = 'cortex.campaign_runs'::regclass AND NOT granted");
            return (long)(await waiting.ExecuteScalarAsync())! > 0;
        });
        var first = PrometheusText.Parse(exporter.Scrape());
        await transaction.RollbackAsync();
        await second;

        Assert.Equal(2, first.Value("cortex_scheduler_outbox_pending"));
        Assert.Equal(10, first.Value("cortex_scheduler_campaign_recipients", ("state", "total")));
    }

    [Fact]
    public async Task OutboxRepair_AHeldMessageWhosePhoneOptedOut_IsWithdrawnAndCounted()
    {
        await using var app = await StartAsync(await fixture.CreateMigratedDatabaseAsync());
        var ledger = app.Services.GetRequiredService<DispatchLedger>();
        var dataSource = app.Services.GetRequiredService<NpgsqlDataSource>();
        var queue = app.Services.GetRequiredService<Cortex.Shared.Queue.IMessageQueue>();
        var held = ledger.Prepare(new Envelope { Id = "campaign:1:0:9", To = "+5511900000009", Text = "Oi!", Kind = "campaign", NotBefore = TimeProvider.System.GetUtcNow().AddMinutes(5) });
        await using (var connection = await dataSource.OpenConnectionAsync())
        {
            await DispatchLedger.InsertAsync(connection, [held], default);
        }

        Assert.Equal(1, await ledger.PublishPendingAsync(10, default));
        await using (var optOut = dataSource.CreateCommand("INSERT INTO cortex.opt_outs (phone) VALUES ('+5511900000009')"))
        {
            await optOut.ExecuteNonQueryAsync();
        }

        using var client = new OperationsClient(app);
        var scheduler = await app.Services.GetRequiredService<ISchedulerFactory>().GetScheduler();
        await scheduler.TriggerJob(new JobKey(OutboxRepairJob.JobName, JobSchedule.Group));
        await WaitForAsync(async () => (await client.ScrapeAsync()).Value("cortex_scheduler_withdrawn_total", ("kind", "campaign"), ("reason", "opted out")) == 1);

        Assert.Equal(0, (await queue.GetStatsAsync()).Delayed);
        await using var status = dataSource.CreateCommand("SELECT status || '|' || withdrawn_reason FROM cortex.dispatch_ledger");
        Assert.Equal("withdrawn|opted out", await status.ExecuteScalarAsync());
    }

    [Fact]
    public async Task Health_AsTheApplicationBuildsIt_EveryCheckHasTheConfiguredTimeout()
    {
        // The PostgreSQL check is registered after the operations endpoints set the timeout, and it had none: a PostgreSQL
        // that stopped answering held /health/ready until the kubelet gave up, and no line said which check hung.
        await using var app = SchedulerApplication.Build([], builder => builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Cortex:Postgres:ConnectionString"] = "Host=127.0.0.1;Username=cortex;Database=cortex",
            ["Cortex:Observability:HealthCheckTimeout"] = "00:00:02",
        }));

        var registrations = app.Services.GetRequiredService<IOptions<HealthCheckServiceOptions>>().Value.Registrations;

        Assert.Equal(["postgres", "redis"], registrations.Select(r => r.Name).Order());
        Assert.All(registrations, r => Assert.Equal(TimeSpan.FromSeconds(2), r.Timeout));
    }

    [Fact]
    public async Task Health_PostgresStops_ReadyIs503NamingPostgresAndLiveStays200()
    {
        await using var postgres = await PostgresServer.StartAsync();
        var database = await postgres.CreateDatabaseAsync();
        await using var app = await StartAsync(database);
        using var client = new OperationsClient(app);
        var (upStatus, up) = await client.HealthAsync("/health/ready");
        Assert.Equal(HttpStatusCode.OK, upStatus);
        Assert.Equal("Healthy", up.GetProperty("checks").GetProperty("postgres").GetProperty("status").GetString());

        await postgres.StopAsync();

        var (status, body) = await client.HealthAsync("/health/ready");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
        var check = body.GetProperty("checks").GetProperty("postgres");
        Assert.Equal("Unhealthy", check.GetProperty("status").GetString());
        Assert.StartsWith("PostgreSQL unreachable", check.GetProperty("description").GetString(), StringComparison.Ordinal);
        Assert.Equal("Healthy", body.GetProperty("checks").GetProperty("redis").GetProperty("status").GetString());
        Assert.Equal(HttpStatusCode.OK, (await client.HealthAsync("/health/live")).Status);
    }

    [Fact]
    public async Task Health_PostgresPasswordRotatedWhileRunning_ReadySaysTheLoginIsRefused_NotThatPostgresIsAway()
    {
        const string Before = "pg-before-rotation-58c2";
        const string After = "pg-after-rotation-91d7";
        await using var postgres = await PostgresServer.StartAsync(Before);
        var database = await postgres.CreateDatabaseAsync();
        await using var app = await StartAsync(database);
        using var client = new OperationsClient(app);
        Assert.Equal(HttpStatusCode.OK, (await client.HealthAsync("/health/ready")).Status);

        // The password changed in PostgreSQL and the service not restarted: its pooled connections keep working until
        // they are closed, and then every new login is refused.
        await PostgresServer.RotatePasswordAsync(database, After);

        string? description = null;
        await WaitForAsync(async () =>
        {
            var (status, body) = await client.HealthAsync("/health/ready");
            description = body.GetProperty("checks").GetProperty("postgres").GetProperty("description").GetString();
            return status == HttpStatusCode.ServiceUnavailable && description!.StartsWith("PostgreSQL refuses", StringComparison.Ordinal);
        });

        Assert.Equal(
            "PostgreSQL refuses this service's login (28P01): the user or password of Cortex:Postgres:ConnectionString; restart it with the ones PostgreSQL takes",
            description);
        Assert.Equal(HttpStatusCode.OK, (await client.HealthAsync("/health/live")).Status);
    }

    [Fact]
    public async Task Health_RedisAway_ReadyIs503NamingRedisThenReadyAgainByItself()
    {
        await using var redis = await RedisServer.StartAsync();
        var database = await fixture.Postgres.CreateDatabaseAsync();
        await using var app = await StartAsync(database, redis.Configuration);
        using var client = new OperationsClient(app);
        Assert.Equal(HttpStatusCode.OK, (await client.HealthAsync("/health/ready")).Status);

        await redis.KillAsync();

        // Not ready (Kubernetes takes the pod out of rotation), but alive: no restart for an outage it can wait out.
        var (status, body) = await client.HealthAsync("/health/ready");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
        Assert.StartsWith("Redis unreachable", body.GetProperty("checks").GetProperty("redis").GetProperty("description").GetString(), StringComparison.Ordinal);
        Assert.Equal("Healthy", body.GetProperty("checks").GetProperty("postgres").GetProperty("status").GetString());
        Assert.Equal(HttpStatusCode.OK, (await client.HealthAsync("/health/live")).Status);

        await redis.RestartAsync();
        await WaitForAsync(async () => (await client.HealthAsync("/health/ready")).Status == HttpStatusCode.OK);
    }

    // A row skipped as invalid (warning 2001) was only in the run's log line: a producer view or a template change that
    // made thousands of rows invalid showed nowhere on the dashboard.
    [Fact]
    public async Task Metrics_BillingRunWithARowThatMakesNoValidMessage_CountsItAsInvalidForTheJob()
    {
        var database = await fixture.CreateMigratedDatabaseAsync();
        await using var app = SchedulerApplication.Build([], builder => builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Cortex:Postgres:ConnectionString"] = database,
            ["Cortex:Redis:Configuration"] = fixture.Redis.Configuration,
            ["Cortex:Queue:Name"] = RedisFixture.UniqueQueueName(),
            ["Cortex:Observability:Port"] = "0",
            ["Cortex:Scheduler:InstanceName"] = "t" + Guid.NewGuid().ToString("N")[..8],
            ["Cortex:Scheduler:Billing:Cron"] = "0 0 0 1 1 ? 2099",
            ["Cortex:Scheduler:Billing:Offsets"] = "0",
            ["Cortex:Scheduler:QuietHours:Start"] = "00:00:00",
            ["Cortex:Scheduler:QuietHours:End"] = "00:00:00",
            ["Cortex:Scheduler:FollowUps:Enabled"] = "false",
            ["Cortex:Scheduler:Campaigns:Enabled"] = "false",
            ["Cortex:Scheduler:OutboxRepairCron"] = "0 0 0 1 1 ? 2099",
        }));
        await app.StartAsync();
        await using (var connection = await app.Services.GetRequiredService<NpgsqlDataSource>().OpenConnectionAsync())
        {
            // Due today where the scheduler runs; charge 2's reminder is over WhatsApp's 4,096 characters once rendered.
            await using var command = new NpgsqlCommand(
                """
                INSERT INTO cortex.charges (id, customer_name, phone, amount, due_date)
                VALUES (1, 'Ana', '+5511987650001', 10, @today), (2, repeat('x', 5000), '+5511987650002', 10, @today)
                """,
                connection);
            command.Parameters.AddWithValue("today", app.Services.GetRequiredService<Cortex.Scheduler.Billing.BillingReminders>().Today());
            await command.ExecuteNonQueryAsync();
        }

        using var client = new OperationsClient(app);
        Assert.Equal(0, (await client.ScrapeAsync()).Value("cortex_scheduler_invalid_rows_total", ("quartz_job", BillingReminderJob.JobName)));
        var scheduler = await app.Services.GetRequiredService<ISchedulerFactory>().GetScheduler();
        await scheduler.TriggerJob(new JobKey(BillingReminderJob.JobName, JobSchedule.Group));
        IReadOnlyList<PrometheusText.Sample> after = [];
        await WaitForAsync(async () => (after = await client.ScrapeAsync()).Value("cortex_scheduler_job_runs_total", ("quartz_job", BillingReminderJob.JobName), ("outcome", "success")) == 1);

        Assert.Equal(1, after.Value("cortex_scheduler_invalid_rows_total", ("quartz_job", BillingReminderJob.JobName)));
        Assert.Equal(1, after.Value("cortex_scheduler_enqueued_total", ("quartz_job", BillingReminderJob.JobName)));
        Assert.Equal(0, after.Value("cortex_scheduler_invalid_rows_total", ("quartz_job", FollowUpJob.JobName)));
    }

    // Two ledger rows committed but not pushed (as after a crash between commit and push), and a campaign mid-run.
    private static async Task SeedAsync(IServiceProvider services)
    {
        var ledger = services.GetRequiredService<DispatchLedger>();
        await using var connection = await services.GetRequiredService<NpgsqlDataSource>().OpenConnectionAsync();
        var entries = Enumerable.Range(1, 2).Select(i => ledger.Prepare(new Envelope { Id = $"repair-{i}", To = "+5511987654321", Text = "oi", Kind = "billing" })).ToList();
        await DispatchLedger.InsertAsync(connection, entries, CancellationToken.None);
        await using var command = new NpgsqlCommand(
            """
            WITH c AS (INSERT INTO cortex.campaigns (name, template_key, run_at) VALUES ('bf', 'promo', now()) RETURNING id)
            INSERT INTO cortex.campaign_runs (campaign_id, fire_time, total, enqueued, skipped) SELECT id, now(), 10, 4, 1 FROM c
            """,
            connection);
        await command.ExecuteNonQueryAsync();
    }

    [Fact]
    public async Task PostgresSessions_AsTheApplicationOpensThem_EndAnIdleTransactionAndNameQuartzsApart()
    {
        // A node lost mid-transaction left its session idle in it, holding Quartz's lock row or ledger rows, until the
        // server's TCP keepalives gave up on it: about two hours by default, with no firing on any node meanwhile.
        await using var app = await StartAsync(await fixture.CreateMigratedDatabaseAsync());
        var dataSource = app.Services.GetRequiredService<NpgsqlDataSource>();

        Assert.Equal(["2min", "60", "10", "6"], await ShowAsync(dataSource, "idle_in_transaction_session_timeout", "tcp_keepalives_idle", "tcp_keepalives_interval", "tcp_keepalives_count"));

        // Quartz connects with the same settings: its sessions carry the name they were given with them.
        var names = new List<string>();
        await WaitForAsync(async () =>
        {
            await using var command = dataSource.CreateCommand("SELECT application_name FROM pg_stat_activity WHERE datname = current_database()");
            await using var reader = await command.ExecuteReaderAsync();
            names.Clear();
            while (await reader.ReadAsync())
            {
                names.Add(reader.GetString(0));
            }

            return names.Any(n => n.EndsWith(" quartz", StringComparison.Ordinal));
        });
        Assert.Contains(names, n => n.Length > 0 && !n.EndsWith(" quartz", StringComparison.Ordinal));
    }

    private static async Task<List<string>> ShowAsync(NpgsqlDataSource dataSource, params string[] settings)
    {
        var values = new List<string>();
        foreach (var setting in settings)
        {
            await using var command = dataSource.CreateCommand("SHOW " + setting);
            values.Add((string)(await command.ExecuteScalarAsync())!);
        }

        return values;
    }

    private async Task<WebApplication> StartAsync(string database, string? redis = null)
    {
        var app = SchedulerApplication.Build([], builder => builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Cortex:Postgres:ConnectionString"] = database,
            ["Cortex:Redis:Configuration"] = redis ?? fixture.Redis.Configuration,
            ["Cortex:Queue:Name"] = RedisFixture.UniqueQueueName(),
            ["Cortex:Observability:Port"] = "0",
            ["Cortex:Scheduler:InstanceName"] = "t" + Guid.NewGuid().ToString("N")[..8],
            ["Cortex:Scheduler:Billing:Enabled"] = "false",
            ["Cortex:Scheduler:FollowUps:Enabled"] = "false",
            ["Cortex:Scheduler:Campaigns:Enabled"] = "false",

            // Only the trigger below runs it: a firing of its own would make the counts racy.
            ["Cortex:Scheduler:OutboxRepairCron"] = "0 0 0 1 1 ? 2099",
        }));
        await app.StartAsync();
        return app;
    }

    private static async Task WaitForAsync(Func<Task<bool>> condition)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (!await condition())
        {
            await Task.Delay(20, timeout.Token);
        }
    }
}
