using Cortex.Sender.Gateways;
using Cortex.Shared.Queue;
using Cortex.Shared.Redis;
using Cortex.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace Cortex.Sender.Tests.Pipeline;

/// <summary>
/// Pods on nodes whose clocks disagree (NTP broken on one): each judges the others' heartbeats, and one whose clock ran
/// behind looked dead to the rest, or one whose clock ran ahead found the rest dead. Either way leases were taken from a
/// pod while it sent them, each taking counted a delivery towards the poison limit, and a send in flight reached its
/// customer twice. The sender dates by Redis's clock (<see cref="RedisClock"/>), so the pods' own clocks do not matter.
/// </summary>
public sealed class ClockSkewTests(RedisFixture redis) : IClassFixture<RedisFixture>
{
    [Theory]
    [InlineData(-20, 0)] // the pod holding leases runs 20 s behind
    [InlineData(0, 20)] // the pod sweeping for dead consumers runs 20 s ahead
    public async Task Send_PodClocksTwentySecondsApart_NoPodTakesAnothersLeasesAndEachMessageIsSentOnce(int holderSkewSeconds, int sweeperSkewSeconds)
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var holderGateway = new ScriptedGateway(async (_, _, ct) =>
        {
            await release.Task.WaitAsync(ct);
            return GatewayResult.Accepted("ok");
        });
        await using var holder = SenderTestHost.Create(redis, holderGateway, time: NodeClock(holderSkewSeconds));
        await holder.StartAsync();
        for (var i = 0; i < 4; i++)
        {
            await holder.Client.EnqueueAsync(SenderTestHost.Message("m" + i));
        }

        await SenderTestHost.WaitForAsync(() => Task.FromResult(holderGateway.TotalCalls == 4), "the four messages in flight on the holder");

        // A second pod on the same queue, with nothing to send: all it does is sweep for dead consumers, every 50 ms.
        var sweeperGateway = new ScriptedGateway(_ => GatewayResult.Accepted("ok"));
        await using var sweeper = SenderTestHost.Create(
            redis,
            sweeperGateway,
            new Dictionary<string, string?> { ["Cortex:Queue:Name"] = holder.Queue.Keys.Name },
            decorateQueue: inner => new SweepCounter(inner, 20),
            time: NodeClock(sweeperSkewSeconds));
        await sweeper.StartAsync();
        await ((SweepCounter)sweeper.Queue).Done.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(0, sweeper.Counter("cortex.queue.leases_recovered"));
        Assert.Equal(0, holder.Counter("cortex.queue.leases_recovered"));
        Assert.Equal(4, (await holder.Queue.GetStatsAsync()).Leased);

        release.SetResult();
        await holder.WaitUntilDrainedAsync();
        Assert.All(Enumerable.Range(0, 4), i => Assert.Equal(1, holderGateway.AcceptedFor("m" + i)));
        Assert.Equal(0, sweeperGateway.TotalCalls);
    }

    [Fact]
    public async Task Start_Default_DatesByRedisClock()
    {
        await using var host = SenderTestHost.Create(redis);
        var clock = Assert.IsType<RedisClock>(host.Host.Services.GetRequiredService<TimeProvider>());

        await host.StartAsync();
        await SenderTestHost.WaitForAsync(async () => (await host.Queue.GetStatsAsync()).Consumers == 1, "the first heartbeat");

        Assert.NotNull(clock.Offset);
    }

    // The sender's clock as production builds it, over a node clock off by the given seconds.
    private RedisClock NodeClock(int skewSeconds) =>
        new(redis.Connection, new ShiftedClock(TimeSpan.FromSeconds(skewSeconds)), NullLogger<RedisClock>.Instance);

    /// <summary>The real queue, signalling once the sender has swept for dead consumers <c>count</c> times.</summary>
    private sealed class SweepCounter(IMessageQueue inner, int count) : DelegatingMessageQueue(inner)
    {
        private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _sweeps;

        public Task Done => _done.Task;

        public override async Task<RecoveryResult> RecoverAsync()
        {
            var result = await base.RecoverAsync();
            if (Interlocked.Increment(ref _sweeps) == count)
            {
                _done.TrySetResult();
            }

            return result;
        }
    }
}
