using Cortex.Sender.Gateways;
using Cortex.Sender.Pipeline;
using Cortex.Sender.RateLimiting;
using Cortex.Testing;
using Microsoft.Extensions.Options;
using static Cortex.Sender.Tests.RateLimiting.RedisTokenBucketRateLimiterTests;

namespace Cortex.Sender.Tests.RateLimiting;

/// <summary>The pod's rate limit as the engine uses it: optional limits, and a throttled answer that holds this pod and every other.</summary>
public sealed class SenderRateLimiterTests(RedisFixture redis) : IClassFixture<RedisFixture>
{
    private readonly FakeTimeProvider _clock = new();
    private readonly string _gateway = RedisFixture.UniqueQueueName();

    [Fact]
    public void AcquireAsync_BothLimitsOff_CompletesAtOnce()
    {
        using var limiter = Create(new RateLimitOptions { PodPermitsPerSecond = 0, GlobalPermitsPerSecond = 0 }, new SendGate(_clock), _clock);

        var acquire = limiter.AcquireAsync(CancellationToken.None);

        Assert.False(limiter.IsEnabled);
        Assert.True(acquire.IsCompletedSuccessfully);
    }

    [Theory]
    [InlineData(80, 0)]
    [InlineData(0, 80)]
    [InlineData(80, 80)]
    public void IsEnabled_EitherLimitOn_IsTrue(double pod, double global)
    {
        using var limiter = Create(new RateLimitOptions { PodPermitsPerSecond = pod, GlobalPermitsPerSecond = global }, new SendGate(_clock), _clock);

        Assert.True(limiter.IsEnabled);
    }

    [Fact]
    public async Task OnThrottledAsync_RetryAfter_PausesThisPodsGateAndEveryPodOfTheGateway()
    {
        var options = new RateLimitOptions { GlobalPermitsPerSecond = 80 };
        var gate = new SendGate(_clock);
        using var throttled = Create(options, gate, _clock);
        var otherView = new ClockView(_clock);
        var otherGate = new SendGate(otherView);
        using var other = Create(options, otherGate, otherView);
        var start = _clock.GetUtcNow();

        await throttled.OnThrottledAsync(TimeSpan.FromSeconds(3));

        Assert.Equal(start + TimeSpan.FromSeconds(3), gate.Pause.Until);
        Assert.NotNull(gate.Pause.Reason);

        // The other pod's gate knows nothing, but its next permit waits in Redis until the pause is over.
        Assert.True(otherGate.Pause.Until <= start);
        var acquire = other.AcquireAsync(CancellationToken.None).AsTask();
        Assert.Equal(start + TimeSpan.FromSeconds(3), await AssertWaitingAsync(acquire, otherView));

        _clock.Advance(TimeSpan.FromSeconds(3));

        await acquire.WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Theory]
    [InlineData(null)]
    [InlineData(0)]
    [InlineData(-1)]
    public async Task OnThrottledAsync_NoUsableRetryAfter_PausesForThrottlePause(int? retryAfterSeconds)
    {
        var options = new RateLimitOptions { GlobalPermitsPerSecond = 80, ThrottlePause = TimeSpan.FromSeconds(7) };
        var gate = new SendGate(_clock);
        var view = new ClockView(_clock);
        using var limiter = Create(options, gate, view);
        var start = _clock.GetUtcNow();

        await limiter.OnThrottledAsync(retryAfterSeconds is { } s ? TimeSpan.FromSeconds(s) : null);

        Assert.Equal(start + TimeSpan.FromSeconds(7), gate.Pause.Until);
        var acquire = limiter.AcquireAsync(CancellationToken.None).AsTask();
        Assert.Equal(start + TimeSpan.FromSeconds(7), await AssertWaitingAsync(acquire, view));
        _clock.Advance(TimeSpan.FromSeconds(7));
        await acquire.WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task OnThrottledAsync_OnlyAPodLimit_PausesTheGateAndWritesNothingToRedis()
    {
        var gate = new SendGate(_clock);
        using var limiter = Create(new RateLimitOptions { PodPermitsPerSecond = 80 }, gate, _clock);
        var start = _clock.GetUtcNow();

        await limiter.OnThrottledAsync(TimeSpan.FromSeconds(2));

        Assert.Equal(start + TimeSpan.FromSeconds(2), gate.Pause.Until);
        Assert.False(await redis.Connection.GetDatabase().KeyExistsAsync(RedisTokenBucketRateLimiter.KeyFor(_gateway)));
    }

    [Fact]
    public async Task AcquireAsync_PodAndGlobalLimits_WaitsForThePausedGlobalBucketThoughThePodHasTokens()
    {
        var options = new RateLimitOptions { PodPermitsPerSecond = 1_000, PodBurst = 100, GlobalPermitsPerSecond = 80 };
        var view = new ClockView(_clock);
        using var limiter = Create(options, new SendGate(view), view);
        using var otherPod = Create(options, new SendGate(_clock), _clock);
        var start = _clock.GetUtcNow();

        await otherPod.OnThrottledAsync(TimeSpan.FromSeconds(1));

        var acquire = limiter.AcquireAsync(CancellationToken.None).AsTask();
        Assert.Equal(start + TimeSpan.FromSeconds(1), await AssertWaitingAsync(acquire, view));
        _clock.Advance(TimeSpan.FromSeconds(1));

        // The first permit after the shared pause is every pod's probe, through the pod's bucket too; once it is
        // accepted the next permit is an ordinary one.
        var probe = await acquire.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.NotNull(probe);
        await limiter.ProbeDoneAsync(probe, throttleOver: true);
        _clock.Advance(TimeSpan.FromMilliseconds(13));
        Assert.Null(await limiter.AcquireAsync(CancellationToken.None).AsTask().WaitAsync(TimeSpan.FromSeconds(10)));
    }

    private SenderRateLimiter Create(RateLimitOptions options, SendGate gate, TimeProvider time) =>
        new(Options.Create(options), Options.Create(new GatewayOptions { Name = _gateway }), redis.Connection, gate, time, Microsoft.Extensions.Logging.Abstractions.NullLogger<SenderRateLimiter>.Instance);
}
