using System.Diagnostics;
using System.Globalization;
using Cortex.LoadTests.Load;
using Cortex.LoadTests.Reporting;

namespace Cortex.LoadTests.Chaos;

/// <summary>
/// K5g: a 429 storm under three senders of one gateway number, as three pods behind one WhatsApp number. A pod that
/// gets a 429 pauses itself for the Retry-After; with a global limit (<c>Cortex:RateLimit:GlobalPermitsPerSecond</c>) it
/// also writes the pause into the bucket in Redis, so the other pods hold too instead of each collecting its own 429s.
/// Each pause ends with one probe (each pod's own, or one for every pod through the bucket) whose acceptance lets the
/// rest go. The same storm runs twice on fresh queues, senders and stand-ins: without the global limit, then with it.
/// </summary>
internal static class SharedThrottling
{
    public const string Id = "K5g";
    private const int Pods = 3;

    // Far above what three pods send here, so outside the storm the bucket is not what sets the pace.
    private const int GlobalPermitsPerSecond = 20_000;

    public static string Title(ChaosProfile profile) => $"429 storm for {Storm(profile).TotalSeconds:N0} s under {Pods} senders of one number";

    public static async Task<ScenarioReport> RunAsync(LoadContext context, ChaosProfile profile)
    {
        var n = profile == ChaosProfile.Smoke ? 1_500 : 20_000;
        var workers = profile == ChaosProfile.Smoke ? 24 : profile.Workers;
        var storm = Storm(profile);
        var alone = await StormAsync(context, profile, "k5g-alone", n, workers, storm, shared: false);
        var shared = await StormAsync(context, profile, "k5g-shared", n, workers, storm, shared: true);

        // When the storm starts each worker has at most one request out: a pod's gate shuts at its first 429. After that
        // each pause (the 1 s of Retry-After) ends with one probe: each pod's own without the global limit, one for every
        // pod with it. Before the probes every worker of every pod went at each pause's end.
        List<Check> checks =
        [
            Probes(alone, workers, probers: Pods),
            Probes(shared, workers, probers: 1),
        ];
        foreach (var run in new[] { alone, shared })
        {
            var label = run.Shared ? "with the global limit" : "without the global limit";
            checks.Add(new($"messages lost, {label}", "0", $"{run.Missing:N0} of {n:N0} ({run.Dead:N0} dead-lettered)", run.Missing == 0 && run.Dead == 0));
            checks.Add(new($"duplicates, {label}", "0", $"{run.Duplicates:N0}", run.Duplicates == 0));
            checks.Add(new($"attempts burned (retries scheduled + dead letters), {label}", "0: a 429 spends none", $"{run.Burned:N0}", run.Burned == 0));
            checks.Add(new($"nothing left in Redis, {label}", "0 pending", $"{run.Pending:N0} pending", run.Pending == 0));
            checks.Add(run.Exit with { Name = $"{run.Exit.Name}, {label}" });
        }

        List<Figure> figures =
        [
            new("load", $"{n:N0} messages backlog per run, {Pods} senders × {workers} workers, one gateway name, stand-in answering after {profile.GatewayLatency.TotalMilliseconds:N0} ms; with the global limit {GlobalPermitsPerSecond:N0}/s (burst 10)"),
            new("fault injected", $"every request answered 429, Retry-After: 1, for {storm.TotalSeconds:N0} s, a fifth of the way through each run"),
            new("429 answers during the storm, without the global limit", Rate(alone)),
            new("429 answers during the storm, with the global limit", Rate(shared)),
            new("fault ended → first message accepted, without → with", $"{Resume(alone)} → {Resume(shared)}"),
        ];

        return new ScenarioReport(
            Id,
            Title(profile),
            "closed (backlog)",
            $"{Pods} sender processes drain {n:N0} messages through one stand-in, under one gateway name, as {Pods} pods behind one WhatsApp number. A fifth of the way through, every request gets 429 with Retry-After: 1 for {storm.TotalSeconds:N0} s. Run twice: without a global limit each pod pauses only itself; with one, the first pod to be throttled writes the pause into the bucket in Redis and every pod holds. Nothing may be lost, sent twice or spend an attempt, and after the requests out when the storm starts, each pause may end with one 429 per pod without the global limit and one in all with it.",
            figures,
            checks,
            shared.Samples);
    }

    private static Check Probes(Run run, int workers, int probers)
    {
        var pauses = Math.Ceiling(run.Seconds) + 1;
        var bound = (Pods * workers) + (probers * pauses);
        return new(
            run.Shared ? "429s with the global limit: one probe for every pod per pause" : "429s without the global limit: one probe per pod per pause",
            $"≤ {bound:N0} ({Pods} × {workers} workers out at the start + {probers} × {pauses:N0} pauses)",
            $"{run.Throttled:N0} in {run.Seconds:N1} s",
            run.Throttled <= bound);
    }

    private static TimeSpan Storm(ChaosProfile profile) => profile == ChaosProfile.Smoke ? TimeSpan.FromSeconds(4) : TimeSpan.FromSeconds(20);

    private static string Rate(Run run) => $"{run.Throttled:N0} in {run.Seconds:N1} s ({run.Throttled / Math.Max(run.Seconds, 0.001):N1}/s) of {run.Requests:N0} requests";

    private static string Resume(Run run) => run.Resumed is { } r ? $"{r.TotalSeconds:N1} s" : "never";

    private static async Task<Run> StormAsync(LoadContext context, ChaosProfile profile, string name, int n, int workers, TimeSpan storm, bool shared)
    {
        var ledger = new MessageLedger(n);
        await using var gateway = await LoadGateway.StartAsync(ledger, profile.GatewayLatency);
        var (queue, client) = context.NewQueue(name);
        context.Progress.WriteLine($"  {name}: pushing {n:N0} messages; {Pods} senders");
        await new Producer(client, ledger, queue.Keys.Name + ":").BurstAsync(0, n);
        var ports = Enumerable.Range(0, Pods).Select(_ => LoopbackServer.FreePort()).ToList();
        var senders = ports.Select((port, i) =>
        {
            var environment = new Dictionary<string, string> { ["Cortex__Observability__Port"] = port.ToString(CultureInfo.InvariantCulture) };
            if (shared)
            {
                environment["Cortex__RateLimit__GlobalPermitsPerSecond"] = GlobalPermitsPerSecond.ToString(CultureInfo.InvariantCulture);
            }

            return context.StartSender($"{name}-{i}", queue, gateway, workers, environment);
        }).ToList();
        try
        {
            await using var sampler = new Sampler(queue, () => senders.Where(s => !s.HasExited).ToList());
            await LoadContext.WaitForAcceptedAsync(ledger, n / 5, senders);
            var requestsAtFault = gateway.Requests;
            var faultAt = Stopwatch.GetTimestamp();
            gateway.Faults = new FaultPlan(Throttle: true);
            await Task.Delay(storm);
            var throttled = gateway.Throttled;
            var requests = gateway.Requests - requestsAtFault;
            gateway.Faults = FaultPlan.None;
            var healAt = Stopwatch.GetTimestamp();
            var seconds = Stopwatch.GetElapsedTime(faultAt, healAt).TotalSeconds;
            context.Progress.WriteLine($"  {name}: {throttled:N0} answers 429 in {seconds:N1} s");
            await LoadContext.WaitForAcceptedAsync(ledger, n, senders);
            var afterHeal = ledger.AcceptanceTimes(0, n).Where(t => t > healAt).ToList();
            TimeSpan? resumed = afterHeal.Count > 0 ? Stopwatch.GetElapsedTime(healAt, afterHeal.Min()) : null;
            double burned = 0;
            foreach (var port in ports)
            {
                using var scrape = new SenderScrape(port);
                var metrics = await scrape.MetricsAsync() ?? throw new InvalidOperationException($"no /metrics on port {port}");
                burned += metrics.Sum("cortex_sender_retries_total") + metrics.Sum("cortex_sender_dead_lettered_total");
            }

            var samples = sampler.Samples(ledger, 0, n);
            var exit = await LoadContext.StopAsync(senders);
            var (missing, duplicates) = ledger.Audit(0, n);
            var stats = await queue.GetStatsAsync();
            return new Run(shared, throttled, requests, seconds, resumed, missing.Count, duplicates, burned, stats.Dead, stats.Pending, exit, samples);
        }
        finally
        {
            foreach (var sender in senders)
            {
                await sender.DisposeAsync();
            }
        }
    }

    private sealed record Run(
        bool Shared, long Throttled, long Requests, double Seconds, TimeSpan? Resumed, int Missing, int Duplicates, double Burned, long Dead, long Pending, Check Exit, IReadOnlyList<Sample> Samples);
}
