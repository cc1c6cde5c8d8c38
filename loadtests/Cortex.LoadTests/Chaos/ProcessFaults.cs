using System.Diagnostics;
using System.Globalization;
using Cortex.LoadTests.Load;
using Cortex.LoadTests.Reporting;
using Cortex.Shared.Queue;
using StackExchange.Redis;

namespace Cortex.LoadTests.Chaos;

/// <summary>
/// The process faults of issue #7 against a real backlog: sender processes killed with SIGKILL (K1) or stopped with
/// SIGTERM as a scale-in does (K2), each replaced by a new process with a new consumer id, as a restarted pod gets.
/// Every message goes through a stand-in gateway that counts each acceptance, so lost and duplicated sends are exact.
/// </summary>
internal static class ProcessFaults
{
    private static readonly TimeSpan s_poll = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan s_firstSendBudget = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan s_recoveryBudget = TimeSpan.FromSeconds(60);

    /// <summary>
    /// K1: SIGKILL the only sender every <see cref="ChaosProfile.KillInterval"/> of sending, <see cref="ChaosProfile.Kills"/>
    /// times, a new process each time. Nothing may be lost; duplicates are only the sends a killed process had made
    /// and not yet acked, so at most Workers per kill; each dead consumer's leases are recovered within 15 s.
    /// </summary>
    public static async Task<ScenarioReport> KillAsync(LoadContext context, ChaosProfile profile)
    {
        var n = profile.KillMessages;
        var ledger = new MessageLedger(n);
        await using var gateway = await LoadGateway.StartAsync(ledger, profile.GatewayLatency);
        gateway.RecordsSenders = true;
        var (queue, client) = context.NewQueue("kill");
        var producer = new Producer(client, ledger, queue.Keys.Name + ":");
        context.Progress.WriteLine($"  pushing {n:N0} messages");
        await producer.BurstAsync(0, n);

        var recoveries = new List<Task<Recovery>>();
        var holds = new List<(string Instance, List<int> Leased)>();
        var senders = new List<SenderProcess>();
        var clock = Stopwatch.StartNew();
        List<Sample> samples;
        Check exit;
        // The sampler reads the processes until it is disposed, so they are disposed after it.
        try
        {
            await using var sampler = new Sampler(queue, () => Live(senders));
            var current = Start(context, profile, queue, gateway, senders, "k1-0");
            for (var kill = 1; kill <= profile.Kills && ledger.Distinct < n; kill++)
            {
                await SendingForAsync(current, gateway, profile.KillInterval);
                var consumer = ConsumerId(queue, current);
                await current.KillAsync();
                var killedAt = Stopwatch.GetTimestamp();
                var leased = LeasedIndices(await context.Database.HashValuesAsync(queue.Keys.Leases(consumer)), queue.Keys.Name + ":");
                holds.Add((current.Name, leased));
                context.Progress.WriteLine($"  [{clock.Elapsed:mm\\:ss}] kill {kill}: SIGKILL {current.Name} holding {leased.Count:N0} leases, {ledger.Distinct:N0} of {n:N0} accepted");
                recoveries.Add(WatchRecoveryAsync(context.Database, queue.Keys, consumer, killedAt, leased.Count));
                current = Start(context, profile, queue, gateway, senders, $"k1-{kill}");
            }

            await LoadContext.WaitForAcceptedAsync(ledger, n, [current]);
            samples = sampler.Samples(ledger, 0, n);
            exit = await LoadContext.StopAsync([current]);
        }
        finally
        {
            foreach (var sender in senders)
            {
                await sender.DisposeAsync();
            }
        }

        var recovered = await Task.WhenAll(recoveries);
        var (missing, duplicates) = ledger.Audit(0, n);
        var stats = await queue.GetStatsAsync();
        var workersBound = profile.Workers * recovered.Length;

        // The sends that may repeat: each killed process's leases that the gateway accepted from it (each process is its
        // own instance), i.e. sent with the ack never written, however late the gateway took a request the kill cut.
        // Counted after the run, so no settling time is guessed. A repeat beyond them is a duplicate Cortex made.
        var sentNotAcked = holds.ConvertAll(h => h.Leased.Where(i => gateway.AcceptedBy(i, h.Instance) > 0).ToList());
        var outside = RepeatsOutside(ledger, n, sentNotAcked);
        var cutSends = sentNotAcked.Sum(s => s.Count);
        var times = recovered.Where(r => r.After is not null).Select(r => r.After!.Value).Order().ToArray();
        var slowest = times.Length > 0 ? times[^1] : TimeSpan.Zero;
        var unrecovered = recovered.Count(r => r.After is null);

        // Whatever the gateway did, the sender must name each resend that may repeat a message (event 1018 after a crash,
        // 2003 after a call cut off), so an operator can trace a customer's duplicate. The line is written before the
        // send, but by the console logger's own thread: a SIGKILL loses what that thread had not written yet, and on the
        // smoke profile's loaded machine it can lag a send by more than the stand-in's answer. So a check in make chaos,
        // a figure in the smoke profile.
        var named = LoadContext.WorkloadIndices(senders.SelectMany(s => s.Redelivered.Concat(s.Unanswered)));
        var repeated = Enumerable.Range(0, n).Where(i => ledger.AcceptCount(i) > 1).ToList();
        var unnamed = repeated.Count(i => !named.Contains(i));
        var naming = new Check("every repeated message named by the sender that resent it (event 1018 or 2003)", "0 unnamed", $"{unnamed:N0} unnamed of {repeated.Count:N0} repeated · {named.Count:N0} named", unnamed == 0);

        List<Check> checks =
        [
            // The loop ends early once the backlog is drained: a run that killed fewer times than the profile says did not
            // test what it reports.
            new("faults injected: SIGKILLs mid-drain", $"{profile.Kills:N0}", $"{recovered.Length:N0}", recovered.Length == profile.Kills),
            new("messages lost", "0", $"{missing.Count:N0} of {n:N0}", missing.Count == 0),
            new("duplicates: only sends accepted and not yet acked at a kill", $"≤ {cutSends:N0} (summed over the kills), none outside them", $"{duplicates:N0}, {outside:N0} outside", duplicates <= cutSends && outside == 0),
            new("killed sender's leases recovered", $"each within {ChaosProfile.RecoveryTarget.TotalSeconds:N0} s", unrecovered > 0 ? $"{unrecovered} never recovered" : $"slowest {slowest.TotalSeconds:N1} s", unrecovered == 0 && slowest <= ChaosProfile.RecoveryTarget),
            new("nothing left in Redis", "0 ready · 0 delayed · 0 leased · 0 dead", $"{stats.Ready:N0} ready · {stats.Delayed:N0} delayed · {stats.Leased:N0} leased · {stats.Dead:N0} dead", stats.Pending == 0 && stats.Dead == 0),
            new("gateway saw only this run's messages", "0 unknown", $"{gateway.Unknown:N0} unknown", gateway.Unknown == 0),
            exit,
        ];
        List<Figure> figures =
        [
            new("load", $"{n:N0} messages backlog, {profile.Workers} workers, gateway answering after {profile.GatewayLatency.TotalMilliseconds:N0} ms"),
            new("faults injected", $"{recovered.Length} × SIGKILL, {profile.KillInterval.TotalSeconds:N1} s of sending apart; a new process (new consumer id) after each"),
            new("leases held at each kill", string.Join(" · ", recovered.Select(r => r.HeldAtKill.ToString("N0", CultureInfo.InvariantCulture)))),
            new("of them sent by the killed process, ack not yet written (may repeat)", string.Join(" · ", sentNotAcked.Select(s => s.Count.ToString("N0", CultureInfo.InvariantCulture)))),
            new($"duplicates against Workers × kills ({profile.Workers} × {recovered.Length})", $"{duplicates:N0} of {workersBound:N0}: acks are written in batches behind the sends, so a kill can also catch a batch of acks in flight"),
            new("kill → leases back in ready, each kill (s)", string.Join(" · ", recovered.Select(r => r.After is { } t ? t.TotalSeconds.ToString("N1", CultureInfo.InvariantCulture) : "never"))),
            new("duplicates", $"{duplicates:N0} ({(recovered.Length == 0 ? 0 : (double)duplicates / recovered.Length):N1} per kill)"),
            new("consumer timeout", profile.EffectiveConsumerTimeout.TotalSeconds.ToString("N0", CultureInfo.InvariantCulture) + " s"),
            new("drain time, kills included", $"{clock.Elapsed.TotalSeconds:N0} s"),
        ];
        if (profile == ChaosProfile.Smoke)
        {
            figures.Add(new Figure($"{naming.Name} (target {naming.Target}, not checked in the smoke profile)", naming.Measured));
        }
        else
        {
            checks.Insert(3, naming);
        }

        return new ScenarioReport(
            "K1",
            $"kill -9: {recovered.Length} SIGKILLs during a {n:N0}-message drain",
            "closed (backlog)",
            $"{n:N0} billing reminders are pushed, then one sender ({profile.Workers} workers) drains them through a stand-in answering after {profile.GatewayLatency.TotalMilliseconds:N0} ms, so sends are in flight. After {profile.KillInterval.TotalSeconds:N1} s of sending it is killed with SIGKILL and a new process with a new consumer id starts at once; the dead consumer's leases wait for its heartbeat to age past the consumer timeout, then the new process's maintenance puts them back in ready. A send the gateway accepted but whose ack was not yet written is sent again: those are the only duplicates allowed. The dead process's lease hash is read right after each kill: the leases whose message the gateway accepted from that process (each process is its own instance; counted after the run, so a request the kill cut and the gateway took late counts too) are the sends that may repeat, and every duplicate must be one of them. Recovery time is from the kill until the dead consumer's lease hash is empty and it left the live set, polled every 100 ms.",
            figures, checks, samples);
    }

    /// <summary>
    /// K2: a rolling replacement, as Kubernetes does on scale-in or a deploy: a new sender starts, the old one gets SIGTERM
    /// and must finish its sends, flush its acks and return what it still holds. Zero lost, zero duplicates.
    /// </summary>
    public static async Task<ScenarioReport> StopAsync(LoadContext context, ChaosProfile profile)
    {
        var n = profile.StopMessages;
        var ledger = new MessageLedger(n);
        await using var gateway = await LoadGateway.StartAsync(ledger, profile.GatewayLatency);
        var (queue, client) = context.NewQueue("term");
        var producer = new Producer(client, ledger, queue.Keys.Name + ":");
        context.Progress.WriteLine($"  pushing {n:N0} messages");
        await producer.BurstAsync(0, n);

        var senders = new List<SenderProcess>();
        var exits = new List<string>();
        var returned = new List<int>();
        var leftBehind = 0L;
        var clock = Stopwatch.StartNew();
        List<Sample> samples;
        Check last;
        // The sampler reads the processes until it is disposed, so they are disposed after it.
        try
        {
            await using var sampler = new Sampler(queue, () => Live(senders));
            var current = Start(context, profile, queue, gateway, senders, "k2-0");
            for (var stop = 1; stop <= profile.Stops && ledger.Distinct < n; stop++)
            {
                await SendingForAsync(current, gateway, profile.StopInterval);
                var old = current;
                current = Start(context, profile, queue, gateway, senders, $"k2-{stop}");
                await old.TerminateAsync();
                var exit = await old.WaitForExitAsync(TimeSpan.FromSeconds(40));
                exits.Add(exit is { } e ? e.ExitCode.ToString(CultureInfo.InvariantCulture) : "hung");
                returned.Add(old.Stopped?.Returned ?? -1);
                leftBehind += await context.Database.HashLengthAsync(queue.Keys.Leases(ConsumerId(queue, old)));
                context.Progress.WriteLine($"  [{clock.Elapsed:mm\\:ss}] stop {stop}: SIGTERM {old.Name}, exit {exits[^1]} after {exit?.AfterTerm.TotalSeconds:N1} s, {returned[^1]:N0} returned, {ledger.Distinct:N0} of {n:N0} accepted");
            }

            await LoadContext.WaitForAcceptedAsync(ledger, n, [current]);
            samples = sampler.Samples(ledger, 0, n);
            last = await LoadContext.StopAsync([current]);
        }
        finally
        {
            foreach (var sender in senders)
            {
                await sender.DisposeAsync();
            }
        }

        var checks = await LoadContext.AuditAsync(ledger, 0, n, queue, gateway);

        // The loop ends early once the backlog is drained: a run that stopped fewer senders than the profile says did not
        // test what it reports.
        checks.Insert(0, new Check("faults injected: SIGTERMs mid-drain", $"{profile.Stops:N0}", $"{exits.Count:N0}", exits.Count == profile.Stops));
        checks.Add(new Check("stopped senders exit 0 on SIGTERM", "0", string.Join(" · ", exits), exits.All(e => e == "0")));
        checks.Add(new Check("stopped senders leave no lease behind", "0", $"{leftBehind:N0}", leftBehind == 0));
        checks.Add(last);
        List<Figure> figures =
        [
            new("load", $"{n:N0} messages backlog, {profile.Workers} workers, gateway answering after {profile.GatewayLatency.TotalMilliseconds:N0} ms"),
            new("faults injected", $"{exits.Count} × SIGTERM, {profile.StopInterval.TotalSeconds:N1} s of sending apart; the replacement starts first, as a rolling update does"),
            new("messages returned to ready by each stopped sender", string.Join(" · ", returned.Select(r => r < 0 ? "?" : r.ToString("N0", CultureInfo.InvariantCulture)))),
            new("drain time, stops included", $"{clock.Elapsed.TotalSeconds:N0} s"),
        ];
        return new ScenarioReport(
            "K2",
            $"SIGTERM: {exits.Count} graceful stops during a {n:N0}-message drain",
            "closed (backlog)",
            $"{n:N0} billing reminders are pushed and drained by one sender ({profile.Workers} workers, stand-in answering after {profile.GatewayLatency.TotalMilliseconds:N0} ms). After {profile.StopInterval.TotalSeconds:N1} s of sending a replacement process starts and the old one gets SIGTERM: it stops fetching, finishes its sends, flushes its acks and returns the rest to ready. Nothing may be lost or sent twice.",
            figures, checks, samples);
    }

    /// <summary>
    /// K1b: one of two senders stands still (SIGSTOP: a VM frozen by its host, a long pause) until the other has recovered
    /// its leases, then carries on (SIGCONT) unaware: its workers were mid-send and its buffer full of messages it no longer
    /// holds. Nothing may be lost, and it must not send what was recovered from it: the only repeats allowed are sends it
    /// had made before the freeze and not yet acked.
    /// </summary>
    public static async Task<ScenarioReport> FreezeAsync(LoadContext context, ChaosProfile profile)
    {
        var n = profile.RedisMessages;
        var ledger = new MessageLedger(n);
        await using var gateway = await LoadGateway.StartAsync(ledger, profile.GatewayLatency);
        gateway.RecordsSenders = true;
        var (queue, client) = context.NewQueue("freeze");
        var prefix = queue.Keys.Name + ":";
        context.Progress.WriteLine($"  pushing {n:N0} messages; 2 senders");
        await new Producer(client, ledger, prefix).BurstAsync(0, n);

        var senders = new List<SenderProcess>();
        var clock = Stopwatch.StartNew();
        List<Sample> samples;
        Check exit;
        List<int> held;
        Dictionary<int, int> sentBeforeContinue;
        Recovery recovery;
        TimeSpan frozenFor;
        SenderProcess frozen;
        // The sampler reads the processes until it is disposed, so they are disposed after it.
        try
        {
            await using var sampler = new Sampler(queue, () => Live(senders));
            frozen = Start(context, profile, queue, gateway, senders, "k1b-0");
            Start(context, profile, queue, gateway, senders, "k1b-1");
            await SendingForAsync(frozen, gateway, profile.KillInterval);
            var consumer = ConsumerId(queue, frozen);
            await frozen.FreezeAsync();
            var frozenAt = Stopwatch.GetTimestamp();
            held = LeasedIndices(await context.Database.HashValuesAsync(queue.Keys.Leases(consumer)), prefix);
            context.Progress.WriteLine($"  [{clock.Elapsed:mm\\:ss}] SIGSTOP {frozen.Name} holding {held.Count:N0} leases, {ledger.Distinct:N0} of {n:N0} accepted");
            recovery = await WatchRecoveryAsync(context.Database, queue.Keys, consumer, frozenAt, held.Count);

            // What it had sent of them by now it sent before the freeze (or the freeze cut the request mid-write).
            sentBeforeContinue = held.ToDictionary(i => i, i => gateway.AcceptedBy(i, frozen.Name));
            await frozen.ContinueAsync();
            frozenFor = Stopwatch.GetElapsedTime(frozenAt);
            context.Progress.WriteLine($"  [{clock.Elapsed:mm\\:ss}] SIGCONT {frozen.Name} after {frozenFor.TotalSeconds:N1} s, its leases recovered {RedisFaults.Seconds(recovery.After)} after the freeze");
            await LoadContext.WaitForAcceptedAsync(ledger, n, senders);
            samples = sampler.Samples(ledger, 0, n);
            exit = await LoadContext.StopAsync(senders);
        }
        finally
        {
            foreach (var sender in senders)
            {
                await sender.DisposeAsync();
            }
        }

        var (missing, duplicates) = ledger.Audit(0, n);
        var stats = await queue.GetStatsAsync();

        // A repeat is allowed only among the messages it held and sent itself: counted after the run, as in K1, so a
        // request the freeze cut and the gateway took late counts too. Whether it sent them before the freeze (their acks
        // not yet written) or after it carried on (a duplicate it made) is the next check's.
        var sentByIt = held.Where(i => gateway.AcceptedBy(i, frozen.Name) > 0).ToList();
        var outside = RepeatsOutside(ledger, n, [sentByIt]);
        var sentBeforeFreeze = held.Count(i => sentBeforeContinue[i] > 0);

        // Repeats it made after it carried on: a message of its leases it sent then although the customer already had it
        // (from the other sender, or from itself before the freeze). Only a request the freeze cut mid-write (at most one
        // per worker) may land here.
        var repeatedAfter = held.Count(i => gateway.AcceptedBy(i, frozen.Name) > sentBeforeContinue[i] && ledger.AcceptCount(i) > 1);

        // Each of its leases, by what became of it. How many it names not sent (event 1023) is chance: on waking, its sends
        // cut by a freeze longer than the gateway timeout fail, open its circuit, and a buffered message a worker takes
        // while it is open goes back unsent without asking Redis (the return of a lease it no longer holds changes
        // nothing), so no event names it. What is certain is that it names only its own, and that a message it names
        // reaches the customer once: the other sender sends it, or this one after leasing it again from ready. Unless a
        // call of it was in flight at the freeze and reached the gateway: on waking, its timeout fires (the clock jumped),
        // the sender names it unanswered (event 2003: it may have been delivered), and the short retry that follows
        // finds the lease gone and names it not sent (1023). That one may repeat, as every send a fault cuts may.
        var notSent = LoadContext.WorkloadIndices(frozen.NotSentTaken);
        var cutAtTheFreeze = LoadContext.WorkloadIndexCounts(frozen.Unanswered);
        var heldSet = held.ToHashSet();
        var namedElsewhere = notSent.Count(i => !heldSet.Contains(i));
        var namedTwice = notSent.Count(i => heldSet.Contains(i) && ledger.AcceptCount(i) > 1 + cutAtTheFreeze.GetValueOrDefault(i));
        var named = held.Count(i => sentBeforeContinue[i] == 0 && notSent.Contains(i));
        var sentAfter = held.Count(i => sentBeforeContinue[i] == 0 && !notSent.Contains(i) && gateway.AcceptedBy(i, frozen.Name) > 0);
        var unnamed = held.Count - sentBeforeFreeze - named - sentAfter;
        List<Check> checks =
        [
            new("messages lost", "0", $"{missing.Count:N0} of {n:N0} ({stats.Dead:N0} dead-lettered)", missing.Count == 0 && stats.Dead == 0),
            new("duplicates: only among the leases the frozen sender held and sent", $"≤ {sentByIt.Count:N0}, none outside them", $"{duplicates:N0}, {outside:N0} outside", outside == 0),
            new(
                "the frozen sender did not send again what was recovered from it",
                $"≤ {profile.Workers} repeats after it carried on (a request the freeze cut mid-write)",
                $"{repeatedAfter:N0} repeats after it carried on; {notSent.Count:N0} recovered messages not sent (event 1023)",
                repeatedAfter <= profile.Workers),
            new(
                "every recovered message it named not sent (event 1023) was one of its leases, and reached the gateway once, plus once per call of it named unanswered (2003)",
                "0 not its own · 0 sent twice",
                $"{notSent.Count:N0} named, {namedElsewhere:N0} not its own, {namedTwice:N0} sent twice ({notSent.Count(cutAtTheFreeze.ContainsKey):N0} also named unanswered)",
                namedElsewhere == 0 && namedTwice == 0),
            new("frozen sender's leases recovered", $"within {ChaosProfile.RecoveryTarget.TotalSeconds:N0} s", RedisFaults.Seconds(recovery.After), recovery.After is { } t && t <= ChaosProfile.RecoveryTarget),
            new("nothing left in Redis", "0 ready · 0 delayed · 0 leased", $"{stats.Ready:N0} ready · {stats.Delayed:N0} delayed · {stats.Leased:N0} leased", stats.Pending == 0),
            new("gateway saw only this run's messages", "0 unknown", $"{gateway.Unknown:N0} unknown", gateway.Unknown == 0),
            exit,
        ];
        List<Figure> figures =
        [
            new("load", $"{n:N0} messages backlog, 2 senders × {profile.Workers} workers, gateway answering after {profile.GatewayLatency.TotalMilliseconds:N0} ms"),
            new("faults injected", $"SIGSTOP of k1b-0 after {profile.KillInterval.TotalSeconds:N1} s of sending, holding {held.Count:N0} leases; SIGCONT {frozenFor.TotalSeconds:N1} s later, once the other sender had recovered them"),
            new("freeze → its leases back in ready", $"{RedisFaults.Seconds(recovery.After)} (consumer timeout {profile.EffectiveConsumerTimeout.TotalSeconds:N0} s)"),
            new("of its leases, sent before the freeze, acks not yet written (may repeat)", $"{sentBeforeFreeze:N0}"),
            new("recovered messages it did not send once it carried on (event 1023)", $"{notSent.Count:N0}"),
            new(
                "its leases at the freeze: sent before it · named not sent (event 1023) · sent by it after it carried on, not named (a request the freeze cut, or leased again) · neither (taken while its circuit was open)",
                $"{sentBeforeFreeze:N0} · {named:N0} · {sentAfter:N0} · {unnamed:N0}"),
            new("duplicates", $"{duplicates:N0}"),
            new("drain time, freeze included", $"{clock.Elapsed.TotalSeconds:N0} s"),
        ];
        return new ScenarioReport(
            "K1b",
            $"frozen sender: SIGSTOP past the consumer timeout during a {n:N0}-message drain, then SIGCONT",
            "closed (backlog)",
            $"{n:N0} billing reminders are drained by two senders ({profile.Workers} workers each) through a stand-in answering after {profile.GatewayLatency.TotalMilliseconds:N0} ms. After {profile.KillInterval.TotalSeconds:N1} s of sending the first is stopped with SIGSTOP, as a VM frozen by its host or a long pause stops a pod without killing it: its heartbeat ages past the consumer timeout and the other sender recovers its leases and sends them. Then it gets SIGCONT and carries on with sends in flight and a buffer of messages it no longer holds, unaware: its clock jumped, no call failed. It must ask Redis before it sends them, and send none. A send it had made before the freeze without writing its ack is sent again by the other sender: those are the only duplicates allowed. Its lease hash is read right after the freeze; recovery time is from the freeze until the lease hash is empty and it left the live set, polled every 100 ms.",
            figures, checks, samples);
    }

    private static SenderProcess Start(LoadContext context, ChaosProfile profile, RedisMessageQueue queue, LoadGateway gateway, List<SenderProcess> senders, string pod)
    {
        var sender = context.StartSender(pod, queue, gateway, profile.Workers, profile.SenderTimings());
        lock (senders)
        {
            senders.Add(sender);
        }

        return sender;
    }

    // The sampler reads the list on its own timer while a fault adds to it.
    private static List<SenderProcess> Live(List<SenderProcess> senders)
    {
        lock (senders)
        {
            return senders.Where(s => !s.HasExited).ToList();
        }
    }

    /// <summary>
    /// Copies the gateway accepted beyond each message's first and beyond the repeats its cut sends allow (one per kill
    /// that cut it after the gateway took it): duplicates Cortex made on its own.
    /// </summary>
    internal static int RepeatsOutside(MessageLedger ledger, int n, IEnumerable<List<int>> sentNotAcked)
    {
        var mayRepeat = sentNotAcked.SelectMany(s => s).CountBy(i => i).ToDictionary();
        return Enumerable.Range(0, n).Sum(i => Math.Max(0, ledger.AcceptCount(i) - 1 - mayRepeat.GetValueOrDefault(i)));
    }

    private static string ConsumerId(RedisMessageQueue queue, SenderProcess sender) => $"{queue.Keys.Name}-{sender.Name}";

    /// <summary>Waits until <paramref name="sender"/> had its first message accepted, then <paramref name="interval"/> more, so the fault hits a process mid-send.</summary>
    private static async Task SendingForAsync(SenderProcess sender, LoadGateway gateway, TimeSpan interval)
    {
        var started = Stopwatch.GetTimestamp();
        while (!gateway.AcceptedByInstance.ContainsKey(sender.Name))
        {
            if (sender.HasExited)
            {
                throw new InvalidOperationException($"sender {sender.Name} exited with {sender.ExitCode}; its log: {sender.LogPath}");
            }

            if (Stopwatch.GetElapsedTime(started) > s_firstSendBudget)
            {
                throw new InvalidOperationException($"sender {sender.Name} sent nothing in {s_firstSendBudget.TotalSeconds:N0} s; its log: {sender.LogPath}");
            }

            await Task.Delay(s_poll);
        }

        await Task.Delay(interval);
    }

    /// <summary>Polls until the dead consumer left the live set with an empty lease hash: its leases are back in ready (or dead-lettered as poison).</summary>
    internal static async Task<Recovery> WatchRecoveryAsync(IDatabase redis, QueueKeys keys, string consumer, long killedAt, int held)
    {
        while (Stopwatch.GetElapsedTime(killedAt) < s_recoveryBudget)
        {
            if (await redis.SortedSetScoreAsync(keys.Consumers, consumer) is null && await redis.HashLengthAsync(keys.Leases(consumer)) == 0)
            {
                return new Recovery(held, Stopwatch.GetElapsedTime(killedAt));
            }

            await Task.Delay(s_poll);
        }

        return new Recovery(held, null);
    }

    /// <summary>Workload indices of leased envelopes, read from their ids ("{queue}:{index}").</summary>
    internal static List<int> LeasedIndices(RedisValue[] leases, string idPrefix)
    {
        var indices = new List<int>(leases.Length);
        foreach (var lease in leases)
        {
            var text = (string?)lease ?? string.Empty;
            var at = text.IndexOf(idPrefix, StringComparison.Ordinal);
            if (at < 0)
            {
                continue;
            }

            var digits = text.AsSpan(at + idPrefix.Length);
            var end = 0;
            while (end < digits.Length && char.IsAsciiDigit(digits[end]))
            {
                end++;
            }

            if (int.TryParse(digits[..end], CultureInfo.InvariantCulture, out var index))
            {
                indices.Add(index);
            }
        }

        return indices;
    }

    internal sealed record Recovery(int HeldAtKill, TimeSpan? After);
}
