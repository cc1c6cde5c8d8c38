using Cortex.Sender.Gateways;
using Cortex.Testing;
using StackExchange.Redis;

namespace Cortex.Sender.Tests.Pipeline;

/// <summary>
/// The fetcher's low-water mark: a sender bound by a slow gateway leases whole batches (one lease and one claim round
/// trip per batch, not per freed slot), and a sender with idle workers still leases a lone message at once.
/// </summary>
public sealed class SenderEngineBatchingTests(RedisFixture redis) : IClassFixture<RedisFixture>
{
    [Fact]
    public async Task Fetch_SlowGatewayWithBacklog_EveryLeaseAsksForAWholeBatch()
    {
        // 4 workers over a 5 ms gateway free a buffer slot about every 1.25 ms: without the mark, the fetcher would
        // lease into each freed slot, one or two messages per Redis round trip.
        var gateway = new ScriptedGateway(async (_, _, ct) =>
        {
            await Task.Delay(5, ct);
            return GatewayResult.Accepted("ok");
        });
        CountingQueue? queue = null;
        await using var host = SenderTestHost.Create(
            redis,
            gateway,
            new Dictionary<string, string?>
            {
                ["Cortex:Sender:Workers"] = "4",
                ["Cortex:Sender:Prefetch"] = "64",
                ["Cortex:Sender:LeaseBatchSize"] = "32",
            },
            decorateQueue: inner => queue = new CountingQueue(inner));
        const int Messages = 600;
        await host.Client.EnqueueBatchAsync(Enumerable.Range(0, Messages).Select(i => SenderTestHost.Message($"b{i}")));

        await host.StartAsync();
        await host.WaitUntilDrainedAsync();
        await host.StopAsync();

        Assert.Equal(Messages, gateway.TotalAccepted);
        var leases = queue!.Leases.Where(l => l.Leased > 0).ToList();
        Assert.All(leases, l => Assert.Equal(32, l.Max));
        Assert.Equal((Messages + 31) / 32, leases.Count);

        // Redis answered every heartbeat in time: no lease was in doubt, so no send waited on a lease check.
        Assert.Equal(0, queue.LeaseChecks);
    }

    [Fact]
    public async Task Fetch_LoneMessageWhileOtherSendsHang_LeasedAndSentWithoutWaitingForABatch()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var gateway = new ScriptedGateway(async (e, _, ct) =>
        {
            if (e.Id.StartsWith("held", StringComparison.Ordinal))
            {
                await release.Task.WaitAsync(ct);
            }

            return GatewayResult.Accepted("ok");
        });
        CountingQueue? queue = null;
        await using var host = SenderTestHost.Create(
            redis,
            gateway,
            new Dictionary<string, string?>
            {
                ["Cortex:Sender:Workers"] = "4",
                ["Cortex:Sender:Prefetch"] = "16",
                ["Cortex:Sender:LeaseBatchSize"] = "8",
            },
            decorateQueue: inner => queue = new CountingQueue(inner));
        await host.Client.EnqueueBatchAsync(Enumerable.Range(0, 3).Select(i => SenderTestHost.Message($"held{i}")));
        await host.StartAsync();
        await SenderTestHost.WaitForAsync(() => Task.FromResult(gateway.TotalCalls == 3), "three sends hanging");

        // One worker is free and the buffer is empty: the next message must not wait for seven more to make a batch.
        await host.Client.EnqueueAsync(SenderTestHost.Message("lone"));
        await SenderTestHost.WaitForAsync(() => Task.FromResult(gateway.AcceptedFor("lone") == 1), "the lone message sent while the others hang");

        Assert.Equal(1, gateway.TotalAccepted); // "lone" alone: the held sends are still hanging
        Assert.Contains(queue!.Leases, l => l.Leased == 1);
        release.SetResult();
        await host.WaitUntilDrainedAsync();
    }

    [Fact]
    public async Task Admit_LeasedBatchOfMalformedPayloads_DeadLettersTheBatchInOneWrite()
    {
        // A producer pushing garbage must not cost a Redis round trip per payload: a batch's dead letters are one write.
        var gateway = new ScriptedGateway(_ => GatewayResult.Accepted("ok"));
        CountingQueue? queue = null;
        await using var host = SenderTestHost.Create(
            redis,
            gateway,
            new Dictionary<string, string?> { ["Cortex:Sender:LeaseBatchSize"] = "50", ["Cortex:Sender:Prefetch"] = "50" },
            decorateQueue: inner => queue = new CountingQueue(inner));
        var payloads = Enumerable.Range(0, 100).Select(i => (RedisValue)(i % 2 == 0 ? $"{{\"version\":1,\"id\":\"bad{i}\"" : "not json " + i)).ToArray();
        await redis.Connection.GetDatabase().ListLeftPushAsync(host.Queue.Keys.ReadyNormal, payloads);
        await host.Client.EnqueueAsync(SenderTestHost.Message("good"));

        await host.StartAsync();
        await host.WaitUntilDrainedAsync();

        Assert.Equal(100, (await host.Queue.GetStatsAsync()).Dead);
        Assert.Equal(1, gateway.AcceptedFor("good"));
        Assert.Equal(100, queue!.DeadLetters.Sum());
        Assert.True(queue.DeadLetters.Count <= 3, $"{queue.DeadLetters.Count} dead-letter writes for 100 payloads leased 50 at a time");
    }
}
