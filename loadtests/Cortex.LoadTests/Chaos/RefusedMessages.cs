using System.Diagnostics;
using System.Globalization;
using Cortex.LoadTests.Load;
using Cortex.LoadTests.Reporting;
using Cortex.Sender.Resilience;
using Cortex.Sender.Retry;
using Cortex.Shared.Queue;

namespace Cortex.LoadTests.Chaos;

/// <summary>
/// K7b, the other poison of issue #7: messages the gateway can never take (answered 500 every time, as a request that
/// breaks the gateway's handler), sent by a real Cortex.Sender process. Each must spend its attempts on the retry
/// schedule and reach the dead-letter list as retries_exhausted, while the circuit stays closed and the pod ready as
/// long as other messages get through. One sender, three phases: a few among a backlog; then one alone on the idle pod;
/// then two alone, which the circuit cannot tell from an outage (every call the pod makes fails): they must wait with
/// no attempt spent while it is open, and be dead-lettered once other traffic comes (a message every half second).
/// </summary>
internal static class RefusedMessages
{
    public const string Id = "K7b";
    public const string Title = "messages the gateway always fails (500 every time)";

    private static readonly TimeSpan s_poll = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan s_trickle = TimeSpan.FromMilliseconds(500);
    private static readonly TimeSpan s_budget = TimeSpan.FromMinutes(3);

    public static async Task<ScenarioReport> RunAsync(LoadContext context, ChaosProfile profile)
    {
        var smoke = profile == ChaosProfile.Smoke;
        var n = smoke ? 4_000 : 50_000;
        var inBacklog = smoke ? 5 : 20;
        var retryDelay = smoke ? TimeSpan.FromMilliseconds(250) : TimeSpan.FromSeconds(1);
        var breakDuration = smoke ? TimeSpan.FromSeconds(1) : TimeSpan.FromSeconds(5);
        var samplingDuration = retryDelay * 2;
        var maxAttempts = new RetryOptions().MaxAttempts;
        var callsPerAttempt = new ResilienceOptions().ShortRetries + 1;
        var calls = maxAttempts * callsPerAttempt;

        // In the first fifth of the backlog: their last attempts come while the rest is still being sent.
        var backlogRefused = Enumerable.Range(1, inBacklog).Select(k => k * (n / 5 / inBacklog)).ToList();
        var alone = n;
        int[] pair = [n + 1, n + 2];
        var trickleFrom = n + 3;
        var trickleMax = (int)(s_budget / s_trickle);
        var ledger = new MessageLedger(trickleFrom + trickleMax);
        await using var gateway = await LoadGateway.StartAsync(ledger, profile.GatewayLatency);
        gateway.Faults = FaultPlan.None with { Refused = new HashSet<int>([.. backlogRefused, alone, .. pair]) };
        var (queue, client) = context.NewQueue("k7b");
        var producer = new Producer(client, ledger, queue.Keys.Name + ":");
        context.Progress.WriteLine($"  pushing {n:N0} messages, {inBacklog} of them refused by the gateway");
        await producer.BurstAsync(0, n);

        var port = LoopbackServer.FreePort();
        var environment = new Dictionary<string, string>
        {
            ["Cortex__Observability__Port"] = port.ToString(CultureInfo.InvariantCulture),

            // The schedule in seconds instead of the product's 5 min, 25 min, 2 h, so the run sees every attempt.
            ["Cortex__Retry__BaseDelay"] = retryDelay.ToString("c", CultureInfo.InvariantCulture),
            ["Cortex__Retry__Factor"] = "2",
            ["Cortex__Retry__MaxDelay"] = (retryDelay * 4).ToString("c", CultureInfo.InvariantCulture),
            ["Cortex__Resilience__BreakDuration"] = breakDuration.ToString("c", CultureInfo.InvariantCulture),

            // Scaled with it, so one message's attempts span more than the window, as 5 min apart do against the product's 30 s:
            // calls failing in a row for that long open the circuit unless they are all one message's.
            ["Cortex__Resilience__SamplingDuration"] = samplingDuration.ToString("c", CultureInfo.InvariantCulture),
        };
        using var scrape = new SenderScrape(port);
        var sender = context.StartSender("k7b", queue, gateway, profile.Workers, environment);
        var readings = new Readings(scrape, sender);
        List<Sample> samples;
        Check exit;
        Phase backlog, single, pairWait, traffic;
        TimeSpan? pairOpenedAfter = null;
        double spentWhileOpen = 0;
        var probesWhileOpen = 0;
        TimeSpan heldOpen = TimeSpan.Zero;
        var trickled = 0;
        try
        {
            await using var sampler = new Sampler(queue, () => sender.HasExited ? [] : [sender]);
            async Task<int> Dead(IEnumerable<int> indices) => (await DeadLettersAsync(queue)).Keys.Count(indices.Contains);

            backlog = await readings.UntilAsync(async () => ledger.Distinct >= n - inBacklog && await Dead(backlogRefused) == inBacklog, "sent the backlog and dead-lettered its refused messages");
            context.Progress.WriteLine($"  backlog sent, its {inBacklog} refused messages dead-lettered after {backlog.Duration.TotalSeconds:N1} s; circuit {backlog.CircuitSummary}");

            await producer.BurstAsync(alone, 1);
            single = await readings.UntilAsync(async () => await Dead([alone]) == 1, "dead-lettered the refused message pushed alone");
            context.Progress.WriteLine($"  one alone dead-lettered after {single.Duration.TotalSeconds:N1} s; circuit {single.CircuitSummary}");

            await producer.BurstAsync(pair[0], 2);
            var pairPushed = Stopwatch.GetTimestamp();
            pairWait = await readings.UntilAsync(async () => readings.CircuitOpen || await Dead(pair) == 2, "opened the circuit or dead-lettered the two pushed alone");
            if (readings.CircuitOpen)
            {
                // What an open circuit must do with nothing else to send: hold them, one probe per break, no attempt spent.
                pairOpenedAfter = Stopwatch.GetElapsedTime(pairPushed);
                var before = await scrape.MetricsAsync() ?? throw new InvalidOperationException($"no /metrics; sender log: {sender.LogPath}");
                var callsBefore = pair.Sum(gateway.RefusedCalls);
                var openedAt = Stopwatch.GetTimestamp();
                await readings.ForAsync(breakDuration * 2);
                var after = await scrape.MetricsAsync() ?? throw new InvalidOperationException($"no /metrics; sender log: {sender.LogPath}");
                heldOpen = Stopwatch.GetElapsedTime(openedAt);
                spentWhileOpen = GatewayFaults.Burned(after) - GatewayFaults.Burned(before);
                probesWhileOpen = pair.Sum(gateway.RefusedCalls) - callsBefore;
                context.Progress.WriteLine($"  the two alone opened the circuit after {pairOpenedAfter.Value.TotalSeconds:N1} s; held {heldOpen.TotalSeconds:N0} s: {probesWhileOpen} probes, {spentWhileOpen:N0} attempts spent");
            }

            // Other traffic comes: its probes close the circuit, and the two spend their attempts.
            var trafficFrom = readings.Mark();
            while (await Dead(pair) < 2)
            {
                if (trickled == trickleMax)
                {
                    throw new TimeoutException($"the two refused messages pushed alone were not dead-lettered within {s_budget.TotalMinutes:N0} min of other traffic; sender log: {sender.LogPath}");
                }

                await producer.BurstAsync(trickleFrom + trickled++, 1);
                await readings.ForAsync(s_trickle);
            }

            traffic = readings.Since(trafficFrom);
            context.Progress.WriteLine($"  the two dead-lettered {traffic.Duration.TotalSeconds:N1} s after other traffic began ({trickled} messages pushed); circuit {traffic.CircuitSummary}");
            await readings.UntilAsync(async () => ledger.AcceptedIn(trickleFrom, trickleFrom + trickled) == trickled && (await queue.GetStatsAsync()).Pending == 0, "sent the other traffic");
            samples = sampler.Samples(ledger, 0, n);
            exit = await LoadContext.StopAsync([sender]);
        }
        finally
        {
            await sender.DisposeAsync();
        }

        var dead = await DeadLettersAsync(queue);
        string Outcome(IEnumerable<int> indices) => string.Join(" · ", indices
            .Select(i => dead.TryGetValue(i, out var d) ? $"{d.Reason} after {d.Attempts} attempts" : "not dead-lettered")
            .GroupBy(o => o, StringComparer.Ordinal)
            .Select(g => g.Count() == 1 ? g.Key : $"{g.Count()} × {g.Key}"));
        bool Exhausted(IEnumerable<int> indices) => indices.All(i => dead.TryGetValue(i, out var d) && d.Reason == DeadLetterReasons.RetriesExhausted && d.Attempts == maxAttempts);

        var closedTarget = "0 (closed) in every reading, /health/ready 200";
        int[] once = [.. backlogRefused, alone];
        var callCounts = string.Join(" · ", once.Select(gateway.RefusedCalls).GroupBy(c => c).OrderBy(g => g.Key).Select(g => $"{g.Count()} × {g.Key}"));
        var others = Enumerable.Range(0, n).Except(backlogRefused).Concat(Enumerable.Range(trickleFrom, trickled)).ToList();
        var lost = others.Count(i => ledger.AcceptCount(i) == 0);
        var duplicates = others.Sum(i => Math.Max(0, ledger.AcceptCount(i) - 1));
        var stats = await queue.GetStatsAsync();
        var deadExpected = inBacklog + 1 + pair.Length;
        List<Check> checks =
        [
            new($"the {inBacklog} among the backlog: dead-lettered after every attempt", $"{inBacklog} × {DeadLetterReasons.RetriesExhausted} after {maxAttempts} attempts", Outcome(backlogRefused), Exhausted(backlogRefused)),
            new("circuit while the backlog was sent", closedTarget, backlog.CircuitSummary, backlog.StayedClosed),
            new("one alone on the idle pod: dead-lettered after every attempt", $"{DeadLetterReasons.RetriesExhausted} after {maxAttempts} attempts", Outcome([alone]), Exhausted([alone])),
            new("circuit while the one alone spent its attempts", closedTarget, single.CircuitSummary, single.StayedClosed),
            new("gateway calls for each of them", $"{calls} ({maxAttempts} attempts × {callsPerAttempt} calls)", callCounts, once.All(i => gateway.RefusedCalls(i) == calls)),
            new("two alone: dead-lettered after every attempt once other traffic came", $"2 × {DeadLetterReasons.RetriesExhausted} after {maxAttempts} attempts", Outcome(pair), Exhausted(pair)),
            new("two alone: attempts spent while the circuit was open", "0", pairOpenedAfter is null ? "the circuit did not open" : $"{spentWhileOpen:N0} in {heldOpen.TotalSeconds:N0} s", spentWhileOpen == 0),
            new("every other message sent once", "lost 0 · duplicates 0", $"lost {lost:N0} · duplicates {duplicates:N0} of {others.Count:N0}", lost == 0 && duplicates == 0),
            new("nothing left in Redis but their dead letters", $"0 ready · 0 delayed · 0 leased · {deadExpected} dead", $"{stats.Ready:N0} ready · {stats.Delayed:N0} delayed · {stats.Leased:N0} leased · {stats.Dead:N0} dead", stats.Pending == 0 && stats.Dead == deadExpected),
            new("gateway saw only this run's messages", "0 unknown", $"{gateway.Unknown:N0} unknown", gateway.Unknown == 0),
            exit,
        ];
        var example = dead.TryGetValue(alone, out var aloneEntry) ? $"{aloneEntry.Reason}: {aloneEntry.Detail}" : "none";
        List<Figure> figures =
        [
            new("load", $"{n:N0} messages backlog, {profile.Workers} workers, gateway answering after {profile.GatewayLatency.TotalMilliseconds:N0} ms; retry schedule {Seconds(retryDelay)}, ×2, {maxAttempts} attempts; circuit break {Seconds(breakDuration)}, sampling duration {Seconds(samplingDuration)}"),
            new("faults injected", $"{inBacklog} messages of the backlog (one in every {n / 5 / inBacklog:N0} of its first fifth), then 1 alone, then 2 alone, answered 500 on every call"),
            new("backlog sent and its refused messages dead-lettered", $"{backlog.Duration.TotalSeconds:N1} s; circuit {backlog.CircuitSummary}"),
            new("one alone: pushed → dead-lettered", $"{single.Duration.TotalSeconds:N1} s; circuit {single.CircuitSummary}"),
            new("two alone: pushed → circuit open", pairOpenedAfter is { } o ? $"{o.TotalSeconds:N1} s ({pairWait.CircuitSummary})" : "did not open"),
            new("two alone, held open with nothing else to send", pairOpenedAfter is null ? "n/a" : $"{heldOpen.TotalSeconds:N0} s: {probesWhileOpen} probe calls, {spentWhileOpen:N0} attempts spent"),
            new("other traffic began → the two dead-lettered", $"{traffic.Duration.TotalSeconds:N1} s, {trickled} messages pushed one every {s_trickle.TotalMilliseconds:N0} ms; circuit {traffic.CircuitSummary}"),
            new("gateway calls for the two", string.Join(" · ", pair.Select(gateway.RefusedCalls))),
            new("dead letter of the one alone", example),
        ];
        return new ScenarioReport(
            Id,
            $"Messages the gateway always fails, among {n:N0} and alone",
            "closed (backlog), then single messages",
            $"{n:N0} billing reminders are pushed; the stand-in gateway answers 500 to every call for {inBacklog} of them, in the first fifth of the backlog, as for a request that breaks the gateway's handler. One sender ({profile.Workers} workers, /metrics on, the retry schedule and the breakers' sampling duration shortened to seconds) drains them; each refused message must spend its {maxAttempts} attempts ({callsPerAttempt} calls each with the short retries) and be dead-lettered as {DeadLetterReasons.RetriesExhausted}, with the circuit closed throughout: other messages get through. Then one refused message is pushed alone on the idle pod: its failures alone must not open the circuit. Then two are pushed alone: every call the pod makes fails, which the circuit cannot tell from an outage, so it may open; while open they must wait with no attempt spent, and once other traffic comes (a message every {s_trickle.TotalMilliseconds:N0} ms) be dead-lettered in their turn. /metrics and /health/ready are read every {s_poll.TotalMilliseconds:N0} ms.",
            figures, checks, samples);
    }

    private static async Task<Dictionary<int, DeadLetterEntry>> DeadLettersAsync(RedisMessageQueue queue) =>
        await LoadContext.DeadLettersByIndexAsync(queue, (await queue.GetStatsAsync()).Dead);

    private static string Seconds(TimeSpan t) => $"{t.TotalSeconds.ToString("0.##", CultureInfo.InvariantCulture)} s";

    /// <summary>What one phase saw on the sender's operations port: readings, those with the circuit not closed, those not ready.</summary>
    private sealed record Phase(TimeSpan Duration, int Readings, int NotClosed, int NotReady)
    {
        public bool StayedClosed => Readings > 0 && NotClosed == 0 && NotReady == 0;

        public string CircuitSummary => Readings == 0 ? "no reading" : $"not closed in {NotClosed} of {Readings} readings, /health/ready 503 in {NotReady}";
    }

    /// <summary>Reads the sender's circuit state and readiness every poll, failing the run if the sender exits or a wait runs past the budget.</summary>
    private sealed class Readings(SenderScrape scrape, SenderProcess sender)
    {
        private int _readings;
        private int _notClosed;
        private int _notReady;

        /// <summary>Whether the last reading showed the circuit open.</summary>
        public bool CircuitOpen { get; private set; }

        /// <summary>Where the readings are now, for <see cref="Since"/>.</summary>
        public (long At, int Readings, int NotClosed, int NotReady) Mark() => (Stopwatch.GetTimestamp(), _readings, _notClosed, _notReady);

        /// <summary>What the readings saw from <paramref name="mark"/> on.</summary>
        public Phase Since((long At, int Readings, int NotClosed, int NotReady) mark) =>
            new(Stopwatch.GetElapsedTime(mark.At), _readings - mark.Readings, _notClosed - mark.NotClosed, _notReady - mark.NotReady);

        public async Task<Phase> UntilAsync(Func<Task<bool>> done, string what)
        {
            var mark = Mark();
            while (!await done())
            {
                if (Stopwatch.GetElapsedTime(mark.At) > s_budget)
                {
                    throw new TimeoutException($"the sender has not {what} within {s_budget.TotalMinutes:N0} min; its log: {sender.LogPath}");
                }

                await ReadAsync();
                await Task.Delay(s_poll);
            }

            return Since(mark);
        }

        public async Task ForAsync(TimeSpan duration)
        {
            var start = Stopwatch.GetTimestamp();
            while (Stopwatch.GetElapsedTime(start) < duration)
            {
                await ReadAsync();
                await Task.Delay(s_poll);
            }
        }

        private async Task ReadAsync()
        {
            if (sender.HasExited)
            {
                throw new InvalidOperationException($"sender exited with {sender.ExitCode}; its log: {sender.LogPath}");
            }

            // No answer yet (the sender starting) is no reading.
            if (await scrape.MetricsAsync() is not { } metrics)
            {
                return;
            }

            var ready = await scrape.ReadyAsync();
            var state = metrics.Sum("cortex_sender_circuit_state");
            CircuitOpen = state == 1;
            _readings++;
            _notClosed += state != 0 ? 1 : 0;
            _notReady += ready == 503 ? 1 : 0;
        }
    }
}
