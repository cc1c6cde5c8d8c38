using Cortex.Sender.Gateways;
using Cortex.Testing;

namespace Cortex.Sender.Tests.Pipeline;

public sealed class RedisRestartTests
{
    [Fact]
    public async Task Send_RedisKilledAndRestartedMidRun_SenderRecoversByItselfWithNoLossAndNoDuplicate()
    {
        // appendfsync always: every write Redis confirmed survives the kill, so "no loss" is exact.
        await using var redis = await RedisServer.StartAsync("--appendonly", "yes", "--appendfsync", "always");
        var sent = 0;
        var gateway = new ScriptedGateway(async (_, _, ct) =>
        {
            await Task.Delay(1, ct);
            Interlocked.Increment(ref sent);
            return GatewayResult.Accepted("ok");
        });
        await using var host = SenderTestHost.Create(redis, gateway, new Dictionary<string, string?>
        {
            ["Cortex:Queue:HeartbeatInterval"] = "00:00:01",
            ["Cortex:Sender:Workers"] = "4",
        });
        var ids = Enumerable.Range(0, 2000).Select(i => $"r{i}").ToList();
        await host.Client.EnqueueBatchAsync(ids.Select(id => SenderTestHost.Message(id)));

        await host.StartAsync();
        await SenderTestHost.WaitForAsync(() => Task.FromResult(Volatile.Read(ref sent) >= 300), "sending under way");
        await redis.KillAsync();
        var sentDuringOutage = Volatile.Read(ref sent);
        await redis.RestartAsync();

        // The same process carries on: it reconnects, reloads its scripts (NOSCRIPT after a restart) and flushes its acks.
        await host.WaitUntilDrainedAsync(timeoutSeconds: 60);
        await host.StopAsync();

        Assert.All(ids, id => Assert.Equal(1, gateway.AcceptedFor(id)));
        Assert.True(sentDuringOutage < ids.Count, "the kill must land mid-run for this test to mean anything");
        var stats = await host.Queue.GetStatsAsync();
        Assert.Equal((0L, 0L, 0L), (stats.Pending, stats.Dead, stats.Consumers));
    }

    [Fact]
    public async Task Send_RedisBackWithoutTheWriteThatRetriedALease_TheLiveSenderHandsItBackAndSendsIt()
    {
        // No persistence but the snapshot taken below: the restart brings Redis back as it was then, as a failover to a
        // replica that had not yet received the last writes does, or the AOF fsync window after a host crash.
        await using var redis = await RedisServer.StartAsync();
        var calls = 0;
        var firstCall = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var fail = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var gateway = new ScriptedGateway(async (_, _, ct) =>
        {
            if (Interlocked.Increment(ref calls) > 1)
            {
                return GatewayResult.Accepted("ok");
            }

            firstCall.TrySetResult();
            await fail.Task.WaitAsync(ct);
            return GatewayResult.Retryable("503 Service Unavailable");
        });
        await using var host = SenderTestHost.Create(redis, gateway, new Dictionary<string, string?>
        {
            // The retry waits in the delayed set for an hour: only what becomes of its lease can bring it back sooner.
            ["Cortex:Retry:BaseDelay"] = "01:00:00",
            ["Cortex:Retry:MaxDelay"] = "01:00:00",
        });
        await host.Client.EnqueueBatchAsync([SenderTestHost.Message("m1")]);
        await host.StartAsync();
        await firstCall.Task.WaitAsync(TimeSpan.FromSeconds(30));

        // Redis's state with the message leased by this sender.
        using (var admin = await redis.ConnectAsync())
        {
            await admin.GetDatabase().ExecuteAsync("SAVE");
        }

        fail.SetResult();
        await SenderTestHost.WaitForAsync(async () => await host.Queue.GetStatsAsync() is { Delayed: 1, Leased: 0 }, "the retry written");
        await redis.KillAsync();
        await redis.RestartAsync();

        // Redis is back as it was at the snapshot: the message is in this live sender's lease hash and its retry is gone.
        // The sender finished that lease before the restart and holds nothing of it; its heartbeat keeps the lease from
        // every other consumer, so the message stayed there until the sender stopped.
        await host.WaitUntilDrainedAsync(timeoutSeconds: 30);
        Assert.Equal(1, gateway.AcceptedFor("m1"));
        await host.StopAsync();
        var stats = await host.Queue.GetStatsAsync();
        Assert.Equal((0L, 0L, 0L), (stats.Pending, stats.Dead, stats.Consumers));
    }

    [Fact]
    public async Task Send_RedisAwayLongerThanTheConsumerTimeoutWithSendsInFlight_NothingIsRecoveredFromTheLiveSenderOrSentTwice()
    {
        await using var redis = await RedisServer.StartAsync("--appendonly", "yes", "--appendfsync", "always");
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var gateway = new ScriptedGateway(async (_, _, ct) =>
        {
            await release.Task.WaitAsync(ct);
            return GatewayResult.Accepted("ok");
        });
        await using var host = SenderTestHost.Create(redis, gateway, new Dictionary<string, string?>
        {
            // The outage below outlasts the consumer timeout: afterwards every heartbeat is stale, this live sender's too.
            ["Cortex:Queue:ConsumerTimeout"] = "00:00:01.500",
            ["Cortex:Queue:HeartbeatInterval"] = "00:00:00.500",
            ["Cortex:Queue:MaintenanceInterval"] = "00:00:00.100",
            ["Cortex:Sender:Workers"] = "4",
        });
        var ids = Enumerable.Range(0, 40).Select(i => $"o{i}").ToList();
        await host.Client.EnqueueBatchAsync(ids.Select(id => SenderTestHost.Message(id)));
        await host.StartAsync();
        await SenderTestHost.WaitForAsync(() => Task.FromResult(gateway.TotalCalls == 4), "four sends in flight");

        await redis.KillAsync();
        await Task.Delay(TimeSpan.FromSeconds(3)); // the fault itself: Redis away for twice the consumer timeout
        await redis.RestartAsync();

        // Redis is back with this sender's heartbeat 3 s old. Give its maintenance (every 100 ms) time to run
        // recovery many times over before the sends in flight finish and ack.
        await SenderTestHost.WaitForAsync(async () => (await host.Queue.GetStatsAsync()).Consumers == 1, "the sender heartbeating again");
        await Task.Delay(TimeSpan.FromSeconds(1));
        release.SetResult();
        await host.WaitUntilDrainedAsync(timeoutSeconds: 60);
        await host.StopAsync();

        Assert.All(ids, id => Assert.Equal(1, gateway.AcceptedFor(id)));
        Assert.Equal(0, host.Counter("cortex.queue.leases_recovered"));
    }

    [Fact]
    public async Task Send_RedisSilentLongerThanTheConsumerTimeout_NoLiveConsumersLeasesAreRecoveredButADeadOnesStillAre()
    {
        // Silent, not gone: redis-server stopped with SIGSTOP keeps every connection open, so no call fails; they are
        // answered late, as after a network partition that heals or a host that hung. The defect this guards against:
        // afterwards every heartbeat was stale, and the sender's first recovery took a live pod's leases for a dead
        // one's (and, when it won the race with its own heartbeat, its own), and their messages went out twice.
        await using var redis = await RedisServer.StartAsync();
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var gateway = new ScriptedGateway(async (_, _, ct) =>
        {
            await release.Task.WaitAsync(ct);
            return GatewayResult.Accepted("ok");
        });
        var consumerTimeout = TimeSpan.FromSeconds(3);
        using var logs = new CapturedLogs();
        await using var host = SenderTestHost.Create(redis, gateway, new Dictionary<string, string?>
        {
            ["Cortex:Queue:ConsumerTimeout"] = "00:00:03",
            ["Cortex:Queue:HeartbeatInterval"] = "00:00:00.500",
            ["Cortex:Queue:MaintenanceInterval"] = "00:00:00.100",
            ["Cortex:Sender:Workers"] = "4",
        }, logs);

        // Two other pods, played by the test: pod-b alive throughout, pod-c dead from the start, three leases each.
        var podIds = Enumerable.Range(0, 3).Select(i => $"b{i}").ToList();
        await host.Client.EnqueueBatchAsync(podIds.Select(id => SenderTestHost.Message(id)));
        Assert.Equal(3, (await host.Queue.LeaseAsync("pod-b", 3)).Count);
        await host.Queue.HeartbeatAsync("pod-b");
        var deadIds = Enumerable.Range(0, 3).Select(i => $"c{i}").ToList();
        await host.Client.EnqueueBatchAsync(deadIds.Select(id => SenderTestHost.Message(id)));
        Assert.Equal(3, (await host.Queue.LeaseAsync("pod-c", 3)).Count);
        await host.Queue.HeartbeatAsync("pod-c");
        var ids = Enumerable.Range(0, 40).Select(i => $"s{i}").ToList();
        await host.Client.EnqueueBatchAsync(ids.Select(id => SenderTestHost.Message(id)));
        await host.StartAsync();
        await SenderTestHost.WaitForAsync(() => Task.FromResult(gateway.TotalCalls == 4), "four sends in flight");

        await redis.SignalAsync("STOP");
        await Task.Delay(consumerTimeout * 2); // the fault itself: Redis silent for twice the consumer timeout
        await redis.SignalAsync("CONT");

        // pod-b heartbeats as a live pod does, within its interval of Redis answering again, through two consumer
        // timeouts; the sender's maintenance (every 100 ms) meanwhile gets many chances to recover it.
        var beat = TimeSpan.FromMilliseconds(250);
        using var alive = new PeriodicTimer(beat);
        for (var beats = consumerTimeout * 2 / beat; beats > 0 && await alive.WaitForNextTickAsync(); beats--)
        {
            await host.Queue.HeartbeatAsync("pod-b");
        }

        // pod-b stops gracefully: every lease it took is still its own to hand back.
        Assert.Equal(3, await host.Queue.RemoveConsumerAsync("pod-b"));

        release.SetResult();
        await host.WaitUntilDrainedAsync(timeoutSeconds: 60);
        await host.StopAsync();

        // Only the dead pod's leases were recovered, once the wait was over; nothing was sent twice.
        Assert.All(ids.Concat(podIds).Concat(deadIds), id => Assert.Equal(1, gateway.AcceptedFor(id)));
        Assert.Equal(3, host.Counter("cortex.queue.leases_recovered"));
        // The operator is told why recovery waited.
        Assert.Contains(logs.Lines, line => line.Contains("Redis answered a heartbeat after", StringComparison.Ordinal));
    }
}
