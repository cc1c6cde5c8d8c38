namespace Cortex.LoadTests.Tests;

/// <summary>Scenario 5's audit of what the billing job pushed: the right count is not enough, each expected reminder once.</summary>
public class SchedulerPerfRunTests
{
    private static readonly DateOnly s_today = new(2026, 12, 7);
    private static readonly Dictionary<long, DateOnly> s_expected = new() { [1] = s_today, [2] = s_today.AddDays(3) };

    [Fact]
    public void AuditIds_EachExpectedReminderOnce_IsClean() =>
        Assert.Null(SchedulerPerfRun.AuditIds(["billing:2:D-3:2026-12-10", "billing:1:D0:2026-12-07"], s_expected));

    [Fact]
    public void AuditIds_RightCountButOneTwiceAndOneMissing_NamesBoth()
    {
        Assert.Equal(
            "1 expected reminders missing, 1 pushed more than once, 0 not expected (or unreadable)",
            SchedulerPerfRun.AuditIds(["billing:1:D0:2026-12-07", "billing:1:D0:2026-12-07"], s_expected));
    }

    [Fact]
    public void AuditIds_WrongDueDateUnknownChargeOrUnreadable_AreNotExpected()
    {
        Assert.Equal(
            "1 expected reminders missing, 0 pushed more than once, 3 not expected (or unreadable)",
            SchedulerPerfRun.AuditIds(["billing:1:D0:2026-12-07", "billing:2:D0:2026-12-07", "billing:3:D0:2026-12-07", null], s_expected));
    }
}
