using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Cortex.Shared.Client;
using Cortex.Shared.Contract;
using Cortex.Shared.Queue;
using StackExchange.Redis;

namespace Cortex.LoadTests;

/// <summary>
/// make scaleout: what Kubernetes autoscaling relies on, shown on one machine with real Cortex.Sender processes ("pods")
/// sharing one Redis queue and one HTTP gateway stand-in on loopback. Three scenarios, each repeated and reported as
/// Markdown rows with the median: (a) throughput against the number of processes, with a gateway that answers after
/// 40 ms (each pod bound by Workers / latency, like a real provider) and with one that answers at once (the machine's
/// limit); (b) an HPA-like run that adds processes one by one during a drain and then stops some with SIGTERM; (c) the
/// global rate limit held across 1, 2 and 4 processes. Every run counts, at the gateway, each message accepted, and
/// fails on a loss, a duplicate or a dead letter.
/// </summary>
internal static class ScaleOutRun
{
    // A pod bound by its provider: 16 workers over a 40 ms round trip, about 400 msg/s at most.
    private const int Workers = 16;
    private const int RateMessages = 8_000;
    private const int RateWorkers = 8;
    private const double GlobalLimit = 300;
    private static readonly TimeSpan s_latency = TimeSpan.FromMilliseconds(40);
    private static readonly TimeSpan s_rateWarmUp = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan s_rateWindow = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan s_noProgress = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan s_exitBudget = TimeSpan.FromSeconds(40);

    // (a): pods bound by the gateway's latency, pods twice as fast, and an instant gateway that leaves only the machine.
    // The warm-up is about 5 s of work per process (less for the instant gateway), done before the measured backlog.
    private static readonly GatewayProfile[] s_profiles =
    [
        new("40 ms gateway", s_latency, Workers, 8_000, 2_000, "40ms-16"),
        new("40 ms gateway", s_latency, 2 * Workers, 16_000, 4_000, "40ms-32"),
        new("instant gateway", TimeSpan.Zero, 2 * Workers, 60_000, 10_000, "instant-32"),
    ];

    // HPA-like plan: at this share of the backlog sent, run this many processes.
    private static readonly (double At, int Processes)[] s_hpaPlan = [(0, 1), (0.10, 2), (0.25, 3), (0.45, 4), (0.70, 2), (0.85, 1)];

    // profile and maxProcesses narrow (a) to one gateway profile (40ms-16, 40ms-32, instant-32) and 1..N processes.
    public static async Task<int> RunAsync(string redis, string senderDll, string scenario, int repeat, int hpaMessages, string profile = "all", int maxProcesses = 4)
    {
        if (scenario is not ("all" or "processes" or "hpa" or "rate") || repeat < 1 || maxProcesses is < 1 or > 4 || (profile != "all" && !s_profiles.Any(p => p.Key == profile)))
        {
            Console.Error.WriteLine("usage: Cortex.LoadTests scaleout --redis host:port [--scenario all|processes|hpa|rate] [--repeat N ≥ 1] [--messages N (the HPA backlog)] [--profile all|40ms-16|40ms-32|instant-32 --processes 1..4 (processes only)]");
            return 2;
        }

        using var connection = await ConnectionMultiplexer.ConnectAsync(redis);
        var context = new RunContext(connection, redis, senderDll);
        Console.WriteLine($"Machine: {Environment.ProcessorCount} cores; each figure is the median of {repeat} runs, every run listed.");
        if (scenario is "all" or "processes")
        {
            await ThroughputAsync(context, repeat, [.. s_profiles.Where(p => profile == "all" || p.Key == profile)], maxProcesses);
        }

        if (scenario is "all" or "hpa")
        {
            await HpaAsync(context, repeat, hpaMessages);
        }

        if (scenario is "all" or "rate")
        {
            await RateAsync(context, repeat);
        }

        return 0;
    }

    // (a) The same backlog drained by 1, 2, 3 and 4 processes, for each gateway profile.
    private static async Task ThroughputAsync(RunContext context, int repeat, GatewayProfile[] profiles, int maxProcesses)
    {
        var results = new Dictionary<(GatewayProfile, int), List<DrainResult>>();
        for (var r = 1; r <= repeat; r++)
        {
            foreach (var profile in profiles)
            {
                for (var processes = 1; processes <= maxProcesses; processes++)
                {
                    Progress($"throughput run {r}/{repeat}: {profile}, {processes} process(es)");
                    var result = await DrainAsync(context, profile, processes);
                    results.TryAdd((profile, processes), []);
                    results[(profile, processes)].Add(result);
                    Progress($"  {result.Throughput:N0} msg/s; cores busy {result.Cores} (machine {result.Machine}); CPU per message {result.CpuPerMessage}; Redis scripts per message {result.ScriptsPerMessage:N3}; split {result.Split}");
                }
            }
        }

        Console.WriteLine();
        Console.WriteLine("### (a) Throughput against processes (warm processes: each first sends its warm-up share)");
        Console.WriteLine();
        Console.WriteLine("| gateway | workers per process | warm-up per process, then measured backlog | processes | msg/s, median | runs | × 1 process | ceiling Workers / latency | cores busy: senders + gateway and harness + Redis = ours | whole machine | CPU per message: senders + gateway + Redis | share of sends per process | lost · duplicates · dead |");
        Console.WriteLine("| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | --- | ---: | --- | --- | --- |");
        foreach (var profile in profiles)
        {
            var one = Median(results[(profile, 1)].Select(x => x.Throughput));
            for (var processes = 1; processes <= maxProcesses; processes++)
            {
                var runs = results[(profile, processes)];
                var median = Median(runs.Select(x => x.Throughput));

                // The CPU and split columns come from the run that gave the median.
                var typical = runs.OrderBy(x => x.Throughput).ElementAt(runs.Count / 2);
                var ceiling = profile.Latency > TimeSpan.Zero ? $"{processes * profile.Workers / profile.Latency.TotalSeconds:N0}" : "—";
                Console.WriteLine($"| {profile.Label} | {profile.Workers} | {profile.WarmUpPerProcess:N0}, then {profile.Messages:N0} | {processes} | **{median:N0}** | {string.Join(" · ", runs.Select(x => x.Throughput.ToString("N0", CultureInfo.InvariantCulture)))} | {median / one:N2} | {ceiling} | {typical.Cores} | {typical.Machine} | {typical.CpuPerMessage} | {typical.Split} | {runs.Sum(x => x.Check.Lost)} · {runs.Sum(x => x.Check.Duplicates)} · {runs.Sum(x => x.Check.Dead)} |");
            }
        }
    }

    private static async Task<DrainResult> DrainAsync(RunContext context, GatewayProfile profile, int processes)
    {
        var messages = profile.Messages;
        var warm = profile.WarmUpPerProcess * processes;
        await using var gateway = await FakeHttpGateway.StartAsync(profile.Latency, record: true);
        var backlog = Backlog.Create(context.Connection, warm + messages);
        await backlog.EnqueueAsync(0, warm);
        await using var fleet = new Fleet(context, backlog.Queue.Keys.Name, gateway, profile.Workers, globalLimit: 0);
        for (var i = 0; i < processes; i++)
        {
            fleet.Add();
        }

        // A process just started spends seconds of CPU in the JIT, which on two shared cores would be measured as the
        // cost of scaling out: each process first works through a warm-up backlog, then the measured one arrives.
        await WaitAsync(() => Task.FromResult(gateway.Requests >= warm && fleet.Live.All(p => gateway.AcceptedFrom(p.Name) > 0)), gateway, "the warm-up sent by every process");
        await WaitDrainedAsync(backlog, gateway);
        await backlog.EnqueueAsync(warm, messages);

        // Timed from 10% to 90% of the measured backlog: the pick-up after idling and the drain's tail are left out.
        await WaitAsync(() => Task.FromResult(gateway.Requests >= warm + (messages / 10)), gateway, "10% sent");
        var start = await CpuSample.TakeAsync(context.Connection, fleet, gateway);
        var startSplit = fleet.All.Select(p => gateway.AcceptedFrom(p.Name)).ToArray();
        await WaitAsync(() => Task.FromResult(gateway.Requests >= warm + (messages * 9L / 10)), gateway, "90% sent");
        var end = await CpuSample.TakeAsync(context.Connection, fleet, gateway);
        var split = string.Join(" / ", fleet.All.Select((p, i) => $"{100.0 * (gateway.AcceptedFrom(p.Name) - startSplit[i]) / (end.Sent - start.Sent):N0}%"));
        await WaitDrainedAsync(backlog, gateway);
        var check = await CheckAsync(backlog, gateway);
        var exits = await fleet.StopAllAsync();
        Require(check.Clean && exits.All(e => e.ExitCode == 0), $"unclean run: {check}; exits {string.Join(", ", exits)}");
        fleet.Passed = true;
        return new DrainResult((end.Sent - start.Sent) / end.Since(start), end.CoresSince(start), end.MachineSince(start), end.CpuPerMessageSince(start), split, check, (end.RedisScripts - start.RedisScripts) / (double)(end.Sent - start.Sent));
    }

    // (b) One backlog; processes added one by one while it drains (scale-out), then stopped by SIGTERM (scale-in).
    private static async Task HpaAsync(RunContext context, int repeat, int messages)
    {
        var runs = new List<HpaResult>();
        for (var r = 1; r <= repeat; r++)
        {
            Progress($"HPA-like run {r}/{repeat}: {messages:N0} messages");
            runs.Add(await HpaOnceAsync(context, messages));
            Progress($"  phases {string.Join(" · ", runs[^1].Phases.Select(p => p.Throughput.ToString("N0", CultureInfo.InvariantCulture)))} msg/s; {runs[^1].Check}");
        }

        Console.WriteLine();
        Console.WriteLine($"### (b) HPA-like run: {messages:N0} messages, {Workers} workers per process, 40 ms gateway");
        Console.WriteLine();
        Console.WriteLine("| phase | processes | what happened at its start | sent in the phase (median) | seconds (median) | msg/s, median | runs | × ceiling (processes × Workers / latency) | cores busy: senders + gateway and harness + Redis = ours | whole machine | CPU per message: senders + gateway + Redis |");
        Console.WriteLine("| --- | ---: | --- | ---: | ---: | ---: | --- | ---: | --- | ---: | --- |");
        for (var i = 0; i < s_hpaPlan.Length; i++)
        {
            var phases = runs.Select(x => x.Phases[i]).ToList();
            var p = phases[0];
            var median = Median(phases.Select(x => x.Throughput));
            var typical = phases.OrderBy(x => x.Throughput).ElementAt(phases.Count / 2);
            Console.WriteLine($"| {i + 1}: {p.From:P0} → {p.To:P0} of the backlog | {p.Processes} | {p.Action} | {Median(phases.Select(x => (double)x.Sent)):N0} | {Median(phases.Select(x => x.Seconds)):N1} | **{median:N0}** | {string.Join(" · ", phases.Select(x => x.Throughput.ToString("N0", CultureInfo.InvariantCulture)))} | {median / (p.Processes * Workers / s_latency.TotalSeconds):P0} | {typical.Cores} | {typical.Machine} | {typical.CpuPerMessage} |");
        }

        Console.WriteLine();
        Console.WriteLine("| run | whole drain | enqueued | accepted once | lost | duplicates | dead-lettered | first send of each process after its launch | SIGTERM → exit (exit code; returned unsent; sends cancelled) |");
        Console.WriteLine("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |");
        for (var r = 0; r < runs.Count; r++)
        {
            var x = runs[r];
            Console.WriteLine($"| {r + 1} | {x.Seconds:N1} s = {x.Check.Enqueued / x.Seconds:N0} msg/s | {x.Check.Enqueued:N0} | {x.Check.AcceptedOnce:N0} | {x.Check.Lost} | {x.Check.Duplicates} | {x.Check.Dead} | {x.FirstSends} | {x.Stops} |");
        }
    }

    private static async Task<HpaResult> HpaOnceAsync(RunContext context, int messages)
    {
        await using var gateway = await FakeHttpGateway.StartAsync(s_latency, record: true);
        var backlog = await Backlog.EnqueueAsync(context.Connection, messages);
        await using var fleet = new Fleet(context, backlog.Queue.Keys.Name, gateway, Workers, globalLimit: 0);
        var boundaries = new List<(CpuSample Sample, string Action)>();
        var started = Stopwatch.GetTimestamp();
        foreach (var (at, processes) in s_hpaPlan)
        {
            var threshold = (long)(at * messages);
            await WaitAsync(() => Task.FromResult(fleet.Observe() && gateway.Requests >= threshold), gateway, $"{at:P0} sent");

            // Sampled before acting: a process started now has its whole start-up counted in the phase it starts.
            var sample = await CpuSample.TakeAsync(context.Connection, fleet, gateway);
            var actions = new List<string>();
            while (fleet.Live.Count < processes)
            {
                actions.Add("started " + fleet.Add().Name);
            }

            while (fleet.Live.Count > processes)
            {
                // Scale-in stops the newest pod first, as a ReplicaSet prefers the pod ready for the shortest time.
                var pod = fleet.Live[^1];
                await fleet.TerminateAsync(pod);
                actions.Add("SIGTERM " + pod.Name);
            }

            boundaries.Add((sample, string.Join(", ", actions)));
        }

        await WaitDrainedAsync(backlog, gateway, fleet);
        var end = await CpuSample.TakeAsync(context.Connection, fleet, gateway);
        var check = await CheckAsync(backlog, gateway);
        var stops = fleet.Terminated.ToList();
        var exits = await fleet.StopAllAsync();
        var stopped = exits.Where(e => stops.Any(p => p.Name == e.Name)).ToList();
        Require(check.Clean && exits.All(e => e.ExitCode == 0), $"unclean run: {check}; exits {string.Join(", ", exits)}");
        fleet.Passed = true;
        var phases = new List<HpaPhase>();
        for (var i = 0; i < boundaries.Count; i++)
        {
            var (from, action) = boundaries[i];
            var to = i + 1 < boundaries.Count ? boundaries[i + 1].Sample : end;
            var seconds = to.Since(from);
            phases.Add(new HpaPhase(
                s_hpaPlan[i].At, i + 1 < s_hpaPlan.Length ? s_hpaPlan[i + 1].At : 1, s_hpaPlan[i].Processes, action, to.Sent - from.Sent, seconds, (to.Sent - from.Sent) / seconds, to.CoresSince(from), to.MachineSince(from), to.CpuPerMessageSince(from)));
        }

        var firstSends = string.Join(", ", fleet.All.Select(p => $"{p.Name} {fleet.FirstSendAfterLaunch(p)?.TotalSeconds:N1} s"));
        var stopText = string.Join(", ", stopped.Select(e => $"{e.Name} {e.AfterTerm.TotalSeconds:N2} s ({e.ExitCode}; {e.Returned}; {e.Cancelled})"));
        return new HpaResult(phases, Stopwatch.GetElapsedTime(started, end.At).TotalSeconds, check, firstSends, stopText);
    }

    // (c) A global limit of 300 msg/s with 1, 2 and 4 processes of about 200 msg/s each.
    private static async Task RateAsync(RunContext context, int repeat)
    {
        int[] counts = [1, 2, 4];
        var results = counts.ToDictionary(n => n, _ => new List<RateResult>());
        for (var r = 1; r <= repeat; r++)
        {
            foreach (var processes in counts)
            {
                Progress($"global rate run {r}/{repeat}: {processes} process(es), limit {GlobalLimit:N0} msg/s");
                var result = await RateOnceAsync(context, processes);
                results[processes].Add(result);
                Progress($"  {result.Rate:N1} msg/s over {s_rateWindow.TotalSeconds:N0} s; busiest second {result.BusiestSecond}; {result.Check}");
            }
        }

        var perPod = RateWorkers / s_latency.TotalSeconds;
        Console.WriteLine();
        Console.WriteLine($"### (c) Global rate limit {GlobalLimit:N0} msg/s (`Cortex__RateLimit__GlobalPermitsPerSecond`), {RateWorkers} workers per process, 40 ms gateway");
        Console.WriteLine();
        Console.WriteLine($"| processes | ceiling without the limit | msg/s over {s_rateWindow.TotalSeconds:N0} s after {s_rateWarmUp.TotalSeconds:N0} s warm-up, median | runs | of the limit | busiest 1 s (runs) | lost · duplicates · dead |");
        Console.WriteLine("| ---: | ---: | ---: | --- | ---: | --- | --- |");
        foreach (var processes in counts)
        {
            var runs = results[processes];
            var median = Median(runs.Select(x => x.Rate));
            Console.WriteLine($"| {processes} | {processes * perPod:N0} | **{median:N1}** | {string.Join(" · ", runs.Select(x => x.Rate.ToString("N1", CultureInfo.InvariantCulture)))} | {median / GlobalLimit:P1} | {string.Join(" · ", runs.Select(x => x.BusiestSecond))} | {runs.Sum(x => x.Check.Lost)} · {runs.Sum(x => x.Check.Duplicates)} · {runs.Sum(x => x.Check.Dead)} |");
        }
    }

    private static async Task<RateResult> RateOnceAsync(RunContext context, int processes)
    {
        await using var gateway = await FakeHttpGateway.StartAsync(s_latency, record: true);
        var backlog = await Backlog.EnqueueAsync(context.Connection, RateMessages);
        await using var fleet = new Fleet(context, backlog.Queue.Keys.Name, gateway, RateWorkers, GlobalLimit);
        for (var i = 0; i < processes; i++)
        {
            fleet.Add();
        }

        await WaitAsync(() => Task.FromResult(fleet.Live.All(p => gateway.AcceptedFrom(p.Name) > 0)), gateway, "every process sending");

        // A measurement window is wall time by nature: warm up, then count what the gateway saw for a fixed span.
        var from = Stopwatch.GetTimestamp() + (long)(s_rateWarmUp.TotalSeconds * Stopwatch.Frequency);
        var to = from + (long)(s_rateWindow.TotalSeconds * Stopwatch.Frequency);
        await Task.Delay(s_rateWarmUp + s_rateWindow + TimeSpan.FromMilliseconds(100));
        Require(gateway.Requests < RateMessages, "the backlog ran out inside the window; raise RateMessages");
        var arrivals = gateway.Arrivals().Where(t => t >= from && t < to).ToArray();
        var busiest = 0;
        for (int head = 0, tail = 0; head < arrivals.Length; head++)
        {
            while (arrivals[head] - arrivals[tail] >= Stopwatch.Frequency)
            {
                tail++;
            }

            busiest = Math.Max(busiest, head - tail + 1);
        }

        // Stop every process with SIGTERM while the backlog is still queued: what was not sent must be back in ready.
        var exits = await fleet.StopAllAsync();
        var check = await CheckAsync(backlog, gateway, requireDrained: false);
        Require(check.Clean && exits.All(e => e.ExitCode == 0), $"unclean run: {check}; exits {string.Join(", ", exits)}");
        fleet.Passed = true;
        return new RateResult(arrivals.Length / s_rateWindow.TotalSeconds, busiest, check);
    }

    /// <summary>
    /// Every enqueued message must be accepted by the gateway exactly once, or be dead-lettered with a reason, or (when
    /// the run stopped early) be back in a ready list; nothing may stay leased.
    /// </summary>
    private static async Task<Check> CheckAsync(Backlog backlog, FakeHttpGateway gateway, bool requireDrained = true)
    {
        var db = backlog.Connection.GetDatabase();
        var keys = backlog.Queue.Keys;
        var stats = await backlog.Queue.GetStatsAsync();
        var dead = await backlog.Queue.GetDeadLettersAsync(0, 1_000);
        var deadIds = dead.Select(d => d.MessageId).OfType<string>().ToHashSet(StringComparer.Ordinal);
        var ready = new HashSet<string>(StringComparer.Ordinal);
        foreach (var list in new[] { keys.ReadyHigh, keys.ReadyNormal, keys.ReadyLow })
        {
            foreach (var payload in await db.ListRangeAsync(list))
            {
                var bytes = (byte[])payload!;
                using var json = JsonDocument.Parse(bytes.AsMemory(Array.IndexOf(bytes, (byte)'{')));
                ready.Add(json.RootElement.GetProperty("to").GetString()![1..]);
            }
        }

        var duplicates = gateway.AcceptedByNumber.Values.Sum(n => n - 1);
        var strangers = gateway.AcceptedByNumber.Keys.Count(n => !backlog.IdByNumber.ContainsKey(n));
        var lost = backlog.IdByNumber.Count(kv => !gateway.AcceptedByNumber.ContainsKey(kv.Key) && !deadIds.Contains(kv.Value) && !ready.Contains(kv.Key));
        var twice = ready.Count(gateway.AcceptedByNumber.ContainsKey);
        var reasons = string.Join(", ", dead.GroupBy(d => d.Reason).Select(g => $"{g.Key} {g.Count()}"));
        return new Check(
            backlog.IdByNumber.Count,
            gateway.AcceptedByNumber.Count(kv => kv.Value == 1),
            lost,
            duplicates + twice + strangers,
            (int)stats.Dead,
            ready.Count,
            stats.Leased,
            requireDrained ? stats.Pending : stats.Delayed + stats.Leased,
            reasons);
    }

    // Every 100 ms: asking Redis for the queue's counts a hundred times a second would show in its CPU at 400 msg/s.
    private static async Task WaitDrainedAsync(Backlog backlog, FakeHttpGateway gateway, Fleet? fleet = null) =>
        await WaitAsync(async () => (fleet?.Observe() ?? true) && await backlog.Queue.GetStatsAsync() is { Pending: 0 }, gateway, "the backlog drained", TimeSpan.FromMilliseconds(100));

    /// <summary>Polls a condition; fails when the gateway has seen no new request for 30 s, so a stuck run stops by itself.</summary>
    private static async Task WaitAsync(Func<Task<bool>> condition, FakeHttpGateway gateway, string what, TimeSpan? every = null)
    {
        var lastSent = gateway.Requests;
        var lastProgress = Stopwatch.GetTimestamp();
        while (!await condition())
        {
            await Task.Delay(every ?? TimeSpan.FromMilliseconds(10));
            if (gateway.Requests != lastSent)
            {
                (lastSent, lastProgress) = (gateway.Requests, Stopwatch.GetTimestamp());
            }
            else if (Stopwatch.GetElapsedTime(lastProgress) > s_noProgress)
            {
                throw new InvalidOperationException($"no progress for {s_noProgress.TotalSeconds:N0} s waiting for {what} ({lastSent:N0} sent); sender logs in {Path.GetTempPath()}cortex-scaleout-*.log");
            }
        }
    }

    private static void Require(bool condition, string message)
    {
        if (!condition)
        {
            throw new InvalidOperationException(message);
        }
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }

    private static void Progress(string line) => Console.Error.WriteLine(line);

    private sealed record RunContext(ConnectionMultiplexer Connection, string Redis, string SenderDll);

    private sealed record GatewayProfile(string Label, TimeSpan Latency, int Workers, int Messages, int WarmUpPerProcess, string Key)
    {
        public override string ToString() => $"{Label}, {Workers} workers, {Messages:N0} messages after {WarmUpPerProcess:N0} per process to warm up";
    }

    private sealed record DrainResult(double Throughput, string Cores, string Machine, string CpuPerMessage, string Split, Check Check, double ScriptsPerMessage);

    private sealed record HpaPhase(double From, double To, int Processes, string Action, long Sent, double Seconds, double Throughput, string Cores, string Machine, string CpuPerMessage);

    private sealed record HpaResult(List<HpaPhase> Phases, double Seconds, Check Check, string FirstSends, string Stops);

    private sealed record RateResult(double Rate, int BusiestSecond, Check Check);

    private sealed record Check(int Enqueued, int AcceptedOnce, int Lost, int Duplicates, int Dead, int BackInReady, long Leased, long Unfinished, string DeadReasons)
    {
        public bool Clean => Lost == 0 && Duplicates == 0 && Dead == 0 && Unfinished == 0 && Leased == 0 && AcceptedOnce + BackInReady == Enqueued;

        public override string ToString() =>
            $"enqueued {Enqueued:N0}, accepted once {AcceptedOnce:N0}, back in ready {BackInReady:N0}, lost {Lost}, duplicates {Duplicates}, dead {Dead} ({DeadReasons}), leased {Leased}, unfinished {Unfinished}";
    }

    /// <summary>A backlog of billing reminders in a fresh queue; each has its own phone number, which the gateway records.</summary>
    private sealed record Backlog(ConnectionMultiplexer Connection, RedisMessageQueue Queue, List<Envelope> Messages, Dictionary<string, string> IdByNumber)
    {
        /// <summary>The messages and their queue; none is enqueued yet.</summary>
        public static Backlog Create(ConnectionMultiplexer connection, int count)
        {
            var queue = new RedisMessageQueue(connection, Microsoft.Extensions.Options.Options.Create(new QueueOptions { Name = "scale" + Guid.NewGuid().ToString("N")[..8] }), TimeProvider.System);
            var reminders = Workload.BillingReminders(count, TimeProvider.System.GetUtcNow());
            var idByNumber = reminders.ToDictionary(e => e.ToDigits, e => e.Id, StringComparer.Ordinal);
            Require(idByNumber.Count == count, "the workload's phone numbers must be unique");
            return new Backlog(connection, queue, reminders, idByNumber);
        }

        public static async Task<Backlog> EnqueueAsync(ConnectionMultiplexer connection, int count)
        {
            var backlog = Create(connection, count);
            await backlog.EnqueueAsync(0, count);
            return backlog;
        }

        public async Task EnqueueAsync(int from, int count)
        {
            var client = new CortexClient(Queue, TimeProvider.System);
            foreach (var chunk in Messages.Skip(from).Take(count).Chunk(10_000))
            {
                await client.EnqueueBatchAsync(chunk);
            }
        }
    }

    /// <summary>CPU used so far by the senders, this process (the gateway and the harness), redis-server and the machine.</summary>
    private sealed record CpuSample(long At, long Sent, double Senders, double Own, double Redis, double Machine, long RedisScripts)
    {
        public static async Task<CpuSample> TakeAsync(ConnectionMultiplexer connection, Fleet fleet, FakeHttpGateway gateway) => new(
            Stopwatch.GetTimestamp(),
            gateway.Requests,
            fleet.All.Sum(p => p.Cpu().TotalSeconds),
            CpuProbes.OwnCpu().TotalSeconds,
            await CpuProbes.RedisCpuSecondsAsync(connection.GetDatabase()),
            CpuProbes.MachineBusySeconds(),
            await CpuProbes.RedisScriptCallsAsync(connection.GetDatabase()));

        public double Since(CpuSample start) => Stopwatch.GetElapsedTime(start.At, At).TotalSeconds;

        public string CoresSince(CpuSample start)
        {
            var seconds = Since(start);
            var senders = (Senders - start.Senders) / seconds;
            var own = (Own - start.Own) / seconds;
            var redis = (Redis - start.Redis) / seconds;
            return $"{senders:N2} + {own:N2} + {redis:N2} = {senders + own + redis:N2}";
        }

        /// <summary>The whole machine's busy cores from /proc/stat: well above ours means other work shared the box.</summary>
        public string MachineSince(CpuSample start) => $"{(Machine - start.Machine) / Since(start):N2}";

        public string CpuPerMessageSince(CpuSample start)
        {
            var sent = (double)(Sent - start.Sent);
            return $"{(Senders - start.Senders) * 1e6 / sent:N0} + {(Own - start.Own) * 1e6 / sent:N0} + {(Redis - start.Redis) * 1e6 / sent:N0} µs";
        }
    }

    /// <summary>The sender processes of one run: started as pod-1, pod-2, …, each with its name as consumer id and gateway instance.</summary>
    private sealed class Fleet(RunContext context, string queueName, FakeHttpGateway gateway, int workers, double globalLimit) : IAsyncDisposable
    {
        private readonly string _gatewayName = "scaleout-" + Guid.NewGuid().ToString("N")[..8];
        private readonly List<SenderProcess> _all = [];
        private readonly List<SenderProcess> _terminated = [];
        private readonly Dictionary<string, long> _firstSend = new(StringComparer.Ordinal);

        public IReadOnlyList<SenderProcess> All => _all;

        public List<SenderProcess> Live => [.. _all.Except(_terminated)];

        public IReadOnlyList<SenderProcess> Terminated => _terminated;

        /// <summary>Set once the run's checks passed: the processes' logs are then deleted, otherwise kept for reading.</summary>
        public bool Passed { get; set; }

        public SenderProcess Add()
        {
            var name = $"pod-{_all.Count + 1}";
            var environment = new Dictionary<string, string>
            {
                ["Cortex__Redis__Configuration"] = context.Redis,
                ["Cortex__Queue__Name"] = queueName,
                ["Cortex__Sender__ConsumerId"] = name,
                ["Cortex__Sender__Workers"] = workers.ToString(CultureInfo.InvariantCulture),
                ["Cortex__Gateway__Type"] = "Evolution",
                ["Cortex__Gateway__Name"] = _gatewayName,
                ["Cortex__Gateway__Evolution__BaseUrl"] = gateway.BaseUrl.ToString(),

                // The instance in the URL tells the gateway which process sent each message.
                ["Cortex__Gateway__Evolution__Instance"] = name,
                ["Cortex__Gateway__Evolution__ApiKey"] = "scaleout-key",
                ["Cortex__RateLimit__GlobalPermitsPerSecond"] = globalLimit.ToString(CultureInfo.InvariantCulture),
            };
            var pod = SenderProcess.Start(context.SenderDll, name, environment);
            _all.Add(pod);
            return pod;
        }

        public async Task TerminateAsync(SenderProcess pod)
        {
            _terminated.Add(pod);
            await pod.TerminateAsync();
        }

        /// <summary>Notes the first time each process was seen sending; always true, so it can sit in a wait condition.</summary>
        public bool Observe()
        {
            foreach (var pod in _all)
            {
                if (!_firstSend.ContainsKey(pod.Name) && gateway.AcceptedFrom(pod.Name) > 0)
                {
                    _firstSend[pod.Name] = Stopwatch.GetTimestamp();
                }
            }

            return true;
        }

        public TimeSpan? FirstSendAfterLaunch(SenderProcess pod) =>
            _firstSend.TryGetValue(pod.Name, out var at) ? Stopwatch.GetElapsedTime(pod.StartedAt, at) : null;

        /// <summary>SIGTERM to every live process, then waits for every exit (a hang is killed and reported as exit code -1).</summary>
        public async Task<List<Exit>> StopAllAsync()
        {
            foreach (var pod in Live)
            {
                await TerminateAsync(pod);
            }

            var exits = new List<Exit>();
            foreach (var pod in _all)
            {
                var exit = await pod.WaitForExitAsync(s_exitBudget);
                var stopped = pod.Stopped;
                exits.Add(new Exit(pod.Name, exit?.ExitCode ?? -1, exit?.AfterTerm ?? s_exitBudget, stopped?.Returned ?? -1, stopped?.Cancelled ?? -1));
            }

            return exits;
        }

        public async ValueTask DisposeAsync()
        {
            foreach (var pod in _all)
            {
                await pod.DisposeAsync();
                if (Passed)
                {
                    File.Delete(pod.LogPath);
                }
            }
        }
    }

    private sealed record Exit(string Name, int ExitCode, TimeSpan AfterTerm, int Returned, int Cancelled)
    {
        public override string ToString() => $"{Name} exit {ExitCode} after {AfterTerm.TotalSeconds:N2} s, returned {Returned}, cancelled {Cancelled}";
    }
}
