using System.Diagnostics;
using System.Globalization;
using Cortex.Scheduler.Billing;
using Cortex.Scheduler.Data;
using Cortex.Scheduler.Outbox;
using Cortex.Shared.Contract;
using Cortex.Shared.Queue;
using Npgsql;
using StackExchange.Redis;

namespace Cortex.LoadTests;

/// <summary>
/// Scheduler enqueue throughput: due charges in PostgreSQL → dispatch ledger → Redis, timed around one
/// <see cref="BillingReminders.RunAsync"/> (read, render, ledger insert, claim, push, commit), as the 09:00 job runs it.
/// The day has <c>count</c> charges: 80% due today (D0), 5% at each other default offset (D-3, D+1, D+3, D+7), 2% paid,
/// 1% cancelled and 2.5% opted out (half of those for every tenant, half for their own tenant only), next to half as many
/// open charges due on dates that get no reminder and twice as many paid or cancelled ones from the past two months.
/// It truncates cortex.charges, cortex.opt_outs and the ledger: point it only at a throwaway database (scripts/harness.sh
/// starts one).
/// </summary>
internal static class SchedulerPerfRun
{
    private const string QueueName = "perf";
    private const int DefaultBatch = 5000;
    private const int Runs = 3;

    public static async Task<int> RunAsync(string redis, string postgres, int count)
    {
        await using var main = await PrepareAsync(redis, postgres, count);
        var (median, _, expected) = await MeasureRunsAsync(main, count, Runs, Console.Out);
        Console.WriteLine($"| **batch {DefaultBatch:N0}, median of {Runs}** | {count:N0} → {expected:N0} | | **{median:N0} msg/s** | | | | | | |");

        var today = main.GetRequiredService<BillingReminders>().Today();
        var expectedCharges = await ExpectedChargesAsync(main.GetRequiredService<NpgsqlDataSource>(), today);
        foreach (var batch in new[] { 1000, 20_000 })
        {
            await using var variant = Build(redis, postgres, batch);
            await MeasureAsync(variant, today, count, expected, expectedCharges, $"batch {batch:N0}", Console.Out);
        }

        await MeasureBacklogCheckAsync(main, expected);
        return 0;
    }

    /// <summary>
    /// The outbox-repair run's check of a backlog waiting in Redis (<see cref="DispatchLedger.WithdrawUnwantedAsync"/>), on
    /// the last run's reminders, all still in the ready list: once after 1% of them had their charge paid and 0.5% their
    /// phone opted out, then again with nothing changed, as the next minute's run finds it (its 100,000 rows now reach
    /// past the ones withdrawn), then once more after every charge was paid (a whole window withdrawn). Throws unless
    /// every row it withdrew is one of those, and each one's message is marked withdrawn in Redis.
    /// </summary>
    private static async Task MeasureBacklogCheckAsync(ServiceProvider services, long backlog)
    {
        var dataSource = services.GetRequiredService<NpgsqlDataSource>();
        var ledger = services.GetRequiredService<DispatchLedger>();
        var queue = services.GetRequiredService<TimedQueue>();
        var db = services.GetRequiredService<IConnectionMultiplexer>().GetDatabase();
        await ExecuteAsync(
            dataSource,
            """
            UPDATE cortex.charges SET status = 'paid'
            WHERE id IN (SELECT split_part(key, ':', 2)::bigint FROM cortex.dispatch_ledger WHERE status = 'enqueued' AND abs(hashtext(key)) % 100 = 0)
            """);
        await ExecuteAsync(
            dataSource,
            """
            INSERT INTO cortex.opt_outs (phone, reason)
            SELECT DISTINCT payload::jsonb ->> 'to', 'perf' FROM cortex.dispatch_ledger WHERE status = 'enqueued' AND abs(hashtext(key)) % 200 = 1
            ON CONFLICT DO NOTHING
            """);

        Console.WriteLine();
        Console.WriteLine($"| backlog check ({backlog:N0} reminders waiting in ready; {ledger.BacklogCheckLimit:N0} rows read at most) | withdrawn | wall time | CPU: scheduler + postgres + redis-server |");
        Console.WriteLine("| --- | ---: | ---: | ---: |");
        var postgresPid = await PostmasterPidAsync(dataSource);
        foreach (var label in new[] { "after 1% paid and 0.5% opted out", "the next run: nothing changed but the rows withdrawn", "then every charge paid" })
        {
            if (label == "then every charge paid")
            {
                await ExecuteAsync(dataSource, "UPDATE cortex.charges SET status = 'paid' WHERE status = 'open'");
            }

            var before = (Self: CpuProbes.OwnCpu(), Postgres: PostgresCpuSeconds(postgresPid), Redis: await CpuProbes.RedisCpuSecondsAsync(db));
            var clock = Stopwatch.StartNew();
            var withdrawn = await ledger.WithdrawUnwantedAsync(CancellationToken.None);
            clock.Stop();
            var after = (Self: CpuProbes.OwnCpu(), Postgres: PostgresCpuSeconds(postgresPid), Redis: await CpuProbes.RedisCpuSecondsAsync(db));
            foreach (var piece in withdrawn.Chunk(1000))
            {
                var marks = await db.StringGetAsync([.. piece.Select(w => queue.Keys.Sent(w.Key))]);
                if (marks.Select((m, i) => (Mark: (string?)m, piece[i].Key)).FirstOrDefault(m => m.Mark != "withdrawn") is { Key: { } key })
                {
                    throw new InvalidOperationException($"backlog check: {key} was reported withdrawn and is not marked so in Redis");
                }
            }

            await using var wrong = dataSource.CreateCommand(
                """
                SELECT count(*) FROM cortex.dispatch_ledger l JOIN cortex.charges c ON c.id = split_part(l.key, ':', 2)::bigint
                WHERE l.key = ANY(@keys) AND c.status = 'open'
                  AND NOT EXISTS (SELECT 1 FROM cortex.opt_outs o WHERE o.phone = l.payload::jsonb ->> 'to' AND o.reason = 'perf')
                """);
            wrong.Parameters.AddWithValue("keys", withdrawn.Select(w => w.Key).ToArray());
            if ((long)(await wrong.ExecuteScalarAsync())! != 0)
            {
                throw new InvalidOperationException("backlog check: it withdrew reminders whose charge is open and whose phone did not opt out");
            }

            var postgresCpu = postgresPid is null ? "n/a" : $"{after.Postgres - before.Postgres:N2} s";
            Console.WriteLine(
                $"| {label} | {withdrawn.Count:N0} | {clock.Elapsed.TotalSeconds:N2} s | {(after.Self - before.Self).TotalSeconds:N2} s + {postgresCpu} + {after.Redis - before.Redis:N2} s |");
        }
    }

    /// <summary>
    /// The billing job's enqueue of a day with <paramref name="count"/> charges, <paramref name="runs"/> times: the
    /// median throughput, every run's, and the reminders each run pushed. Throws if a run pushed anything but exactly the
    /// expected reminders. Each run's table row goes to <paramref name="rows"/>.
    /// </summary>
    public static async Task<(double Median, IReadOnlyList<double> Runs, long Reminders)> MeasureAsync(string redis, string postgres, int count, int runs, TextWriter rows)
    {
        await using var main = await PrepareAsync(redis, postgres, count);
        return await MeasureRunsAsync(main, count, runs, rows);
    }

    private static async Task<ServiceProvider> PrepareAsync(string redis, string postgres, int count)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 100);
        await using (var setup = Build(redis, postgres, DefaultBatch))
        {
            await setup.GetRequiredService<Migrator>().MigrateAsync();
        }

        return Build(redis, postgres, DefaultBatch);
    }

    private static async Task<(double Median, IReadOnlyList<double> Runs, long Reminders)> MeasureRunsAsync(ServiceProvider main, int count, int runs, TextWriter rows)
    {
        var dataSource = main.GetRequiredService<NpgsqlDataSource>();
        var today = main.GetRequiredService<BillingReminders>().Today();
        var seedClock = Stopwatch.StartNew();
        await SeedAsync(dataSource, today, count);
        var expected = await ExpectedRemindersAsync(dataSource, today);
        var expectedCharges = await ExpectedChargesAsync(dataSource, today);
        seedClock.Stop();
        Console.Error.WriteLine(
            $"Seeded {count * 7L / 2:N0} charges, {count:N0} of them due on {today:yyyy-MM-dd} or its offsets ({expected:N0} reminders due), in {seedClock.Elapsed.TotalSeconds:N1} s");

        rows.WriteLine();
        rows.WriteLine("| scheduler run (charges → ledger → Redis) | charges → reminders | wall time | throughput | until first push / in Redis pushes | CPU per reminder: scheduler + postgres + redis-server | cores busy: these three / whole machine | PostgreSQL WAL per reminder | scheduler allocations per reminder (GCs gen0/1/2) | autovacuum of the ledger during the run |");
        rows.WriteLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |");
        var throughputs = new List<double>();
        for (var run = 1; run <= runs; run++)
        {
            var label = $"batch {DefaultBatch:N0}, run {run}" + (run == 1 ? " (first in the process: JIT)" : string.Empty);
            throughputs.Add(await MeasureAsync(main, today, count, expected, expectedCharges, label, rows));
        }

        var sorted = throughputs.Order().ToArray();
        return (sorted[sorted.Length / 2], throughputs, expected);
    }

    private static ServiceProvider Build(string redis, string postgres, int batchSize)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Cortex:Postgres:ConnectionString"] = postgres,
            ["Cortex:Redis:Configuration"] = redis,
            ["Cortex:Queue:Name"] = QueueName,
            ["Cortex:Scheduler:ApplyMigrations"] = "false",
            ["Cortex:Scheduler:BatchSize"] = batchSize.ToString(CultureInfo.InvariantCulture),
        }).Build();
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(configuration);
        services.AddLogging(b => b.AddConsole().SetMinimumLevel(LogLevel.Warning));
        services.AddSingleton<TimeProvider>(new MorningClock());
        services.AddCortexScheduler(configuration);

        // Times every push to Redis; everything else is the real queue.
        services.AddSingleton<TimedQueue>(sp => new TimedQueue(ActivatorUtilities.CreateInstance<RedisMessageQueue>(sp)));
        services.AddSingleton<IMessageQueue>(sp => sp.GetRequiredService<TimedQueue>());
        return services.BuildServiceProvider();
    }

    private static async Task<double> MeasureAsync(ServiceProvider services, DateOnly today, int count, long expected, IReadOnlyDictionary<long, DateOnly> expectedCharges, string label, TextWriter rows)
    {
        var dataSource = services.GetRequiredService<NpgsqlDataSource>();
        var billing = services.GetRequiredService<BillingReminders>();
        var queue = services.GetRequiredService<TimedQueue>();
        var db = services.GetRequiredService<IConnectionMultiplexer>().GetDatabase();
        await ResetAsync(dataSource, db, queue.Keys);

        var postgresPid = await PostmasterPidAsync(dataSource);
        var vacuumsBefore = await LedgerVacuumsAsync(dataSource);
        var walBefore = await WalBytesAsync(dataSource);
        var cpuBefore = (Self: CpuProbes.OwnCpu(), Postgres: PostgresCpuSeconds(postgresPid), Redis: await CpuProbes.RedisCpuSecondsAsync(db), Machine: CpuProbes.MachineBusySeconds());
        var allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
        var gcsBefore = (GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2));
        queue.Restart();
        var clock = Stopwatch.StartNew();
        var result = await billing.RunAsync(today, CancellationToken.None);
        clock.Stop();
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;
        var gcs = (GC.CollectionCount(0) - gcsBefore.Item1, GC.CollectionCount(1) - gcsBefore.Item2, GC.CollectionCount(2) - gcsBefore.Item3);
        var cpuAfter = (Self: CpuProbes.OwnCpu(), Postgres: PostgresCpuSeconds(postgresPid), Redis: await CpuProbes.RedisCpuSecondsAsync(db), Machine: CpuProbes.MachineBusySeconds());

        var vacuumsAfter = await LedgerVacuumsAsync(dataSource);
        var wal = await WalBytesAsync(dataSource) - walBefore;
        var ready = await db.ListLengthAsync(queue.Keys.ReadyNormal);
        var delayed = await db.SortedSetLengthAsync(queue.Keys.Delayed);
        if (result.Published != expected || result.New != expected || ready != expected || delayed != 0 || result.Invalid != 0)
        {
            throw new InvalidOperationException(
                $"{label}: expected {expected} reminders; the run reported {result.New} new, {result.Published} published, {result.Invalid} invalid, and Redis holds {ready} ready and {delayed} delayed");
        }

        // The counts can match with one reminder pushed twice and another never: each expected charge's reminder, once.
        if (AuditIds(await PushedIdsAsync(db, queue.Keys.ReadyNormal), expectedCharges) is { } wrong)
        {
            throw new InvalidOperationException($"{label}: the reminders in Redis are not the expected ones: {wrong}");
        }

        var seconds = clock.Elapsed.TotalSeconds;
        var throughput = result.Published / seconds;
        var perMessage = 1e6 / result.Published;
        var (self, postgresCpu, redisCpu) = ((cpuAfter.Self - cpuBefore.Self).TotalSeconds, cpuAfter.Postgres - cpuBefore.Postgres, cpuAfter.Redis - cpuBefore.Redis);
        var postgresPerMessage = postgresPid is null ? "n/a" : $"{postgresCpu * perMessage:N1} µs";
        rows.WriteLine(
            $"| {label} | {count:N0} → {result.Published:N0} | {seconds:N2} s | {throughput:N0} msg/s | {queue.FirstPush.TotalSeconds:N2} s / {queue.InPush.TotalSeconds:N2} s "
            + $"| {self * perMessage:N1} µs + {postgresPerMessage} + {redisCpu * perMessage:N1} µs "
            + $"| {(self + postgresCpu + redisCpu) / seconds:N2} / {(cpuAfter.Machine - cpuBefore.Machine) / seconds:N2} of {Environment.ProcessorCount} "
            + $"| {(double)wal / result.Published / 1024:N2} KB "
            + $"| {allocated / (double)result.Published / 1024:N1} KB ({gcs.Item1}/{gcs.Item2}/{gcs.Item3}) "
            + $"| {Vacuums(vacuumsAfter.Vacuums - vacuumsBefore.Vacuums, vacuumsAfter.Analyzes - vacuumsBefore.Analyzes, vacuumsAfter.Running)} |");
        return throughput;
    }

    /// <summary>
    /// One day of charges, generated in SQL, after twice as many paid and cancelled ones from the past two months (lower
    /// ids, as older charges have). The day's ids are shuffled across due dates (i % 20 picks the date), so each due date's rows are
    /// spread over the day's id range, and the scans have to skip the other dates.
    /// </summary>
    private static async Task SeedAsync(NpgsqlDataSource dataSource, DateOnly today, int count)
    {
        await ExecuteAsync(dataSource, "TRUNCATE cortex.charges, cortex.dispatch_ledger, cortex.opt_outs");
        await ExecuteAsync(
            dataSource,
            """
            INSERT INTO cortex.charges (id, tenant, customer_name, phone, amount, due_date, status)
            SELECT i, (ARRAY['', 'isp', 'clinic'])[1 + i % 3], 'Cliente ' || i, '+55118' || lpad(i::text, 8, '0'), 99.90,
                   @today - (8 + i % 60), CASE WHEN i % 25 = 0 THEN 'cancelled' ELSE 'paid' END
            FROM generate_series(1, 2 * @count) AS i
            """,
            ("today", today),
            ("count", count));
        await ExecuteAsync(
            dataSource,
            """
            INSERT INTO cortex.charges (id, tenant, customer_name, phone, amount, due_date, status)
            SELECT 2 * @count + i,
                   (ARRAY['', 'isp', 'clinic'])[1 + i % 3],
                   'Cliente ' || i,
                   '+55119' || lpad(i::text, 8, '0'),
                   (20 + (i::bigint * 7919) % 48000 / 100.0)::numeric(12,2),
                   CASE
                       WHEN i > @count THEN @today + (4 + i % 10)                -- no reminder today
                       WHEN i % 20 = 1 THEN @today + 3                           -- D-3
                       WHEN i % 20 = 2 THEN @today - 1                           -- D+1
                       WHEN i % 20 = 3 THEN @today - 3                           -- D+3
                       WHEN i % 20 = 4 THEN @today - 7                           -- D+7
                       ELSE @today                                               -- D0
                   END,
                   CASE WHEN i % 50 = 7 THEN 'paid' WHEN i % 100 = 9 THEN 'cancelled' ELSE 'open' END
            FROM generate_series(1, @count + @count / 2) AS i
            """,
            ("today", today),
            ("count", count));

        // 2.5% opted out: i % 80 = 11 for every tenant (''), i % 80 = 51 for their charge's tenant only.
        await ExecuteAsync(
            dataSource,
            """
            INSERT INTO cortex.opt_outs (tenant, phone)
            SELECT CASE WHEN i % 80 = 11 THEN '' ELSE (ARRAY['', 'isp', 'clinic'])[1 + i % 3] END, '+55119' || lpad(i::text, 8, '0')
            FROM generate_series(1, @count) AS i
            WHERE i % 40 = 11
            """,
            ("count", count));
        await ExecuteAsync(dataSource, "VACUUM ANALYZE cortex.charges");
        await ExecuteAsync(dataSource, "VACUUM ANALYZE cortex.opt_outs");
    }

    /// <summary>The reminders the run must publish, counted independently of the scheduler's query.</summary>
    private static async Task<long> ExpectedRemindersAsync(NpgsqlDataSource dataSource, DateOnly today)
    {
        await using var command = dataSource.CreateCommand(
            """
            SELECT count(*) FROM cortex.charges c
            WHERE c.status = 'open'
              AND c.due_date IN (@today + 3, @today, @today - 1, @today - 3, @today - 7)
              AND NOT EXISTS (SELECT 1 FROM cortex.opt_outs o WHERE o.phone = c.phone AND (o.tenant = '' OR o.tenant = c.tenant))
            """);
        command.Parameters.AddWithValue("today", today);
        return (long)(await command.ExecuteScalarAsync())!;
    }

    /// <summary>The charges that must get a reminder today, and their due dates, read independently of the scheduler's query.</summary>
    private static async Task<Dictionary<long, DateOnly>> ExpectedChargesAsync(NpgsqlDataSource dataSource, DateOnly today)
    {
        await using var command = dataSource.CreateCommand(
            """
            SELECT c.id, c.due_date FROM cortex.charges c
            WHERE c.status = 'open'
              AND c.due_date IN (@today + 3, @today, @today - 1, @today - 3, @today - 7)
              AND NOT EXISTS (SELECT 1 FROM cortex.opt_outs o WHERE o.phone = c.phone AND (o.tenant = '' OR o.tenant = c.tenant))
            """);
        command.Parameters.AddWithValue("today", today);
        var charges = new Dictionary<long, DateOnly>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            charges.Add(reader.GetInt64(0), reader.GetFieldValue<DateOnly>(1));
        }

        return charges;
    }

    /// <summary>The message id of every envelope in a ready list (null for one that does not parse), read in pages after the timed run.</summary>
    private static async Task<List<string?>> PushedIdsAsync(IDatabase db, RedisKey list)
    {
        const int Page = 10_000;
        var ids = new List<string?>();
        for (long start = 0; ; start += Page)
        {
            var payloads = await db.ListRangeAsync(list, start, start + Page - 1);
            ids.AddRange(payloads.Select(p => EnvelopeCodec.Parse((byte[])p!).Envelope?.Id));
            if (payloads.Length < Page)
            {
                return ids;
            }
        }
    }

    /// <summary>
    /// Null when <paramref name="pushed"/> holds one reminder (billing:{chargeId}:{offset}:{dueDate}) for each of
    /// <paramref name="expected"/>, with its due date, and nothing else; otherwise what is wrong, counted.
    /// </summary>
    internal static string? AuditIds(IEnumerable<string?> pushed, IReadOnlyDictionary<long, DateOnly> expected)
    {
        var seen = new Dictionary<long, int>();
        var unexpected = 0;
        foreach (var id in pushed)
        {
            var parts = id?.Split(':');
            if (parts is not ["billing", var charge, _, var due]
                || !long.TryParse(charge, NumberStyles.None, CultureInfo.InvariantCulture, out var chargeId)
                || !expected.TryGetValue(chargeId, out var dueDate)
                || due != dueDate.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture))
            {
                unexpected++;
                continue;
            }

            seen[chargeId] = seen.GetValueOrDefault(chargeId) + 1;
        }

        var missing = expected.Keys.Count(c => !seen.ContainsKey(c));
        var twice = seen.Values.Sum(n => n - 1);
        return missing == 0 && twice == 0 && unexpected == 0
            ? null
            : $"{missing:N0} expected reminders missing, {twice:N0} pushed more than once, {unexpected:N0} not expected (or unreadable)";
    }

    /// <summary>Same seed every run: an empty ledger, an empty queue, and a checkpoint so none lands inside the timed run.</summary>
    private static async Task ResetAsync(NpgsqlDataSource dataSource, IDatabase db, QueueKeys keys)
    {
        await ExecuteAsync(dataSource, "TRUNCATE cortex.dispatch_ledger");
        await ExecuteAsync(dataSource, "CHECKPOINT");
        await db.KeyDeleteAsync([keys.ReadyHigh, keys.ReadyNormal, keys.ReadyLow, keys.Delayed, keys.Dead]);
    }

    private static async Task ExecuteAsync(NpgsqlDataSource dataSource, string sql, params (string Name, object Value)[] parameters)
    {
        await using var command = dataSource.CreateCommand(sql);
        command.CommandTimeout = 600;
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }

        await command.ExecuteNonQueryAsync();
    }

    /// <summary>
    /// Autovacuum and autoanalyze runs of the ledger finished so far, and whether one is under way. A ledger just truncated
    /// is vacuumed after 1,000 inserts, at autovacuum's next look (once a minute): some runs share the two cores with it.
    /// </summary>
    private static async Task<(long Vacuums, long Analyzes, bool Running)> LedgerVacuumsAsync(NpgsqlDataSource dataSource)
    {
        await using var command = dataSource.CreateCommand(
            """
            SELECT s.autovacuum_count, s.autoanalyze_count,
                   EXISTS (SELECT 1 FROM pg_stat_progress_vacuum p WHERE p.relid = s.relid)
                   OR EXISTS (SELECT 1 FROM pg_stat_progress_analyze p WHERE p.relid = s.relid)
            FROM pg_stat_user_tables s WHERE s.relid = 'cortex.dispatch_ledger'::regclass
            """);
        await using var reader = await command.ExecuteReaderAsync();
        await reader.ReadAsync();
        return (reader.GetInt64(0), reader.GetInt64(1), reader.GetBoolean(2));
    }

    /// <summary>Bytes of WAL written so far (the current WAL position).</summary>
    private static async Task<decimal> WalBytesAsync(NpgsqlDataSource dataSource)
    {
        await using var command = dataSource.CreateCommand("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')");
        return (decimal)(await command.ExecuteScalarAsync())!;
    }

    private static string Vacuums(long vacuums, long analyzes, bool running)
    {
        var parts = new List<string>();
        if (vacuums > 0)
        {
            parts.Add($"{vacuums} vacuum");
        }

        if (analyzes > 0)
        {
            parts.Add($"{analyzes} analyze");
        }

        if (running)
        {
            parts.Add("one under way at the end");
        }

        return parts.Count == 0 ? "none" : string.Join(", ", parts);
    }

    /// <summary>The postmaster's pid, from postmaster.pid in its data directory; null when that is not readable (CPU shown as n/a).</summary>
    private static async Task<int?> PostmasterPidAsync(NpgsqlDataSource dataSource)
    {
        try
        {
            await using var command = dataSource.CreateCommand("SHOW data_directory");
            var directory = (string)(await command.ExecuteScalarAsync())!;
            var first = (await File.ReadAllLinesAsync(Path.Combine(directory, "postmaster.pid")))[0];
            return int.Parse(first, CultureInfo.InvariantCulture);
        }
        catch (Exception ex) when (ex is PostgresException or IOException or UnauthorizedAccessException or FormatException)
        {
            return null;
        }
    }

    /// <summary>CPU seconds of the postmaster, its live children (backends, WAL writer, checkpointer) and its reaped children.</summary>
    private static double PostgresCpuSeconds(int? postmaster)
    {
        if (postmaster is not { } pid)
        {
            return 0;
        }

        const double TicksPerSecond = 100; // USER_HZ on Linux
        long ticks = 0;
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(directory), NumberStyles.None, CultureInfo.InvariantCulture, out var candidate))
            {
                continue;
            }

            string stat;
            try
            {
                stat = File.ReadAllText(Path.Combine(directory, "stat"));
            }
            catch (IOException)
            {
                continue; // exited meanwhile: its time is in the postmaster's reaped-children counters
            }

            // Fields after "(comm)": state ppid ... utime(14) stime(15) cutime(16) cstime(17), numbered from 1 for pid.
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            var ppid = int.Parse(fields[1], CultureInfo.InvariantCulture);
            if (candidate == pid)
            {
                ticks += Field(fields, 14) + Field(fields, 15) + Field(fields, 16) + Field(fields, 17);
            }
            else if (ppid == pid)
            {
                ticks += Field(fields, 14) + Field(fields, 15);
            }
        }

        return ticks / TicksPerSecond;

        static long Field(string[] fields, int number) => long.Parse(fields[number - 3], CultureInfo.InvariantCulture);
    }

    /// <summary>The scheduler's clock moved to 09:00 of today in São Paulo, the billing job's firing time (outside the quiet hours).</summary>
    private sealed class MorningClock : TimeProvider
    {
        private readonly TimeSpan _shift;

        public MorningClock()
        {
            var zone = TimeZoneInfo.FindSystemTimeZoneById("America/Sao_Paulo");
            var now = TimeProvider.System.GetUtcNow();
            var local = TimeZoneInfo.ConvertTime(now, zone);
            var nine = local.Date + TimeSpan.FromHours(9);
            _shift = new DateTimeOffset(nine, zone.GetUtcOffset(nine)) - now;
        }

        public override DateTimeOffset GetUtcNow() => TimeProvider.System.GetUtcNow() + _shift;
    }

    /// <summary>The real queue, with the time of the first push after <see cref="Restart"/> and the wall time with a push in flight.</summary>
    private sealed class TimedQueue(IMessageQueue inner) : DelegatingMessageQueue(inner)
    {
        private readonly Lock _lock = new();
        private readonly Stopwatch _sinceRestart = new();
        private TimeSpan? _firstPush;
        private TimeSpan _inPush;
        private TimeSpan _busySince;
        private int _inFlight;

        public TimeSpan FirstPush => _firstPush ?? TimeSpan.Zero;

        public TimeSpan InPush => _inPush;

        public void Restart()
        {
            lock (_lock)
            {
                (_firstPush, _inPush, _inFlight) = (null, TimeSpan.Zero, 0);
                _sinceRestart.Restart();
            }
        }

        public override async Task EnqueueAsync(IReadOnlyList<QueueMessage> messages, CancellationToken cancellationToken = default)
        {
            lock (_lock)
            {
                _firstPush ??= _sinceRestart.Elapsed;
                if (_inFlight++ == 0)
                {
                    _busySince = _sinceRestart.Elapsed;
                }
            }

            try
            {
                await base.EnqueueAsync(messages, cancellationToken);
            }
            finally
            {
                lock (_lock)
                {
                    if (--_inFlight == 0)
                    {
                        _inPush += _sinceRestart.Elapsed - _busySince;
                    }
                }
            }
        }
    }
}
