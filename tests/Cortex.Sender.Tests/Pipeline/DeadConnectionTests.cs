using System.Diagnostics;
using Cortex.LoadTests;
using Cortex.Shared.Hosting;
using Cortex.Shared.Queue;
using Cortex.Testing;
using Microsoft.Extensions.Options;

namespace Cortex.Sender.Tests.Pipeline;

/// <summary>
/// A sender whose Redis connection goes silent for good while Redis itself answers new connections, as when the Redis
/// host is lost without a reset and Redis comes back elsewhere under the same address. StackExchange.Redis 1.2.6 would
/// wait for the kernel to give up on the socket (about 15 minutes; through this proxy, never); the sender stops with exit
/// code 75 for Kubernetes to restart it, and its leases come back to the other pods.
/// </summary>
public sealed class DeadConnectionTests
{
    private const int Messages = 400;
    private const int Workers = 4;

    // With a global rate limit (100/s: one Redis call per permit), workers also wait on the limiter's call when the
    // connection goes silent; the stop waited for it until the host's own limit cut the process short. Throttled: the
    // held answers are 429s, so the workers also write the shared pause and end their probes on the dead connection.
    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public async Task Send_ConnectionSilentWhileRedisAnswersANewOne_SenderExits75AndAnotherPodSendsWhatItHeld(bool globalLimit, bool throttled)
    {
        await using var redis = await RedisServer.StartAsync();
        await using var proxy = new LoopbackProxy(redis.Port);
        using var connection = await redis.ConnectAsync();
        var queueName = RedisFixture.UniqueQueueName();
        var queue = new RedisMessageQueue(connection, Options.Create(new QueueOptions { Name = queueName }), TimeProvider.System);
        var numbers = await SenderPods.EnqueueRemindersAsync(queue, "dead:", Messages);

        // The gateway holds its answers after a tenth of the backlog: pod-1 has sends in flight and messages leased when
        // its connection goes silent.
        await using var gateway = await CountingGateway.StartAsync(holdAfter: Messages / 10, throttleHeld: throttled);
        // A stop budget far longer than the whole fault: a stop that waited on the dead connection for its acks would
        // exit only after it.
        var pod1Environment = Pod("pod-1", $"127.0.0.1:{proxy.Port},abortConnect=false,connectTimeout=2000");
        pod1Environment["Cortex__Sender__ShutdownTimeout"] = "00:01:00";
        if (globalLimit)
        {
            pod1Environment["Cortex__RateLimit__GlobalPermitsPerSecond"] = "100";
        }

        await using var pod1 = ServiceProcess.Start("Cortex.Sender.dll", pod1Environment);
        await SenderTestHost.WaitForAsync(() => Task.FromResult(gateway.Accepted >= Messages / 10), "pod-1 sending", timeoutSeconds: 60);
        var database = connection.GetDatabase();
        await SenderTestHost.WaitForAsync(async () => await database.HashLengthAsync(queue.Keys.Leases("pod-1")) > 0, "pod-1 holding leases");
        if (throttled)
        {
            // Every worker's call is held, to be answered 429 after the silence, rather than waiting for its permit.
            await SenderTestHost.WaitForAsync(() => Task.FromResult(gateway.Held >= Workers), "every worker of pod-1 calling the gateway");
        }


        var silencedAt = Stopwatch.GetTimestamp();
        proxy.SilenceOpenConnections();
        gateway.Release();
        var exitCode = await pod1.WaitForExitAsync(TimeSpan.FromMinutes(2));
        var exitAfter = Stopwatch.GetElapsedTime(silencedAt);

        Assert.True(exitCode == CortexHost.RedisConnectionDeadExitCode, $"pod-1 exited with {exitCode}:{Environment.NewLine}{pod1.Output}");
        Assert.True(pod1.Wrote("[3301]"), "pod-1 said why it stopped:" + Environment.NewLine + pod1.Output);
        Assert.True(!throttled || pod1.Wrote("SenderEngine[1008]"), "pod-1 was throttled:" + Environment.NewLine + pod1.Output);

        // Its stop ran to its end (rather than waiting on the connection until the host's own shutdown limit cut the
        // process short), and gave up on the dead connection at once instead of waiting out its minute for the acks.
        Assert.True(pod1.Wrote("SenderEngine[1002]"), "pod-1's stop finished:" + Environment.NewLine + pod1.Output);
        Assert.True(pod1.Wrote("SenderEngine[1020]"), "pod-1 said its stop wrote nothing more to Redis:" + Environment.NewLine + pod1.Output);
        Assert.True(exitAfter < TimeSpan.FromSeconds(30), $"pod-1 exited {exitAfter.TotalSeconds:N1} s after the silence: its stop waited on the dead connection");

        // Another pod, with a connection of its own, takes pod-1 for dead and sends what it held.
        await using var pod2 = ServiceProcess.Start("Cortex.Sender.dll", Pod("pod-2", redis.Configuration));
        await SenderTestHost.WaitForAsync(async () => await queue.GetStatsAsync() is { Pending: 0 }, "the backlog drained", timeoutSeconds: 60);
        await pod2.StopAsync(TimeSpan.FromMinutes(1));

        var lost = gateway.NotAccepted(numbers);
        var repeated = gateway.Repeats;
        Assert.True(lost.Count == 0, $"{lost.Count} messages never reached the gateway: {string.Join(", ", lost.Take(10))}");

        // At least once: only sends pod-1 made and could not ack may repeat.
        Assert.InRange(repeated, 0, gateway.AcceptedFrom("pod-1"));
        Assert.Equal(0, (await queue.GetStatsAsync()).Dead);

        Dictionary<string, string> Pod(string name, string redisConfiguration) =>
            SenderPods.FastRecovery(name, redisConfiguration, queueName, Workers, gateway, deadConnectionTimeout: "00:00:02");
    }

    [Fact]
    public async Task Send_ConnectionSilentAtAProvidersPace_SendsAreHeldSoFewRepeat()
    {
        // An Evolution instance paced at a few messages a second (2 workers, answers after 500 ms): the buffered messages
        // would take the watchdog's whole 10 s to send, and every one sent after the silence is sent again by the pod that
        // recovers the leases. The sender holds its sends once Redis has left an ack or a heartbeat unanswered for a
        // heartbeat interval (1 s here).
        await using var redis = await RedisServer.StartAsync();
        await using var proxy = new LoopbackProxy(redis.Port);
        using var connection = await redis.ConnectAsync();
        var queueName = RedisFixture.UniqueQueueName();
        var queue = new RedisMessageQueue(connection, Options.Create(new QueueOptions { Name = queueName }), TimeProvider.System);
        var numbers = await SenderPods.EnqueueRemindersAsync(queue, "paced:", 80);
        await using var gateway = await CountingGateway.StartAsync(delay: TimeSpan.FromMilliseconds(500));
        await using var pod1 = ServiceProcess.Start("Cortex.Sender.dll", Pod("pod-1", $"127.0.0.1:{proxy.Port},abortConnect=false,connectTimeout=2000"));
        var database = connection.GetDatabase();
        await SenderTestHost.WaitForAsync(async () => gateway.Accepted >= 6 && await database.HashLengthAsync(queue.Keys.Leases("pod-1")) >= 16, "pod-1 sending with a buffer", timeoutSeconds: 60);

        proxy.SilenceOpenConnections();
        var sentBefore = gateway.AcceptedFrom("pod-1");
        Assert.Equal(CortexHost.RedisConnectionDeadExitCode, await pod1.WaitForExitAsync(TimeSpan.FromMinutes(2)));
        var sentAfter = gateway.AcceptedFrom("pod-1") - sentBefore;

        // Held about a second and a half after the silence, at 4 messages a second, with 2 in flight: a handful. Without
        // the hold, pod-1 sent its whole buffer (16 to 32 messages) before the watchdog stopped it.
        Assert.True(pod1.Wrote("SenderEngine[1021]"), "pod-1 said it held its sends:" + Environment.NewLine + pod1.Output);
        Assert.InRange(sentAfter, 0, 12);

        await using var pod2 = ServiceProcess.Start("Cortex.Sender.dll", Pod("pod-2", redis.Configuration));
        await SenderTestHost.WaitForAsync(async () => await queue.GetStatsAsync() is { Pending: 0 }, "the backlog drained", timeoutSeconds: 60);
        await pod2.StopAsync(TimeSpan.FromMinutes(1));

        var lost = gateway.NotAccepted(numbers);
        Assert.True(lost.Count == 0, $"{lost.Count} messages never reached the gateway: {string.Join(", ", lost.Take(10))}");
        // Repeats: what pod-1 sent after the silence, and the few it had sent just before it whose acks the dead
        // connection swallowed (its 2 sends in flight, the ack write then on its way).
        Assert.InRange(gateway.Repeats, 0, sentAfter + 8);

        Dictionary<string, string> Pod(string name, string redisConfiguration) =>
            SenderPods.FastRecovery(name, redisConfiguration, queueName, 2, gateway, deadConnectionTimeout: "00:00:10");
    }
}
