using System.Globalization;
using System.Threading.Channels;
using System.Threading.RateLimiting;
using Cortex.Sender.RateLimiting;
using Cortex.Testing;

namespace Cortex.Sender.Tests.RateLimiting;

/// <summary>
/// The global bucket on a real redis-server, its "now" taken from a fake clock: each limiter instance plays one pod,
/// and every test has its own gateway name, so its own Redis hash.
/// </summary>
public sealed class RedisTokenBucketRateLimiterTests(RedisFixture redis) : IClassFixture<RedisFixture>
{
    private static readonly TimeSpan s_probeLease = TimeSpan.FromSeconds(10);
    private readonly FakeTimeProvider _clock = new();
    private readonly string _gateway = RedisFixture.UniqueQueueName();

    [Fact]
    public async Task AcquireAsync_GreedyFor10SimulatedSecondsAt80PerSecond_GrantsTheRatePlusTheBurst()
    {
        using var limiter = Pod(_gateway, 80, 10, out var view);

        var granted = await GreedyAsync(TimeSpan.FromSeconds(10), (limiter, view));

        Assert.InRange(granted[0], (80 * 10) + 10 - 1, (80 * 10) + 10 + 1);
    }

    [Fact]
    public async Task AcquireAsync_TwoPodsOfOneGateway_ShareOneBudget()
    {
        using var a = Pod(_gateway, 80, 10, out var viewA);
        using var b = Pod(_gateway, 80, 10, out var viewB);

        var granted = await GreedyAsync(TimeSpan.FromSeconds(10), (a, viewA), (b, viewB));

        // Together they get what one pod alone would: the provider sees 80/s, not 160/s.
        Assert.InRange(granted[0] + granted[1], (80 * 10) + 10 - 1, (80 * 10) + 10 + 1);
        Assert.True(granted[0] > 0 && granted[1] > 0, $"both pods should have sent: {granted[0]} and {granted[1]}");
    }

    [Fact]
    public async Task AcquireAsync_PodsOfDifferentGateways_EachHaveTheirOwnBudget()
    {
        using var a = Pod(_gateway, 80, 10, out var viewA);
        using var b = Pod(RedisFixture.UniqueQueueName(), 80, 10, out var viewB);

        var granted = await GreedyAsync(TimeSpan.FromSeconds(10), (a, viewA), (b, viewB));

        Assert.InRange(granted[0], (80 * 10) + 10 - 1, (80 * 10) + 10 + 1);
        Assert.InRange(granted[1], (80 * 10) + 10 - 1, (80 * 10) + 10 + 1);
    }

    [Fact]
    public async Task AcquireAsync_EmptyBucket_WaitsUntilTheClockBringsAToken()
    {
        using var limiter = Pod(_gateway, 80, 10, out var view);
        await DrainAsync(limiter, view, 10);
        var start = _clock.GetUtcNow();

        var acquire = limiter.AcquireAsync(1).AsTask();

        // One token every 12.5 ms; Redis answers in whole milliseconds.
        var wakeAt = await AssertWaitingAsync(acquire, view);
        Assert.InRange(wakeAt - start, TimeSpan.FromMilliseconds(12.5), TimeSpan.FromMilliseconds(13));
        _clock.Advance(wakeAt - start - TimeSpan.FromMilliseconds(1));
        Assert.False(acquire.IsCompleted);

        _clock.Advance(TimeSpan.FromMilliseconds(1));

        using var lease = await acquire.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(lease.IsAcquired);
    }

    [Fact]
    public async Task AcquireAsync_CancelledWhileWaiting_ThrowsAndLeavesTheTokenForTheNextCaller()
    {
        using var limiter = Pod(_gateway, 80, 10, out var view);
        await DrainAsync(limiter, view, 10);
        using var cts = new CancellationTokenSource();

        var acquire = limiter.AcquireAsync(1, cts.Token).AsTask();
        var wakeAt = await AssertWaitingAsync(acquire, view);
        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => acquire.WaitAsync(TimeSpan.FromSeconds(10)));

        // The cancelled waiter neither took the token nor kept this pod's turn at Redis.
        _clock.Advance(wakeAt - _clock.GetUtcNow());
        using var next = await AssertAcquiredAtOnceAsync(limiter.AcquireAsync(1).AsTask(), view);
        Assert.True(next.IsAcquired);
    }

    [Fact]
    public async Task PauseAsync_FromOnePod_HoldsEveryPodOfTheGatewayUntilTheClockPassesIt()
    {
        using var a = Pod(_gateway, 80, 10, out var viewA);
        using var b = Pod(_gateway, 80, 10, out var viewB);
        using var other = Pod(RedisFixture.UniqueQueueName(), 80, 10, out var viewOther);
        var start = _clock.GetUtcNow();

        await a.PauseAsync(TimeSpan.FromSeconds(3));

        // The bucket is full, yet both pods wait for the pause; another gateway is not held.
        var acquireA = a.AcquireAsync(1).AsTask();
        var acquireB = b.AcquireAsync(1).AsTask();
        Assert.Equal(start + TimeSpan.FromSeconds(3), await AssertWaitingAsync(acquireA, viewA));
        Assert.Equal(start + TimeSpan.FromSeconds(3), await AssertWaitingAsync(acquireB, viewB));
        using var otherLease = await AssertAcquiredAtOnceAsync(other.AcquireAsync(1).AsTask(), viewOther);
        Assert.Null(ProbeToken(otherLease));

        _clock.Advance(TimeSpan.FromSeconds(3) - TimeSpan.FromMilliseconds(1));
        Assert.False(acquireA.IsCompleted);
        Assert.False(acquireB.IsCompleted);

        _clock.Advance(TimeSpan.FromMilliseconds(1));

        // One of them sends first: every pod's probe.
        var first = await Task.WhenAny(acquireA, acquireB).WaitAsync(TimeSpan.FromSeconds(10));
        using var probe = await first;
        Assert.True(probe.IsAcquired);
        Assert.NotNull(ProbeToken(probe));
    }

    [Fact]
    public async Task ProbeDoneAsync_ProbeAccepted_TheOtherPodWaitingForItGoesAtItsNextAsk()
    {
        using var a = Pod(_gateway, 80, 10, out var viewA);
        using var b = Pod(_gateway, 80, 10, out var viewB);
        await a.PauseAsync(TimeSpan.FromSeconds(3));
        _clock.Advance(TimeSpan.FromSeconds(3));
        using var probe = await AssertAcquiredAtOnceAsync(a.AcquireAsync(1).AsTask(), viewA);

        // Pod b waits for the probe's answer, asking Redis again within 100 ms; it is not granted meanwhile.
        var acquireB = b.AcquireAsync(1).AsTask();
        var askAgainAt = await AssertWaitingAsync(acquireB, viewB);
        Assert.InRange(askAgainAt - _clock.GetUtcNow(), TimeSpan.FromMilliseconds(1), TimeSpan.FromMilliseconds(100));
        _clock.Advance(askAgainAt - _clock.GetUtcNow());
        askAgainAt = await AssertWaitingAsync(acquireB, viewB);

        await a.ProbeDoneAsync(ProbeToken(probe)!, throttleOver: true);

        _clock.Advance(askAgainAt - _clock.GetUtcNow());
        using var lease = await acquireB.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(lease.IsAcquired);
        Assert.Null(ProbeToken(lease));
    }

    [Fact]
    public async Task ProbeDoneAsync_ProbeAccepted_TheBucketGoesOnAtTheRateWithoutTheBurstSavedDuringThePause()
    {
        using var limiter = Pod(_gateway, 80, 10, out var view);
        await limiter.PauseAsync(TimeSpan.FromSeconds(3));
        _clock.Advance(TimeSpan.FromSeconds(3));
        using (var probe = await AssertAcquiredAtOnceAsync(limiter.AcquireAsync(1).AsTask(), view))
        {
            await limiter.ProbeDoneAsync(ProbeToken(probe)!, throttleOver: true);
        }

        var granted = await GreedyAsync(TimeSpan.FromSeconds(1), (limiter, view));

        // The provider just throttled us: 80 in the next second, not the burst of 10 on top.
        Assert.InRange(granted[0], 80 - 1, 80 + 1);
    }

    [Fact]
    public async Task ProbeDoneAsync_ProbeThrottledAgain_TheNextPauseEndsWithAnotherSingleProbe()
    {
        using var a = Pod(_gateway, 80, 10, out var viewA);
        using var b = Pod(_gateway, 80, 10, out var viewB);
        await a.PauseAsync(TimeSpan.FromSeconds(1));
        _clock.Advance(TimeSpan.FromSeconds(1));
        using var probe = await AssertAcquiredAtOnceAsync(a.AcquireAsync(1).AsTask(), viewA);

        // The probe's answer is another 429: its pod pauses every pod again, then reports.
        await a.PauseAsync(TimeSpan.FromSeconds(2));
        await a.ProbeDoneAsync(ProbeToken(probe)!, throttleOver: false);

        var start = _clock.GetUtcNow();
        var acquireB = b.AcquireAsync(1).AsTask();
        Assert.Equal(start + TimeSpan.FromSeconds(2), await AssertWaitingAsync(acquireB, viewB));
        _clock.Advance(TimeSpan.FromSeconds(2));
        using var next = await acquireB.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.NotNull(ProbeToken(next));
        Assert.NotEqual(ProbeToken(probe), ProbeToken(next));
    }

    [Fact]
    public async Task AcquireAsync_ProbingPodDied_AnotherPodProbesOnceTheProbeLeaseRunsOut()
    {
        using var a = Pod(_gateway, 80, 10, out var viewA);
        using var b = Pod(_gateway, 80, 10, out var viewB);
        await a.PauseAsync(TimeSpan.FromSeconds(1));
        _clock.Advance(TimeSpan.FromSeconds(1));
        using var lost = await AssertAcquiredAtOnceAsync(a.AcquireAsync(1).AsTask(), viewA);
        var probedAt = _clock.GetUtcNow();

        // Pod a never reports. Pod b asks again every 100 ms until the lease (s_probeLease) runs out.
        var acquireB = b.AcquireAsync(1).AsTask();
        while (true)
        {
            var done = await Task.WhenAny(acquireB, viewB.TimerCreatedAsync()).WaitAsync(TimeSpan.FromSeconds(10));
            if (done == acquireB)
            {
                break;
            }

            _clock.Advance(viewB.TakeTimer() - _clock.GetUtcNow());
        }

        using var probe = await acquireB;
        Assert.NotNull(ProbeToken(probe));
        Assert.Equal(probedAt + s_probeLease, _clock.GetUtcNow());
    }

    [Fact]
    public async Task AcquireAsync_ReservedPermitsOlderThanTheirLifetime_LapseAndTheNextPermitComesFromRedis()
    {
        // 10,000/s: one round trip reserves 100 permits (1% of a second's budget).
        using var limiter = Pod(_gateway, 10_000, 1_000, out var view);
        var start = _clock.GetUtcNow();

        using (var first = await AssertAcquiredAtOnceAsync(limiter.AcquireAsync(1).AsTask(), view))
        {
            Assert.True(first.IsAcquired);
        }

        Assert.Equal(900, await BucketFieldAsync("tokens"));
        Assert.Equal(99, limiter.GetStatistics()!.CurrentAvailablePermits);

        // Within the lifetime the reservation serves without a round trip.
        using (var reserved = limiter.AttemptAcquire(1))
        {
            Assert.True(reserved.IsAcquired);
        }

        Assert.Equal(900, await BucketFieldAsync("tokens"));

        _clock.Advance(RedisTokenBucketRateLimiter.ReservationLifetime + TimeSpan.FromMilliseconds(1));

        // The 98 left over have lapsed: they can lower the rate but never raise it.
        using (var lapsed = limiter.AttemptAcquire(1))
        {
            Assert.False(lapsed.IsAcquired);
        }

        using (var next = await AssertAcquiredAtOnceAsync(limiter.AcquireAsync(1).AsTask(), view))
        {
            Assert.True(next.IsAcquired);
        }

        // The bucket was read at the new time (a fresh batch of 100 taken), and the old reservation was not reused.
        Assert.Equal((start + RedisTokenBucketRateLimiter.ReservationLifetime + TimeSpan.FromMilliseconds(1)).ToUnixTimeMilliseconds(), await BucketFieldAsync("ts"));
        Assert.Equal(99, limiter.GetStatistics()!.CurrentAvailablePermits);
        Assert.Equal(3, limiter.GetStatistics()!.TotalSuccessfulLeases);
    }

    /// <summary>
    /// Each pod takes permits as fast as it can; when every pod is waiting on the clock, the clock jumps to the earliest
    /// wake-up. Returns the permits each pod was granted within <paramref name="span"/>.
    /// </summary>
    private async Task<int[]> GreedyAsync(TimeSpan span, params (RateLimiter Limiter, ClockView View)[] pods)
    {
        var end = _clock.GetUtcNow() + span;
        using var cts = new CancellationTokenSource();
        var granted = new int[pods.Length];
        var acquires = pods.Select(p => p.Limiter.AcquireAsync(1, cts.Token).AsTask()).ToArray();
        var wakeAt = new DateTimeOffset?[pods.Length];
        while (true)
        {
            for (var i = 0; i < pods.Length; i++)
            {
                while (wakeAt[i] is null)
                {
                    var done = await Task.WhenAny(acquires[i], pods[i].View.TimerCreatedAsync()).WaitAsync(TimeSpan.FromSeconds(10));
                    if (done == acquires[i])
                    {
                        using var lease = await acquires[i];
                        Assert.True(lease.IsAcquired);
                        granted[i]++;
                        acquires[i] = pods[i].Limiter.AcquireAsync(1, cts.Token).AsTask();
                    }
                    else
                    {
                        wakeAt[i] = pods[i].View.TakeTimer();
                    }
                }
            }

            var next = wakeAt.Min()!.Value;
            if (next > end)
            {
                break;
            }

            for (var i = 0; i < pods.Length; i++)
            {
                if (wakeAt[i] <= next)
                {
                    wakeAt[i] = null;
                }
            }

            _clock.Advance(next - _clock.GetUtcNow());
        }

        await cts.CancelAsync();
        foreach (var acquire in acquires)
        {
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => acquire.WaitAsync(TimeSpan.FromSeconds(10)));
        }

        return granted;
    }

    private RedisTokenBucketRateLimiter Pod(string gateway, double permitsPerSecond, int burst, out ClockView view)
    {
        view = new ClockView(_clock);
        return new RedisTokenBucketRateLimiter(redis.Connection, gateway, permitsPerSecond, burst, view, s_probeLease);
    }

    internal static string? ProbeToken(RateLimitLease lease) =>
        lease.TryGetMetadata(RedisTokenBucketRateLimiter.ProbeMetadataName, out var token) ? (string?)token : null;

    private static async Task DrainAsync(RateLimiter limiter, ClockView view, int permits)
    {
        for (var i = 0; i < permits; i++)
        {
            using var lease = await AssertAcquiredAtOnceAsync(limiter.AcquireAsync(1).AsTask(), view);
            Assert.True(lease.IsAcquired);
        }
    }

    private async Task<double> BucketFieldAsync(string field) =>
        double.Parse((string)(await redis.Connection.GetDatabase().HashGetAsync(RedisTokenBucketRateLimiter.KeyFor(_gateway), field))!, CultureInfo.InvariantCulture);

    /// <summary>Asserts the acquisition completed without waiting on the clock.</summary>
    internal static async Task<RateLimitLease> AssertAcquiredAtOnceAsync(Task<RateLimitLease> acquire, ClockView view)
    {
        var done = await Task.WhenAny(acquire, view.TimerCreatedAsync()).WaitAsync(TimeSpan.FromSeconds(10));
        if (done != acquire)
        {
            Assert.Fail($"the acquisition waits for the clock until {view.TakeTimer():O}");
        }

        return await acquire;
    }

    /// <summary>Asserts the acquisition is waiting on the clock (not granted) and returns when it will look again.</summary>
    internal static async Task<DateTimeOffset> AssertWaitingAsync(Task acquire, ClockView view)
    {
        var done = await Task.WhenAny(acquire, view.TimerCreatedAsync()).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.False(done == acquire, "the acquisition completed although it should wait");
        return view.TakeTimer();
    }
}

/// <summary>
/// One pod's view of the shared <see cref="FakeTimeProvider"/> that reports each timer the pod creates, so a test knows
/// the pod is parked on a delay (and until when) instead of guessing with a sleep.
/// </summary>
internal sealed class ClockView(FakeTimeProvider clock) : TimeProvider
{
    private readonly Channel<DateTimeOffset> _timers = Channel.CreateUnbounded<DateTimeOffset>();

    public override DateTimeOffset GetUtcNow() => clock.GetUtcNow();

    public override long GetTimestamp() => clock.GetTimestamp();

    public override long TimestampFrequency => clock.TimestampFrequency;

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = clock.CreateTimer(callback, state, dueTime, period);
        _timers.Writer.TryWrite(clock.GetUtcNow() + dueTime);
        return timer;
    }

    /// <summary>Completes when a timer was created and not yet taken; does not consume it.</summary>
    public Task TimerCreatedAsync() => _timers.Reader.WaitToReadAsync().AsTask();

    /// <summary>The due time of the oldest timer not yet taken.</summary>
    public DateTimeOffset TakeTimer() => _timers.Reader.TryRead(out var due) ? due : throw new InvalidOperationException("no timer was created");
}
