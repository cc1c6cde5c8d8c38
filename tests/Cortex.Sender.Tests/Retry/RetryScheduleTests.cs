using Cortex.Sender.Retry;
using Microsoft.Extensions.Options;

namespace Cortex.Sender.Tests.Retry;

public class RetryScheduleTests
{
    [Fact]
    public void NextDelay_DefaultsWithoutJitter_Are5Min25Min2HThenDeadLetter()
    {
        var schedule = new RetrySchedule(Options.Create(new RetryOptions { Jitter = 0 }));

        Assert.Equal(4, schedule.MaxAttempts);
        Assert.Equal(TimeSpan.FromMinutes(5), schedule.NextDelay(1));
        Assert.Equal(TimeSpan.FromMinutes(25), schedule.NextDelay(2));
        Assert.Equal(TimeSpan.FromHours(2), schedule.NextDelay(3));
        Assert.Null(schedule.NextDelay(4));
    }

    [Fact]
    public void NextDelay_DefaultsWithAMidRandom_AreUnjittered()
    {
        // A random of 0.5 is the middle of the jitter band: no change.
        var schedule = new RetrySchedule(Options.Create(new RetryOptions()), () => 0.5);

        Assert.Equal(
            [TimeSpan.FromMinutes(5), TimeSpan.FromMinutes(25), TimeSpan.FromHours(2), null],
            Enumerable.Range(1, 4).Select(schedule.NextDelay));
    }

    [Fact]
    public void NextDelay_AfterTheLastAttempt_IsNullHoweverManyFailures()
    {
        var schedule = new RetrySchedule(Options.Create(new RetryOptions()), () => 0.5);

        Assert.Null(schedule.NextDelay(4));
        Assert.Null(schedule.NextDelay(5));
        Assert.Null(schedule.NextDelay(100));
    }

    [Fact]
    public void NextDelay_RandomZero_IsTheLowerJitterBound()
    {
        var schedule = new RetrySchedule(Options.Create(new RetryOptions()), () => 0);

        Assert.Equal(TimeSpan.FromMinutes(4), schedule.NextDelay(1));
        Assert.Equal(TimeSpan.FromMinutes(20), schedule.NextDelay(2));
    }

    [Fact]
    public void NextDelay_RandomJustBelowOne_ApproachesTheUpperJitterBound()
    {
        var schedule = new RetrySchedule(Options.Create(new RetryOptions()), () => Math.BitDecrement(1.0));

        Assert.InRange(schedule.NextDelay(1)!.Value, TimeSpan.FromMinutes(6) - TimeSpan.FromMilliseconds(1), TimeSpan.FromMinutes(6));
        Assert.InRange(schedule.NextDelay(2)!.Value, TimeSpan.FromMinutes(30) - TimeSpan.FromMilliseconds(1), TimeSpan.FromMinutes(30));
    }

    [Fact]
    public void NextDelay_SharedRandom_StaysWithinTheJitterBandAndSpreadsRetries()
    {
        var schedule = new RetrySchedule(Options.Create(new RetryOptions()));

        var delays = Enumerable.Range(0, 1_000).Select(_ => schedule.NextDelay(2)!.Value).ToList();

        Assert.All(delays, d => Assert.InRange(d, TimeSpan.FromMinutes(20), TimeSpan.FromMinutes(30)));

        // Retries of one failed batch must not all come back in the same instant.
        Assert.True(delays.Distinct().Count() > 100, $"only {delays.Distinct().Count()} distinct delays");
    }

    [Fact]
    public void NextDelay_CustomBaseFactorAndMax_GrowsThenCaps()
    {
        var schedule = new RetrySchedule(
            Options.Create(new RetryOptions
            {
                BaseDelay = TimeSpan.FromSeconds(1),
                Factor = 2,
                MaxDelay = TimeSpan.FromSeconds(10),
                MaxAttempts = 8,
                Jitter = 0,
            }),
            () => 0.5);

        Assert.Equal(
            [1, 2, 4, 8, 10, 10, 10],
            Enumerable.Range(1, 7).Select(n => schedule.NextDelay(n)!.Value.TotalSeconds));
        Assert.Null(schedule.NextDelay(8));
    }

    [Fact]
    public void NextDelay_FactorOne_KeepsTheBaseDelay()
    {
        var schedule = new RetrySchedule(
            Options.Create(new RetryOptions { BaseDelay = TimeSpan.FromSeconds(30), Factor = 1, MaxAttempts = 5, Jitter = 0 }));

        Assert.All(Enumerable.Range(1, 4), n => Assert.Equal(TimeSpan.FromSeconds(30), schedule.NextDelay(n)));
    }

    [Fact]
    public void NextDelay_MaxAttemptsOne_NeverRetries()
    {
        var schedule = new RetrySchedule(Options.Create(new RetryOptions { MaxAttempts = 1 }), () => 0.5);

        Assert.Equal(1, schedule.MaxAttempts);
        Assert.Null(schedule.NextDelay(1));
    }

    [Fact]
    public void NextDelay_LargeJitterAtTheCap_StaysPositive()
    {
        // The validator allows up to 0.9: the shortest delay is still 10% of the nominal one, never zero or negative.
        var schedule = new RetrySchedule(Options.Create(new RetryOptions { Jitter = 0.9 }), () => 0);

        Assert.InRange(schedule.NextDelay(1)!.Value, TimeSpan.FromSeconds(30) - TimeSpan.FromMilliseconds(1), TimeSpan.FromSeconds(30));
        Assert.InRange(schedule.NextDelay(3)!.Value, TimeSpan.FromMinutes(12) - TimeSpan.FromMilliseconds(1), TimeSpan.FromMinutes(12));
    }
}
