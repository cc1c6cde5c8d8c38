using Cortex.LoadTests;
using Cortex.Shared.Queue;
using Cortex.Testing;
using Microsoft.Extensions.Options;

namespace Cortex.Sender.Tests.Pipeline;

/// <summary>
/// A pod that Redis did not hear from for longer than the consumer timeout, and that then carries on unaware: its
/// network dropped packets for a while, or its process stood still. Meanwhile another pod recovered its leases and sent
/// them. What it held and had buffered is not its own any more, and nothing told it so: it asks Redis before it sends
/// such a message (<c>HoldsLease</c>), so the customer does not get it twice.
/// </summary>
public sealed class StaleConsumerTests
{
    [Fact]
    public async Task Send_ConnectionSilentPastTheConsumerTimeoutThenAnswersAgain_WhatAnotherPodRecoveredIsNotSentAgain()
    {
        // The network drops pod-1's Redis packets and then carries them again, before the watchdog's timeout: pod-1
        // never stops. It holds its sends a heartbeat interval into the silence.
        await using var redis = await RedisServer.StartAsync();
        await using var proxy = new LoopbackProxy(redis.Port);
        using var connection = await redis.ConnectAsync();
        var queueName = RedisFixture.UniqueQueueName();
        var queue = new RedisMessageQueue(connection, Options.Create(new QueueOptions { Name = queueName }), TimeProvider.System);
        var numbers = await SenderPods.EnqueueRemindersAsync(queue, "paused:", 80);
        await using var gateway = await CountingGateway.StartAsync(delay: TimeSpan.FromMilliseconds(500));
        await using var pod1 = ServiceProcess.Start("Cortex.Sender.dll", Pod("pod-1", $"127.0.0.1:{proxy.Port},abortConnect=false,connectTimeout=2000", 2));
        var database = connection.GetDatabase();
        await SenderTestHost.WaitForAsync(async () => gateway.Accepted >= 6 && await database.HashLengthAsync(queue.Keys.Leases("pod-1")) >= 16, "pod-1 sending with a buffer", timeoutSeconds: 60);

        proxy.PauseOpenConnections();
        var sentBeforePause = gateway.AcceptedFrom("pod-1");
        await using var pod2 = ServiceProcess.Start("Cortex.Sender.dll", Pod("pod-2", redis.Configuration, 8));
        await SenderTestHost.WaitForAsync(async () => await queue.GetStatsAsync() is { Pending: 0 }, "pod-2 sent everything, pod-1's leases too", timeoutSeconds: 60);
        var sentInPause = gateway.AcceptedFrom("pod-1") - sentBeforePause;

        proxy.ResumeConnections();
        // pod-1 hears from Redis again with sends held and messages buffered: it finds their leases gone and sends none.
        await SenderTestHost.WaitForAsync(
            () => Task.FromResult(pod1.Wrote("SenderEngine[1023]") || gateway.AcceptedFrom("pod-1") > sentBeforePause + sentInPause),
            "pod-1 acting on what it held", timeoutSeconds: 30);
        await pod1.StopAsync(TimeSpan.FromMinutes(1));
        await pod2.StopAsync(TimeSpan.FromMinutes(1));

        Assert.True(gateway.AcceptedFrom("pod-1") == sentBeforePause + sentInPause, $"pod-1 sent {gateway.AcceptedFrom("pod-1") - sentBeforePause - sentInPause} messages after Redis answered again, pod-2 having sent them:{Environment.NewLine}{pod1.Output}");
        var lost = gateway.NotAccepted(numbers);
        Assert.True(lost.Count == 0, $"{lost.Count} messages never reached the gateway: {string.Join(", ", lost.Take(10))}");
        // Repeats: what pod-1 sent in the first second of the pause (before it held its sends), and the few it had sent
        // just before the pause whose acks were still on their way (its 2 sends in flight, the ack write).
        Assert.InRange(gateway.Repeats, 0, sentInPause + 8);

        Dictionary<string, string> Pod(string name, string redisConfiguration, int workers) =>
            SenderPods.FastRecovery(name, redisConfiguration, queueName, workers, gateway, deadConnectionTimeout: "00:01:00");
    }

    [Fact]
    public async Task Send_RedisFailsThisPodAloneWhileOthersReachIt_SendsAreHeldNotSentForAnotherPodToSendAgain()
    {
        // pod-1's connection is reset and its reconnects refused (maxclients, a rotated password, a network policy) while
        // pod-2 reaches Redis. Failing calls were not held as silent ones were: pod-1 went on sending its buffer until its
        // heartbeat was in doubt (2 s here), with acks it could not write, and pod-2 recovered and sent all of it again.
        const int Workers = 8;
        await using var redis = await RedisServer.StartAsync();
        var proxy = new LoopbackProxy(redis.Port);
        using var connection = await redis.ConnectAsync();
        var queueName = RedisFixture.UniqueQueueName();
        var queue = new RedisMessageQueue(connection, Options.Create(new QueueOptions { Name = queueName }), TimeProvider.System);
        var numbers = await SenderPods.EnqueueRemindersAsync(queue, "cut:", 1200);
        await using var gateway = await CountingGateway.StartAsync(delay: TimeSpan.FromMilliseconds(100));
        var pod1Environment = Pod("pod-1", $"127.0.0.1:{proxy.Port},abortConnect=false,connectTimeout=2000", Workers);
        pod1Environment["Cortex__Sender__Prefetch"] = "160";
        pod1Environment["Cortex__Sender__LeaseBatchSize"] = "80";
        await using var pod1 = ServiceProcess.Start("Cortex.Sender.dll", pod1Environment);
        var database = connection.GetDatabase();
        await SenderTestHost.WaitForAsync(async () => gateway.Accepted >= 16 && await database.HashLengthAsync(queue.Keys.Leases("pod-1")) >= 120, "pod-1 sending with a buffer", timeoutSeconds: 60);

        await proxy.DisposeAsync();
        var sentBeforeCut = gateway.AcceptedFrom("pod-1");
        await using var pod2 = ServiceProcess.Start("Cortex.Sender.dll", Pod("pod-2", redis.Configuration, 32));
        await SenderTestHost.WaitForAsync(async () => await queue.GetStatsAsync() is { Pending: 0 }, "pod-2 sent everything, pod-1's leases too", timeoutSeconds: 90);
        var sentAfterCut = gateway.AcceptedFrom("pod-1") - sentBeforeCut;
        await pod1.StopAsync(TimeSpan.FromMinutes(1));
        await pod2.StopAsync(TimeSpan.FromMinutes(1));

        var lost = gateway.NotAccepted(numbers);
        Assert.True(lost.Count == 0, $"{lost.Count} messages never reached the gateway: {string.Join(", ", lost.Take(10))}");
        // After the cut: the sends in flight at it, and those its workers began before the first failed write was seen.
        Assert.True(sentAfterCut <= 3 * Workers, $"pod-1 sent {sentAfterCut} messages after its Redis calls began to fail:{Environment.NewLine}{pod1.Output}");
        // Repeats: those, and what pod-1 had sent just before the cut with its acks not yet written.
        Assert.InRange(gateway.Repeats, 0, sentAfterCut + (2 * Workers));

        Dictionary<string, string> Pod(string name, string redisConfiguration, int workers) =>
            SenderPods.FastRecovery(name, redisConfiguration, queueName, workers, gateway, deadConnectionTimeout: "00:01:00");
    }

    [Fact]
    public async Task Send_PodFrozenPastTheConsumerTimeoutThenContinued_WhatAnotherPodRecoveredIsNotSentAgain()
    {
        // pod-1 stands still (SIGSTOP) with two sends waiting for the gateway's answer and a buffer of leased messages, and
        // carries on once pod-2 has recovered and sent them. Its clock jumped; nothing else told it.
        await using var redis = await RedisServer.StartAsync();
        using var connection = await redis.ConnectAsync();
        var queueName = RedisFixture.UniqueQueueName();
        var queue = new RedisMessageQueue(connection, Options.Create(new QueueOptions { Name = queueName }), TimeProvider.System);
        var numbers = await SenderPods.EnqueueRemindersAsync(queue, "frozen:", 80);
        // Answers are held after 10 messages: pod-1's two workers each wait on a request the gateway has in full, so the
        // freeze cuts no request in half and pod-1's count at the freeze is final.
        await using var gateway = await CountingGateway.StartAsync(holdAfter: 10);
        await using var pod1 = ServiceProcess.Start("Cortex.Sender.dll", Pod("pod-1", 2));
        var database = connection.GetDatabase();
        await SenderTestHost.WaitForAsync(async () => gateway.Accepted >= 12 && await database.HashLengthAsync(queue.Keys.Leases("pod-1")) >= 16, "pod-1 waiting on two answers with a buffer", timeoutSeconds: 60);

        await pod1.FreezeAsync();
        var sentBeforeFreeze = gateway.AcceptedFrom("pod-1");
        gateway.Release();
        await using var pod2 = ServiceProcess.Start("Cortex.Sender.dll", Pod("pod-2", 8));
        await SenderTestHost.WaitForAsync(async () => await queue.GetStatsAsync() is { Pending: 0 }, "pod-2 sent everything, pod-1's leases too", timeoutSeconds: 60);

        await pod1.ContinueAsync();
        await SenderTestHost.WaitForAsync(
            () => Task.FromResult(pod1.Wrote("SenderEngine[1023]") || gateway.AcceptedFrom("pod-1") > sentBeforeFreeze),
            "pod-1 acting on what it held", timeoutSeconds: 30);
        await pod1.StopAsync(TimeSpan.FromMinutes(1));
        await pod2.StopAsync(TimeSpan.FromMinutes(1));

        Assert.True(gateway.AcceptedFrom("pod-1") == sentBeforeFreeze, $"pod-1 sent {gateway.AcceptedFrom("pod-1") - sentBeforeFreeze} messages after it continued, pod-2 having sent them:{Environment.NewLine}{pod1.Output}");
        var lost = gateway.NotAccepted(numbers);
        Assert.True(lost.Count == 0, $"{lost.Count} messages never reached the gateway: {string.Join(", ", lost.Take(10))}");
        // Repeats: only what pod-1 sent before the freeze without its ack reaching Redis (the two answers it waited on, and
        // acks not yet written).
        Assert.InRange(gateway.Repeats, 0, sentBeforeFreeze);

        Dictionary<string, string> Pod(string name, int workers) =>
            SenderPods.FastRecovery(name, redis.Configuration, queueName, workers, gateway, deadConnectionTimeout: "00:01:00");
    }
}
