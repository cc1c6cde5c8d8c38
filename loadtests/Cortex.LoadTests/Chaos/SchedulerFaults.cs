using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Cortex.LoadTests.Reporting;
using Cortex.Scheduler.Data;
using Cortex.Shared.Queue;
using Npgsql;
using StackExchange.Redis;

namespace Cortex.LoadTests.Chaos;

/// <summary>
/// K6, the scheduler faults of issue #7, on a PostgreSQL and a redis-server this run owns and real Cortex.Scheduler
/// processes (Quartz clustered on that PostgreSQL): PostgreSQL crashed in the middle of a large billing run (K6a), three
/// schedulers racing on the same firings (K6b), a scheduler SIGKILLed mid-campaign (K6c) and mid billing run (K6d), a new
/// process started each time, one SIGTERMed mid billing run in a rolling update (K6e), and Redis crashed mid billing run
/// (K6f). Every message is counted by its id in Redis afterwards, so missing and duplicated pushes are exact. The
/// scheduler processes are started with <see cref="SenderProcess"/>, which runs any Cortex service dll.
/// </summary>
internal static partial class SchedulerFaults
{
    private const string Cron = "0/5 * * * * ?";
    private static readonly TimeSpan s_poll = TimeSpan.FromMilliseconds(50);
    private static readonly TimeSpan s_budget = TimeSpan.FromMinutes(3);

    /// <summary>
    /// How much each profile pushes: reminders of the billing day, recipients of the campaign, the scheduler's batch size
    /// (the product default in the short profile; small in the smoke profile, so its few thousand rows still take many
    /// batches and the fault lands mid-run), and how long PostgreSQL stays down.
    /// </summary>
    public static (int Reminders, int Recipients, int Batch, TimeSpan Outage) Load(ChaosProfile profile) =>
        profile == ChaosProfile.Smoke ? (10_000, 10_000, 250, TimeSpan.FromSeconds(3)) : (100_000, 100_000, 5_000, TimeSpan.FromSeconds(10));

    /// <summary>
    /// K6a: PostgreSQL crashed (every process quits at once, no checkpoint) a fifth of the way into the day's only billing
    /// run of <see cref="Load"/> reminders, started again after the outage. The scheduler must survive (or is restarted),
    /// and the job itself must finish the day: every reminder in Redis; the only copies allowed are the pushes whose commit
    /// the crash cut (at most a batch per open publish transaction).
    /// </summary>
    public static Task<ScenarioReport> PostgresCrashAsync(string schedulerDll, ChaosProfile profile, TextWriter progress) =>
        CrashMidRunAsync(schedulerDll, profile, progress, redis: false);

    /// <summary>
    /// K6f: redis-server SIGKILLed a fifth of the way into the day's only billing run, restarted on its AOF (appendfsync
    /// everysec) after the outage. A push Redis acknowledged is marked enqueued in the ledger and never pushed again, so
    /// one the crash lost would be missing for good: the count of missing ids is that loss.
    /// </summary>
    public static Task<ScenarioReport> RedisCrashAsync(string schedulerDll, ChaosProfile profile, TextWriter progress) =>
        CrashMidRunAsync(schedulerDll, profile, progress, redis: true);

    private static async Task<ScenarioReport> CrashMidRunAsync(string schedulerDll, ChaosProfile profile, TextWriter progress, bool redis)
    {
        var (n, _, batch, outage) = Load(profile);
        var (id, server) = redis ? ("k6f", "redis-server") : ("k6a", "PostgreSQL");
        var crash = redis ? "SIGKILL" : "pg_ctl stop -m immediate";
        await using var rig = await Rig.StartAsync(schedulerDll, id, batch);
        await rig.SeedChargesAsync(n);
        progress.WriteLine($"  {n:N0} charges due today; one scheduler, billing once a day, a few seconds from now");
        // The product's shape: billing fires once a day. Here at one moment a few seconds ahead, so no later firing
        // finishes the day for it: only the job itself can, once the server is back.
        var daily = DailyCronSoon();
        var restarts = 0;
        // The crash must land mid-run. The smoke profile's run is short enough to end between two polls of a loaded machine
        // (10,000 of 10,000 were in Redis twice), so a gate stops it at three tenths, and the scheduler stands still (SIGSTOP)
        // while the server goes, and finds it gone when it goes on.
        await using var gate = await rig.HoldBillingAsync(3 * n / 10);
        var current = rig.StartScheduler($"{id}-0", "cortex", billing: true, campaigns: false, daily);
        await rig.WaitUntilAsync(async () => await rig.InRedisAsync() >= n / 5, $"{n / 5:N0} reminders in Redis");
        await current.FreezeAsync();
        var atKill = await rig.InRedisAsync();
        var killedAt = Stopwatch.GetTimestamp();
        await (redis ? rig.RedisServer.KillAsync() : rig.Postgres.KillAsync());
        await gate.DisposeAsync();
        await current.ContinueAsync();
        progress.WriteLine($"  {server} crashed ({crash}) with {atKill:N0} of {n:N0} in Redis; back in {outage.TotalSeconds:N0} s");
        await Task.Delay(outage);
        var survived = !current.HasExited;
        await (redis ? rig.RedisServer.RestartAsync() : rig.Postgres.RestartAsync());
        var restartedAt = Stopwatch.GetTimestamp();
        var atRestart = 0L;
        await rig.WaitUntilAsync(async () => (atRestart = await rig.InRedisAsync()) >= 0, "Redis answering again", restartOnExit: true);

        long resumedAt = 0;
        await rig.WaitUntilAsync(
            async () =>
            {
                if (current.HasExited)
                {
                    restarts++;
                    current = rig.StartScheduler($"{id}-{restarts}", "cortex", billing: true, campaigns: false, daily);
                }

                if (resumedAt == 0 && await rig.InRedisAsync() > atRestart)
                {
                    resumedAt = Stopwatch.GetTimestamp();
                }

                var (rows, pending) = await rig.LedgerAsync();
                return rows == n && pending == 0 && await rig.InRedisAsync() >= n;
            },
            "every reminder in the ledger and pushed",
            restartOnExit: true);
        var recovered = Stopwatch.GetElapsedTime(restartedAt);
        var exit = await rig.StopAllAsync();
        var (missing, duplicates) = Audit(await rig.CountByIdAsync(n, BillingIndex));

        var bound = 2 * batch;
        List<Check> checks =
        [
            new("reminders missing from Redis after recovery", "0", $"{missing:N0} of {n:N0}", missing == 0),
            new(redis ? "duplicate pushes: only a batch whose push the crash cut" : "duplicate pushes: only a batch whose commit the crash cut", $"≤ {bound:N0} (2 open publish transactions × batch {batch:N0})", $"{duplicates:N0}", duplicates <= bound),
            new("the scheduler process rode out the outage", "no restart", survived ? "no restart" : $"exited, restarted {restarts}×", survived),
            exit,
        ];
        List<Figure> figures =
        [
            new("load", $"{n:N0} billing reminders due today (one offset), batch {batch:N0}, billing cron once a day ({daily}), one scheduler process"),
            new("faults injected", redis
                ? $"redis-server SIGKILLed once (AOF, appendfsync everysec) with {atKill:N0} of {n:N0} in Redis, restarted on its AOF {outage.TotalSeconds:N0} s later"
                : $"PostgreSQL crashed once (pg_ctl stop -m immediate: no checkpoint, crash recovery on restart) with {atKill:N0} of {n:N0} in Redis, down {outage.TotalSeconds:N0} s"),
            .. redis ? [new Figure("in Redis right after the restart (its AOF replayed)", $"{atRestart:N0} of the {atKill:N0} there at the crash")] : Array.Empty<Figure>(),
            new($"pushing resumed after {server} was back", resumedAt == 0 ? "never" : $"{Stopwatch.GetElapsedTime(restartedAt, resumedAt).TotalSeconds:N1} s"),
            new($"{server} back → every reminder in Redis", $"{recovered.TotalSeconds:N1} s"),
            new("crash → every reminder in Redis", $"{Stopwatch.GetElapsedTime(killedAt).TotalSeconds:N1} s"),
            new("duplicates in Redis (same id twice; the sender sends an id once)", $"{duplicates:N0}"),
            new("billing firings per scheduler process", rig.Firings("billing-reminders")),
        ];
        return redis
            ? new ScenarioReport(
                "K6f",
                $"Redis crash during a {n:N0}-reminder billing run",
                "closed (one billing day)",
                $"{n:N0} open charges are due today. A real Cortex.Scheduler process fires the billing job once, as the daily 09:00 job does. A fifth of the way into the run redis-server is killed with SIGKILL (the scheduler held still with SIGSTOP for that moment, and the run held at three tenths by a ledger row an open transaction has inserted until then, so the crash lands mid-run) and started again on its AOF (appendfsync everysec, the production setting) {outage.TotalSeconds:N0} s later. A push Redis acknowledged is marked enqueued in the ledger and never pushed again, so a missing id is a push the crash lost; a push the crash cut fails, leaves its rows pending, and is pushed again by the job's retry. Every reminder id is counted in Redis afterwards.",
                figures, checks, [])
            : new ScenarioReport(
                "K6a",
                $"PostgreSQL crash during a {n:N0}-reminder billing run",
                "closed (one billing day)",
                $"{n:N0} open charges are due today in a PostgreSQL this run owns. A real Cortex.Scheduler process (Quartz clustered on that PostgreSQL) fires the billing job once, as the daily 09:00 job does: it reads, renders, writes the dispatch ledger and pushes to Redis; no later firing comes to finish the day. A fifth of the way into the first run PostgreSQL crashes (every process quits at once, as on a node loss; the scheduler is held still with SIGSTOP for the moment of the crash, and the run held at three tenths by a ledger row an open transaction has inserted until then, so that it lands mid-run), and is started on the same data {outage.TotalSeconds:N0} s later. Afterwards every reminder id is counted in Redis (ready lists and delayed set): none may be missing; a copy is allowed only for a batch pushed whose commit the crash cut, which the sender's idempotency absorbs.",
                figures, checks, []);
    }

    /// <summary>
    /// K6b: three scheduler processes on one database. a and b form the Quartz cluster (each firing runs on one of them);
    /// c is a replica deployed with another Quartz instance name, so it fires every billing firing too, at the same time
    /// as the cluster. Every reminder must reach Redis exactly once.
    /// </summary>
    public static async Task<ScenarioReport> RaceAsync(string schedulerDll, ChaosProfile profile, TextWriter progress)
    {
        var (n, _, batch, _) = Load(profile);
        await using var rig = await Rig.StartAsync(schedulerDll, "k6b", batch);
        await rig.SeedChargesAsync(n);
        progress.WriteLine($"  {n:N0} charges due today; schedulers a, b (cluster 'cortex') and c (instance name 'cortex-other') fire billing every 5 s");
        var started = Stopwatch.GetTimestamp();
        rig.StartScheduler("a", "cortex", billing: true, campaigns: false);
        rig.StartScheduler("b", "cortex", billing: true, campaigns: false);
        rig.StartScheduler("c", "cortex-other", billing: true, campaigns: false);
        TimeSpan? allIn = null;
        await rig.WaitUntilAsync(
            async () =>
            {
                if (allIn is null)
                {
                    var (rows, pending) = await rig.LedgerAsync();
                    if (rows == n && pending == 0 && await rig.InRedisAsync() >= n)
                    {
                        allIn = Stopwatch.GetElapsedTime(started);
                    }
                }

                // Two more firings each after the day is in: reruns that race too, and must add nothing.
                var firings = rig.FiringsByNode("billing-reminders");
                return allIn is not null && firings.GetValueOrDefault("c") >= 3 && firings.GetValueOrDefault("a") + firings.GetValueOrDefault("b") >= 3;
            },
            "every reminder pushed and three billing firings on each side");
        var exit = await rig.StopAllAsync();
        var (missing, duplicates) = Audit(await rig.CountByIdAsync(n, BillingIndex));
        var twice = rig.FireTimes("billing-reminders").Where(f => f.Node is "a" or "b").GroupBy(f => f.FireTime).Count(g => g.Count() > 1);
        var raced = rig.FireTimes("billing-reminders").GroupBy(f => f.FireTime).Count(g => g.Any(f => f.Node == "c") && g.Any(f => f.Node != "c"));

        List<Check> checks =
        [
            new("reminders missing from Redis", "0", $"{missing:N0} of {n:N0}", missing == 0),
            new("reminders pushed twice", "0", $"{duplicates:N0}", duplicates == 0),
            new("a firing run on both nodes of the cluster", "0", $"{twice:N0}", twice == 0),
            new("firings raced by the other instance", "≥ 1", $"{raced:N0}", raced >= 1),
            exit,
        ];
        List<Figure> figures =
        [
            new("load", $"{n:N0} billing reminders due today, batch {batch:N0}, billing cron every 5 s"),
            new("faults injected", "three scheduler processes on one database: a and b clustered, c with another Quartz instance name, so the same firing runs on c and on a or b at once"),
            new("billing firings per process", rig.Firings("billing-reminders")),
            new("fire times run by c and the cluster at once", $"{raced:N0}"),
            new("start → every reminder in Redis", allIn is { } t ? $"{t.TotalSeconds:N1} s" : "never"),
        ];
        return new ScenarioReport(
            "K6b",
            $"Three schedulers racing on a {n:N0}-reminder billing day",
            "closed (one billing day)",
            $"{n:N0} open charges due today. Three real Cortex.Scheduler processes start together on the same PostgreSQL and Redis: a and b form the Quartz cluster 'cortex', so each firing runs on one of them; c has another instance name (a replica deployed with the wrong setting), so it runs every firing as well, at the same moment. They race on the same ledger rows: the insert skips keys already present and the publisher claims pending rows with FOR UPDATE SKIP LOCKED. Every reminder id must be in Redis exactly once.",
            figures, checks, []);
    }

    /// <summary>
    /// K6c: a scheduler SIGKILLed a third of the way into fanning out a campaign of <see cref="Load"/> recipients, and
    /// a new process started at once. Quartz recovers the dead node's blocked job once its check-in is stale; the fan-out
    /// resumes after the last committed batch. Every recipient is in Redis; a copy only for a batch pushed and not committed.
    /// </summary>
    public static Task<ScenarioReport> KillMidCampaignAsync(string schedulerDll, ChaosProfile profile, TextWriter progress) =>
        KillMidRunAsync(schedulerDll, profile, progress, campaign: true);

    /// <summary>
    /// K6d: the daily billing run's scheduler SIGKILLed a fifth of the way in, and a new process started at once. No
    /// later firing comes today: Quartz must run the cut firing again on the new node once the dead one's check-in is stale.
    /// </summary>
    public static Task<ScenarioReport> KillMidBillingAsync(string schedulerDll, ChaosProfile profile, TextWriter progress) =>
        KillMidRunAsync(schedulerDll, profile, progress, campaign: false);

    /// <summary>
    /// K6e: a rolling update during the daily billing run: a new process starts, then the running one gets SIGTERM a fifth
    /// of the way in. Quartz cancels the run and forgets the firing (no recovery for a graceful stop), so only the day the
    /// run owes in Quartz's store (OwedDays) brings the rest, on the new node.
    /// </summary>
    public static Task<ScenarioReport> StopMidBillingAsync(string schedulerDll, ChaosProfile profile, TextWriter progress) =>
        KillMidRunAsync(schedulerDll, profile, progress, campaign: false, graceful: true);

    private static async Task<ScenarioReport> KillMidRunAsync(string schedulerDll, ChaosProfile profile, TextWriter progress, bool campaign, bool graceful = false)
    {
        var (reminders, recipients, batch, _) = Load(profile);
        var (id, n, job, what) = campaign ? ("k6c", recipients, "campaigns", "campaign messages") : (graceful ? "k6e" : "k6d", reminders, "billing-reminders", "reminders");
        await using var rig = await Rig.StartAsync(schedulerDll, id, batch);
        var cron = Cron;
        if (campaign)
        {
            await rig.SeedCampaignAsync(n);
            progress.WriteLine($"  a one-shot campaign of {n:N0} recipients, due now; campaign job every 5 s");
        }
        else
        {
            await rig.SeedChargesAsync(n);
            cron = DailyCronSoon();
            progress.WriteLine($"  {n:N0} charges due today; billing once a day ({cron})");
        }

        // A billing run's fault must land mid-run, wherever the machine's speed puts the poll: a gate stops the run at three
        // tenths until the old process is killed (SIGKILL) or has exited (SIGTERM). The campaign commits one batch at a time,
        // and its check that pushing resumed after the kill fails if the kill came after the end.
        await using var gate = campaign ? null : await rig.HoldBillingAsync(3 * n / 10);
        var first = rig.StartScheduler($"{id}-0", "cortex", billing: !campaign, campaigns: campaign, cron);
        var cut = campaign ? n / 3 : n / 5;
        await rig.WaitUntilAsync(async () => await rig.InRedisAsync() >= cut, $"{cut:N0} {what} in Redis");
        Check? stopped = null;
        if (graceful)
        {
            // As a rolling update: the replacement is up before the old pod is told to stop, and the old one runs on
            // meanwhile (the gate keeps its run short of the end). It is not held still (SIGSTOP) while the replacement
            // starts: frozen while its Quartz held a lock row (a firing, a job's completion), it would hold it through the
            // freeze, and the replacement's start, which stores the jobs under that lock, would wait on it past the wait
            // below; a real pod being replaced runs on.
            await rig.StartScheduler($"{id}-1", "cortex", billing: true, campaigns: false, cron).HostStarted.WaitAsync(TimeSpan.FromSeconds(60));
            await first.TerminateAsync();
        }
        else
        {
            await first.KillAsync();
        }

        var killedAt = Stopwatch.GetTimestamp();
        var atKill = await rig.InRedisAsync();
        if (graceful)
        {
            var firstExit = await first.WaitForExitAsync(TimeSpan.FromSeconds(40));
            await gate!.DisposeAsync();
            stopped = new Check("stopped scheduler exits 0 on SIGTERM", "0", firstExit is { } e ? $"{e.ExitCode} after {e.AfterTerm.TotalSeconds:N1} s" : "hung", firstExit?.ExitCode == 0);
            progress.WriteLine($"  SIGTERM {id}-0 with {atKill:N0} of {n:N0} in Redis, {id}-1 already running; {stopped.Measured}");
        }
        else
        {
            if (gate is not null)
            {
                await gate.DisposeAsync();
            }

            progress.WriteLine($"  SIGKILL {id}-0 with {atKill:N0} of {n:N0} in Redis; {id}-1 started at once");
            rig.StartScheduler($"{id}-1", "cortex", billing: !campaign, campaigns: campaign, cron);
        }
        long resumedAt = 0;
        await rig.WaitUntilAsync(
            async () =>
            {
                // After a SIGTERM the stopping run's last pushes still land: the new node's firing is the resumption.
                if (resumedAt == 0 && (graceful ? rig.FiringsByNode(job).GetValueOrDefault($"{id}-1") >= 1 : await rig.InRedisAsync() > atKill))
                {
                    resumedAt = Stopwatch.GetTimestamp();
                }

                var (rows, pending) = await rig.LedgerAsync();
                var done = rows == n && pending == 0 && await rig.InRedisAsync() >= n;

                // The restarted process must have run the campaign job itself: the resumption is what is under test.
                return campaign ? done && await rig.CampaignCompletedAsync() && rig.FiringsByNode(job).GetValueOrDefault($"{id}-1") >= 1 : done;
            },
            campaign ? "the campaign completed by the restarted scheduler and every message pushed" : "every reminder of the day in the ledger and pushed");
        var recovered = Stopwatch.GetElapsedTime(killedAt);
        var exit = await rig.StopAllAsync();
        var (missing, duplicates) = Audit(await rig.CountByIdAsync(n, campaign ? CampaignIndex : BillingIndex));

        // A campaign commits one batch at a time; a billing run has two publish transactions open. A graceful stop commits
        // every push it made.
        var (bound, boundText) = graceful ? (0, "0") : campaign ? (batch, $"≤ {batch:N0} (one batch)") : (2 * batch, $"≤ {2 * batch:N0} (2 open publish transactions × batch {batch:N0})");
        List<Check> checks =
        [
            new($"{what} missing from Redis", "0", $"{missing:N0} of {n:N0}", missing == 0),
            graceful
                ? new("duplicate pushes", "0", $"{duplicates:N0}", duplicates == 0)
                : new("duplicate pushes: only a batch pushed and not committed at the kill", boundText, $"{duplicates:N0}", duplicates <= bound),
            .. stopped is null ? Array.Empty<Check>() : [stopped],
            exit,
        ];
        var recovery = graceful ? "the day owed in Quartz's store fires on the running node once the stopped run ends" : campaign ? "Quartz releases the dead node's job" : "Quartz recovers the dead node's firing";
        var fault = graceful ? "SIGTERM" : "kill";
        List<Figure> figures =
        [
            new("load", campaign ? $"one-shot campaign, {n:N0} recipients, batch {batch:N0}, campaign cron every 5 s" : $"{n:N0} billing reminders due today, batch {batch:N0}, billing cron once a day ({cron})"),
            new("faults injected", graceful
                ? $"the scheduler SIGTERMed with {atKill:N0} of {n:N0} in Redis, once a new process (new Quartz instance id) had started"
                : $"the scheduler SIGKILLed with {atKill:N0} of {n:N0} in Redis; a new process (new Quartz instance id) started at once"),
            graceful
                ? new("SIGTERM → the new node runs the owed day", resumedAt == 0 ? "never" : $"{Stopwatch.GetElapsedTime(killedAt, resumedAt).TotalSeconds:N1} s ({recovery})")
                : new("kill → pushing resumed", resumedAt == 0 ? "never" : $"{Stopwatch.GetElapsedTime(killedAt, resumedAt).TotalSeconds:N1} s ({recovery} once its check-in is older than the 20 s threshold)"),
            new(campaign ? "kill → campaign completed, every message in Redis" : $"{fault} → every reminder in Redis", $"{recovered.TotalSeconds:N1} s"),
            new("duplicates in Redis (same id twice; the sender sends an id once)", $"{duplicates:N0}"),
            new(campaign ? "campaign firings per scheduler process" : graceful ? "billing firings per scheduler process (the owed day's included)" : "billing firings per scheduler process (the recovery of the cut one included)", rig.Firings(job)),
        ];
        if (graceful)
        {
            return new ScenarioReport(
                "K6e",
                $"Scheduler SIGTERMed mid billing run ({n:N0} reminders), rolling update",
                "closed (one billing day)",
                $"{n:N0} open charges are due today and the billing job fires once, as the daily 09:00 job does. A fifth of the way into the run a new scheduler process starts; once it is up, the running one (held at three tenths by a ledger row an open transaction has inserted, until it has exited) gets SIGTERM, as a rolling update does: Quartz cancels the run through its token and, the stop being graceful, forgets the firing (no recovery). No later firing comes today. The run stored the day as owed in Quartz's store before its work, and the stop leaves it there: it fires on the new node once the cut run has ended. Every reminder must be in Redis, none twice (a graceful stop commits every push it made).",
                figures, checks, []);
        }

        return campaign
            ? new ScenarioReport(
                "K6c",
                $"Scheduler SIGKILLed mid-campaign ({n:N0} recipients), restarted",
                "closed (one campaign run)",
                $"A one-shot campaign of {n:N0} recipients is due. A real Cortex.Scheduler process fans it out in batches of {batch:N0}, each committing its ledger rows with the run's cursor, then pushing them. A third of the way through it is killed with SIGKILL and a new process starts at once, as a restarted pod. The dead node's campaign job stays blocked until Quartz's cluster check declares the node dead; then the fan-out resumes after the last committed batch. Every recipient must be in Redis; a batch pushed whose commit the kill cut is pushed again (same ids, absorbed by the sender).",
                figures, checks, [])
            : new ScenarioReport(
                "K6d",
                $"Scheduler SIGKILLed mid billing run ({n:N0} reminders), restarted",
                "closed (one billing day)",
                $"{n:N0} open charges are due today and the billing job fires once, as the daily 09:00 job does. A fifth of the way into the run (held at three tenths by a ledger row an open transaction has inserted, until the kill) the scheduler is killed with SIGKILL and a new process starts at once. No later firing comes today: the job is stored with RequestRecovery, so once Quartz's cluster check declares the dead node gone, the new node runs the cut firing again; the ledger skips what was written. Every reminder must be in Redis; a batch pushed whose commit the kill cut is pushed again (same ids, absorbed by the sender).",
                figures, checks, []);
    }

    /// <summary>
    /// A once-a-day cron firing 30 s from now in the scheduler's zone: no second firing comes to finish the day. A process that
    /// starts after that moment would wait for tomorrow, so the lead leaves room for a slow start on a busy machine.
    /// </summary>
    private static string DailyCronSoon()
    {
        var zone = TimeZoneInfo.FindSystemTimeZoneById("America/Sao_Paulo");
        var fireAt = TimeZoneInfo.ConvertTime(TimeProvider.System.GetUtcNow() + TimeSpan.FromSeconds(30), zone);
        return fireAt.ToString("s m H", CultureInfo.InvariantCulture) + " * * ?";
    }

    private static (int Missing, int Duplicates) Audit(int[] counts) => (counts.Count(c => c == 0), counts.Sum(c => Math.Max(0, c - 1)));

    /// <summary>billing:{chargeId}:{offset}:{dueDate}: the charge id is the index.</summary>
    private static int BillingIndex(string id) => id.Split(':') is ["billing", var charge, ..] && int.TryParse(charge, CultureInfo.InvariantCulture, out var i) ? i : -1;

    /// <summary>campaign:{campaignId}:{fireTime}:{recipientId}: the recipient id is the index.</summary>
    private static int CampaignIndex(string id) => id.Split(':') is ["campaign", _, _, var recipient] && int.TryParse(recipient, CultureInfo.InvariantCulture, out var i) ? i : -1;

    [GeneratedRegex(@"Job (\S+) (?:fired for|recovering the firing of) (\S+)")]
    private static partial Regex FiredLine();

    /// <summary>A PostgreSQL, a redis-server and the scheduler processes of one scenario, all torn down at the end.</summary>
    private sealed class Rig : IAsyncDisposable
    {
        private readonly List<(string Node, SenderProcess Process)> _schedulers = [];
        private readonly ConnectionMultiplexer _redis;

        private readonly int _batch;

        private Rig(string schedulerDll, string queue, int batch, RedisProcess redisServer, PostgresProcess postgres, ConnectionMultiplexer redis)
        {
            SchedulerDll = schedulerDll;
            _batch = batch;
            Keys = new QueueKeys(queue);
            RedisServer = redisServer;
            Postgres = postgres;
            _redis = redis;
        }

        public string SchedulerDll { get; }

        public QueueKeys Keys { get; }

        public RedisProcess RedisServer { get; }

        public PostgresProcess Postgres { get; }

        /// <summary>The harness's own connections bypass the pool: pooled ones would be dead after a crash.</summary>
        private string Admin => Postgres.ConnectionString + ";Pooling=false;Command Timeout=120";

        public static async Task<Rig> StartAsync(string schedulerDll, string scenario, int batch)
        {
            var redisServer = await RedisProcess.StartAsync();
            PostgresProcess? postgres = null;
            try
            {
                postgres = await PostgresProcess.StartAsync();
                var redis = await ConnectionMultiplexer.ConnectAsync(redisServer.Configuration);
                var rig = new Rig(schedulerDll, $"chaos-{scenario}", batch, redisServer, postgres, redis);
                await using var dataSource = NpgsqlDataSource.Create(rig.Admin);
                await new Migrator(dataSource).MigrateAsync();
                return rig;
            }
            catch
            {
                if (postgres is not null)
                {
                    await postgres.DisposeAsync();
                }

                await redisServer.DisposeAsync();
                throw;
            }
        }

        /// <summary>Today in the scheduler's zone (America/Sao_Paulo), by the real clock the processes use.</summary>
        public static DateOnly Today() =>
            DateOnly.FromDateTime(TimeZoneInfo.ConvertTime(TimeProvider.System.GetUtcNow(), TimeZoneInfo.FindSystemTimeZoneById("America/Sao_Paulo")).DateTime);

        /// <summary>Charges 0..n-1, open, due today; the phone ends in 10,000,000 + id, as the load workload's numbers do.</summary>
        public Task SeedChargesAsync(int n) => ExecuteAsync(
            """
            INSERT INTO cortex.charges (id, tenant, customer_name, phone, amount, due_date, status)
            SELECT i, '', 'Cliente ' || i, '+55119' || (10000000 + i), 99.90, @today, 'open' FROM generate_series(0, @n - 1) AS i
            """,
            ("today", Today()),
            ("n", n));

        /// <summary>A one-shot campaign due a minute ago with recipients 0..m-1, and its template.</summary>
        public async Task SeedCampaignAsync(int m)
        {
            await ExecuteAsync("INSERT INTO cortex.message_templates (key, body) VALUES ('campaign.chaos', 'Olá {name}, temos uma oferta para você.')");
            await ExecuteAsync(
                """
                WITH c AS (INSERT INTO cortex.campaigns (name, template_key, run_at) VALUES ('chaos', 'campaign.chaos', now() - interval '1 minute') RETURNING id)
                INSERT INTO cortex.campaign_recipients (campaign_id, id, phone, name)
                SELECT c.id, i, '+55118' || (10000000 + i), 'Cliente ' || i FROM c, generate_series(0, @m - 1) AS i
                """,
                ("m", m));
        }

        public SenderProcess StartScheduler(string node, string instanceName, bool billing, bool campaigns, string billingCron = Cron)
        {
            var environment = new Dictionary<string, string>
            {
                ["Cortex__Postgres__ConnectionString"] = Postgres.ConnectionString,
                ["Cortex__Redis__Configuration"] = RedisServer.Configuration,
                ["Cortex__Queue__Name"] = Keys.Name,
                ["Cortex__Scheduler__InstanceName"] = instanceName,
                ["Cortex__Scheduler__ApplyMigrations"] = "false",
                ["Cortex__Scheduler__BatchSize"] = _batch.ToString(CultureInfo.InvariantCulture),
                ["Cortex__Scheduler__Billing__Enabled"] = billing ? "true" : "false",
                ["Cortex__Scheduler__Billing__Cron"] = billingCron,
                ["Cortex__Scheduler__Billing__Offsets"] = "0",
                ["Cortex__Scheduler__Campaigns__Enabled"] = campaigns ? "true" : "false",
                ["Cortex__Scheduler__Campaigns__Cron"] = Cron,
                ["Cortex__Scheduler__FollowUps__Enabled"] = "false",
                ["Cortex__Scheduler__QuietHours__Start"] = "00:00",
                ["Cortex__Scheduler__QuietHours__End"] = "00:00",
                ["Logging__LogLevel__Cortex"] = "Information",
                ["Logging__LogLevel__Cortex.Scheduler.Scheduling"] = "Debug",
            };
            var process = SenderProcess.Start(SchedulerDll, node, environment, "cortex-chaos-scheduler");
            _schedulers.Add((node, process));
            return process;
        }

        /// <summary>Polls <paramref name="condition"/> until true; fails when every scheduler exited (unless the condition restarts them) or after 3 minutes.</summary>
        public async Task WaitUntilAsync(Func<Task<bool>> condition, string what, bool restartOnExit = false)
        {
            var started = Stopwatch.GetTimestamp();
            while (true)
            {
                try
                {
                    if (await condition())
                    {
                        return;
                    }
                }
                catch (Exception ex) when (ex is NpgsqlException or RedisException)
                {
                    // PostgreSQL or Redis is still starting up after a crash: ask again.
                }

                if (!restartOnExit && _schedulers.All(s => s.Process.HasExited))
                {
                    throw new InvalidOperationException($"every scheduler exited waiting for {what}; logs: {string.Join(", ", _schedulers.Select(s => s.Process.LogPath))}");
                }

                if (Stopwatch.GetElapsedTime(started) > s_budget)
                {
                    throw new TimeoutException($"no {what} within {s_budget.TotalMinutes:N0} min; logs: {string.Join(", ", _schedulers.Select(s => s.Process.LogPath))}");
                }

                await Task.Delay(s_poll);
            }
        }

        /// <summary>Messages in Redis, copies included: ready lists and the delayed set.</summary>
        public async Task<long> InRedisAsync()
        {
            var db = _redis.GetDatabase();
            return await db.ListLengthAsync(Keys.ReadyHigh) + await db.ListLengthAsync(Keys.ReadyNormal) + await db.ListLengthAsync(Keys.ReadyLow) + await db.SortedSetLengthAsync(Keys.Delayed);
        }

        /// <summary>Ledger rows, and those of them not yet pushed.</summary>
        public async Task<(long Rows, long Pending)> LedgerAsync()
        {
            await using var connection = new NpgsqlConnection(Admin);
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand("SELECT count(*), count(*) FILTER (WHERE status = 'pending') FROM cortex.dispatch_ledger", connection);
            await using var reader = await command.ExecuteReaderAsync();
            await reader.ReadAsync();
            return (reader.GetInt64(0), reader.GetInt64(1));
        }

        public async Task<bool> CampaignCompletedAsync()
        {
            await using var connection = new NpgsqlConnection(Admin);
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand("SELECT count(*) FROM cortex.campaign_runs WHERE status = 'completed'", connection);
            return (long)(await command.ExecuteScalarAsync())! == 1;
        }

        /// <summary>How many times each index's message id is in Redis (ready lists and delayed set), read back in pages.</summary>
        public async Task<int[]> CountByIdAsync(int n, Func<string, int> index)
        {
            var counts = new int[n];
            var db = _redis.GetDatabase();
            const int Page = 10_000;
            foreach (var list in new[] { Keys.ReadyHigh, Keys.ReadyNormal, Keys.ReadyLow })
            {
                for (long start = 0; ; start += Page)
                {
                    var values = await db.ListRangeAsync(list, start, start + Page - 1);
                    Count(values, skip: 0);
                    if (values.Length < Page)
                    {
                        break;
                    }
                }
            }

            // Delayed members carry a priority digit in front of the envelope.
            Count(await db.SortedSetRangeByRankAsync(Keys.Delayed), skip: 1);
            return counts;

            void Count(RedisValue[] values, int skip)
            {
                foreach (var value in values)
                {
                    var i = IdOf(((byte[])value!).AsSpan(skip)) is { } id ? index(id) : -1;
                    if ((uint)i < (uint)counts.Length)
                    {
                        counts[i]++;
                    }
                }
            }
        }

        /// <summary>SIGTERM to every scheduler still running; the check that each exited 0.</summary>
        public async Task<Check> StopAllAsync()
        {
            var live = _schedulers.Where(s => !s.Process.HasExited).ToList();
            foreach (var (_, process) in live)
            {
                await process.TerminateAsync();
            }

            var codes = new List<string>();
            foreach (var (node, process) in live)
            {
                codes.Add(await process.WaitForExitAsync(TimeSpan.FromSeconds(40)) is { } exit ? $"{node} {exit.ExitCode}" : $"{node} hung");
            }

            return new Check("schedulers exit 0 on SIGTERM", "0", string.Join(" · ", codes), live.Count > 0 && codes.All(c => c.EndsWith(" 0", StringComparison.Ordinal)));
        }

        /// <summary>(node, scheduled fire time) of each firing of <paramref name="job"/> the processes logged.</summary>
        public List<(string Node, string FireTime)> FireTimes(string job)
        {
            var firings = new List<(string, string)>();
            foreach (var (node, process) in _schedulers)
            {
                foreach (var line in ReadLines(process.LogPath))
                {
                    if (FiredLine().Match(line) is { Success: true } match && match.Groups[1].Value == job)
                    {
                        firings.Add((node, match.Groups[2].Value));
                    }
                }
            }

            return firings;
        }

        /// <summary>
        /// Holds the billing run before charge <paramref name="chargeId"/>'s page until disposed: an open transaction has
        /// inserted that charge's ledger row, so the run's insert of the page waits for it (ON CONFLICT waits for the
        /// holder) while the pages before it are pushed. Disposing closes the connection, which rolls back, and the run
        /// inserts the row itself; a crashed PostgreSQL has released it already.
        /// </summary>
        public async Task<IAsyncDisposable> HoldBillingAsync(int chargeId)
        {
            var connection = new NpgsqlConnection(Admin);
            await connection.OpenAsync();
            var transaction = await connection.BeginTransactionAsync();
            await using (var command = new NpgsqlCommand("INSERT INTO cortex.dispatch_ledger (key, kind, priority, payload) VALUES (@key, 'billing', 0, '{}')", connection, transaction))
            {
                command.Parameters.AddWithValue("key", $"billing:{chargeId}:0:{Today():yyyy-MM-dd}");
                await command.ExecuteNonQueryAsync();
            }

            return connection;
        }

        public Dictionary<string, int> FiringsByNode(string job) => FireTimes(job).GroupBy(f => f.Node).ToDictionary(g => g.Key, g => g.Count());

        public string Firings(string job) =>
            string.Join(" · ", _schedulers.Select(s => $"{s.Node} {FiringsByNode(job).GetValueOrDefault(s.Node)}"));

        public async ValueTask DisposeAsync()
        {
            foreach (var (_, process) in _schedulers)
            {
                await process.DisposeAsync();
            }

            _redis.Dispose();
            await Postgres.DisposeAsync();
            await RedisServer.DisposeAsync();
        }

        private async Task ExecuteAsync(string sql, params (string Name, object Value)[] parameters)
        {
            await using var connection = new NpgsqlConnection(Admin);
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand(sql, connection);
            foreach (var (name, value) in parameters)
            {
                command.Parameters.AddWithValue(name, value);
            }

            await command.ExecuteNonQueryAsync();
        }

        /// <summary>The log file as written so far (the process may still be writing it).</summary>
        private static List<string> ReadLines(string path)
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            using var reader = new StreamReader(stream);
            var lines = new List<string>();
            while (reader.ReadLine() is { } line)
            {
                lines.Add(line);
            }

            return lines;
        }

        /// <summary>The envelope's top-level "id", or null when the payload is not a JSON object with one.</summary>
        private static string? IdOf(ReadOnlySpan<byte> payload)
        {
            var reader = new Utf8JsonReader(payload);
            try
            {
                while (reader.Read())
                {
                    if (reader.TokenType == JsonTokenType.PropertyName && reader.CurrentDepth == 1 && reader.ValueTextEquals("id"u8) && reader.Read() && reader.TokenType == JsonTokenType.String)
                    {
                        return reader.GetString();
                    }
                }
            }
            catch (JsonException)
            {
                return null;
            }

            return null;
        }
    }
}
