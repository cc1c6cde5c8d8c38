namespace Cortex.Cli.Tests;

public sealed class InputTests
{
    [Theory]
    [InlineData("2026-11-23T09:00:00-03:00", "2026-11-23T12:00:00Z")]
    [InlineData("2026-11-23T12:00:00Z", "2026-11-23T12:00:00Z")]
    [InlineData("2026-11-23T12:00:00.5+00:00", "2026-11-23T12:00:00.5Z")]
    [InlineData("2026-11-23T09:00-03:00", "2026-11-23T12:00:00Z")]
    [InlineData(" 2026-11-23T12:00Z ", "2026-11-23T12:00:00Z")]
    [InlineData("2026-11-23 12:00:00z", "2026-11-23T12:00:00Z")]
    public void TryParseInstant_WithOffset_IsThatInstant(string text, string expected)
    {
        Assert.True(Input.TryParseInstant(text, out var value));
        Assert.Equal(DateTimeOffset.Parse(expected, System.Globalization.CultureInfo.InvariantCulture), value);
    }

    [Theory]
    [InlineData("2026-11-23T09:00:00")]
    [InlineData("2026-11-23")]
    [InlineData("tomorrow")]
    [InlineData("09:00-03:00")]
    [InlineData("09:00Z")]
    [InlineData("01/02/2027 09:00 -03:00")]
    [InlineData("2026-11-23T09:00:00 -03:00")]
    [InlineData("")]
    public void TryParseInstant_WithoutOffset_IsRefused(string text) => Assert.False(Input.TryParseInstant(text, out _));

    [Theory]
    [InlineData("90s", 90)]
    [InlineData("30m", 1800)]
    [InlineData("1h", 3600)]
    [InlineData("2d", 172800)]
    [InlineData("1w", 604800)]
    public void TryParseDuration_NumberAndUnit_IsThatLong(string text, int seconds)
    {
        Assert.True(Input.TryParseDuration(text, out var value));
        Assert.Equal(TimeSpan.FromSeconds(seconds), value);
    }

    [Theory]
    [InlineData("1")]
    [InlineData("h")]
    [InlineData("1.5h")]
    [InlineData("-1h")]
    [InlineData("1y")]
    [InlineData("1 h")]
    public void TryParseDuration_Malformed_IsRefused(string text) => Assert.False(Input.TryParseDuration(text, out _));
}
