using Cortex.Scheduler.Scheduling;

namespace Cortex.Scheduler.Tests.Scheduling;

public class QuietHoursTests
{
    private static readonly TimeZoneInfo s_saoPaulo = TimeZoneInfo.FindSystemTimeZoneById("America/Sao_Paulo");

    // São Paulo is UTC-3 all year (no daylight saving since 2019).
    private static DateTimeOffset Local(int day, int hour, int minute = 0) => new(2026, 11, day, hour, minute, 0, TimeSpan.FromHours(-3));

    [Theory]
    [InlineData(22, 30, 21, 8, 0)]   // evening: next morning
    [InlineData(2, 0, 21, 8, 0)]     // after midnight: this morning
    [InlineData(21, 0, 21, 8, 0)]    // the start itself is quiet
    public void NextAllowed_InsideQuietHours_IsTheNextWindowStart(int hour, int minute, int expectedDay, int expectedHour, int expectedMinute)
    {
        var quiet = new QuietHours(new QuietHoursOptions(), s_saoPaulo);
        var at = hour >= 12 ? Local(20, hour, minute) : Local(21, hour, minute);

        Assert.Equal(Local(expectedDay, expectedHour, expectedMinute), quiet.NextAllowed(at, "", "billing"));
    }

    [Theory]
    [InlineData(8, 0)]
    [InlineData(12, 0)]
    [InlineData(20, 59)]
    public void NextAllowed_OutsideQuietHours_IsUnchanged(int hour, int minute)
    {
        var quiet = new QuietHours(new QuietHoursOptions(), s_saoPaulo);

        Assert.Equal(Local(20, hour, minute), quiet.NextAllowed(Local(20, hour, minute), "", "billing"));
    }

    [Fact]
    public void NextAllowed_WindowWithinOneDay_Works()
    {
        // Lunch break 12:00–14:00.
        var quiet = new QuietHours(new QuietHoursOptions { Start = new(12, 0, 0), End = new(14, 0, 0) }, s_saoPaulo);

        Assert.Equal(Local(20, 14), quiet.NextAllowed(Local(20, 13), "", "campaign"));
        Assert.Equal(Local(20, 22), quiet.NextAllowed(Local(20, 22), "", "campaign"));
    }

    [Fact]
    public void NextAllowed_StartEqualsEnd_NoQuietHours()
    {
        var quiet = new QuietHours(new QuietHoursOptions { Start = TimeSpan.Zero, End = TimeSpan.Zero }, s_saoPaulo);

        Assert.Equal(Local(20, 23), quiet.NextAllowed(Local(20, 23), "", "billing"));
        Assert.Null(quiet.WindowFor("", "billing"));
    }

    [Fact]
    public void NextAllowed_Overrides_TheMostSpecificRuleWins()
    {
        var options = new QuietHoursOptions
        {
            Overrides =
            [
                new() { Kind = "followup", Start = new(22, 0, 0), End = new(7, 0, 0) },
                new() { Tenant = "clinic", Start = new(19, 0, 0), End = new(9, 0, 0) },
                new() { Tenant = "clinic", Kind = "followup", Start = new(23, 0, 0), End = new(6, 0, 0) },
            ],
        };
        var quiet = new QuietHours(options, s_saoPaulo);
        var at = Local(20, 21, 30);

        Assert.Equal(Local(21, 8), quiet.NextAllowed(at, "isp", "billing"));        // default 21–08
        Assert.Equal(at, quiet.NextAllowed(at, "isp", "followup"));                 // kind rule 22–07
        Assert.Equal(Local(21, 9), quiet.NextAllowed(at, "clinic", "billing"));     // tenant rule 19–09
        Assert.Equal(at, quiet.NextAllowed(at, "clinic", "followup"));              // tenant+kind rule 23–06
        Assert.Equal(Local(21, 6), quiet.NextAllowed(Local(20, 23, 30), "clinic", "followup"));

        // What each message carries, for the sender to hold it when they begin while it waits.
        Assert.Equal("23:00-06:00 America/Sao_Paulo", quiet.WindowFor("clinic", "followup")?.ToString());
        Assert.Equal("21:00-08:00 America/Sao_Paulo", quiet.WindowFor("isp", "billing")?.ToString());
    }
}
