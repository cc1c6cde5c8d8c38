using System.Globalization;
using System.Text.RegularExpressions;
using Cortex.Shared.Queue;
using Cortex.Testing;

namespace Cortex.Sender.Tests.Pipeline;

/// <summary>
/// What Kubernetes autoscaling relies on, with real Cortex.Sender processes sharing one Redis queue and one HTTP gateway:
/// a process added mid-run takes a share of the work, and one stopped by SIGTERM mid-run (scale-in) finishes its sends
/// and returns the rest, so every message reaches the gateway exactly once.
/// </summary>
public class ScaleOutTests(RedisFixture redis) : IClassFixture<RedisFixture>
{
    private const int Messages = 3_000;
    private const int Workers = 4;

    [Fact]
    public async Task ScaleOut_ProcessAddedAndOneStoppedBySigtermMidRun_EveryMessageAcceptedExactlyOnce()
    {
        var queueName = RedisFixture.UniqueQueueName();
        var queue = new RedisMessageQueue(redis.Connection, Microsoft.Extensions.Options.Options.Create(new QueueOptions { Name = queueName }), TimeProvider.System);
        var numbers = await SenderPods.EnqueueRemindersAsync(queue, "scale:", Messages);

        // The gateway holds its answers after a third of the backlog: work is still queued when the third process
        // starts, and the SIGTERM lands while the first process has sends in flight and unstarted messages buffered.
        await using var gateway = await CountingGateway.StartAsync(holdAfter: Messages / 3);
        var gatewayName = "g" + Guid.NewGuid().ToString("N")[..10];
        await using var pod1 = ServiceProcess.Start("Cortex.Sender.dll", Pod("pod-1"));
        await using var pod2 = ServiceProcess.Start("Cortex.Sender.dll", Pod("pod-2"));
        ServiceProcess? pod3 = null;
        await WaitAsync(
            () => Task.FromResult(gateway.Accepted > Messages / 3 && gateway.AcceptedFrom("pod-1") > 0 && gateway.AcceptedFrom("pod-2") > 0),
            "both first processes sending, and the gateway holding");

        await using (pod3 = ServiceProcess.Start("Cortex.Sender.dll", Pod("pod-3")))
        {
            await WaitAsync(() => Task.FromResult(gateway.AcceptedFrom("pod-3") > 0), "the added process sending");

            // pod-1 holds more leases than it has workers: some of its messages were leased but not started.
            var database = redis.Connection.GetDatabase();
            await WaitAsync(async () => await database.HashLengthAsync(queue.Keys.Leases("pod-1")) > Workers, "pod-1 buffering unstarted messages");
            await pod1.TerminateAsync();
            await WaitAsync(() => Task.FromResult(pod1.Wrote("SenderEngine[1001]")), "pod-1 stopping on SIGTERM");
            gateway.Release();
            await WaitAsync(() => Task.FromResult(pod1.HasExited), "pod-1 exiting after its in-flight sends");
            await WaitAsync(async () => await queue.GetStatsAsync() is { Pending: 0 }, "the backlog drained");
        }

        var stats = await queue.GetStatsAsync();
        var lost = gateway.NotAccepted(numbers);
        var duplicated = gateway.AcceptedByNumber.Where(kv => kv.Value > 1).Select(kv => kv.Key).ToList();
        var log = string.Join(Environment.NewLine, pod1.Lines);
        var stopped = Regex.Match(log, @"stopped: (\d+) unsent messages returned to ready, (\d+) sends cancelled");
        Assert.True(pod1.ExitCode == 0 && stopped.Success, $"pod-1 exited with {pod1.ExitCode} after SIGTERM:{Environment.NewLine}{log}");
        Assert.True(int.Parse(stopped.Groups[1].Value, CultureInfo.InvariantCulture) > 0, "pod-1 returned its unstarted messages: " + stopped.Value);
        Assert.True(stopped.Groups[2].Value == "0", "pod-1 finished its in-flight sends instead of cancelling them: " + stopped.Value);
        Assert.True(lost.Count == 0, $"{lost.Count} messages never reached the gateway: {string.Join(", ", lost.Take(10))}");
        Assert.True(duplicated.Count == 0, $"{duplicated.Count} messages reached the gateway twice: {string.Join(", ", duplicated.Take(10))}");
        Assert.Equal(Messages, gateway.Accepted);
        Assert.Equal(0, stats.Dead);
        Assert.True(gateway.AcceptedFrom("pod-1") > 0 && gateway.AcceptedFrom("pod-2") > 0 && gateway.AcceptedFrom("pod-3") > 0,
            $"every process sent: pod-1 {gateway.AcceptedFrom("pod-1")}, pod-2 {gateway.AcceptedFrom("pod-2")}, pod-3 {gateway.AcceptedFrom("pod-3")}");

        async Task WaitAsync(Func<Task<bool>> condition, string what)
        {
            try
            {
                await SenderTestHost.WaitForAsync(condition, what);
            }
            catch (TimeoutException ex)
            {
                // Say where it stuck: the gateway's view and each process's log, so a CI failure reads without a rerun.
                var logs = new[] { ("pod-1", pod1), ("pod-2", pod2), ("pod-3", pod3) }
                    .Select(p => $"--- {p.Item1} ---{Environment.NewLine}{string.Join(Environment.NewLine, p.Item2?.Lines.TakeLast(20) ?? [])}");
                throw new TimeoutException(
                    $"{ex.Message}; gateway took {gateway.Accepted} (pod-1 {gateway.AcceptedFrom("pod-1")}, pod-2 {gateway.AcceptedFrom("pod-2")}, pod-3 {gateway.AcceptedFrom("pod-3")}); queue {await queue.GetStatsAsync()}{Environment.NewLine}{string.Join(Environment.NewLine, logs)}",
                    ex);
            }
        }

        Dictionary<string, string> Pod(string name)
        {
            var environment = SenderPods.Environment(name, redis.Server.Configuration, queueName, Workers, gatewayName, gateway.BaseUrl);

            // A held answer must not time out: a timed-out send is retried minutes later, which is not what is tested here.
            environment["Cortex__Gateway__Timeout"] = "00:02:00";
            return environment;
        }
    }
}
