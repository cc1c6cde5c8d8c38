using System.Diagnostics;
using System.Globalization;
using Cortex.LoadTests.Load;
using Cortex.LoadTests.Reporting;

namespace Cortex.LoadTests.Chaos;

/// <summary>
/// K5, the gateway faults of issue #7: a real sender process (Evolution adapter over HTTP, operations port on) drains a
/// backlog through the stand-in gateway, which is switched into one fault for a while and back: 5xx for a minute,
/// a 429 storm, answers slower than the gateway timeout, connection refused, 401, bodies that are not JSON. Each fault
/// is its own row (K5a..K5f; K5h..K5k the Cloud API adapter, in the Graph API's shapes; K5l the slow answers to a pod
/// held by a rate limit far below its workers; K5m the same to a pod with one worker) with a fresh queue, gateway and
/// sender. The stand-in counts every acceptance by index, so lost and duplicated messages are exact; attempts burned, the circuit and the pause are read from the sender's own
/// /metrics and /health/ready while the fault lasts, as an operator's Prometheus would.
/// </summary>
internal static class GatewayFaults
{
    public const string Group = "K5";

    private static readonly TimeSpan s_poll = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan s_startBudget = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan s_noProgress = TimeSpan.FromSeconds(90);

    // After the alert first shows, the sender has this long to hand back what it held before leasing counts as paused.
    // 2 s: on a machine loaded by the whole test suite, 1 s was not always enough for the workers' returns to reach Redis.
    private static readonly TimeSpan s_settle = TimeSpan.FromSeconds(2);

    // Product defaults, used when the profile keeps them (short): the circuit's break and the pause after a 401.
    private static readonly TimeSpan s_defaultBreak = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan s_defaultConfigurationPause = TimeSpan.FromMinutes(1);
    // The product's gateway timeout everywhere but K5c, so a machine loaded by other test suites cannot turn a slow
    // 40 ms answer into a timeout and a duplicate; K5c's answers are held three times its own 2 s timeout.
    private static readonly TimeSpan s_defaultTimeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan s_defaultSampling = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan s_gatewayTimeout = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan s_resumeSlack = TimeSpan.FromSeconds(5);

    // K5l's pace: at 10 sends a second the calls to a gateway that stopped answering time out at most 15 in any 0.5 s
    // (each send's two short retries included), short of the outage breaker's 20. Only the breaker that counts failures
    // in a row (the product's MinimumThroughput, 20) opens the circuit before the ratio breaker's failures outweigh the
    // 200 successes of the 20 s before the fault (about 11 s into it).
    private const int PacedPerSecond = 10;
    private const int StreakThreshold = 20;

    // K5m: one worker waits out each timeout alone, so a gateway that stopped answering fails a call per timeout. The
    // streak breaker opens once calls have failed in a row for the sampling duration, with more than one message's
    // attempts: the first message's calls (a try and the product's 2 short retries), then the next message's first.
    private const int CallsPerAttempt = 3;

    /// <summary>
    /// The six faults through the Evolution adapter, then the four whose answers the Cloud API adapter reads in its own
    /// way (the Graph API's error codes and success body), in the order they run. A slow, refused or cut connection is
    /// the same for both: it is classified before any body is read.
    /// </summary>
    public static IReadOnlyList<Case> Cases(ChaosProfile profile)
    {
        var s = Settings.For(profile);
        const GatewayDialect Cloud = GatewayDialect.Cloud;
        return
        [
            new("K5a", $"gateway answers 5xx for {Seconds(s.Outage)}", Fault.ServerErrors, s.Outage),
            new("K5b", $"429 storm for {Seconds(s.Phase)}", Fault.Throttling, s.Phase),
            new("K5c", $"answers slower than the {Seconds(s_gatewayTimeout)} gateway timeout for {Seconds(s.Phase)}", Fault.Slow, s.Phase),
            new("K5d", $"connection refused for {Seconds(s.Phase)}", Fault.Refused, s.Phase),
            new("K5e", $"apikey rejected (401) for {Seconds(s.Phase)}", Fault.Unauthorized, s.Phase),
            new("K5f", $"bodies that are not JSON for {Seconds(s.Phase)}", Fault.NotJson, s.Phase),
            new("K5h", $"Cloud API: 5xx with error 131000 for {Seconds(s.Outage)}", Fault.ServerErrors, s.Outage, Cloud),
            new("K5i", $"Cloud API: 429 storm with error 130429 for {Seconds(s.Phase)}", Fault.Throttling, s.Phase, Cloud),
            new("K5j", $"Cloud API: access token rejected (401, error 190) for {Seconds(s.Phase)}", Fault.Unauthorized, s.Phase, Cloud),
            new("K5k", $"Cloud API: bodies that are not JSON for {Seconds(s.Phase)}", Fault.NotJson, s.Phase, Cloud),
            new("K5l", $"a pod paced at {PacedPerSecond}/s: answers slower than the {Seconds(s_gatewayTimeout)} gateway timeout for {Seconds(s.PacedPhase)}", Fault.Slow, s.PacedPhase, Paced: true),
            new("K5m", $"a pod with one worker: answers slower than the {Seconds(s.OneWorkerTimeout)} gateway timeout for {Seconds(s.OneWorkerPhase)}", Fault.Slow, s.OneWorkerPhase, OneWorker: true),
        ];
    }

    public static async Task<ScenarioReport> RunAsync(LoadContext context, ChaosProfile profile, Case fault)
    {
        var s = Settings.For(profile);
        var n = fault.OneWorker ? s.OneWorkerMessages : fault.Paced ? s.PacedMessages : s.Messages;
        var workers = fault.OneWorker ? 1 : s.Workers;
        var breakSetting = fault.Paced || fault.OneWorker ? s.PacedBreak : s.BreakDuration;
        var breakDuration = breakSetting ?? s_defaultBreak;

        // A paced pod's calls in flight as the circuit opens end one by one over the next timeout (and the short retry
        // that then finds the circuit open hands the message back): until then they hold their leases.
        var settle = fault.Paced ? s_settle + s_gatewayTimeout : s_settle;
        var configurationPause = s.ConfigurationPause ?? s_defaultConfigurationPause;
        var ledger = new MessageLedger(n);
        await using var gateway = await LoadGateway.StartAsync(ledger, profile.GatewayLatency, fault.Dialect);
        var (queue, client) = context.NewQueue(fault.Id.ToLowerInvariant());
        var producer = new Producer(client, ledger, queue.Keys.Name + ":");
        context.Progress.WriteLine($"  pushing {n:N0} messages");
        await producer.BurstAsync(0, n);

        var port = LoopbackServer.FreePort();
        var environment = new Dictionary<string, string>
        {
            ["Cortex__Observability__Port"] = port.ToString(CultureInfo.InvariantCulture),

            // An attempt burned before the circuit opened comes back in seconds, not the product's 5 minutes.
            ["Cortex__Retry__BaseDelay"] = "00:00:02",
            ["Cortex__Retry__Factor"] = "2",
            ["Cortex__Retry__MaxDelay"] = "00:00:08",
        };
        var timeout = fault.OneWorker ? s.OneWorkerTimeout : fault.Kind == Fault.Slow ? s_gatewayTimeout : s_defaultTimeout;
        var hold = fault.OneWorker ? s.OneWorkerTimeout * 1.5 : FaultPlan.SlowHold;
        var sampling = s.OneWorkerSampling ?? s_defaultSampling;
        environment["Cortex__Gateway__Timeout"] = timeout.ToString("c", CultureInfo.InvariantCulture);
        if (fault.OneWorker && s.OneWorkerSampling is { } window)
        {
            environment["Cortex__Resilience__SamplingDuration"] = window.ToString("c", CultureInfo.InvariantCulture);
        }

        if (fault.Paced)
        {
            environment["Cortex__RateLimit__PodPermitsPerSecond"] = PacedPerSecond.ToString(CultureInfo.InvariantCulture);
            environment["Cortex__RateLimit__PodBurst"] = "1";
        }

        if (breakSetting is { } b)
        {
            environment["Cortex__Resilience__BreakDuration"] = b.ToString("c", CultureInfo.InvariantCulture);
        }

        if (s.ConfigurationPause is { } c)
        {
            environment["Cortex__Sender__ConfigurationErrorPause"] = c.ToString("c", CultureInfo.InvariantCulture);
        }

        using var scrape = new SenderScrape(port);
        var sender = context.StartSender(fault.Id.ToLowerInvariant(), queue, gateway, workers, environment);
        var watch = new Watch();
        List<Sample> samples;
        Check exit;
        SenderScrape.Metrics before, atHeal, after;
        long faultAt, healAt, requestsAtFault, requestsAtHeal;
        TimeSpan? resumed;
        double faultCpu;
        Cortex.Shared.Queue.QueueStats atFault, atEnd;
        try
        {
            await using var sampler = new Sampler(queue, () => sender.HasExited ? [] : [sender]);
            await WaitAsync(() => ledger.Distinct >= n / 5, sender, s_startBudget, "sent a fifth of the backlog");
            before = await scrape.MetricsAsync() ?? throw new InvalidOperationException($"no /metrics on port {port}; sender log: {sender.LogPath}");
            atFault = await queue.GetStatsAsync();
            requestsAtFault = gateway.Requests;
            var cpuBefore = sender.Cpu();
            faultAt = Stopwatch.GetTimestamp();
            await InjectAsync(gateway, fault.Kind, hold);
            context.Progress.WriteLine($"  fault on: {fault.Title}, with {ledger.Distinct:N0} of {n:N0} accepted");
            while (Stopwatch.GetElapsedTime(faultAt) < fault.Duration)
            {
                if (sender.HasExited)
                {
                    throw new InvalidOperationException($"sender exited with {sender.ExitCode} during the fault; its log: {sender.LogPath}");
                }

                var at = Stopwatch.GetTimestamp();
                var metrics = await scrape.MetricsAsync();
                var ready = await scrape.ReadyAsync();
                var counts = await queue.GetStatsAsync();
                watch.Add(at, metrics, ready, counts);
                await Task.Delay(s_poll);
            }

            faultCpu = (sender.Cpu() - cpuBefore).TotalSeconds / Stopwatch.GetElapsedTime(faultAt).TotalSeconds;
            atHeal = await scrape.MetricsAsync() ?? throw new InvalidOperationException($"no /metrics at the end of the fault; sender log: {sender.LogPath}");
            atEnd = await queue.GetStatsAsync();
            requestsAtHeal = gateway.Requests;
            var acceptedAtHeal = ledger.AcceptedTotal;
            await HealAsync(gateway, fault.Kind);
            healAt = Stopwatch.GetTimestamp();
            context.Progress.WriteLine($"  fault off after {Stopwatch.GetElapsedTime(faultAt).TotalSeconds:N1} s; {gateway.Requests - requestsAtFault:N0} requests reached the gateway meanwhile");
            var resumeBudget = (fault.Kind is Fault.Unauthorized or Fault.NotJson ? configurationPause : breakDuration) + s_noProgress;
            try
            {
                await WaitAsync(() => ledger.AcceptedTotal > acceptedAtHeal, sender, resumeBudget, "accepted a message after the fault");
                resumed = Stopwatch.GetElapsedTime(healAt);
            }
            catch (TimeoutException)
            {
                // Never resumed: the check below says so (and the messages left unsent show as lost), instead of the
                // scenario ending on this wait's error with the check unreachable.
                resumed = null;
            }

            if (resumed is not null)
            {
                await DrainAsync(ledger, n, queue, sender);
            }

            after = await scrape.MetricsAsync() ?? throw new InvalidOperationException($"no /metrics after the drain; sender log: {sender.LogPath}");
            samples = sampler.Samples(ledger, 0, n);
            exit = await LoadContext.StopAsync([sender]);
        }
        finally
        {
            await sender.DisposeAsync();
        }

        // How fast leasing pauses and sending resumes depends on the machine: checks in make chaos, figures in the smoke
        // profile, which runs beside the whole test suite on two cores and checks correctness only.
        List<Figure> figures = [];
        List<Check> checks = [];
        void Timed(Check check)
        {
            if (profile == ChaosProfile.Smoke)
            {
                figures.Add(new Figure($"{check.Name} (target {check.Target}, not checked in the smoke profile)", check.Measured));
            }
            else
            {
                checks.Add(check);
            }
        }

        // Attempts burned: a retry scheduled (the envelope's Attempt goes up) or a dead letter, from the sender's counters.
        var burned = Burned(after) - Burned(before);
        var burnedWhileOpen = watch.FirstAlert is { } alert ? Burned(atHeal) - Burned(alert.Metrics) : 0;

        // A send already on its last try when the circuit opened fails after the scrape that first saw it open, and on a
        // loaded machine that can be a scrape or two later (1 in one CI run). So, as for leasing, what the circuit must
        // spend nothing on is counted from the settle after the alert: sends that began while it was open.
        var burnedOnceSettled = watch.FirstAfterAlert(settle) is { } settled ? Burned(atHeal) - Burned(settled.Metrics) : burnedWhileOpen;
        var (missing, duplicates) = ledger.Audit(0, n);
        var stats = await queue.GetStatsAsync();
        var requestsDuring = requestsAtHeal - requestsAtFault;
        var faultSeconds = Stopwatch.GetElapsedTime(faultAt, healAt).TotalSeconds;

        checks.AddRange(
        [
            new("messages lost", "0", $"{missing.Count:N0} of {n:N0} ({stats.Dead:N0} dead-lettered)", missing.Count == 0 && stats.Dead == 0),
        ]);
        if (fault.Kind == Fault.Slow)
        {
            // The at-least-once cost: the gateway had the message when the sender gave up on it, so the resend repeats it.
            // The stand-in sees the sender hang up on a held answer. An answer it gave in time can still reach a starved
            // sender after its 2 s timeout (12 in one CI run): the stand-in cannot see that, but the sender names every
            // call it cut off (event 2003), so a repeat beyond the late ones is allowed only for a named message, once per naming.
            var named = LoadContext.WorkloadIndexCounts(sender.Unanswered);
            var elsewhere = RepeatsElsewhere(ledger, n, gateway.LateByIndex, named);
            checks.Add(new(
                "duplicates: exactly the sends the gateway accepted after the sender gave up",
                $"= {gateway.LateAccepted:N0} late acceptances, plus at most one more per call the sender named unanswered; none elsewhere",
                $"{duplicates:N0} = {gateway.LateAccepted:N0} late + {duplicates - gateway.LateAccepted:N0} more, {elsewhere:N0} elsewhere",
                elsewhere == 0));

            // The sender cannot know which of them the gateway took, but it must name each call it cut off, so an operator
            // can trace a customer's duplicate to it.
            var unnamed = gateway.LateByIndex.Keys.Count(i => !named.ContainsKey(i));
            checks.Add(new("every late-accepted message named by the sender as unanswered (event 2003)", "0 unnamed", $"{unnamed:N0} unnamed of {gateway.LateByIndex.Count:N0} · {sender.Unanswered.Count:N0} named", unnamed == 0));
        }
        else
        {
            checks.Add(new("duplicates", "0", $"{duplicates:N0}", duplicates == 0));
        }

        var (burnedTarget, burnedBound) = fault.Kind switch
        {
            Fault.Slow when fault.Paced => ($"≤ {StreakThreshold} + {workers} (the calls in a row that open the circuit, and the sends in flight then), 0 while open (from {settle.TotalSeconds:N0} s after it showed)", (double)(StreakThreshold + workers)),
            Fault.Slow when fault.OneWorker => ("≤ 1 (one message's attempts: the circuit opens at the next message's first failure), 0 while open", 1d),
            Fault.ServerErrors or Fault.Slow or Fault.Refused => ($"≤ {workers} (the sends in flight as the circuit opened), 0 while open (from {s_settle.TotalSeconds:N0} s after it showed)", (double)workers),
            Fault.NotJson => ($"≤ {gateway.HtmlBadGateway / 3:N0} (each needs three 502s in a row)", gateway.HtmlBadGateway / 3),
            _ => ("0", 0d),
        };
                // A pause does not stop retries already under way (the circuit does): "0 while" is a check for the circuit only.
        var circuit = fault.Kind is Fault.ServerErrors or Fault.Slow or Fault.Refused;
        var whileAlert = circuit ? burnedOnceSettled : burnedWhileOpen;
        checks.Add(new("attempts burned (retries scheduled + dead letters)", burnedTarget, $"{burned:N0}{(watch.FirstAlert is null ? string.Empty : $", {whileAlert:N0} while {AlertWord(fault.Kind)}")}", burned <= burnedBound && (!circuit || burnedOnceSettled == 0)));

        var alertSeen = fault.Kind switch
        {
            // Closed before: the circuit can open before the first reading of the fault, which then shows only the 1.
            Fault.ServerErrors or Fault.Slow or Fault.Refused => Counter(before, "cortex_sender_circuit_state") == 0 && watch.CircuitOpenSeen && watch.NotReadySeen,
            Fault.Throttling => Counter(after, "cortex_sender_throttled_total") > Counter(before, "cortex_sender_throttled_total"),
            _ => watch.ConfigurationPausedSeen && Counter(atHeal, "cortex_sender_failed_total", "reason=\"configuration_error\"") > Counter(before, "cortex_sender_failed_total", "reason=\"configuration_error\""),
        };
        checks.Add(new("alert metric seen on /metrics during the fault", AlertTarget(fault.Kind), watch.Describe(before, atHeal), alertSeen));
        // When the circuit of a pod whose calls start spread out must open; the settle is the slack for a loaded machine.
        (string Name, TimeSpan By)? opening =
            // The first calls time out after the timeout, then the first attempts alone fail 20 in a row at the pace.
            fault.Paced ? ("circuit open after the failures in a row, not once the ratio outweighs the successes", s_gatewayTimeout + TimeSpan.FromSeconds((double)StreakThreshold / PacedPerSecond) + s_settle)
            // The send under way times out, the failures in a row last the sampling duration, the next one opens the
            // circuit. On the count alone it took 20 timeouts.
            : fault.OneWorker ? ($"circuit open after calls failed in a row for the {Seconds(sampling)} sampling duration, not after {StreakThreshold} timeouts", timeout + sampling + timeout + s_settle)
            : null;
        if (opening is var (openingName, openBy))
        {
            var openedAfter = watch.FirstAlert is { } first ? Stopwatch.GetElapsedTime(faultAt, first.At) : (TimeSpan?)null;
            Timed(new(openingName, $"≤ {openBy.TotalSeconds:N0} s after the fault began", openedAfter is { } o ? $"{o.TotalSeconds:N1} s" : "never", openedAfter is { } at && at <= openBy));
        }

        // Not for the bodies that are not JSON: a third of them are acceptances, which rightly resume leasing in between.
        if (fault.Kind is not (Fault.Throttling or Fault.NotJson))
        {
            var held = watch.MaxLeasedAfterAlert(settle);
            Timed(new("leasing paused: leased messages once the alert shows", "≤ 1 (a probe)", held is { } h ? $"max {h:N0} (ready {atFault.Ready:N0} → {atEnd.Ready:N0})" : "alert never showed", held is <= 1));
        }
        else if (fault.Kind == Fault.Throttling)
        {
            // A sender that kept sending through the storm would collect a 429 per request at wire speed. Each worker has at
            // most one request out when the storm starts (the gate shuts at the first 429), then each pause ends with one probe.
            var pauses = Math.Ceiling(faultSeconds) + 1;
            var ceiling = workers + pauses;
            checks.Add(new("429 storm: one probe per Retry-After pause (429 answers)", $"≤ {ceiling:N0} ({workers} workers out at the start + {pauses:N0} pauses)", $"{gateway.Throttled:N0} in {faultSeconds:N1} s", gateway.Throttled <= ceiling));
        }

        var resumeTarget = (fault.Kind switch
        {
            Fault.ServerErrors or Fault.Slow or Fault.Refused => breakDuration,
            Fault.Unauthorized or Fault.NotJson => configurationPause,
            _ => TimeSpan.Zero,
        }) + s_resumeSlack;
        checks.Add(new("sending resumed after the fault ended", "yes", resumed is null ? "never" : "yes", resumed is not null));
        Timed(new("sending resumed within the break or pause", $"≤ {resumeTarget.TotalSeconds:N0} s", resumed is { } r ? $"{r.TotalSeconds:N1} s" : "never", resumed is { } ok && ok <= resumeTarget));
        checks.Add(new("nothing left in Redis", "0 ready · 0 delayed · 0 leased", $"{stats.Ready:N0} ready · {stats.Delayed:N0} delayed · {stats.Leased:N0} leased", stats.Pending == 0));
        checks.Add(new("gateway saw only this run's messages", "0 unknown", $"{gateway.Unknown:N0} unknown", gateway.Unknown == 0));
        checks.Add(exit);

        figures.InsertRange(0,
        [
            new("load", $"{n:N0} messages backlog, {workers} worker{(workers == 1 ? string.Empty : "s")}{(fault.Paced ? $" held to {PacedPerSecond} sends a second" : string.Empty)}, gateway answering after {profile.GatewayLatency.TotalMilliseconds:N0} ms; gateway timeout {timeout.TotalSeconds:N0} s, circuit break {breakDuration.TotalSeconds:N0} s, 401 pause {configurationPause.TotalSeconds:N0} s"),
            new("fault injected", Injected(fault, gateway, faultSeconds, hold, timeout)),
            new("requests that reached the gateway during the fault", $"{requestsDuring:N0} ({requestsDuring / Math.Max(faultSeconds, 0.001):N1}/s)"),
            new("attempts burned", $"{burned:N0} ({burnedWhileOpen:N0} after the alert showed)"),
            new("leased messages during the fault", watch.LeasedSummary(settle)),
            new("ready messages at fault start → end", $"{atFault.Ready:N0} → {atEnd.Ready:N0} ({atEnd.Delayed:N0} delayed at the end)"),
            new("alert metrics seen", watch.Describe(before, atHeal)),
            new("time to first alert signal", watch.FirstAlert is { } f ? $"{Stopwatch.GetElapsedTime(faultAt, f.At).TotalSeconds:N1} s after the fault began" : "never"),
            new("fault ended → first message accepted", resumed is { } x ? $"{x.TotalSeconds:N1} s" : "never"),
            new("sender CPU during the fault", $"{faultCpu:N3} cores"),
        ]);
        if (fault.Kind == Fault.Slow)
        {
            figures.Add(new("duplicates, the known at-least-once cost", $"{duplicates:N0}: each a send the gateway accepted and answered after the sender's {timeout.TotalSeconds:N0} s timeout"));
        }

        return new ScenarioReport(fault.Id, fault.Title, "closed (backlog)", Description(fault, n, workers, profile.GatewayLatency, breakDuration, configurationPause, sampling), figures, checks, samples);
    }

    private static async Task InjectAsync(LoadGateway gateway, Fault kind, TimeSpan hold)
    {
        switch (kind)
        {
            case Fault.ServerErrors:
                gateway.Faults = new FaultPlan(Mode: GatewayFault.ServerError);
                break;
            case Fault.Throttling:
                gateway.Faults = new FaultPlan(Throttle: true);
                break;
            case Fault.Slow:
                gateway.Faults = new FaultPlan(Mode: GatewayFault.Slow, Hold: hold);
                break;
            case Fault.Refused:
                await gateway.CloseAsync();
                break;
            case Fault.Unauthorized:
                gateway.Faults = new FaultPlan(Mode: GatewayFault.Unauthorized);
                break;
            case Fault.NotJson:
                gateway.Faults = new FaultPlan(Mode: GatewayFault.NotJson);
                break;
        }
    }

    private static async Task HealAsync(LoadGateway gateway, Fault kind)
    {
        if (kind == Fault.Refused)
        {
            await gateway.OpenAsync();
        }

        gateway.Faults = FaultPlan.None;
    }

    private static async Task WaitAsync(Func<bool> condition, SenderProcess sender, TimeSpan budget, string what)
    {
        var started = Stopwatch.GetTimestamp();
        while (!condition())
        {
            if (sender.HasExited)
            {
                throw new InvalidOperationException($"sender {sender.Name} exited with {sender.ExitCode}; its log: {sender.LogPath}");
            }

            if (Stopwatch.GetElapsedTime(started) > budget)
            {
                throw new TimeoutException($"sender {sender.Name} never {what} within {budget.TotalSeconds:N0} s; its log: {sender.LogPath}");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(50));
        }
    }

    /// <summary>
    /// K5c's accounting: the messages of [0, n) whose copies are not explained, each counted once. A message taken late
    /// (<paramref name="late"/>, by the stand-in's count) must repeat exactly that often; a repeat beyond it is explained
    /// only by a call the sender <paramref name="named"/> unanswered (event 2003, counted per message): each repeat needs
    /// a cut-off call of its own, and the late ones are cut-off calls too, so a message may repeat at most as often as
    /// it was named.
    /// </summary>
    internal static int RepeatsElsewhere(MessageLedger ledger, int n, IReadOnlyDictionary<int, int> late, IReadOnlyDictionary<int, int> named) =>
        Enumerable.Range(0, n).Count(i =>
        {
            var (repeats, taken) = (ledger.AcceptCount(i) - 1, late.GetValueOrDefault(i));
            return repeats >= 0 && repeats != taken && !(repeats > taken && repeats <= named.GetValueOrDefault(i));
        });

    /// <summary>Until every message was accepted and the queue is empty (retries included); fails on a stall.</summary>
    private static async Task DrainAsync(MessageLedger ledger, int n, Cortex.Shared.Queue.RedisMessageQueue queue, SenderProcess sender)
    {
        var last = (ledger.AcceptedTotal, Pending: -1L);
        var lastProgress = Stopwatch.GetTimestamp();
        while (true)
        {
            var stats = await queue.GetStatsAsync();
            if (ledger.Distinct >= n && stats.Pending == 0)
            {
                return;
            }

            if (sender.HasExited)
            {
                throw new InvalidOperationException($"sender {sender.Name} exited with {sender.ExitCode}; its log: {sender.LogPath}");
            }

            var now = (ledger.AcceptedTotal, stats.Pending);
            if (now != last)
            {
                (last, lastProgress) = (now, Stopwatch.GetTimestamp());
            }
            else if (Stopwatch.GetElapsedTime(lastProgress) > s_noProgress)
            {
                throw new TimeoutException($"no progress for {s_noProgress.TotalSeconds:N0} s with {ledger.Distinct:N0} of {n:N0} accepted and {stats.Pending:N0} pending; its log: {sender.LogPath}");
            }

            await Task.Delay(s_poll);
        }
    }

    /// <summary>Attempts spent so far: retries scheduled and dead letters, from the sender's counters.</summary>
    internal static double Burned(SenderScrape.Metrics metrics) =>
        metrics.Sum("cortex_sender_retries_total") + metrics.Sum("cortex_sender_dead_lettered_total");

    private static double Counter(SenderScrape.Metrics metrics, string name, string? label = null) => metrics.Sum(name, label);

    private static string AlertWord(Fault kind) => kind switch
    {
        Fault.ServerErrors or Fault.Slow or Fault.Refused => "the circuit was open",
        Fault.Throttling => "throttled",
        _ => "paused",
    };

    private static string AlertTarget(Fault kind) => kind switch
    {
        Fault.ServerErrors or Fault.Slow or Fault.Refused => "cortex_sender_circuit_state 0 before the fault and 1 during it, /health/ready 503",
        Fault.Throttling => "cortex_sender_throttled_total rising",
        _ => "cortex_sender_configuration_paused 1 and failed_total{reason=\"configuration_error\"} rising",
    };

    private static string Injected(Case fault, LoadGateway gateway, double seconds, TimeSpan hold, TimeSpan timeout) => fault.Kind switch
    {
        Fault.ServerErrors => $"every request answered 500 ({(fault.Cloud ? "the Graph API's error 131000" : "Evolution's JSON error")}) for {seconds:N1} s: {gateway.ServerErrors:N0} answers",
        Fault.Throttling => $"every request answered 429{(fault.Cloud ? " with error 130429" : string.Empty)}, Retry-After: 1, for {seconds:N1} s: {gateway.Throttled:N0} answers",
        Fault.Slow => $"every request held {hold.TotalSeconds:N1} s (past the {timeout.TotalSeconds:N0} s timeout) for {seconds:N1} s: {gateway.LateAccepted:N0} accepted and answered late · {gateway.Dropped:N0} never accepted",
        Fault.Refused => $"listener closed for {seconds:N1} s: every connection refused",
        Fault.Unauthorized => $"every request answered 401 ({(fault.Cloud ? "the Graph API's error 190" : "Evolution's body")}) for {seconds:N1} s: {gateway.Unauthorized:N0} answers",
        _ => $"for {seconds:N1} s, in turn: {gateway.HtmlOk:N0} × 200 with an HTML page (not taken) · {gateway.HtmlBadGateway:N0} × 502 nginx HTML · {gateway.Truncated:N0} × {(fault.Cloud ? 200 : 201)} with JSON cut short (taken)",
    };

    private static string Description(Case fault, int n, int workers, TimeSpan latency, TimeSpan breakDuration, TimeSpan pause, TimeSpan sampling)
    {
        var adapter = fault.Cloud
            ? "Cloud API adapter over HTTP, answered in the Graph API's shapes: 200 with messages[0].id, errors as {\"error\":{\"code\"}}"
            : "Evolution adapter over HTTP";
        var paced = fault.Paced ? $", held to {PacedPerSecond} sends a second by its pod rate limit" : string.Empty;
        var common = $"{n:N0} billing reminders are pushed and one sender ({workers} worker{(workers == 1 ? string.Empty : "s")}{paced}, {adapter}, /metrics on) drains them through the stand-in answering after {latency.TotalMilliseconds:N0} ms. A fifth of the way through, the fault below is switched on for its duration, then off; /metrics, /health/ready and the queue's counts are read every {s_poll.TotalMilliseconds:N0} ms meanwhile. ";
        return common + fault.Kind switch
        {
            Fault.ServerErrors => $"Every request gets a 500. The circuit must open after its minimum throughput of failures, leasing stop (ready stays in Redis, one probe per {breakDuration.TotalSeconds:N0} s break), no attempt be spent while open, and sending resume at the first probe after the outage.",
            Fault.Throttling => $"Every request gets 429{(fault.Cloud ? " with error 130429 (throughput exceeded)" : string.Empty)} with Retry-After: 1. The sender must pause for the Retry-After each time (a throttled answer spends no attempt: it is resent, or parked in the delayed set after repeated 429s) and pick up at once when the storm ends.",
            Fault.Slow when fault.Paced => $"Every request is held {FaultPlan.SlowHold.TotalSeconds:N0} s, past the sender's {s_gatewayTimeout.TotalSeconds:N0} s timeout, as in K5c, but the calls start at the pod's pace and so time out one by one, never the outage breaker's {StreakThreshold} in 0.5 s: the circuit must open after {StreakThreshold} failures in a row, not once the failures outweigh the successes in the ratio breaker's 30 s window. The duplicates are accounted as in K5c.",
            Fault.Slow when fault.OneWorker => $"Every request is held past the sender's gateway timeout, as in K5c, but the pod has one worker, which waits out each timeout alone: a failure per timeout, never the outage breaker's failures in 0.5 s, and {StreakThreshold} in a row would take {StreakThreshold} timeouts. The circuit must open once calls have failed in a row for the {Seconds(sampling)} sampling duration, at the next message's first failure after the first message's {CallsPerAttempt} calls, with at most that one message's attempt spent. The duplicates are accounted as in K5c.",
            Fault.Slow => $"Every request is held {FaultPlan.SlowHold.TotalSeconds:N0} s, past the sender's {s_gatewayTimeout.TotalSeconds:N0} s timeout: every other one was accepted by the gateway before the sender gave up, the rest never. A resend of an accepted one is a duplicate the sender cannot prevent: the stand-in counts those exactly, and the sender must name each call it cut off (event 2003). They are the at-least-once cost; a repeat of any other message fails the check, except one the sender named whose answer, given in time, reached it after its timeout on a starved machine.",
            Fault.Refused => "The stand-in's listener is closed: every connection is refused at once. The circuit must open rather than let the workers spin on instant failures, and sending resume when the listener is back on the same port.",
            Fault.Unauthorized => $"Every request gets 401, as after a revoked {(fault.Cloud ? "access token (error 190)" : "apikey")}. The sender must stop (pause {pause.TotalSeconds:N0} s between tries), hand its messages back unspent, show it on /metrics, and go on by itself once the key is accepted again.",
            _ => $"The answers are not the API's JSON, in turn: 200 with an HTML page (a web server or proxy answered in place of {(fault.Cloud ? "the Graph API" : "Evolution API")}; the message was never taken), 502 with nginx's HTML page, and {(fault.Cloud ? 200 : 201)} whose JSON is cut short (taken). Only the last may be acked; the HTML 200 must not be counted as sent.",
        };
    }

    private static string Seconds(TimeSpan t) => $"{t.TotalSeconds:N0} s";

    internal enum Fault
    {
        ServerErrors,
        Throttling,
        Slow,
        Refused,
        Unauthorized,
        NotJson,
    }

    /// <summary>
    /// One row of K5: its id, title, the fault and how long it lasts; <c>Paced</c>: the pod's rate limit holds it to
    /// <see cref="PacedPerSecond"/>; <c>OneWorker</c>: the pod has a single worker.
    /// </summary>
    internal sealed record Case(string Id, string Title, Fault Kind, TimeSpan Duration, GatewayDialect Dialect = GatewayDialect.Evolution, bool Paced = false, bool OneWorker = false)
    {
        public bool Cloud => Dialect == GatewayDialect.Cloud;
    }

    /// <summary>
    /// Sizes per profile. Short keeps the product's circuit break (30 s) and 401 pause (1 min), so the resume times are a
    /// pod's; smoke shortens both to stay quick.
    /// Smoke runs 24 workers, above the breaker's MinimumThroughput (20), as a pod of the short profile does; a pod with
    /// fewer opens the outage breaker on a failure per worker (GatewayOutageTests).
    /// A paced pod (K5l) drains a smaller backlog, a fifth of it before the fault at 10 a second. In the smoke profile its
    /// fault outlasts the first timeouts (2 s), the failures in a row after them and the settle, and its break outlasts the
    /// calls in flight as the circuit opens: a short retry of one of those after the break would be the probe, and a last
    /// attempt that fails spends one. The one-worker pod (K5m) drains a smaller backlog still, with the paced pod's break
    /// and answers held one and a half timeouts; short keeps the product's 10 s gateway timeout and 30 s sampling
    /// duration, smoke scales both down tenfold.
    /// </summary>
    private sealed record Settings(
        int Messages, int Workers, TimeSpan Outage, TimeSpan Phase, TimeSpan? BreakDuration, TimeSpan? ConfigurationPause,
        int PacedMessages, TimeSpan PacedPhase, TimeSpan? PacedBreak,
        int OneWorkerMessages, TimeSpan OneWorkerPhase, TimeSpan OneWorkerTimeout, TimeSpan? OneWorkerSampling)
    {
        public static Settings For(ChaosProfile profile) => profile.Name == ChaosProfile.Short.Name
            ? new(20_000, profile.Workers, TimeSpan.FromSeconds(60), TimeSpan.FromSeconds(20), null, null, 1_000, TimeSpan.FromSeconds(20), null,
                400, TimeSpan.FromSeconds(60), s_defaultTimeout, null)
            : new(1_500, 24, TimeSpan.FromSeconds(4), TimeSpan.FromSeconds(4), TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1), 200, TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(3),
                100, TimeSpan.FromSeconds(8), TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(3));
    }

    /// <summary>What was read during the fault, one point per poll.</summary>
    private sealed class Watch
    {
        private readonly List<Point> _points = [];

        public Point? FirstAlert => _points.FirstOrDefault(p => p.Alert);

        public bool CircuitOpenSeen => _points.Any(p => p.Circuit == 1);

        public bool NotReadySeen => _points.Any(p => p.Ready == 503);

        public bool ConfigurationPausedSeen => _points.Any(p => p.ConfigurationPaused >= 1);

        public void Add(long at, SenderScrape.Metrics? metrics, int ready, Cortex.Shared.Queue.QueueStats stats)
        {
            if (metrics is null)
            {
                return;
            }

            var circuit = metrics.Sum("cortex_sender_circuit_state");
            var paused = metrics.Sum("cortex_sender_configuration_paused");
            _points.Add(new Point(at, metrics, circuit, paused, ready, stats.Leased, circuit == 1 || paused >= 1));
        }

        /// <summary>The first reading at least <paramref name="settle"/> after the alert first showed; null if the fault ended before.</summary>
        public Point? FirstAfterAlert(TimeSpan settle) => AfterAlert(settle).FirstOrDefault();

        /// <summary>The most messages leased from <paramref name="settle"/> after the alert first showed to the end of the fault.</summary>
        public long? MaxLeasedAfterAlert(TimeSpan settle) => AfterAlert(settle).ToList() is { Count: > 0 } later ? later.Max(p => p.Leased) : null;

        private IEnumerable<Point> AfterAlert(TimeSpan settle) =>
            FirstAlert is { } first ? _points.Where(p => Stopwatch.GetElapsedTime(first.At, p.At) >= settle) : [];

        public string LeasedSummary(TimeSpan settle) => _points.Count == 0
            ? "no reading"
            : $"max {_points.Max(p => p.Leased):N0} · after the alert {(MaxLeasedAfterAlert(settle) is { } m ? $"max {m:N0}" : "n/a")} · last {_points[^1].Leased:N0}";

        public string Describe(SenderScrape.Metrics before, SenderScrape.Metrics atHeal)
        {
            var circuit = string.Join("/", _points.Select(p => p.Circuit).Distinct().Order());
            var paused = _points.Count == 0 ? 0 : _points.Max(p => p.ConfigurationPaused);
            var ready = string.Join("/", _points.Select(p => p.Ready).Distinct().Order());
            string Delta(string name, string? label = null) => (atHeal.Sum(name, label) - before.Sum(name, label)).ToString("N0", CultureInfo.InvariantCulture);
            return $"circuit_state {before.Sum("cortex_sender_circuit_state"):N0} before, seen {circuit} · configuration_paused max {paused:N0} · /health/ready {ready} · during the fault: failed{{retryable}} +{Delta("cortex_sender_failed_total", "reason=\"retryable\"")}, failed{{configuration_error}} +{Delta("cortex_sender_failed_total", "reason=\"configuration_error\"")}, throttled +{Delta("cortex_sender_throttled_total")}, returned +{Delta("cortex_sender_returned_total")}";
        }

        internal sealed record Point(long At, SenderScrape.Metrics Metrics, double Circuit, double ConfigurationPaused, int Ready, long Leased, bool Alert);
    }
}
