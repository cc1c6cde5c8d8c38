using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Threading.RateLimiting;
using Cortex.Sender.RateLimiting;

namespace Cortex.Sender.Tests.RateLimiting;

/// <summary>
/// The pod's own token bucket as <see cref="SenderRateLimiter.PodBucket"/> shapes it, with AutoReplenishment off and
/// the replenishments driven by hand over simulated seconds: no timer, no sleep.
/// </summary>
public class PodRateLimiterTests
{
    // The product's accuracy target for a configured rate.
    private const double Tolerance = 0.02;

    [Theory]
    [InlineData(80, 10, 10)]
    [InlineData(1_000, 10, 10)]
    [InlineData(25_000, 10, 10)]
    [InlineData(7.5, 1, 100)]
    [InlineData(101, 5, 30)]
    [InlineData(333, 5, 30)]
    [InlineData(3, 1, 60)]
    [InlineData(100_000, 10, 2)]
    public void PodBucket_GreedyOverSimulatedSeconds_GrantsTheRateWithinTwoPercent(double rate, int burst, int seconds)
    {
        var options = SenderRateLimiter.PodBucket(rate, burst, autoReplenishment: false);
        using var limiter = new TokenBucketRateLimiter(options);
        TakeAll(limiter);

        var granted = Simulate(limiter, options, TimeSpan.FromSeconds(seconds));

        var expected = rate * seconds;
        Assert.InRange(granted, expected * (1 - Tolerance), expected * (1 + Tolerance));
    }

    [Theory]
    [InlineData(250_000_000)]
    [InlineData(1e9)]
    public void PodBucket_RateBeyondTheIntRangeOfTokensTimesAThousand_ReturnsTheRateWithinHalfAPercent(double rate)
    {
        // tokens × 1000 once overflowed int above about 214 million/s and the search never ended.
        var options = SenderRateLimiter.PodBucket(rate, burst: 1, autoReplenishment: false);

        var granted = options.TokensPerPeriod / options.ReplenishmentPeriod.TotalSeconds;
        Assert.InRange(granted, rate * 0.995, rate * 1.005);
    }

    [Theory]
    [InlineData(80, 10, 800)]
    [InlineData(0.5, 60, 30)]
    [InlineData(150, 10, 1_500)]
    [InlineData(1_000, 10, 10_000)]
    [InlineData(25_000, 10, 250_000)]
    public void PodBucket_RateWithAWholeMillisecondPeriod_IsExact(double rate, int seconds, int expected)
    {
        var options = SenderRateLimiter.PodBucket(rate, burst: 1, autoReplenishment: false);
        using var limiter = new TokenBucketRateLimiter(options);
        TakeAll(limiter);

        var granted = Simulate(limiter, options, TimeSpan.FromSeconds(seconds));

        Assert.Equal(expected, granted);
    }

    [Theory]
    [InlineData(7.5)]
    [InlineData(7.33)]
    [InlineData(80)]
    [InlineData(101)]
    [InlineData(150)]
    [InlineData(333)]
    [InlineData(1_000)]
    [InlineData(8_040.2)]
    [InlineData(25_000)]
    [InlineData(1_000_000)]
    public void PodBucket_AnyRate_TimerDrivenRateIsWithinHalfAPercent(double rate)
    {
        var options = SenderRateLimiter.PodBucket(rate, burst: 10, autoReplenishment: true);

        // In the pod the bucket is AutoReplenishment: a System.Threading.Timer adds TokensPerPeriod each time it fires, and
        // that timer counts whole milliseconds (a 12.5 ms period fires every 12 ms: 80/s would become 83/s). So the period
        // must be whole milliseconds, and at least 10 so the timer stays cheap at 25,000/s.
        Assert.True(options.ReplenishmentPeriod >= TimeSpan.FromMilliseconds(10), $"period {options.ReplenishmentPeriod}");
        var timerRate = options.TokensPerPeriod * 1000.0 / (long)options.ReplenishmentPeriod.TotalMilliseconds;
        Assert.InRange(timerRate, rate * 0.995, rate * 1.005);
    }

    [Theory]
    [InlineData(80, 10)]
    [InlineData(1_000, 10)]
    [InlineData(25_000, 10)]
    [InlineData(25_000, 5_000)]
    [InlineData(7.5, 3)]
    public void PodBucket_FreshBucket_HonoursTheBurst(double rate, int burst)
    {
        var options = SenderRateLimiter.PodBucket(rate, burst, autoReplenishment: false);
        using var limiter = new TokenBucketRateLimiter(options);

        var initial = TakeAll(limiter);

        Assert.True(options.TokenLimit >= burst, $"TokenLimit {options.TokenLimit} < burst {burst}");
        Assert.Equal(options.TokenLimit, initial);
        Assert.True(options.TokensPerPeriod <= options.TokenLimit);
    }

    [Fact]
    public void PodBucket_80PerSecond_Is2TokensEvery25Ms()
    {
        // The smoothest exact shape the timer can keep, and no burst above the configured one.
        var options = SenderRateLimiter.PodBucket(80, burst: 10, autoReplenishment: true);

        Assert.Equal(2, options.TokensPerPeriod);
        Assert.Equal(TimeSpan.FromMilliseconds(25), options.ReplenishmentPeriod);
        Assert.Equal(10, options.TokenLimit);
    }

    [Fact]
    public void PodBucket_AutoReplenishment_IsPassedThrough()
    {
        Assert.True(SenderRateLimiter.PodBucket(80, 10, autoReplenishment: true).AutoReplenishment);
        Assert.False(SenderRateLimiter.PodBucket(80, 10, autoReplenishment: false).AutoReplenishment);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    public void PodBucket_RateNotPositive_Throws(double rate) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => SenderRateLimiter.PodBucket(rate, 10, autoReplenishment: false));

    // Replenishes once per period of the simulated span and, after each, takes every permit there is.
    private static int Simulate(TokenBucketRateLimiter limiter, TokenBucketRateLimiterOptions options, TimeSpan span)
    {
        var start = LastReplenishmentTick(limiter);
        var periods = span.Ticks / options.ReplenishmentPeriod.Ticks;
        var granted = 0;
        for (var i = 1; i <= periods; i++)
        {
            ReplenishAt(limiter, start + ToStopwatchTicks(options.ReplenishmentPeriod * i));
            granted += TakeAll(limiter);
        }

        return granted;
    }

    private static int TakeAll(TokenBucketRateLimiter limiter)
    {
        var taken = 0;
        while (true)
        {
            using var lease = limiter.AttemptAcquire(1);
            if (!lease.IsAcquired)
            {
                return taken;
            }

            taken++;
        }
    }

    private static long ToStopwatchTicks(TimeSpan span) => (long)(span.Ticks * ((double)Stopwatch.Frequency / TimeSpan.TicksPerSecond));

    // TryReplenish() with AutoReplenishment off adds tokens for the Stopwatch time elapsed since the last call (it no
    // longer adds TokensPerPeriod per call), so calling it in a loop adds next to nothing. dotnet/runtime's own TokenBucketRateLimiterTests drive the private
    // ReplenishInternal(nowTicks) instead; so do we. A renamed member fails these tests loudly (MissingMethodException).
    [UnsafeAccessor(UnsafeAccessorKind.Method, Name = "ReplenishInternal")]
    private static extern void ReplenishAt(TokenBucketRateLimiter limiter, long nowTicks);

    [UnsafeAccessor(UnsafeAccessorKind.Field, Name = "_lastReplenishmentTick")]
    private static extern ref long LastReplenishmentTick(TokenBucketRateLimiter limiter);
}
