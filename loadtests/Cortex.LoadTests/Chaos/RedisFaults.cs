using System.Diagnostics;
using Cortex.LoadTests.Load;
using Cortex.LoadTests.Reporting;
using Cortex.Shared.Queue;

namespace Cortex.LoadTests.Chaos;

/// <summary>
/// The Redis faults of issue #7, on a redis-server this run owns (AOF, <c>appendfsync everysec</c>): a crash and restart
/// mid-drain (K3), and Redis away for <see cref="ChaosProfile.Outage"/> (K4). The same sender process must ride both
/// out by itself, without a restart and without spinning.
/// </summary>
internal static class RedisFaults
{
    /// <summary>appendfsync everysec: a crash loses at most about this much of Redis's acknowledged writes.</summary>
    private static readonly TimeSpan s_fsyncWindow = TimeSpan.FromSeconds(1);

    /// <summary>A sender waiting out an outage with capped backoff uses a sliver of a core; a reconnect loop uses a whole one.</summary>
    private const double IdleCpuCeiling = 0.25;

    /// <summary>
    /// How soon after the fault <c>/health/ready</c> must answer 503. A silent Redis answers no PING, so the sender's 503
    /// comes when its health check gives up (Cortex:Observability:HealthCheckTimeout, 3 s); 7 s more for the poll in
    /// flight at the fault, the signal's delivery and a machine busy with three senders and other test runs. Only a real
    /// 503 meets it: a probe that times out (<see cref="ReadinessProbe.Timeout"/>) is its own outcome, so a
    /// /health/ready that hung through the outage fails the check however long the bound.
    /// </summary>
    private static readonly TimeSpan s_notReadyBound = new Cortex.Shared.Hosting.ObservabilityOptions().HealthCheckTimeout + TimeSpan.FromSeconds(7);

    /// <summary>K3: SIGKILL redis-server mid-drain and restart it on its AOF a second later; K4 when <paramref name="crash"/> is false: a clean stop for the profile's outage.</summary>
    public static async Task<ScenarioReport> OutageAsync(string senderDll, ChaosProfile profile, TextWriter progress, bool crash)
    {
        var down = crash ? TimeSpan.FromSeconds(1) : profile.Outage;
        var id = crash ? "K3" : "K4";
        await using var redis = await RedisProcess.StartAsync();
        await using var context = await LoadContext.ConnectAsync(redis.Configuration, string.Empty, senderDll, LoadProfile.Smoke, progress);
        var n = profile.RedisMessages;

        // Another system pushes a fiftieth of the backlog per second (1,000 msg/s for 50,000). While Redis is down its push
        // of the batch then due fails and is tried again every 100 ms, nothing more is pushed, and once Redis takes it the
        // producer catches up with what fell due meanwhile.
        var liveRate = n / 50.0;
        var liveCapacity = (int)(liveRate * (down.TotalSeconds + 60));
        var ledger = new MessageLedger(n + liveCapacity);
        await using var gateway = await LoadGateway.StartAsync(ledger, profile.GatewayLatency);
        var (queue, client) = context.NewQueue(crash ? "crash" : "outage");
        var producer = new Producer(client, ledger, queue.Keys.Name + ":");
        progress.WriteLine($"  pushing {n:N0} messages");
        await producer.BurstAsync(0, n);

        // Everything pushed is on disk before the fault: what the fault may cost is the sender's own acked work.
        await Task.Delay(s_fsyncWindow * 2);
        await using var probe = ReadinessProbe.OnFreePort();
        var sender = context.StartSender(crash ? "k3" : "k4", queue, gateway, profile.Workers, new Dictionary<string, string>
        {
            ["Cortex__Observability__Port"] = probe.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
        });
        List<Sample> samples;
        Check exit;
        bool survived;
        int acceptedInWindow, before;
        double outageCpu;
        TimeSpan pause;
        int produced, failedPushes, ackedInWindow;
        List<int> lostPushes, lostOutsideWindow;
        TimeSpan? notReadyAfter, readyAgainAfter;
        int probeTimeouts;
        bool readyDuringOutage;
        try
        {
            await using var sampler = new Sampler(queue, () => sender.HasExited ? [] : [sender]);
            await WaitForFaultPointAsync(ledger, n / 5, [sender]);

            await using var live = new LiveProducer(client, ledger, queue.Keys.Name + ":", n, liveCapacity, liveRate);
            await Task.Delay(s_fsyncWindow * 2);
            var faultAt = Stopwatch.GetTimestamp();
            before = ledger.Distinct;
            var windowStart = faultAt - (long)(s_fsyncWindow.TotalSeconds * Stopwatch.Frequency);
            acceptedInWindow = ledger.AcceptanceTimes(0, n + liveCapacity).Count(t => t >= windowStart);
            if (crash)
            {
                await redis.KillAsync();
            }
            else
            {
                await redis.StopAsync();
            }

            progress.WriteLine($"  Redis {(crash ? "killed (SIGKILL)" : "stopped")} with {before:N0} of {n:N0} accepted; back in {down.TotalSeconds:N0} s");
            // CPU is read once the sends in flight at the fault have finished and failed their acks: what is left is
            // the waiting itself, which must be backoff, not a reconnect loop.
            var settle = down / 4;
            await Task.Delay(settle);
            var cpuBefore = sender.Cpu();
            await Task.Delay(down - settle);
            outageCpu = (sender.Cpu() - cpuBefore).TotalSeconds / (down - settle).TotalSeconds;
            var backAt = Stopwatch.GetTimestamp();
            await redis.RestartAsync();
            var restartedAt = Stopwatch.GetTimestamp();
            await Task.Delay(s_fsyncWindow * 2);
            produced = await live.StopAsync();
            failedPushes = live.FailedPushes;
            await WaitForDrainAsync(ledger, n + produced, queue, [sender]);

            // A push Redis acknowledged in the last second before a crash may not have reached the AOF's disk yet.
            lostPushes = ledger.Audit(n, n + produced).Missing;
            ackedInWindow = Enumerable.Range(n, produced).Count(i => live.AckedAt(i) >= windowStart && live.AckedAt(i) <= faultAt);
            lostOutsideWindow = crash ? [.. lostPushes.Where(i => live.AckedAt(i) < windowStart || live.AckedAt(i) > faultAt)] : lostPushes;
            notReadyAfter = probe.FirstAfter(faultAt, ProbeOutcome.NotReady);
            readyAgainAfter = probe.FirstAfter(restartedAt, ProbeOutcome.Ready);
            probeTimeouts = probe.CountBetween(faultAt, Stopwatch.GetTimestamp(), ProbeOutcome.TimedOut);

            // From the first not-ready answer until Redis was started again, no probe may have said ready.
            readyDuringOutage = notReadyAfter is { } n0 && probe.AnyReadyBetween(faultAt + (long)(n0.TotalSeconds * Stopwatch.Frequency), backAt);
            survived = !sender.HasExited;
            var resumed = ledger.AcceptanceTimes(0, n + produced).FirstOrDefault(t => t > restartedAt);
            pause = resumed > 0 ? Stopwatch.GetElapsedTime(restartedAt, resumed) : TimeSpan.MaxValue;
            samples = sampler.Samples(ledger, 0, n);

            // Every message was accepted, but the last acks may still be on their way: the check below reads the queue
            // once they are written (or after the budget, and then it fails), and after the SIGTERM.
            await WaitForEmptyAsync(queue, s_settleBudget);
            exit = await LoadContext.StopAsync([sender]);
        }
        finally
        {
            await sender.DisposeAsync();
        }

        var (missing, duplicates) = ledger.Audit(0, n);
        duplicates += ledger.Audit(n, n + produced).Duplicates;
        var stats = await queue.GetStatsAsync();
        var dead = stats.Dead;
        List<Check> checks =
        [
            new("messages lost", "0", $"{missing.Count:N0} of {n:N0} ({dead:N0} dead-lettered)", missing.Count == 0 && dead == 0),
            new("the same sender process rode it out", "no restart", survived ? "no restart" : "exited", survived),
            new("nothing left in Redis", "0 ready · 0 delayed · 0 leased", $"{stats.Ready:N0} ready · {stats.Delayed:N0} delayed · {stats.Leased:N0} leased", stats.Pending == 0),
            new(
                "pushes acknowledged during the run and lost",
                crash ? $"only pushes acknowledged in the last {s_fsyncWindow.TotalSeconds:N0} s before the crash (there were {ackedInWindow:N0})" : "0",
                crash ? $"{lostPushes.Count:N0} of {produced:N0}, {lostOutsideWindow.Count:N0} outside the fsync window" : $"{lostPushes.Count:N0} of {produced:N0}",
                lostOutsideWindow.Count == 0),
            exit,
        ];
        if (crash)
        {
            checks.Add(new("duplicates: only work acked inside the fsync window", $"≤ {acceptedInWindow:N0} (accepted in the last {s_fsyncWindow.TotalSeconds:N0} s before the crash)", $"{duplicates:N0}", duplicates <= acceptedInWindow));
        }
        else
        {
            checks.Add(new("duplicates", "0", $"{duplicates:N0}", duplicates == 0));
            checks.Add(new(
                "/health/ready: not ready while Redis is away, ready again after",
                $"503 within {s_notReadyBound.TotalSeconds:N0} s of the fault and until Redis is back · 200 after",
                $"{Seconds(notReadyAfter)} after the fault{(readyDuringOutage ? ", but ready again during the outage" : string.Empty)} · ready {Seconds(readyAgainAfter)} after Redis was back{ProbeTimeouts(probeTimeouts)}",
                notReadyAfter <= s_notReadyBound && !readyDuringOutage && readyAgainAfter is not null));
            var cpu = new Check("sender CPU while Redis is away (no tight reconnect loop)", $"≤ {IdleCpuCeiling:N2} cores", $"{outageCpu:N3} cores", outageCpu <= IdleCpuCeiling);
            if (profile.CheckCpu)
            {
                checks.Add(cpu);
            }
        }

        List<Figure> figures =
        [
            new("load", $"{n:N0} messages backlog, {profile.Workers} workers, gateway answering after {profile.GatewayLatency.TotalMilliseconds:N0} ms, and a producer due to push {liveRate:N0} msg/s (while Redis is down it retries its batch due and pushes nothing else, then catches up); Redis with appendonly yes, appendfsync everysec"),
            new("faults injected", crash ? "redis-server SIGKILLed once mid-drain, restarted on its AOF 1 s later" : $"redis-server stopped mid-drain for {down.TotalSeconds:N0} s, then started on its AOF"),
            new("sending resumed after Redis was back", pause == TimeSpan.MaxValue ? "never" : $"{pause.TotalSeconds:N1} s"),
            new("sender CPU while Redis was away (after its first quarter)", $"{outageCpu:N3} cores"),
            new("/health/ready → 503 after the fault · → 200 after Redis was back", $"{Seconds(notReadyAfter)} · {Seconds(readyAgainAfter)}{ProbeTimeouts(probeTimeouts)}"),
            new("duplicates", $"{duplicates:N0}"),
            new("a producer pushing through the fault", $"{produced:N0} messages due at {liveRate:N0} msg/s; {failedPushes:N0} failed attempts of its batch due while Redis was away (tried again every 100 ms until Redis took it); {lostPushes.Count:N0} acknowledged pushes lost ({ackedInWindow:N0} were acknowledged in the last second before the fault)"),
        ];
        return new ScenarioReport(
            id,
            crash ? $"Redis crash and AOF restart during a {n:N0}-message drain" : $"Redis away for {down.TotalSeconds:N0} s during a {n:N0}-message drain",
            "closed (backlog)",
            crash
                ? $"A sender drains {n:N0} messages from a redis-server with AOF (appendfsync everysec). A fifth of the way through, redis-server is killed with SIGKILL and started again on the same port and data 1 s later; the sender is left alone. Meanwhile another system pushes {liveRate:N0} msg/s through CortexClient; while Redis is down its push of the batch then due fails and is tried again every 100 ms, and once Redis takes it the producer catches up with what fell due meanwhile. Writes Redis acknowledged in the last second before the crash may be gone: pushes acknowledged then may be lost, and acks of messages already sent may be lost, so those may be sent again, which is the bound on duplicates."
                : $"A sender drains {n:N0} messages; a fifth of the way through, redis-server is stopped (it fsyncs its AOF) for {down.TotalSeconds:N0} s, then started again on the same port and data, while another system pushes {liveRate:N0} msg/s through CortexClient; while Redis is down its push of the batch then due fails and is tried again every 100 ms, and once Redis takes it the producer catches up with what fell due meanwhile. The sender must stay up, go not-ready, wait with backoff rather than spin, and go on by itself; nothing may be lost or sent twice.",
            figures, checks, samples);
    }

    /// <summary>
    /// K4b: Redis away for longer than the consumer timeout while three senders drain one queue, as three pods do. When
    /// Redis is back every consumer's heartbeat is stale; a sender that took the others' leases for a dead consumer's
    /// would send them a second time. Nothing may be lost or sent twice, and every sender rides it out. K4c when
    /// <paramref name="silent"/>: the same, with redis-server stopped by SIGSTOP instead: no connection drops and no
    /// call fails, they are answered late.
    /// </summary>
    public static async Task<ScenarioReport> OutageSeveralSendersAsync(string senderDll, ChaosProfile profile, TextWriter progress, bool silent)
    {
        var id = silent ? "K4c" : "K4b";
        const int Pods = 3;
        var consumerTimeout = profile.EffectiveConsumerTimeout;
        var down = TimeSpan.FromTicks(Math.Max(profile.Outage.Ticks, consumerTimeout.Ticks * 3 / 2));
        await using var redis = await RedisProcess.StartAsync();
        await using var context = await LoadContext.ConnectAsync(redis.Configuration, string.Empty, senderDll, LoadProfile.Smoke, progress);
        var n = profile.RedisMessages;
        var ledger = new MessageLedger(n);
        await using var gateway = await LoadGateway.StartAsync(ledger, profile.GatewayLatency);
        var (queue, client) = context.NewQueue(silent ? "silent-pods" : "outage-pods");
        progress.WriteLine($"  pushing {n:N0} messages; {Pods} senders");
        await new Producer(client, ledger, queue.Keys.Name + ":").BurstAsync(0, n);
        await Task.Delay(s_fsyncWindow * 2);

        // The first pod's readiness is polled throughout.
        await using var probe = ReadinessProbe.OnFreePort();
        var senders = Enumerable.Range(0, Pods).Select(i =>
        {
            var environment = profile.SenderTimings();
            if (i == 0)
            {
                environment["Cortex__Observability__Port"] = probe.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
            }

            return context.StartSender($"{id.ToLowerInvariant()}-{i}", queue, gateway, profile.Workers, environment);
        }).ToList();
        Check exit;
        bool survived;
        int before;
        long leasedAtFault;
        TimeSpan pause;
        TimeSpan? notReadyAfter, readyAgainAfter;
        int probeTimeouts;
        try
        {
            await WaitForFaultPointAsync(ledger, n / 5, senders);

            leasedAtFault = (await queue.GetStatsAsync()).Leased;
            before = ledger.Distinct;
            var faultAt = Stopwatch.GetTimestamp();
            if (silent)
            {
                await redis.SignalAsync("STOP");
            }
            else
            {
                await redis.StopAsync();
            }

            progress.WriteLine($"  Redis {(silent ? "silenced (SIGSTOP)" : "stopped")} with {before:N0} of {n:N0} accepted and {leasedAtFault:N0} leased; back in {down.TotalSeconds:N0} s (consumer timeout {consumerTimeout.TotalSeconds:N0} s)");
            await Task.Delay(down);
            if (silent)
            {
                await redis.SignalAsync("CONT");
            }
            else
            {
                await redis.RestartAsync();
            }

            var restartedAt = Stopwatch.GetTimestamp();
            await WaitForDrainAsync(ledger, n, queue, senders);
            survived = senders.All(s => !s.HasExited);
            var resumed = ledger.AcceptanceTimes(0, n).FirstOrDefault(t => t > restartedAt);
            pause = resumed > 0 ? Stopwatch.GetElapsedTime(restartedAt, resumed) : TimeSpan.MaxValue;
            notReadyAfter = probe.FirstAfter(faultAt, ProbeOutcome.NotReady);
            readyAgainAfter = probe.FirstAfter(restartedAt, ProbeOutcome.Ready);
            probeTimeouts = probe.CountBetween(faultAt, Stopwatch.GetTimestamp(), ProbeOutcome.TimedOut);
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
        List<Check> checks =
        [
            new("messages lost", "0", $"{missing.Count:N0} of {n:N0} ({stats.Dead:N0} dead-lettered)", missing.Count == 0 && stats.Dead == 0),
            new("duplicates: no sender took a live sender's leases", "0", $"{duplicates:N0}", duplicates == 0),
            new("every sender rode it out", "no restart", survived ? "no restart" : "one exited", survived),
            new("nothing left in Redis", "0 ready · 0 delayed · 0 leased", $"{stats.Ready:N0} ready · {stats.Delayed:N0} delayed · {stats.Leased:N0} leased", stats.Pending == 0),
            new(
                "/health/ready of the first sender: not ready during the fault, ready after",
                $"503 within {s_notReadyBound.TotalSeconds:N0} s of the fault · 200 after",
                $"{Seconds(notReadyAfter)} after the fault · ready {Seconds(readyAgainAfter)} after Redis was back{ProbeTimeouts(probeTimeouts)}",
                notReadyAfter <= s_notReadyBound && readyAgainAfter is not null),
            exit,
        ];
        var fault = silent
            ? $"redis-server stopped with SIGSTOP (every connection open, nothing answered) with {before:N0} accepted and {leasedAtFault:N0} leased, for {down.TotalSeconds:N0} s, then resumed with SIGCONT"
            : $"redis-server stopped with {before:N0} accepted and {leasedAtFault:N0} leased, for {down.TotalSeconds:N0} s, then started again";
        List<Figure> figures =
        [
            new("load", $"{n:N0} messages backlog, {Pods} senders × {profile.Workers} workers, gateway answering after {profile.GatewayLatency.TotalMilliseconds:N0} ms"),
            new("faults injected", $"{fault}: longer than the {consumerTimeout.TotalSeconds:N0} s consumer timeout, so every heartbeat was stale when it came back"),
            new("sending resumed after Redis was back", pause == TimeSpan.MaxValue ? "never" : $"{pause.TotalSeconds:N1} s"),
            new("/health/ready of the first sender → 503 after the fault · → 200 after Redis was back", $"{Seconds(notReadyAfter)} · {Seconds(readyAgainAfter)}{ProbeTimeouts(probeTimeouts)}"),
            new("duplicates", $"{duplicates:N0}"),
        ];
        return new ScenarioReport(
            id,
            silent ? $"Redis silent for {down.TotalSeconds:N0} s under {Pods} senders" : $"Redis away for {down.TotalSeconds:N0} s under {Pods} senders",
            "closed (backlog)",
            silent
                ? $"{Pods} sender processes drain {n:N0} messages from one queue, as {Pods} pods do. A fifth of the way through, redis-server is stopped with SIGSTOP for {down.TotalSeconds:N0} s, longer than the consumer timeout, then resumed: as a network partition that heals or a host that hangs, no connection drops and no call fails; every call waits and is answered late. When it answers again every consumer's heartbeat is stale, and no sender saw a failure: nothing may be lost or sent twice, and every sender must ride it out."
                : $"{Pods} sender processes drain {n:N0} messages from one queue, as {Pods} pods do. A fifth of the way through, redis-server is stopped for {down.TotalSeconds:N0} s, longer than the consumer timeout, then started again on the same port and data. When it is back every consumer's heartbeat is stale, and a sender that recovered the others' leases as a dead consumer's would send them again: nothing may be lost or sent twice, and every sender must ride it out.",
            figures, checks, []);
    }

    /// <summary>
    /// K4d: one sender's connection to Redis dies without failing while Redis answers new connections, and two other
    /// senders drain the same queue. A proxy in front of that sender stops relaying and keeps its sockets open, as when the
    /// Redis host is lost without a reset or a NAT entry is dropped: StackExchange.Redis 1.2.6 would wait on the
    /// connection for about 15 minutes. The watchdog must stop the process (exit 75, event 3301) within the dead-connection
    /// timeout and its probe, and it is started again, as Kubernetes does. Nothing may be lost; a repeat may only be a
    /// message the silenced process sent.
    /// </summary>
    public static async Task<ScenarioReport> DeadConnectionAsync(string senderDll, ChaosProfile profile, TextWriter progress)
    {
        const int Pods = 3;
        var deadAfter = profile.EffectiveDeadConnectionTimeout;

        // The timeout, a PING interval (a sixth of it), the probe's 10 s at most, and 10 s for the stop's sends in flight.
        var exitBound = deadAfter + deadAfter / 6 + TimeSpan.FromSeconds(20);
        await using var redis = await RedisProcess.StartAsync();
        await using var proxy = new LoopbackProxy(redis.Port);
        await using var context = await LoadContext.ConnectAsync(redis.Configuration, string.Empty, senderDll, LoadProfile.Smoke, progress);
        var n = profile.RedisMessages;
        var ledger = new MessageLedger(n);
        await using var gateway = await LoadGateway.StartAsync(ledger, profile.GatewayLatency);
        gateway.RecordsSenders = true;
        var (queue, client) = context.NewQueue("dead-connection");
        progress.WriteLine($"  pushing {n:N0} messages; {Pods} senders, k4d-0 through a proxy");
        await new Producer(client, ledger, queue.Keys.Name + ":").BurstAsync(0, n);

        Dictionary<string, string> Environment(bool proxied)
        {
            var environment = profile.SenderTimings();
            if (proxied)
            {
                environment["Cortex__Redis__Configuration"] = $"127.0.0.1:{proxy.Port.ToString(System.Globalization.CultureInfo.InvariantCulture)},abortConnect=false,connectTimeout=2000,syncTimeout=5000";
            }

            if (profile.DeadConnectionTimeout is { } timeout)
            {
                environment["Cortex__Redis__DeadConnectionTimeout"] = timeout.ToString("c", System.Globalization.CultureInfo.InvariantCulture);
            }

            return environment;
        }

        var silenced = context.StartSender("k4d-0", queue, gateway, profile.Workers, Environment(proxied: true));
        List<SenderProcess> senders = [silenced, .. Enumerable.Range(1, Pods - 1).Select(i => context.StartSender($"k4d-{i}", queue, gateway, profile.Workers, Environment(proxied: false)))];
        Check exit;
        int before, heldAtSilence;
        (int ExitCode, TimeSpan AfterTerm)? stopped;
        TimeSpan silenceToExit;
        TimeSpan? recovered;
        bool explained, othersRodeItOut;
        try
        {
            await WaitForFaultPointAsync(ledger, n / 5, senders);

            heldAtSilence = (int)await context.Database.HashLengthAsync(queue.Keys.Leases($"{queue.Keys.Name}-k4d-0"));
            before = ledger.Distinct;
            var silencedAt = Stopwatch.GetTimestamp();
            proxy.SilenceOpenConnections();
            var recovery = ProcessFaults.WatchRecoveryAsync(context.Database, queue.Keys, $"{queue.Keys.Name}-k4d-0", silencedAt, heldAtSilence);
            progress.WriteLine($"  k4d-0's connection silenced with {before:N0} of {n:N0} accepted and {heldAtSilence:N0} leased by it; dead-connection timeout {deadAfter.TotalSeconds:N0} s");

            // Waited for past the bound, so a late exit is measured rather than cut off.
            stopped = await silenced.WaitForExitAsync(exitBound * 2);
            silenceToExit = Stopwatch.GetElapsedTime(silencedAt);
            explained = File.ReadAllText(silenced.LogPath).Contains("[3301]", StringComparison.Ordinal);
            progress.WriteLine($"  k4d-0 exited {(stopped is { } e ? e.ExitCode.ToString(System.Globalization.CultureInfo.InvariantCulture) : "never")} {silenceToExit.TotalSeconds:N1} s after the silence; started again as k4d-0r");

            // Kubernetes restarts the container; the new process connects anew, and new connections are relayed.
            var others = senders.Skip(1).ToList();
            othersRodeItOut = others.All(s => !s.HasExited);
            var restarted = context.StartSender("k4d-0r", queue, gateway, profile.Workers, Environment(proxied: true));
            senders.Add(restarted);
            List<SenderProcess> live = [.. others, restarted];
            await WaitForDrainAsync(ledger, n, queue, live);

            // Every message may have been accepted while the silenced sender's leases (sent, their acks never written) still
            // wait for its heartbeat to age past the consumer timeout: the run ends once they are recovered and sent again.
            var drained = Stopwatch.GetTimestamp();
            while ((await queue.GetStatsAsync()).Pending > 0)
            {
                if (Stopwatch.GetElapsedTime(drained) > TimeSpan.FromMinutes(1))
                {
                    throw new TimeoutException($"messages still in Redis a minute after every one was accepted; logs: {string.Join(", ", live.Select(s => s.LogPath))}");
                }

                await Task.Delay(TimeSpan.FromMilliseconds(200));
            }

            recovered = (await recovery).After;
            exit = await LoadContext.StopAsync(live);
        }
        finally
        {
            foreach (var sender in senders)
            {
                await sender.DisposeAsync();
            }
        }

        var (missing, duplicates) = ledger.Audit(0, n);
        var repeated = Enumerable.Range(0, n).Where(i => ledger.AcceptCount(i) > 1).ToList();
        var outside = repeated.Count(i => gateway.AcceptedBy(i, "k4d-0") == 0);
        var sentBySilenced = Enumerable.Range(0, n).Count(i => gateway.AcceptedBy(i, "k4d-0") > 0);
        var stats = await queue.GetStatsAsync();
        var exitedRight = stopped?.ExitCode == Cortex.Shared.Hosting.CortexHost.RedisConnectionDeadExitCode && explained && silenceToExit <= exitBound;
        List<Check> checks =
        [
            new("messages lost", "0", $"{missing.Count:N0} of {n:N0} ({stats.Dead:N0} dead-lettered)", missing.Count == 0 && stats.Dead == 0),
            new(
                "the silenced sender stopped itself for a restart",
                $"exit {Cortex.Shared.Hosting.CortexHost.RedisConnectionDeadExitCode} and event 3301 within {exitBound.TotalSeconds:N0} s of the silence",
                $"{(stopped is { } s ? $"exit {s.ExitCode}" : "no exit")}{(explained ? ", 3301 logged" : ", no 3301")} after {silenceToExit.TotalSeconds:N1} s",
                exitedRight),
            new("repeats: only messages the silenced sender sent", "0 outside them", $"{duplicates:N0} repeats, {outside:N0} outside", outside == 0),
            new("the other senders rode it out", "no restart", othersRodeItOut ? "no restart" : "one exited", othersRodeItOut),
            new("nothing left in Redis", "0 ready · 0 delayed · 0 leased", $"{stats.Ready:N0} ready · {stats.Delayed:N0} delayed · {stats.Leased:N0} leased", stats.Pending == 0),
            exit,
        ];
        List<Figure> figures =
        [
            new("load", $"{n:N0} messages backlog, {Pods} senders × {profile.Workers} workers, gateway answering after {profile.GatewayLatency.TotalMilliseconds:N0} ms"),
            new("faults injected", $"k4d-0's connection silenced for good (the proxy keeps its sockets open and relays nothing) with {before:N0} of {n:N0} accepted and {heldAtSilence:N0} leased by it; new connections relayed"),
            new("silence → exit of the silenced sender", $"{silenceToExit.TotalSeconds:N1} s (dead-connection timeout {deadAfter.TotalSeconds:N0} s)"),
            new("silence → the silenced sender's leases back in ready (recovered by another as a dead consumer's)", $"{Seconds(recovered)} (consumer timeout {profile.EffectiveConsumerTimeout.TotalSeconds:N0} s)"),
            new("sent by the silenced sender, in all", $"{sentBySilenced:N0}"),
            new("duplicates", $"{duplicates:N0}: sends the silenced sender made after its connection went silent, their acks never written"),
        ];
        return new ScenarioReport(
            "K4d",
            $"A sender's Redis connection dead without failing, {Pods} senders",
            "closed (backlog)",
            $"{Pods} sender processes drain {n:N0} messages from one queue, the first through a loopback proxy. A fifth of the way through, the proxy stops relaying that sender's connections and keeps them open, as when the Redis host is lost without a reset or a NAT entry is dropped, while new connections reach Redis. Nothing fails on that connection; StackExchange.Redis 1.2.6 would wait on it for about 15 minutes. The sender's watchdog finds its PINGs unanswered for the dead-connection timeout, asks Redis on a new connection, and, answered there, stops the process with exit code 75; the run starts it again, as Kubernetes restarts the container, and the other senders recover what it held once its heartbeat is older than the consumer timeout. Nothing may be lost; a message may be sent twice only if the silenced sender sent it (its ack could not be written).",
            figures, checks, []);
    }

    /// <summary>Until <paramref name="accepted"/> distinct messages were accepted: where a fault is injected. A sender that exits first fails the run.</summary>
    private static async Task WaitForFaultPointAsync(MessageLedger ledger, int accepted, IReadOnlyList<SenderProcess> senders)
    {
        while (ledger.Distinct < accepted)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(100));
            if (senders.FirstOrDefault(s => s.HasExited) is { } gone)
            {
                throw new InvalidOperationException($"sender {gone.Name} exited with {gone.ExitCode} before the fault; its log: {gone.LogPath}");
            }
        }
    }

    /// <summary>How long, after every message was accepted, the last acks may take to empty the queue before "nothing left in Redis" is read anyway.</summary>
    private static readonly TimeSpan s_settleBudget = TimeSpan.FromSeconds(30);

    // Until nothing is ready, delayed or leased, or the budget is spent: the caller's check then reads what is left.
    private static async Task WaitForEmptyAsync(RedisMessageQueue queue, TimeSpan budget)
    {
        var started = Stopwatch.GetTimestamp();
        while ((await queue.GetStatsAsync()).Pending > 0 && Stopwatch.GetElapsedTime(started) < budget)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(200));
        }
    }

    // Until every pushed message was accepted, or nothing is left in Redis to send (a push the crash lost is never
    // accepted) and nothing was accepted for 5 s. A minute without progress with work still in Redis is a stall.
    private static async Task WaitForDrainAsync(MessageLedger ledger, int target, RedisMessageQueue queue, IReadOnlyList<SenderProcess> senders)
    {
        var last = ledger.AcceptedTotal;
        var lastProgress = Stopwatch.GetTimestamp();
        while (ledger.Distinct < target)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(200));
            if (senders.FirstOrDefault(s => s.HasExited) is { } gone)
            {
                throw new InvalidOperationException($"sender {gone.Name} exited with {gone.ExitCode}; its log: {gone.LogPath}");
            }

            if (ledger.AcceptedTotal != last)
            {
                (last, lastProgress) = (ledger.AcceptedTotal, Stopwatch.GetTimestamp());
                continue;
            }

            var idle = Stopwatch.GetElapsedTime(lastProgress);
            if (idle > TimeSpan.FromSeconds(5) && (await queue.GetStatsAsync()).Pending == 0)
            {
                return;
            }

            if (idle > TimeSpan.FromMinutes(1))
            {
                throw new InvalidOperationException($"no message accepted for a minute with {ledger.Distinct:N0} of {target:N0} accepted; logs: {string.Join(", ", senders.Select(s => s.LogPath))}");
            }
        }
    }

    /// <summary>Polls of /health/ready that got no answer within the probe's timeout since the fault, when there were any.</summary>
    private static string ProbeTimeouts(int count) => count == 0 ? string.Empty : $" · {count:N0} polls with no answer in {ReadinessProbe.Timeout.TotalSeconds:N0} s";

    /// <summary>A time span as the reports show it ("10.6 s"), or "never".</summary>
    internal static string Seconds(TimeSpan? span) => span is { } s ? $"{s.TotalSeconds:N1} s" : "never";
}
