using Cortex.Sender.Gateways;
using Cortex.Sender.Pipeline;
using Cortex.Shared.Queue;
using Cortex.Testing;

namespace Cortex.Sender.Tests.Pipeline;

/// <summary>
/// Regression tests for what chaos scenario K5 (gateway faults) found: a gateway that goes down after a busy spell,
/// leases held through an open circuit or a 401 pause, and a batch of 401s after each pause.
/// </summary>
public sealed class GatewayOutageTests(RedisFixture redis) : IClassFixture<RedisFixture>
{
    [Fact]
    public async Task Send_GatewayDownAfterBusySpell_CircuitOpensBeforeTheSuccessesAgeOutOfTheRatioWindow()
    {
        // 300 sends accepted, then every call fails after 20 ms, as a gateway that went down does. The ratio breaker's
        // 30 s window still holds the 300 successes: alone it would stay closed until about 300 failures, each an attempt.
        const int busy = 300;
        var gateway = DownAfterBusySpell(busy, async ct =>
        {
            await Task.Delay(20, ct);
            return GatewayResult.Retryable("HTTP 500");
        });
        await using var host = SenderTestHost.Create(redis, gateway, new Dictionary<string, string?>
        {
            ["Cortex:Resilience:MinimumThroughput"] = "5",
            ["Cortex:Resilience:BreakDuration"] = "00:01:00",
            ["Cortex:Retry:MaxAttempts"] = "50",
            ["Cortex:Retry:BaseDelay"] = "01:00:00",
            ["Cortex:Retry:MaxDelay"] = "01:00:00",
            ["Cortex:Sender:Workers"] = "4",
        });
        await host.Client.EnqueueBatchAsync(Enumerable.Range(0, 1_000).Select(i => SenderTestHost.Message($"b{i}")));

        await host.StartAsync();
        await SenderTestHost.WaitForAsync(() => Task.FromResult(host.Gate.IsCircuitOpen), "circuit open");
        await host.StopAsync();

        // Each failed send spent an attempt (no short retries here): at most the 0.5 s outage window of failures (4
        // workers × 50 calls/s), far fewer than the ratio breaker alone needs to outweigh the successes in its window.
        var stats = await host.Queue.GetStatsAsync();
        Assert.Equal(busy, gateway.TotalAccepted);
        Assert.InRange(stats.Delayed, 1, busy / 2);
        Assert.Equal(1_000 - busy, stats.Ready + stats.Delayed);
    }

    [Fact]
    public async Task Send_GatewayStopsAnsweringWithFewerWorkersThanMinimumThroughput_OutageBreakerStillOpens()
    {
        // 4 workers against the default MinimumThroughput of 20. A gateway that stops answering times out one call per
        // worker per timeout, all together: 4 failures in the outage window, never 20. The ratio breaker alone stays
        // closed until the 300 successes leave its 30 s window, and every timeout until then spends an attempt.
        const int busy = 300;
        var gateway = DownAfterBusySpell(busy, NeverAnswersAsync);
        await using var host = SenderTestHost.Create(redis, gateway, new Dictionary<string, string?>
        {
            // Longer than the 0.5 s outage window, as the product's 10 s is: the first round of timeouts comes after the
            // last successes have left the window.
            ["Cortex:Gateway:Timeout"] = "00:00:01",
            ["Cortex:Resilience:BreakDuration"] = "00:01:00",
            ["Cortex:Retry:MaxAttempts"] = "50",
            ["Cortex:Retry:BaseDelay"] = "01:00:00",
            ["Cortex:Retry:MaxDelay"] = "01:00:00",
            ["Cortex:Sender:Workers"] = "4",
        });
        await host.Client.EnqueueBatchAsync(Enumerable.Range(0, 1_000).Select(i => SenderTestHost.Message($"f{i}")));

        await host.StartAsync();
        await SenderTestHost.WaitForAsync(() => Task.FromResult(host.Gate.IsCircuitOpen), "circuit open", timeoutSeconds: 120);
        await host.StopAsync();

        // Each send that timed out before the circuit opened spent an attempt: it must open at the first round of timeouts
        // (4 here, the last of them unspent; a second round only if a loaded box spread the first over more than the
        // window), not once the failures outweigh the successes (120 on the code before: 30 s of timeouts).
        var stats = await host.Queue.GetStatsAsync();
        Assert.Equal(busy, gateway.TotalAccepted);
        Assert.InRange(stats.Delayed, 0, 2 * 4);
        Assert.Equal(1_000 - busy, stats.Ready + stats.Delayed);
    }

    [Fact]
    public async Task Send_GatewayStopsAnsweringAPodPacedFarBelowItsWorkers_CircuitOpensAfterMinimumThroughputFailuresInARow()
    {
        // 16 workers held to 10 sends a second by the pod's rate limit, as a pod set to its provider's limit is. When the
        // gateway stops answering, the calls start 100 ms apart and time out 100 ms apart: 5 in any 0.5 s, never the 10
        // the outage breaker needs. The ratio breaker alone stays closed until the failures match the 100 successes in
        // its window, and every timeout until then spends an attempt.
        const int busy = 100;
        var gateway = DownAfterBusySpell(busy, NeverAnswersAsync);
        await using var host = SenderTestHost.Create(redis, gateway, new Dictionary<string, string?>
        {
            ["Cortex:Gateway:Timeout"] = "00:00:01",
            ["Cortex:RateLimit:PodPermitsPerSecond"] = "10",
            ["Cortex:RateLimit:PodBurst"] = "1",
            ["Cortex:Resilience:MinimumThroughput"] = "10",
            ["Cortex:Resilience:ShortRetries"] = "0",
            ["Cortex:Resilience:BreakDuration"] = "00:01:00",
            ["Cortex:Retry:MaxAttempts"] = "50",
            ["Cortex:Retry:BaseDelay"] = "01:00:00",
            ["Cortex:Retry:MaxDelay"] = "01:00:00",
            ["Cortex:Sender:Workers"] = "16",
        });
        await host.Client.EnqueueBatchAsync(Enumerable.Range(0, 1_000).Select(i => SenderTestHost.Message($"p{i}")));

        await host.StartAsync();
        await SenderTestHost.WaitForAsync(() => Task.FromResult(host.Gate.IsCircuitOpen), "circuit open", timeoutSeconds: 120);
        await host.StopAsync();

        // 10 timeouts in a row open the circuit: the 9 before spent an attempt each, the 10th and the calls still in flight
        // (about 10 at this pace, timing out after it) go back to ready unspent. The ratio breaker alone let about 100
        // through; before failures at the opening went back, 10 to 26 were spent.
        var stats = await host.Queue.GetStatsAsync();
        Assert.Equal(busy, gateway.TotalAccepted);
        Assert.InRange(stats.Delayed, 1, 9);
        Assert.Equal(1_000 - busy, stats.Ready + stats.Delayed);
    }

    [Fact]
    public async Task Send_GatewayStopsAnsweringAOneWorkerPod_CircuitOpensOnceCallsFailedInARowForTheSamplingDuration()
    {
        // One worker waits out each timeout alone: a failure per timeout. The streak breaker's count (20 here) would
        // take 20 timeouts, about 7 messages' three attempts each; failing in a row for SamplingDuration is enough once
        // more than one message's attempts failed.
        var gateway = DownAfterBusySpell(5, NeverAnswersAsync);
        await using var host = SenderTestHost.Create(redis, gateway, new Dictionary<string, string?>
        {
            ["Cortex:Gateway:Timeout"] = "00:00:01",
            ["Cortex:Resilience:ShortRetries"] = "2",
            ["Cortex:Resilience:ShortRetryDelay"] = "00:00:00.010",
            ["Cortex:Resilience:SamplingDuration"] = "00:00:03",
            ["Cortex:Resilience:BreakDuration"] = "00:01:00",
            ["Cortex:Retry:MaxAttempts"] = "50",
            ["Cortex:Retry:BaseDelay"] = "01:00:00",
            ["Cortex:Retry:MaxDelay"] = "01:00:00",
            ["Cortex:Sender:Workers"] = "1",
            ["Cortex:Sender:Prefetch"] = "1",
            ["Cortex:Sender:LeaseBatchSize"] = "1",
        });
        await host.Client.EnqueueBatchAsync(Enumerable.Range(0, 50).Select(i => SenderTestHost.Message($"w{i}")));

        await host.StartAsync();
        await SenderTestHost.WaitForAsync(() => Task.FromResult(host.Gate.IsCircuitOpen), "circuit open", timeoutSeconds: 120);
        await host.StopAsync();

        // w5 failed its three attempts (the first 3 s of timeouts) and spent one; w6's first timeout, 3 s after the first
        // failure, opened the circuit and went back unspent. On the count alone: 6 spent, 20 timeouts.
        var stats = await host.Queue.GetStatsAsync();
        Assert.Equal(5 + 3 + 1, gateway.TotalCalls);
        Assert.Equal((44, 1), (stats.Ready, stats.Delayed));
    }

    [Fact]
    public async Task Send_OneMessageFailsAllItsShortRetriesOnASmallPod_CircuitStaysClosed()
    {
        // 2 workers: the outage breaker needs a failure per worker, but never fewer than one message's attempts and one
        // more. One message failing its three attempts within the outage window is that message's problem, not an outage:
        // an open circuit would hold every send of the pod for the 10-minute break.
        var gateway = new ScriptedGateway((_, call, _) =>
            Task.FromResult(call <= 3 ? GatewayResult.Retryable("HTTP 500") : GatewayResult.Accepted("ok")));
        await using var host = SenderTestHost.Create(redis, gateway, new Dictionary<string, string?>
        {
            ["Cortex:Resilience:ShortRetries"] = "2",
            ["Cortex:Resilience:ShortRetryDelay"] = "00:00:00.010",
            ["Cortex:Resilience:BreakDuration"] = "00:10:00",
            ["Cortex:Sender:Workers"] = "2",
        });
        await host.Client.EnqueueBatchAsync([SenderTestHost.Message("lone")]);

        await host.StartAsync();
        await SenderTestHost.WaitForAsync(() => Task.FromResult(gateway.TotalAccepted == 1), "the message accepted on its long retry");
        await host.StopAsync();

        Assert.Equal(4, gateway.CallsFor("lone"));
        Assert.Equal(0, host.Counter("cortex.sender.returned"));
        Assert.False(host.Gate.IsCircuitOpen);
    }

    [Fact]
    public async Task Send_CircuitOpen_BufferedLeasesGoBackToReadyUntilTheProbe()
    {
        var gateway = new ScriptedGateway(_ => GatewayResult.Retryable("HTTP 502"));
        await using var host = SenderTestHost.Create(redis, gateway, new Dictionary<string, string?>
        {
            ["Cortex:Resilience:MinimumThroughput"] = "5",
            ["Cortex:Resilience:BreakDuration"] = "00:01:00",
            ["Cortex:Retry:MaxAttempts"] = "50",
            ["Cortex:Retry:BaseDelay"] = "01:00:00",
            ["Cortex:Retry:MaxDelay"] = "01:00:00",
            ["Cortex:Sender:Workers"] = "2",
            ["Cortex:Sender:Prefetch"] = "64",
        });
        await host.Client.EnqueueBatchAsync(Enumerable.Range(0, 200).Select(i => SenderTestHost.Message($"h{i}")));

        await host.StartAsync();
        await SenderTestHost.WaitForAsync(() => Task.FromResult(host.Gate.IsCircuitOpen), "circuit open");

        // The prefetch buffer was full when the circuit opened; for the minute of the break it must not stay leased.
        await SenderTestHost.WaitForAsync(async () => (await host.Queue.GetStatsAsync()).Leased == 0, "no message leased while the circuit is open");
        Assert.True(host.Gate.IsCircuitOpen);
        var stats = await host.Queue.GetStatsAsync();
        Assert.Equal(200, stats.Ready + stats.Delayed);
        Assert.InRange(stats.Delayed, 0, gateway.TotalCalls - 1);
        await host.StopAsync();
    }

    [Fact]
    public async Task Send_ProbeFailsWithNoShortRetryLeft_EachGoesBehindTheBacklogUnspent()
    {
        // No short retries: a failed probe has no retry to meet the re-opened circuit. It went to the retry schedule,
        // an attempt spent per break for as long as the outage lasted.
        var gateway = new ScriptedGateway(_ => GatewayResult.Retryable("HTTP 502"));
        await using var host = SenderTestHost.Create(redis, gateway, new Dictionary<string, string?>
        {
            ["Cortex:Resilience:MinimumThroughput"] = "2",
            ["Cortex:Resilience:BreakDuration"] = "00:00:00.500",
            ["Cortex:Retry:MaxAttempts"] = "50",
            ["Cortex:Retry:BaseDelay"] = "01:00:00",
            ["Cortex:Retry:MaxDelay"] = "01:00:00",
            ["Cortex:Sender:Workers"] = "1",
            ["Cortex:Sender:Prefetch"] = "1",
            ["Cortex:Sender:LeaseBatchSize"] = "1",
        });
        await host.Client.EnqueueBatchAsync(Enumerable.Range(0, 50).Select(i => SenderTestHost.Message($"q{i}")));

        await host.StartAsync();
        await SenderTestHost.WaitForAsync(() => Task.FromResult(gateway.TotalCalls >= 6), "four probes after the opening");
        await host.StopAsync();

        // q0 failed with the circuit closed and spent its attempt; q1's failure opened it, and each probe after failed
        // while open: back to ready unspent, behind the rest, so each probe was another message.
        var stats = await host.Queue.GetStatsAsync();
        Assert.Equal((49, 1, 0), (stats.Ready, stats.Delayed, stats.Leased));
        var calls = gateway.Log.Select(c => c.Id).ToList();
        Assert.Equal(calls.Count, calls.Distinct().Count());
        Assert.All(gateway.Log, call => Assert.Equal(0, call.Attempt));
    }

    [Fact]
    public async Task Send_MessageTheGatewayAlwaysFailsIsTheProbeAfterAnOutage_OthersCloseTheCircuitAndAreSent()
    {
        // The gateway fails its first 4 calls (an outage), then answers again, except for "stuck", which it always
        // fails (a request it cannot handle). "first" fails its three attempts, then "stuck"'s first call is the fourth
        // failure in a row and opens the circuit. Put back in front of the backlog, "stuck" was the probe after every
        // break: the circuit never closed again, and the pod sent nothing more with the gateway back.
        var calls = 0;
        var gateway = new ScriptedGateway(e => Interlocked.Increment(ref calls) <= 4 || e.Id == "stuck"
            ? GatewayResult.Retryable("HTTP 500")
            : GatewayResult.Accepted("ok"));
        await using var host = SenderTestHost.Create(redis, gateway, new Dictionary<string, string?>
        {
            // One message's three attempts in a row are no outage; a fourth failure in a row is.
            ["Cortex:Resilience:ShortRetries"] = "2",
            ["Cortex:Resilience:ShortRetryDelay"] = "00:00:00.010",
            ["Cortex:Resilience:MinimumThroughput"] = "4",
            ["Cortex:Resilience:BreakDuration"] = "00:00:00.500",
            ["Cortex:Retry:MaxAttempts"] = "50",
            ["Cortex:Retry:BaseDelay"] = "01:00:00",
            ["Cortex:Retry:MaxDelay"] = "01:00:00",
            ["Cortex:Sender:Workers"] = "1",
            ["Cortex:Sender:Prefetch"] = "1",
            ["Cortex:Sender:LeaseBatchSize"] = "1",
        });
        await host.Client.EnqueueBatchAsync([SenderTestHost.Message("first"), SenderTestHost.Message("stuck"), .. Enumerable.Range(0, 20).Select(i => SenderTestHost.Message($"s{i}"))]);

        await host.StartAsync();
        await SenderTestHost.WaitForAsync(() => Task.FromResult(gateway.TotalAccepted == 20), "the other 20 sent with the gateway back");
        await SenderTestHost.WaitForAsync(async () => (await host.Queue.GetStatsAsync()).Delayed == 2, "stuck on the retry schedule");
        await host.StopAsync();

        // s0 was the probe after the break and closed the circuit. "first" spent its attempt before the opening (its
        // three failures); "stuck", tried again with the circuit closed, spent its attempt there, as a message the
        // gateway cannot take does.
        Assert.Equal(1, gateway.CallsFor("s0"));
        Assert.Equal(3, gateway.CallsFor("first"));
        Assert.Equal(1 + 3, gateway.CallsFor("stuck"));
        var stats = await host.Queue.GetStatsAsync();
        Assert.Equal((0, 2, 0), (stats.Ready, stats.Delayed, stats.Leased));
    }

    [Fact]
    public async Task Send_OnlyMessageIsOneTheGatewayAlwaysFails_ItSpendsItsAttemptsAndTheCircuitStaysClosed()
    {
        // Nothing else to send, as at the end of a campaign or at night: a message the gateway cannot take comes back
        // from the retry schedule, each attempt long after the last. Its failures counted as failures in a row for longer
        // than the sampling duration, so its second attempt opened the circuit; held while it was open, it then went back
        // unspent after every probe, the only message to probe with: never dead-lettered, and the circuit open for good.
        var gateway = new ScriptedGateway(_ => GatewayResult.Retryable("HTTP 500"));
        await using var host = SenderTestHost.Create(redis, gateway, new Dictionary<string, string?>
        {
            ["Cortex:Resilience:ShortRetries"] = "2",
            ["Cortex:Resilience:ShortRetryDelay"] = "00:00:00.010",
            ["Cortex:Resilience:SamplingDuration"] = "00:00:00.500",
            ["Cortex:Resilience:BreakDuration"] = "00:01:00",
            ["Cortex:Retry:MaxAttempts"] = "3",
            ["Cortex:Retry:BaseDelay"] = "00:00:00.700",
            ["Cortex:Retry:MaxDelay"] = "00:00:00.700",
            ["Cortex:Retry:Jitter"] = "0",
        });
        await host.Client.EnqueueBatchAsync([SenderTestHost.Message("alone")]);

        await host.StartAsync();
        await SenderTestHost.WaitForAsync(async () => (await host.Queue.GetStatsAsync()).Dead == 1, "dead-lettered after its attempts");
        await host.StopAsync();

        Assert.Equal(3 * 3, gateway.CallsFor("alone"));
        Assert.Equal(0, host.Counter("cortex.sender.returned"));
        Assert.False(host.Gate.IsCircuitOpen);
    }

    [Fact]
    public async Task Send_TransientFailureDuringAConfigurationPause_GoesBackUnspent()
    {
        // Two sends in flight together: "key" gets a 401 and pauses the pod; "inflight" gets a 502 once the pause is on
        // (a gateway breaking in more than one way, as K5f's rotating fault does). With MaxAttempts 1, a spent attempt
        // would dead-letter "inflight": it did on the old code.
        SendGate? gate = null;
        var gateway = new ScriptedGateway(async (e, call, ct) =>
        {
            if (call > 1)
            {
                return GatewayResult.Accepted("ok");
            }

            if (e.Id == "key")
            {
                return GatewayResult.ConfigurationError("HTTP 401: apikey rejected");
            }

            while (gate is not { IsConfigurationPaused: true })
            {
                await Task.Delay(5, ct);
            }

            return GatewayResult.Retryable("HTTP 502");
        });
        await using var host = SenderTestHost.Create(redis, gateway, new Dictionary<string, string?>
        {
            ["Cortex:Retry:MaxAttempts"] = "1",
            ["Cortex:Sender:Workers"] = "2",
            ["Cortex:Sender:Prefetch"] = "2",
            ["Cortex:Sender:ConfigurationErrorPause"] = "00:00:01",
        });
        gate = host.Gate;
        await host.Client.EnqueueBatchAsync([SenderTestHost.Message("inflight"), SenderTestHost.Message("key")]);

        await host.StartAsync();
        await host.WaitUntilDrainedAsync();

        Assert.Empty(await host.Queue.GetDeadLettersAsync());
        Assert.Equal((1, 2), (gateway.AcceptedFor("inflight"), gateway.CallsFor("inflight")));
        Assert.All(gateway.Log, call => Assert.Equal(0, call.Attempt));
    }

    [Fact]
    public async Task Send_ConfigurationErrorPersists_EachPauseEndsWithOneProbeAndNothingStaysLeased()
    {
        var gateway = new ScriptedGateway(_ => GatewayResult.ConfigurationError("HTTP 401: apikey rejected"));
        await using var host = SenderTestHost.Create(redis, gateway, new Dictionary<string, string?>
        {
            ["Cortex:Sender:Workers"] = "4",
            ["Cortex:Sender:Prefetch"] = "32",
            ["Cortex:Sender:ConfigurationErrorPause"] = "00:00:01",
        });
        await host.Client.EnqueueBatchAsync(Enumerable.Range(0, 100).Select(i => SenderTestHost.Message($"c{i}")));

        await host.StartAsync();
        await SenderTestHost.WaitForAsync(() => Task.FromResult(host.Gate.IsConfigurationPaused), "paused by the 401");
        await SenderTestHost.WaitForAsync(async () => (await host.Queue.GetStatsAsync()).Leased == 0 && host.Gate.IsConfigurationPaused, "paused with nothing leased");
        var (calls0, returned0) = (gateway.TotalCalls, host.Counter("cortex.sender.returned"));

        // Three more pauses run out, each ending in a probe that gets the 401 again.
        await SenderTestHost.WaitForAsync(() => Task.FromResult(gateway.TotalCalls >= calls0 + 3), "three probes after pauses");
        await SenderTestHost.WaitForAsync(async () => (await host.Queue.GetStatsAsync()).Leased == 0 && host.Gate.IsConfigurationPaused, "paused with nothing leased");
        var (calls1, returned1) = (gateway.TotalCalls, host.Counter("cortex.sender.returned"));
        await host.StopAsync();

        // A pause ends with one message leased as a probe, not a batch leased and handed back unsent (the prefetch room is 32).
        Assert.InRange(calls0, 1, 4);
        Assert.InRange(returned1 - returned0, calls1 - calls0, calls1 - calls0 + 4);
        var stats = await host.Queue.GetStatsAsync();
        Assert.Equal((100, 0, 0, 0), (stats.Ready, stats.Leased, stats.Delayed, stats.Dead));
        Assert.All(gateway.Log, call => Assert.Equal(0, call.Attempt));
    }

    [Fact]
    public async Task Send_OneMessageRefusedAsAConfigurationError_PausesOnceThenWaitsAloneWhileTheOthersAreSent()
    {
        // A filter in front of the gateway refuses one body with a 403, as a revoked key would be refused. Put back in
        // front of ready, "waf" was the probe after every pause: the pod paused for good and sent nothing more.
        var gateway = new ScriptedGateway(e => e.Id == "waf"
            ? GatewayResult.ConfigurationError("HTTP 403: forbidden")
            : GatewayResult.Accepted("ok"));
        using var logs = new CapturedLogs();
        await using var host = SenderTestHost.Create(
            redis,
            gateway,
            new Dictionary<string, string?>
            {
                ["Cortex:Sender:Workers"] = "1",
                ["Cortex:Sender:Prefetch"] = "1",
                ["Cortex:Sender:LeaseBatchSize"] = "1",
                ["Cortex:Sender:ConfigurationErrorPause"] = "00:00:01",
            },
            logs);
        await host.Client.EnqueueBatchAsync([SenderTestHost.Message("waf"), .. Enumerable.Range(0, 20).Select(i => SenderTestHost.Message($"s{i}"))]);

        await host.StartAsync();
        await SenderTestHost.WaitForAsync(() => Task.FromResult(gateway.TotalAccepted == 20 && gateway.CallsFor("waf") >= 3), "the others sent, waf refused twice more");
        await SenderTestHost.WaitForAsync(async () => (await host.Queue.GetStatsAsync()).Delayed == 1, "waf waiting");
        await host.StopAsync();

        // One pause, whose probe proved the key works; then waf waits on its own each time, its attempts unspent.
        Assert.Single(logs.Lines, line => line.Contains("[1006]", StringComparison.Ordinal));
        Assert.InRange(logs.Lines.Count(line => line.Contains("[1026]", StringComparison.Ordinal)), 2, gateway.CallsFor("waf") - 1);
        Assert.All(gateway.Log, call => Assert.Equal(0, call.Attempt));
        Assert.Empty(await host.Queue.GetDeadLettersAsync());
    }

    // Accepts the first calls, then answers every call as the outage does: a gateway that went down after a busy spell.
    // A gateway that stopped answering: the call ends only at the sender's timeout.
    private static async Task<GatewayResult> NeverAnswersAsync(CancellationToken ct)
    {
        await Task.Delay(Timeout.InfiniteTimeSpan, ct);
        return GatewayResult.Accepted("never");
    }

    private static ScriptedGateway DownAfterBusySpell(int busy, Func<CancellationToken, Task<GatewayResult>> outage)
    {
        var calls = 0;
        return new ScriptedGateway((_, _, ct) =>
            Interlocked.Increment(ref calls) <= busy ? Task.FromResult(GatewayResult.Accepted("ok")) : outage(ct));
    }
}
