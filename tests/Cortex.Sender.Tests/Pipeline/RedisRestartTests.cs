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
}
