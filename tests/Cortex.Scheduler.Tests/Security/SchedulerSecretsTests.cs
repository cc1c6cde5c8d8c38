using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Cortex.Scheduler.Scheduling;
using Cortex.Scheduler.Tests.Infrastructure;
using Cortex.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Npgsql;
using Quartz;
using StackExchange.Redis;
using Xunit.Abstractions;

namespace Cortex.Scheduler.Tests.Security;

/// <summary>
/// Issue #7 for the scheduler: secrets never reach its logs, exceptions, metrics or what it writes to Redis. A real
/// scheduler over a PostgreSQL that asks for a password and a Redis with requirepass, the admin token set, everything
/// logged down to Trace; then every captured line with its exception text, the /metrics scrape and every value in Redis
/// is searched for the PostgreSQL password, the Redis password, the admin token, and (in logs and metrics) the full
/// phone numbers of the rows it read. The failure paths a wrong PostgreSQL password takes are searched the same way.
/// </summary>
public sealed class SchedulerSecretsTests(ITestOutputHelper output)
{
    private const string PostgresPassword = "pg-secret-6e1f09c3a7d45b";
    private const string WrongPostgresPassword = "pg-wrong-2b7c5e8d90f13a";
    private const string RedisPassword = "redis-secret-8d3a5f2c19";
    private const string AdminToken = "admin-token-3f8b1d6e9a2c7b5d";
    private const string Never = "0 0 0 1 1 ? 2099";

    // 09:00 in São Paulo on the charges' due date: outside quiet hours, so every reminder is ready at once.
    private static readonly DateTimeOffset s_morning = new(2026, 11, 20, 12, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan s_hangGuard = TimeSpan.FromSeconds(90);
    private static readonly string[] s_secrets = [PostgresPassword, WrongPostgresPassword, RedisPassword, AdminToken];

    // Charges 1-4 are reminded, 5 has opted out, 6 makes no valid message; campaign recipients 1-3 get it, 4 lacks a variable.
    private static readonly string[] s_chargePhones = ["+5511987650001", "+5521976540002", "+5531965430003", "+5541954320004", "+5551943210005", "+5561932100006"];
    private static readonly string[] s_campaignPhones = ["+5511912340011", "+5521923450012", "+5531934560013", "+5541945670014"];

    [Fact]
    public async Task FullRun_AtTrace_NoSecretInLogsExceptionsMetricsOrRedis_NoFullNumberInLogsOrMetrics()
    {
        var postgresStarting = PostgresServer.StartAsync(PostgresPassword);
        await using var redis = await RedisServer.StartAsync(new RedisSecurity { Password = RedisPassword });
        await using var postgres = await postgresStarting;
        var database = await postgres.CreateDatabaseAsync();
        Assert.Contains("Password=" + PostgresPassword, database, StringComparison.Ordinal);
        var logs = new CapturedLogs();
        var clock = new FakeTimeProvider(s_morning);
        var queueName = RedisFixture.UniqueQueueName();
        var settings = Settings(database, redis, queueName);

        // `Cortex.Scheduler migrate` first, as a deploy runs it; its output is scanned with the rest.
        using var migrateOutput = new StringWriter();
        using var migrateError = new StringWriter();
        await using (var migrate = Build(settings, logs, clock))
        {
            Assert.Equal(0, await SchedulerApplication.MigrateAsync(migrate, migrateOutput, migrateError));
        }

        using var connection = await redis.ConnectAsync();
        await using var h = new SchedulerHarness(database, connection, queueName, clock, settings);
        await SeedAsync(h);

        await using var app = Build(settings, logs, clock);
        await app.StartAsync();
        var scheduler = await app.Services.GetRequiredService<ISchedulerFactory>().GetScheduler();
        await scheduler.TriggerJob(new JobKey(BillingReminderJob.JobName, JobSchedule.Group));
        await scheduler.TriggerJob(new JobKey(CampaignJob.JobName, JobSchedule.Group));
        using var client = new OperationsClient(app);
        string scrape;
        using (var guard = new CancellationTokenSource(s_hangGuard))
        {
            while (true)
            {
                var samples = PrometheusText.Parse(scrape = await client.ScrapeTextAsync());
                if (samples.Value("cortex_scheduler_job_runs_total", ("quartz_job", BillingReminderJob.JobName), ("outcome", "success")) == 1
                    && samples.Value("cortex_scheduler_job_runs_total", ("quartz_job", CampaignJob.JobName), ("outcome", "success")) == 1)
                {
                    break;
                }

                await Task.Delay(50, guard.Token);
            }
        }

        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{new Uri(app.Urls.First()).Port}/") };
        await AdminCallAsync(http, AdminToken + "-wrong", "admin/pause?reason=secrets-test", HttpStatusCode.Unauthorized);
        await AdminCallAsync(http, null, "admin/dead-letters/purge?all=true", HttpStatusCode.Unauthorized);
        await AdminCallAsync(http, AdminToken, "admin/dead-letters/requeue?messageId=no-such-message", HttpStatusCode.OK);
        await AdminCallAsync(http, AdminToken, "admin/pause?reason=secrets-test", HttpStatusCode.OK);
        await AdminCallAsync(http, AdminToken, "admin/resume", HttpStatusCode.OK);
        await app.StopAsync();

        // The run did the work, so the scan below cannot pass on an empty capture: each reminder and campaign message is
        // in Redis with its full number (the sender needs it), the invalid rows were skipped with a warning, Trace was on.
        var queued = await h.QueuedAsync();
        Assert.Equal(
            s_chargePhones[..4].Concat(s_campaignPhones[..3]).Order(StringComparer.Ordinal),
            queued.Select(m => m.Envelope.To).Order(StringComparer.Ordinal));
        Assert.Equal(2, logs.Lines.Count(l => l.Contains("does not make a valid message", StringComparison.Ordinal)));
        Assert.Contains(logs.Lines, l => l.StartsWith("Trace", StringComparison.Ordinal));
        Assert.Contains(logs.Lines, l => l.StartsWith("Trace Npgsql", StringComparison.Ordinal));
        Assert.Contains(logs.Lines, l => l.Contains("Admin request to /admin/pause refused: wrong token", StringComparison.Ordinal));
        var stored = await RedisValuesAsync(connection);
        Assert.Contains(stored, v => v.Contains(s_campaignPhones[0], StringComparison.Ordinal));

        var places = new Dictionary<string, string>
        {
            ["log lines and exceptions"] = logs.All,
            ["migrate output"] = migrateOutput + "\n" + migrateError,
            ["/metrics"] = scrape,
            ["Redis"] = string.Join('\n', stored),
        };
        output.WriteLine($"full run: {queued.Count} messages in Redis; scanned {logs.Lines.Count} log lines ({logs.All.Length:N0} characters, {logs.Lines.Count(l => l.Contains("Exception", StringComparison.Ordinal))} with an exception), a /metrics scrape of {scrape.Length:N0} characters, {stored.Count} Redis values");
        foreach (var (place, text) in places)
        {
            AssertNoSecret(place, text);
            if (place != "Redis")
            {
                AssertNoFullNumber(place, text, [.. s_chargePhones, .. s_campaignPhones]);
            }
        }
    }

    [Fact]
    public async Task LedgerWriteRefused_ConnectionStringAsksForErrorDetail_ErrorLoggedWithoutTheRowsFullNumbers()
    {
        var postgresStarting = PostgresServer.StartAsync(PostgresPassword);
        await using var redis = await RedisServer.StartAsync(new RedisSecurity { Password = RedisPassword });
        await using var postgres = await postgresStarting;
        var database = await postgres.CreateDatabaseAsync();

        // The test cluster's connection strings ask for PostgreSQL's detail, which quotes a failing row whole.
        Assert.Contains("Include Error Detail=true", database, StringComparison.Ordinal);
        var logs = new CapturedLogs();
        var clock = new FakeTimeProvider(s_morning);
        var queueName = RedisFixture.UniqueQueueName();
        var settings = Settings(database, redis, queueName);
        await using (var migrate = Build(settings, logs, clock))
        {
            Assert.Equal(0, await SchedulerApplication.MigrateAsync(migrate, TextWriter.Null, TextWriter.Null));
        }

        using var connection = await redis.ConnectAsync();
        await using var h = new SchedulerHarness(database, connection, queueName, clock, settings);
        await SeedAsync(h);

        // A constraint an operator added that every ledger row breaks: each write of the billing run is refused.
        await h.ExecuteAsync("ALTER TABLE cortex.dispatch_ledger ADD CONSTRAINT refuse_every_row CHECK (false)");
        await using var app = Build(settings, logs, clock);
        await app.StartAsync();
        var scheduler = await app.Services.GetRequiredService<ISchedulerFactory>().GetScheduler();
        await scheduler.TriggerJob(new JobKey(BillingReminderJob.JobName, JobSchedule.Group));
        using var client = new OperationsClient(app);
        using (var guard = new CancellationTokenSource(s_hangGuard))
        {
            while (PrometheusText.Parse(await client.ScrapeTextAsync()).Value("cortex_scheduler_job_runs_total", ("quartz_job", BillingReminderJob.JobName), ("outcome", "failure")) < 1)
            {
                await Task.Delay(50, guard.Token);
            }
        }

        await app.StopAsync();

        // The operator still reads what went wrong, and which constraint; not the rows' numbers.
        output.WriteLine(string.Join('\n', logs.Lines.Where(l => l.Contains("refuse_every_row", StringComparison.Ordinal))));
        Assert.Contains(logs.Lines, l => l.Contains("23514", StringComparison.Ordinal) && l.Contains("refuse_every_row", StringComparison.Ordinal));
        AssertNoFullNumber("log lines and exceptions", logs.All, s_chargePhones);
        AssertNoSecret("log lines and exceptions", logs.All);
    }

    [Fact]
    public async Task Migrate_WrongPostgresPassword_Exits69SayingTheLoginWasRefused_NeitherPassword()
    {
        await using var postgres = await PostgresServer.StartAsync(PostgresPassword);
        var database = await postgres.CreateDatabaseAsync();
        var logs = new CapturedLogs();
        await using var app = Build(
            new Dictionary<string, string?>
            {
                ["Logging:LogLevel:Default"] = "Trace",
                ["Logging:LogLevel:Npgsql"] = "Trace",
                ["Cortex:Postgres:ConnectionString"] = WithPassword(database, WrongPostgresPassword),
                ["Cortex:Observability:Port"] = "0",
            },
            logs,
            TimeProvider.System);
        using var migrateOutput = new StringWriter();
        using var migrateError = new StringWriter();

        var exitCode = await SchedulerApplication.MigrateAsync(app, migrateOutput, migrateError);

        var error = migrateError.ToString();
        output.WriteLine(error);
        Assert.True(exitCode == SchedulerApplication.UnavailableExitCode, $"exit {exitCode}: {error}");
        Assert.Equal(RefusedLine(postgres, database), error.Trim());
        Assert.Empty(migrateOutput.ToString());
        AssertNoSecret("migrate error output", error);
        AssertNoSecret("log lines and exceptions", logs.All);
    }

    // It used to crash: exit 134, "Unhandled exception" and the same stack trace three times, no setting named.
    [Theory]
    [InlineData(null)]
    [InlineData("Trace")]
    public async Task Host_WrongPostgresPassword_Exits69WithOneLineNamingTheKey_NeitherPasswordNorAStackTrace(string? logLevel)
    {
        var postgresStarting = PostgresServer.StartAsync(PostgresPassword);
        await using var redis = await RedisServer.StartAsync(new RedisSecurity { Password = RedisPassword });
        await using var postgres = await postgresStarting;
        var database = await postgres.CreateDatabaseAsync();
        var environment = new Dictionary<string, string>
        {
            ["Cortex__Postgres__ConnectionString"] = WithPassword(database, WrongPostgresPassword),
            ["Cortex__Redis__Configuration"] = redis.Configuration,
            ["Cortex__Redis__Password"] = RedisPassword,
            ["Cortex__Observability__AdminToken"] = AdminToken,
        };
        if (logLevel is not null)
        {
            foreach (var category in new[] { "Default", "Microsoft", "Npgsql", "Quartz" })
            {
                environment[$"Logging__LogLevel__{category}"] = logLevel;
            }
        }

        await using var process = ServiceProcess.Start("Cortex.Scheduler.dll", environment);
        var exitCode = await process.WaitForExitAsync(s_hangGuard);

        output.WriteLine($"exit {exitCode}; {process.Lines.Count} lines:\n{process.Output}");
        Assert.True(exitCode == SchedulerApplication.UnavailableExitCode, $"exit {exitCode}:\n{process.Output}");
        Assert.Contains(RefusedLine(postgres, database), process.Lines);
        Assert.DoesNotContain("Unhandled exception", process.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("Hosting failed to start", process.Output, StringComparison.Ordinal);
        if (logLevel is null)
        {
            // At the default levels the line is all an operator reads.
            Assert.Equal([RefusedLine(postgres, database)], process.Lines);
        }

        AssertNoSecret("scheduler output", process.Output);
    }

    private static string RefusedLine(PostgresServer postgres, string database) =>
        $"PostgreSQL at 127.0.0.1:{postgres.Port}/{new NpgsqlConnectionStringBuilder(database).Database} refused the login (Cortex:Postgres:ConnectionString): "
        + "password authentication failed for user \"postgres\" (28P01)";

    private static WebApplication Build(Dictionary<string, string?> settings, CapturedLogs logs, TimeProvider clock) =>
        SchedulerApplication.Build([], builder =>
        {
            builder.Configuration.AddInMemoryCollection(settings);
            builder.Logging.ClearProviders();
            builder.Logging.AddProvider(logs);
            builder.Services.AddSingleton(clock);
        });

    private static Dictionary<string, string?> Settings(string database, RedisServer redis, string queueName) => new()
    {
        ["Logging:LogLevel:Default"] = "Trace",
        ["Logging:LogLevel:Microsoft"] = "Trace",
        ["Logging:LogLevel:Microsoft.AspNetCore"] = "Trace",
        ["Logging:LogLevel:Microsoft.Extensions.Diagnostics.HealthChecks"] = "Trace",
        ["Logging:LogLevel:Npgsql"] = "Trace",
        ["Logging:LogLevel:Quartz"] = "Trace",
        ["Cortex:Postgres:ConnectionString"] = database,
        ["Cortex:Redis:Configuration"] = redis.Configuration,
        ["Cortex:Redis:Password"] = RedisPassword,
        ["Cortex:Queue:Name"] = queueName,
        ["Cortex:Observability:Port"] = "0",
        ["Cortex:Observability:AdminToken"] = AdminToken,
        ["Cortex:Scheduler:InstanceName"] = "t" + Guid.NewGuid().ToString("N")[..8],

        // Only the triggers of the test fire the jobs.
        ["Cortex:Scheduler:Billing:Cron"] = Never,
        ["Cortex:Scheduler:Campaigns:Cron"] = Never,
        ["Cortex:Scheduler:FollowUps:Enabled"] = "false",
        ["Cortex:Scheduler:OutboxRepairCron"] = Never,
    };

    private static async Task SeedAsync(SchedulerHarness h)
    {
        for (var i = 0; i < s_chargePhones.Length; i++)
        {
            await h.ExecuteAsync(
                "INSERT INTO cortex.charges (id, customer_name, phone, amount, due_date) VALUES (@id, @name, @phone, 99.9, @due::date)",
                ("id", (long)i + 1),
                ("name", i == 5 ? new string('x', 5000) : "Cliente " + (i + 1)),
                ("phone", s_chargePhones[i]),
                ("due", i % 2 == 0 ? "2026-11-20" : "2026-11-23"));
        }

        await h.ExecuteAsync("INSERT INTO cortex.opt_outs (phone) VALUES (@phone)", ("phone", s_chargePhones[4]));
        await h.ExecuteAsync("INSERT INTO cortex.message_templates (key, body) VALUES ('promo', 'Oi {name}, promoção {promo}!')");
        var campaign = await h.ScalarAsync<long>(
            "INSERT INTO cortex.campaigns (name, template_key, run_at) VALUES ('bf', 'promo', @runAt) RETURNING id", ("runAt", s_morning.AddMinutes(-1).UtcDateTime));
        for (var i = 0; i < s_campaignPhones.Length; i++)
        {
            await h.ExecuteAsync(
                "INSERT INTO cortex.campaign_recipients (campaign_id, id, phone, name, variables) VALUES (@c, @id, @phone, @name, @vars::jsonb)",
                ("c", campaign),
                ("id", (long)i + 1),
                ("phone", s_campaignPhones[i]),
                ("name", "Pessoa " + (i + 1)),
                ("vars", i == 3 ? "{}" : """{"promo": "Black Friday"}"""));
        }
    }

    private static async Task AdminCallAsync(HttpClient http, string? token, string path, HttpStatusCode expected)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path);
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        using var response = await http.SendAsync(request);
        Assert.Equal(expected, response.StatusCode);
    }

    // Every value of every key, whatever its type: the queue's lists, delayed set, hashes and markers.
    private static async Task<List<string>> RedisValuesAsync(ConnectionMultiplexer connection)
    {
        var db = connection.GetDatabase();
        var values = new List<string>();
        foreach (var key in await connection.MatchingAsync("*"))
        {
            values.Add("key " + key);
            switch (await db.KeyTypeAsync(key))
            {
                case RedisType.String:
                    values.Add((string?)await db.StringGetAsync(key) ?? string.Empty);
                    break;
                case RedisType.List:
                    values.AddRange((await db.ListRangeAsync(key)).Select(v => (string?)v ?? string.Empty));
                    break;
                case RedisType.Set:
                    values.AddRange((await db.SetMembersAsync(key)).Select(v => (string?)v ?? string.Empty));
                    break;
                case RedisType.SortedSet:
                    values.AddRange((await db.SortedSetRangeByRankAsync(key)).Select(v => (string?)v ?? string.Empty));
                    break;
                case RedisType.Hash:
                    values.AddRange((await db.HashGetAllAsync(key)).Select(e => $"{e.Name}={e.Value}"));
                    break;
                default:
                    values.Add("(a value of another type)");
                    break;
            }
        }

        return values;
    }

    private static string WithPassword(string connectionString, string password) =>
        new NpgsqlConnectionStringBuilder(connectionString) { Password = password }.ConnectionString;

    private static void AssertNoSecret(string place, string text)
    {
        foreach (var secret in s_secrets)
        {
            // Also hex-encoded, as a byte array would print.
            var hex = Convert.ToHexString(Encoding.UTF8.GetBytes(secret));
            Assert.False(text.Contains(secret, StringComparison.Ordinal), $"{place} hold a secret ({secret[..6]}…): {Excerpt(text, secret)}");
            Assert.False(text.Contains(hex, StringComparison.OrdinalIgnoreCase), $"{place} hold a secret in hex ({secret[..6]}…)");
        }
    }

    // Without the '+': a number quoted in a SQL literal or a JSON value is still the number.
    private static void AssertNoFullNumber(string place, string text, IEnumerable<string> phones)
    {
        foreach (var phone in phones)
        {
            Assert.False(text.Contains(phone[1..], StringComparison.Ordinal), $"{place} hold the full number {phone}: {Excerpt(text, phone[1..])}");
        }
    }

    private static string Excerpt(string text, string value)
    {
        var at = text.IndexOf(value, StringComparison.Ordinal);
        return text.Substring(Math.Max(0, at - 200), Math.Min(text.Length - Math.Max(0, at - 200), 400)).Replace(value, "<HERE>", StringComparison.Ordinal);
    }
}
