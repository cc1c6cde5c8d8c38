using Cortex.LoadTests.Reporting;

namespace Cortex.LoadTests.Tests.Reporting;

public sealed class SvgChartTests
{
    [Theory]
    [InlineData(0, 46_764)]
    [InlineData(0, 0.37)]
    [InlineData(0, 1)]
    [InlineData(0, 99.9)]
    [InlineData(0, 100)]
    [InlineData(0, 12_345_678)]
    [InlineData(-3, 7)]
    [InlineData(0, 0)]
    [InlineData(250, 250)]
    public void NiceTicks_DataRange_EvenRoundStepsCoveringMinAndMax(double min, double max)
    {
        var ticks = SvgChart.NiceTicks(min, max);

        Assert.True(ticks[0] <= min, $"first tick {ticks[0]} above {min}");
        Assert.True(ticks[^1] >= max && ticks[^1] > ticks[0], $"last tick {ticks[^1]} does not cover {max}");
        Assert.InRange(ticks.Count, 3, 12);
        var step = ticks[1] - ticks[0];
        var mantissa = step / Math.Pow(10, Math.Floor(Math.Log10(step)));
        Assert.True(Math.Round(mantissa, 6) is 1 or 2 or 5, $"step {step} is not 1, 2 or 5 × 10ⁿ");
        Assert.All(ticks.Zip(ticks.Skip(1)), pair => Assert.Equal(step, pair.Second - pair.First, 6));
    }

    [Theory]
    [InlineData(0, "0")]
    [InlineData(0.5, "0.5")]
    [InlineData(750, "750")]
    [InlineData(5_000, "5k")]
    [InlineData(2_500, "2.5k")]
    [InlineData(1_200_000, "1.2M")]
    public void Compact_TickValue_ShortLabel(double value, string expected) =>
        Assert.Equal(expected, SvgChart.Compact(value));
}
