using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Cortex.Scheduler;
using Cortex.Scheduler.Billing;
using Cortex.Scheduler.Campaigns;
using Cortex.Scheduler.Data;
using Cortex.Scheduler.FollowUps;
using Cortex.Sender.Gateways.Fake;
using Cortex.Shared.Client;
using Cortex.Shared.Contract;
using Cortex.Shared.Queue;
using Microsoft.Extensions.Options;
using Npgsql;
using Spectre.Console;
using StackExchange.Redis;

namespace Cortex.LoadTests;

/// <summary>
/// make demo: a morning at an ISP. Seeds PostgreSQL with charges, conversations and a campaign, runs one scheduler pass
/// in process (billing reminders, follow-ups, campaign fan-out: ledger rows, then pushed to Redis), lets "other systems"
/// push a few expired, duplicate and broken envelopes, runs the sender against the fake gateway with transient failures,
/// numbers that are not on WhatsApp and some throttling, shows progress and a summary, and then checks the books: every
/// scheduled message sent once or dead-lettered with a reason, and nothing sent to anyone who must get nothing.
/// </summary>
internal static class DemoRun
{
    private const string QueueName = "cortex";

    /// <summary>How long the drain may go without a message sent or settled before the demo gives up, as the other harness runs do.</summary>
    private static readonly TimeSpan s_noProgress = TimeSpan.FromSeconds(30);

    public static async Task<int> RunAsync(string redis, string postgres, int count)
    {
        var configuration = new Dictionary<string, string?>
        {
            ["Cortex:Redis:Configuration"] = redis,
            ["Cortex:Queue:Name"] = QueueName,
            ["Cortex:Queue:MaintenanceInterval"] = "00:00:00.200",
            ["Cortex:Gateway:Type"] = "Fake",
            ["Cortex:Gateway:Fake:Latency"] = "00:00:00.005",
            ["Cortex:Gateway:Fake:RetryableFailureRate"] = "0.03",
            ["Cortex:Gateway:Fake:PermanentFailureRate"] = "0.005",
            ["Cortex:Gateway:Fake:ThrottleRate"] = "0.0002",
            ["Cortex:Sender:Workers"] = "64",
            ["Cortex:Resilience:ShortRetries"] = "1",
            ["Cortex:Resilience:ShortRetryDelay"] = "00:00:00.010",
            ["Cortex:Retry:BaseDelay"] = "00:00:00.500",
            ["Cortex:Retry:Factor"] = "2",
            ["Cortex:Retry:MaxDelay"] = "00:00:03",
            ["Cortex:Retry:MaxAttempts"] = "3",
            ["Cortex:RateLimit:GlobalPermitsPerSecond"] = "4000",
            ["Cortex:RateLimit:GlobalBurst"] = "200",
            ["Cortex:RateLimit:ThrottlePause"] = "00:00:00.100",
        };

        AnsiConsole.MarkupLine(
            $"[bold]Cortex demo[/]: a morning at an ISP. PostgreSQL {Markup.Escape(PostgresEndpoint(postgres))} → scheduler → Redis {Markup.Escape(RedactedEndpoint(redis))} → sender → fake WhatsApp gateway");

        // Per-message warnings would scroll the progress bar away; the summary below reports every dead letter.
        using var host = SenderHost.Build(configuration, LogLevel.Error);
        var queue = host.Services.GetRequiredService<IMessageQueue>();
        var client = host.Services.GetRequiredService<CortexClient>();
        var time = host.Services.GetRequiredService<TimeProvider>();
        var connection = host.Services.GetRequiredService<IConnectionMultiplexer>();
        await ClearQueueAsync(connection, queue.Keys);

        await using var scheduler = BuildScheduler(redis, postgres, connection, time);
        var dataSource = scheduler.GetRequiredService<NpgsqlDataSource>();
        var settings = scheduler.GetRequiredService<IOptions<SchedulerOptions>>().Value;
        var billing = scheduler.GetRequiredService<BillingReminders>();

        // 1. The database: Cortex's migrations, then the ISP's data as its own systems would have written it.
        var clock = Stopwatch.StartNew();
        var applied = await scheduler.GetRequiredService<Migrator>().MigrateAsync();
        var migrations = applied.Count == 0 ? "already up to date" : $"applied {string.Join(", ", applied.Select(m => $"{m.Version:D4}_{m.Name}"))}";
        AnsiConsole.MarkupLine($"Migrated the database in {clock.Elapsed.TotalMilliseconds:N0} ms ({Markup.Escape(migrations)}).");
        var today = billing.Today();
        clock.Restart();
        var seed = await DemoSeed.SeedAsync(dataSource, today, time.GetUtcNow(), count);
        AnsiConsole.MarkupLine($"Seeded PostgreSQL in {clock.Elapsed.TotalMilliseconds:N0} ms; today is {today:dd'/'MM'/'yyyy} in {Markup.Escape(settings.TimeZone)}:");
        AnsiConsole.Write(SeedTable(seed));

        // 2. One scheduler pass, in process: what the three Quartz jobs do when they fire, run once each.
        AnsiConsole.MarkupLine(
            $"Scheduler pass (the three jobs run once, in process) into queue '{QueueName}'. Quiet hours: [bold]none[/] (QuietHours Start = End = {settings.QuietHours.Start:hh\\:mm}), so nothing waits for the morning.");
        var (billingRun, billingTime) = await TimedAsync(() => billing.RunAsync(today, CancellationToken.None));
        var (followUpRun, followUpTime) = await TimedAsync(() => scheduler.GetRequiredService<ConversationFollowUps>().RunAsync(CancellationToken.None));
        var (campaignRun, campaignTime) = await TimedAsync(() => scheduler.GetRequiredService<CampaignFanOut>().RunAsync(CancellationToken.None));
        var passTable = new Table().Border(TableBorder.Rounded)
            .AddColumn("Job").AddColumn(new TableColumn("Due").RightAligned()).AddColumn(new TableColumn("New").RightAligned())
            .AddColumn(new TableColumn("Opted out").RightAligned()).AddColumn(new TableColumn("Skipped").RightAligned())
            .AddColumn(new TableColumn("Time").RightAligned()).AddColumn(new TableColumn("msg/s").RightAligned());
        passTable.AddRow("billing", N(billingRun.Due), N(billingRun.New), N(billingRun.OptedOut), $"{billingRun.Invalid:N0} invalid", Ms(billingTime), Rate(billingRun.New, billingTime));
        passTable.AddRow("follow-ups", N(followUpRun.FollowUps + followUpRun.Closed + followUpRun.Invalid), N(followUpRun.FollowUps), N(followUpRun.OptedOut), $"{followUpRun.Closed - followUpRun.OptedOut:N0} closed", Ms(followUpTime), Rate(followUpRun.FollowUps, followUpTime));
        passTable.AddRow("campaign", N(seed.Recipients), N(campaignRun.Enqueued), N(campaignRun.Skipped - campaignRun.Invalid), $"{campaignRun.Invalid:N0} invalid", Ms(campaignTime), Rate(campaignRun.Enqueued, campaignTime));
        AnsiConsole.Write(passTable);
        var published = billingRun.Published + followUpRun.Published + campaignRun.Published;
        var split = await FollowUpSplitAsync(dataSource);
        AnsiConsole.MarkupLine(
            $"Follow-ups: {split.Text:N0} free text inside the 24-hour window, {split.Template:N0} WhatsApp template outside it; {followUpRun.Closed - followUpRun.OptedOut:N0} conversations closed after their {settings.FollowUps.MaxFollowUps} follow-ups and {followUpRun.OptedOut:N0} opted out (closed, nothing sent), {followUpRun.Invalid} refused as invalid. Campaign runs started: {campaignRun.RunsStarted}.");
        AnsiConsole.MarkupLine($"{published:N0} ledger rows pushed to Redis, each committed in PostgreSQL before its push (transactional outbox). One of each kind:");
        foreach (var line in await SamplesAsync(dataSource))
        {
            AnsiConsole.MarkupLine("  " + Markup.Escape(line));
        }

        // 3. Other systems: a legacy ERP pushes reminders that already expired, a publisher re-pushes scheduled messages
        // (same ids, as after a crash between its Redis push and its commit), and a careless producer pushes broken JSON.
        var expired = Workload.ExpiredReminders(20, time.GetUtcNow());
        var duplicates = await LedgerMessagesAsync(dataSource, 50);
        var malformed = Workload.Malformed(50).ToArray();
        await client.EnqueueBatchAsync(expired);
        await queue.EnqueueAsync(duplicates.Select(d => d.Message).ToList());
        await connection.GetDatabase().ListLeftPushAsync(queue.Keys.ReadyNormal, malformed.Select(m => (RedisValue)m).ToArray());
        var total = published + expired.Count + duplicates.Count + malformed.Length;
        AnsiConsole.MarkupLine(
            $"Other systems pushed {expired.Count} reminders that had already expired (a legacy ERP, via the client) and {malformed.Length} malformed envelopes (raw LPUSH); {duplicates.Count} ledger rows were pushed again (same ids), as by a publisher that crashed before its commit. {total:N0} messages in Redis.");
        AnsiConsole.MarkupLine("Fake gateway: 5 ms latency, 3% transient faults, 0.5% numbers not on WhatsApp, rare throttling. Global rate limit 4,000 msg/s.");

        // 4. The sender drains the queue. The gateway also notes every number it is asked to send to, for the checks.
        using var metrics = new MetricsRecorder();
        var fake = host.Services.GetRequiredService<FakeGateway>();
        var phonesCalled = new ConcurrentDictionary<string, byte>(StringComparer.Ordinal);
        fake.Override = message =>
        {
            phonesCalled.TryAdd(message.To, 0);
            return null;
        };
        clock.Restart();
        await host.StartAsync();
        QueueStats stats = await queue.GetStatsAsync();
        string? stuck = null;
        await AnsiConsole.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .StartAsync(async ctx =>
            {
                var task = ctx.AddTask("Sending", maxValue: total);
                var (lastPending, lastSent) = (stats.Pending, fake.AcceptedCount);
                var lastProgress = Stopwatch.StartNew();
                while (!ctx.IsFinished)
                {
                    await Task.Delay(100);
                    stats = await queue.GetStatsAsync();
                    task.Value = total - stats.Pending;
                    task.Description = $"Sending  [green]{fake.AcceptedCount,6:N0} sent[/]  [yellow]{stats.Delayed,4:N0} waiting retry[/]  [red]{stats.Dead,4:N0} dead[/]";
                    if (stats.Pending == 0)
                    {
                        task.Value = total;
                    }
                    else if (stats.Pending != lastPending || fake.AcceptedCount != lastSent)
                    {
                        (lastPending, lastSent) = (stats.Pending, fake.AcceptedCount);
                        lastProgress.Restart();
                    }
                    else if (lastProgress.Elapsed > s_noProgress)
                    {
                        // A retry waits 3 s at most here: this long with nothing sent and nothing settled is a stall.
                        stuck = $"no progress for {s_noProgress.TotalSeconds:N0} s: {fake.AcceptedCount:N0} sent, {stats.Pending:N0} of {total:N0} still in Redis ({stats.Ready:N0} ready, {stats.Leased:N0} leased, {stats.Delayed:N0} delayed), {stats.Dead:N0} dead-lettered";
                        task.StopTask();
                    }
                }
            });
        clock.Stop();
        await host.StopAsync();
        if (stuck is not null)
        {
            AnsiConsole.MarkupLine($"[red]The sender stalled: {Markup.Escape(stuck)}. The demo stops here.[/]");
            return 1;
        }

        // 5. The summary.
        var deadLetters = await queue.GetDeadLettersAsync(0, 100_000);
        var sent = fake.AcceptedCount;
        var sentByKind = fake.AcceptedById.Keys.GroupBy(id => id[..Math.Max(0, id.IndexOf(':', StringComparison.Ordinal))], StringComparer.Ordinal)
            .OrderByDescending(g => g.Count()).Select(g => $"{g.Key} {g.Count():N0}");
        var table = new Table().Border(TableBorder.Rounded).AddColumn("What").AddColumn(new TableColumn("Count").RightAligned()).AddColumn("Note");
        table.AddRow("Messages enqueued", N(total), "scheduler pass + other systems");
        table.AddRow("Sent (accepted by gateway)", N(sent), Markup.Escape($"{string.Join(", ", sentByKind)}; {fake.DuplicateCount()} sent twice"));
        table.AddRow("Retries scheduled", N(metrics.Counter("cortex.sender.retries")), "transient faults, exponential backoff with jitter");
        table.AddRow("Duplicate ids skipped", N(metrics.Counter("cortex.sender.duplicates_skipped")), "send claim per id in Redis");
        table.AddRow("Throttled answers", N(metrics.Counter("cortex.sender.throttled")), "paused all sending, no attempt spent");
        // Invalid envelopes are shown per distinct reason: that precision is what a producer needs to fix its side.
        foreach (var group in deadLetters.GroupBy(d => d.Reason == DeadLetterReasons.InvalidEnvelope ? d.Detail : d.Reason).OrderByDescending(g => g.Count()))
        {
            var first = group.First();
            table.AddRow($"Dead-lettered: {first.Reason}", N(group.Count()), Markup.Escape(Shorten(first.Detail)));
        }

        table.AddRow("Throughput", $"{sent / clock.Elapsed.TotalSeconds:N0} msg/s", $"{clock.Elapsed.TotalSeconds:N1} s wall clock, rate limit 4,000 msg/s");
        table.AddRow("Latency enqueue→accepted", $"p50 {Ms(metrics.LatencyQuantile(0.5))}", $"p99 {Ms(metrics.LatencyQuantile(0.99))} (stamped in the ledger: includes the pass and the backlog)");
        AnsiConsole.Write(table);

        // 6. The books.
        var expectations = new Expectations(seed, today, expired.Select(e => e.Id).ToHashSet(StringComparer.Ordinal), duplicates.Select(d => d.Key).ToHashSet(StringComparer.Ordinal), malformed.Length, total);
        var checks = await VerifyAsync(dataSource, expectations, fake, deadLetters, phonesCalled, metrics.Counter("cortex.sender.duplicates_skipped"), stats);
        AnsiConsole.MarkupLine("[bold]Checking the books[/]:");
        foreach (var (ok, text) in checks)
        {
            AnsiConsole.MarkupLine(ok ? $"  [green]✓[/] {Markup.Escape(text)}" : $"  [red]✗ {Markup.Escape(text)}[/]");
        }

        if (checks.Any(c => !c.Ok))
        {
            AnsiConsole.MarkupLine("[red]The books do not balance: see the ✗ lines above.[/]");
            return 1;
        }

        AnsiConsole.MarkupLine("[green]Every message accounted for: sent once, skipped as a duplicate id, or dead-lettered with a reason; nobody who must get nothing got anything.[/]");
        if (deadLetters.FirstOrDefault(d => d.Reason == DeadLetterReasons.Permanent) is { } sample)
        {
            // The demo's Redis is removed at exit, so show what an operator would read with LRANGE '{cortex}:dead' 0 0.
            AnsiConsole.MarkupLine("One dead letter as stored in [bold]{cortex}:dead[/] (phone digits are the demo's fake numbers):");
            AnsiConsole.WriteLine(Encoding.UTF8.GetString(sample.ToStored(sample.PayloadBytes())));
        }

        return 0;
    }

    /// <summary>
    /// Deletes every key of the demo's queue: lists, dead letters and the sent markers of an earlier run, whose ids this run
    /// reuses (the seed is deterministic), so a second run against the same Redis sends again instead of skipping.
    /// </summary>
    private static async Task ClearQueueAsync(IConnectionMultiplexer connection, QueueKeys keys)
    {
        var db = connection.GetDatabase();
        foreach (var endpoint in connection.GetEndPoints())
        {
            var found = connection.GetServer(endpoint).Keys(db.Database, keys.Prefix + "*", 1000).ToArray();
            if (found.Length > 0)
            {
                await db.KeyDeleteAsync(found);
            }
        }
    }

    /// <summary>The scheduler's services as AddCortexScheduler registers them, without its host (no Quartz, no hosted services), sharing the sender's Redis connection and clock.</summary>
    private static ServiceProvider BuildScheduler(string redis, string postgres, IConnectionMultiplexer connection, TimeProvider time)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Cortex:Postgres:ConnectionString"] = postgres,
            ["Cortex:Redis:Configuration"] = redis,
            ["Cortex:Queue:Name"] = QueueName,
            ["Cortex:Scheduler:ApplyMigrations"] = "false",
            ["Cortex:Scheduler:Billing:Offsets"] = string.Join(',', DemoSeed.Offsets),

            // Start = End means no quiet hours: the demo may run at any hour and must send now, not at 08:00.
            ["Cortex:Scheduler:QuietHours:Start"] = "00:00",
            ["Cortex:Scheduler:QuietHours:End"] = "00:00",
        }).Build();
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(configuration);
        services.AddLogging(b => b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning));
        services.AddSingleton(time);
        services.AddSingleton(connection);
        services.AddCortexScheduler(configuration);
        return services.BuildServiceProvider();
    }

    private static Table SeedTable(DemoSeedSummary seed)
    {
        var table = new Table().Border(TableBorder.Rounded).AddColumn("Table").AddColumn(new TableColumn("Rows").RightAligned()).AddColumn("What they are");
        table.AddRow(
            "charges",
            N(seed.Charges),
            $"{seed.ChargesToRemind:N0} open, due on a reminder day (due in 3 days, today, 1, 3 or 7 days ago); must not be reminded: {seed.Paid:N0} paid, {seed.Cancelled:N0} cancelled, {seed.OtherDay:N0} due on other days, {seed.OptedOutCharges:N0} opted out");
        table.AddRow(
            "conversations",
            N(seed.Conversations),
            $"{seed.FollowUpsDue:N0} idle over 30 min: {seed.InsideWindow:N0} inside the 24-hour window ({seed.SecondFollowUps:N0} on their 2nd follow-up), {seed.OutsideWindow:N0} outside it, {seed.NeverWrote:N0} where the customer never wrote; {seed.ToClose:N0} to close after 2 follow-ups; {seed.OptedOutConversations:N0} idle but opted out; {seed.NotIdle:N0} not idle");
        table.AddRow("campaigns", "1", $"\"Upgrade para Fibra 1 Giga\": one-shot, due now, WhatsApp template upgrade_fibra");
        table.AddRow("campaign_recipients", N(seed.Recipients), $"{seed.OptedOutRecipients:N0} of them opted out");
        table.AddRow("opt_outs", N(seed.OptOuts), "customers who answered SAIR");
        return table;
    }

    /// <summary>Follow-ups in the ledger that went out as free text, and as a WhatsApp template.</summary>
    private static async Task<(long Text, long Template)> FollowUpSplitAsync(NpgsqlDataSource dataSource)
    {
        await using var command = dataSource.CreateCommand(
            """
            SELECT count(*) FILTER (WHERE payload::jsonb -> 'template' IS NULL), count(*) FILTER (WHERE payload::jsonb -> 'template' IS NOT NULL)
            FROM cortex.dispatch_ledger WHERE kind = 'followup'
            """);
        await using var reader = await command.ExecuteReaderAsync();
        await reader.ReadAsync();
        return (reader.GetInt64(0), reader.GetInt64(1));
    }

    /// <summary>One message of each kind as the customer gets it.</summary>
    private static async Task<List<string>> SamplesAsync(NpgsqlDataSource dataSource)
    {
        await using var command = dataSource.CreateCommand(
            """
            SELECT DISTINCT ON (kind, payload::jsonb -> 'template' IS NULL) payload FROM cortex.dispatch_ledger
            ORDER BY kind, payload::jsonb -> 'template' IS NULL DESC, key
            """);
        var lines = new List<string>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            if (EnvelopeCodec.Parse(Encoding.UTF8.GetBytes(reader.GetString(0))).Envelope is { } e)
            {
                var body = e.Template is { } t ? $"template {t.Name} ({t.Language}): {string.Join(" | ", t.Parameters)}" : e.Text;
                lines.Add($"{e.Id} → {e.To}: {body}");
            }
        }

        return lines;
    }

    /// <summary>
    /// The first ledger rows pushed, as a publisher that crashed between its Redis push and its commit pushes them again.
    /// Their originals are sent long before the copies come up; a copy leased next to its original would wait the
    /// sender's 5 s in-flight-duplicate delay instead, and stretch the demo's wall clock by as much.
    /// </summary>
    private static async Task<List<(string Key, QueueMessage Message)>> LedgerMessagesAsync(NpgsqlDataSource dataSource, int count)
    {
        await using var command = dataSource.CreateCommand(
            "SELECT key, priority, not_before, payload FROM cortex.dispatch_ledger ORDER BY enqueued_at, key LIMIT @count");
        command.Parameters.AddWithValue("count", count);
        var messages = new List<(string, QueueMessage)>(count);
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            DateTimeOffset? notBefore = reader.IsDBNull(2) ? null : new DateTimeOffset(reader.GetDateTime(2), TimeSpan.Zero);
            messages.Add((reader.GetString(0), new QueueMessage(Encoding.UTF8.GetBytes(reader.GetString(3)), (Priority)reader.GetInt16(1), notBefore)));
        }

        return messages;
    }

    private sealed record Expectations(DemoSeedSummary Seed, DateOnly Today, HashSet<string> ExpiredIds, HashSet<string> DuplicatedKeys, int Malformed, long Total)
    {
        public DateOnly[] ReminderDueDates => [.. DemoSeed.Offsets.Select(o => Today.AddDays(-o))];
    }

    /// <summary>Every check the demo ends with; a false one fails the demo.</summary>
    private static async Task<List<(bool Ok, string Text)>> VerifyAsync(
        NpgsqlDataSource dataSource,
        Expectations expected,
        FakeGateway fake,
        IReadOnlyList<DeadLetterEntry> deadLetters,
        ConcurrentDictionary<string, byte> phonesCalled,
        long duplicatesSkipped,
        QueueStats stats)
    {
        var checks = new List<(bool, string)>();
        var seed = expected.Seed;

        // The ledger is the scheduler's word on what it decided to send: each key must be sent once or dead-lettered.
        var ledger = new Dictionary<string, (string Kind, string To)>(StringComparer.Ordinal);
        var ledgerPending = 0;
        await using (var command = dataSource.CreateCommand("SELECT key, kind, payload::jsonb ->> 'to', status FROM cortex.dispatch_ledger"))
        await using (var reader = await command.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                ledger[reader.GetString(0)] = (reader.GetString(1), reader.GetString(2));
                ledgerPending += reader.GetString(3) == "pending" ? 1 : 0;
            }
        }

        var deadById = deadLetters.Where(d => d.MessageId is not null).GroupBy(d => d.MessageId!, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        int sentOnce = 0, deadOnly = 0, missing = 0, sentTwice = 0, extra = 0;
        var bad = new List<string>();
        foreach (var key in ledger.Keys)
        {
            var accepted = fake.AcceptedById.GetValueOrDefault(key);
            var dead = deadById.GetValueOrDefault(key);
            var copies = expected.DuplicatedKeys.Contains(key) ? 2 : 1;
            if (accepted > 1)
            {
                sentTwice++;
            }
            else if (accepted + dead == 0)
            {
                missing++;
            }
            else if (accepted + dead > copies)
            {
                extra++;
            }
            else if (accepted == 1)
            {
                sentOnce++;
                continue;
            }
            else
            {
                deadOnly++;
                continue;
            }

            if (bad.Count < 5)
            {
                bad.Add($"{key} (sent {accepted}, dead {dead})");
            }
        }

        checks.Add((
            missing + sentTwice + extra == 0 && ledgerPending == 0,
            $"{ledger.Count:N0} scheduled messages (ledger keys): {sentOnce:N0} sent exactly once, {deadOnly:N0} dead-lettered with a reason; {missing} missing, {sentTwice} sent twice, {ledgerPending} never pushed" +
            (extra > 0 ? $", {extra} dead-lettered more often than pushed" : string.Empty) +
            (bad.Count > 0 ? "; e.g. " + string.Join(", ", bad) : string.Empty)));

        var unscheduled = fake.AcceptedById.Keys.Count(id => !ledger.ContainsKey(id));
        var otherDead = deadLetters.Where(d => d.MessageId is null || !ledger.ContainsKey(d.MessageId)).ToList();
        var expiredOk = expected.ExpiredIds.All(id => otherDead.Any(d => d.MessageId == id && d.Reason == DeadLetterReasons.Expired));
        var invalid = otherDead.Count(d => d.Reason == DeadLetterReasons.InvalidEnvelope);
        checks.Add((
            unscheduled == 0 && expiredOk && invalid == expected.Malformed && otherDead.Count == expected.ExpiredIds.Count + expected.Malformed,
            $"other systems: {otherDead.Count(d => d.Reason == DeadLetterReasons.Expired)} expired and {invalid} malformed dead-lettered, {unscheduled} sent that nobody scheduled"));

        var balance = expected.Total - fake.AcceptedCount - deadLetters.Count - duplicatesSkipped;
        checks.Add((
            balance == 0 && fake.DuplicateCount() == 0 && stats.Pending == 0,
            $"{expected.Total:N0} enqueued = {fake.AcceptedCount:N0} sent + {deadLetters.Count:N0} dead-lettered + {duplicatesSkipped:N0} duplicate ids skipped ({balance} unaccounted, {stats.Pending} still pending)"));

        // Billing: exactly the open, due-on-a-reminder-day, not-opted-out charges have a reminder, under the right key.
        await using (var command = dataSource.CreateCommand(
            """
            WITH opted AS (SELECT c.id FROM cortex.charges c
                           WHERE EXISTS (SELECT 1 FROM cortex.opt_outs o WHERE o.phone = c.phone AND o.tenant IN ('', c.tenant)))
            SELECT
              (SELECT count(*) FROM cortex.dispatch_ledger WHERE kind = 'billing'),
              (SELECT count(*) FROM cortex.dispatch_ledger l JOIN cortex.charges c ON c.id = split_part(l.key, ':', 2)::bigint
               WHERE l.kind = 'billing' AND (c.status <> 'open' OR c.due_date <> ALL (@due) OR c.id IN (SELECT id FROM opted))),
              (SELECT count(*) FROM cortex.charges c
               WHERE c.status = 'open' AND c.due_date = ANY (@due) AND c.id NOT IN (SELECT id FROM opted)
                 AND NOT EXISTS (SELECT 1 FROM cortex.dispatch_ledger l
                                 WHERE l.key = 'billing:' || c.id || ':' || (@today - c.due_date) || ':' || to_char(c.due_date, 'YYYY-MM-DD')))
            """))
        {
            command.Parameters.AddWithValue("due", expected.ReminderDueDates);
            command.Parameters.AddWithValue("today", expected.Today);
            await using var reader = await command.ExecuteReaderAsync();
            await reader.ReadAsync();
            var (rows, wrong, notReminded) = (reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2));
            checks.Add((
                rows == seed.ChargesToRemind && wrong == 0 && notReminded == 0,
                $"billing: {rows:N0} reminders for {seed.ChargesToRemind:N0} charges to remind; {wrong} for a paid, cancelled, opted-out or other-day charge; {notReminded} due charges without one"));
        }

        // Follow-ups: text inside the window, template outside it, second follow-ups numbered 2, nothing for the rest.
        int followUps = 0, wrongForm = 0, seconds = 0;
        await using (var command = dataSource.CreateCommand(
            "SELECT split_part(key, ':', 2)::bigint, split_part(key, ':', 4), payload::jsonb -> 'template' IS NOT NULL FROM cortex.dispatch_ledger WHERE kind = 'followup'"))
        await using (var reader = await command.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                followUps++;
                var id = reader.GetInt64(0);
                var insideWindow = id > DemoSeed.InsideWindowIds && id < DemoSeed.OutsideWindowIds;
                wrongForm += id >= DemoSeed.NoFollowUpIds || reader.GetBoolean(2) == insideWindow ? 1 : 0;
                seconds += reader.GetString(1) == "2" ? 1 : 0;
            }
        }

        checks.Add((
            followUps == seed.FollowUpsDue && wrongForm == 0 && seconds == seed.SecondFollowUps,
            $"follow-ups: {followUps:N0} for {seed.FollowUpsDue:N0} idle conversations ({seconds} second ones), {wrongForm} in the wrong form or to a conversation not due"));

        await using (var command = dataSource.CreateCommand(
            "SELECT count(*) FROM cortex.dispatch_ledger WHERE kind = 'campaign' AND split_part(key, ':', 2)::bigint = @campaign"))
        {
            command.Parameters.AddWithValue("campaign", seed.CampaignId);
            var rows = (long)(await command.ExecuteScalarAsync())!;
            var expectedRows = seed.Recipients - seed.OptedOutRecipients;
            checks.Add((rows == expectedRows, $"campaign: {rows:N0} messages for {seed.Recipients:N0} recipients minus {seed.OptedOutRecipients} opted out (expected {expectedRows:N0})"));
        }

        // Nobody who must get nothing: neither a ledger row nor a single gateway call to their number.
        var forbidden = new HashSet<string>(StringComparer.Ordinal);
        await using (var command = dataSource.CreateCommand(
            """
            SELECT c.phone FROM cortex.charges c
            WHERE c.status <> 'open' OR c.due_date <> ALL (@due)
               OR EXISTS (SELECT 1 FROM cortex.opt_outs o WHERE o.phone = c.phone AND o.tenant IN ('', c.tenant))
            UNION
            SELECT r.phone FROM cortex.campaign_recipients r JOIN cortex.campaigns c ON c.id = r.campaign_id
            WHERE EXISTS (SELECT 1 FROM cortex.opt_outs o WHERE o.phone = r.phone AND o.tenant IN ('', c.tenant))
            UNION
            SELECT phone FROM cortex.conversations WHERE id >= @no_follow_up
            """))
        {
            command.Parameters.AddWithValue("due", expected.ReminderDueDates);
            command.Parameters.AddWithValue("no_follow_up", DemoSeed.NoFollowUpIds);
            await using var reader = await command.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                forbidden.Add(reader.GetString(0));
            }
        }

        var inLedger = ledger.Values.Count(v => forbidden.Contains(v.To));
        var called = phonesCalled.Keys.Count(forbidden.Contains);
        var expectedForbidden = seed.Paid + seed.Cancelled + seed.OtherDay + seed.OptedOutCharges + seed.OptedOutRecipients + seed.ToClose + seed.OptedOutConversations + seed.NotIdle;
        checks.Add((
            forbidden.Count == expectedForbidden && inLedger == 0 && called == 0,
            $"{forbidden.Count:N0} numbers that must get nothing (paid, cancelled, other-day and opted-out charges, opted-out recipients, conversations not due or opted out): {inLedger} in the ledger, {called} sent to the gateway"));
        return checks;
    }

    private static async Task<(T Result, TimeSpan Elapsed)> TimedAsync<T>(Func<Task<T>> run)
    {
        var clock = Stopwatch.StartNew();
        var result = await run();
        return (result, clock.Elapsed);
    }

    private static string N(long value) => value.ToString("N0", CultureInfo.InvariantCulture);

    private static string Ms(TimeSpan elapsed) => string.Create(CultureInfo.InvariantCulture, $"{elapsed.TotalMilliseconds:N0} ms");

    private static string Rate(int messages, TimeSpan elapsed) => N((long)(messages / Math.Max(elapsed.TotalSeconds, 1e-3)));

    private static string Ms(double? seconds) => seconds is { } s ? string.Create(CultureInfo.InvariantCulture, $"{s * 1000:N1} ms") : "n/a";

    private static string Shorten(string text) => text.Length <= 70 ? text : text[..67] + "...";

    private static string RedactedEndpoint(string configuration) => configuration.Split(',')[0];

    private static string PostgresEndpoint(string connectionString)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        return $"{builder.Host}:{builder.Port}/{builder.Database}";
    }
}
