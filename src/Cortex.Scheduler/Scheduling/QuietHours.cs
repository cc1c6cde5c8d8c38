namespace Cortex.Scheduler.Scheduling;

/// <summary>
/// Moves a send time out of the quiet hours of its tenant and kind: a time inside them becomes the next
/// window start (the local end of the quiet hours). Windows may cross midnight (21:00–08:00).
/// </summary>
public sealed class QuietHours
{
    private readonly QuietHoursOptions _options;
    private readonly TimeZoneInfo _zone;

    public QuietHours(QuietHoursOptions options, TimeZoneInfo zone)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(zone);
        _options = options;
        _zone = zone;
    }

    /// <summary>The earliest time at or after <paramref name="time"/> outside the quiet hours; <paramref name="time"/> itself when it is outside.</summary>
    public DateTimeOffset NextAllowed(DateTimeOffset time, string tenant, string kind)
    {
        var (start, end) = WindowFor(tenant, kind);
        if (start == end)
        {
            return time;
        }

        var local = TimeZoneInfo.ConvertTime(time, _zone);
        var timeOfDay = local.TimeOfDay;
        var crossesMidnight = start > end;
        bool inside = crossesMidnight ? timeOfDay >= start || timeOfDay < end : timeOfDay >= start && timeOfDay < end;
        if (!inside)
        {
            return time;
        }

        // The window ends today when we are before its end time, else tomorrow (after 21:00 in a 21:00–08:00 window).
        var endDate = timeOfDay < end ? local.Date : local.Date.AddDays(1);
        var endLocal = endDate + end;

        // A daylight-saving gap can swallow the end time; the first valid instant after it is the right answer.
        while (_zone.IsInvalidTime(endLocal))
        {
            endLocal = endLocal.AddMinutes(1);
        }

        return new DateTimeOffset(endLocal, _zone.GetUtcOffset(endLocal)).ToUniversalTime();
    }

    private (TimeSpan Start, TimeSpan End) WindowFor(string tenant, string kind)
    {
        QuietHoursOverride? best = null;
        var bestScore = 0;
        foreach (var rule in _options.Overrides)
        {
            var tenantMatches = rule.Tenant is null || string.Equals(rule.Tenant, tenant, StringComparison.Ordinal);
            var kindMatches = rule.Kind is null || string.Equals(rule.Kind, kind, StringComparison.Ordinal);
            if (!tenantMatches || !kindMatches)
            {
                continue;
            }

            // tenant+kind beats tenant beats kind.
            var score = (rule.Tenant is null ? 0 : 2) + (rule.Kind is null ? 0 : 1);
            if (score > bestScore)
            {
                (best, bestScore) = (rule, score);
            }
        }

        return best is null ? (_options.Start, _options.End) : (best.Start, best.End);
    }
}
