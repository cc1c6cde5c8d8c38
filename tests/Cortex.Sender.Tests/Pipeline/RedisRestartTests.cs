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
            // Longer than the outage, so this live consumer is not mistaken for a dead one afterwards.
            ["Cortex:Queue:ConsumerTimeout"] = "00:00:30",
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
}
