using Quartz;

namespace Cortex.Scheduler.Scheduling;

/// <summary>When a Quartz cron fires: one check for the scheduler's own cron keys and for a campaign's cron.</summary>
public static class CronFireTimes
{
    /// <summary>
    /// The next <paramref name="count"/> fire times after <paramref name="after"/>, in <paramref name="zone"/>. Empty for a
    /// cron that parses but no date from then on matches (30 February), and for one that does not parse.
    /// </summary>
    public static IReadOnlyList<DateTimeOffset> Next(string expression, TimeZoneInfo zone, DateTimeOffset after, int count)
    {
        ArgumentNullException.ThrowIfNull(zone);
        if (!CronExpression.TryParse(expression, out _))
        {
            return [];
        }

        var cron = new CronExpression(expression, zone);
        var times = new List<DateTimeOffset>(count);
        var from = after;
        while (times.Count < count && cron.GetNextValidTimeAfter(from) is { } next)
        {
            times.Add(TimeZoneInfo.ConvertTime(next, zone));
            from = next;
        }

        return times;
    }
}
