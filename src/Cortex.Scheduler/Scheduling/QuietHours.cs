using Cortex.Shared.Contract;

namespace Cortex.Scheduler.Scheduling;

/// <summary>
/// The quiet hours of each tenant and kind: a send time inside them becomes the next window start (the local end of the
/// quiet hours), and every message carries its window, so that the sender holds one still unsent when they begin
/// (a campaign draining past 21:00). Windows may cross midnight (21:00–08:00).
/// </summary>
public sealed class QuietHours
{
    private readonly QuietHoursWindow? _default;
    private readonly List<(QuietHoursOverride Rule, QuietHoursWindow? Window)> _overrides;

    public QuietHours(QuietHoursOptions options, TimeZoneInfo zone)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(zone);
        _default = Window(options.Start, options.End, zone);
        _overrides = options.Overrides.ConvertAll(rule => (rule, Window(rule.Start, rule.End, zone)));
    }

    /// <summary>The earliest time at or after <paramref name="time"/> outside the quiet hours; <paramref name="time"/> itself when it is outside.</summary>
    public DateTimeOffset NextAllowed(DateTimeOffset time, string tenant, string kind) =>
        WindowFor(tenant, kind)?.NextAllowed(time) ?? time;

    /// <summary>The quiet hours of this tenant and kind, as a message carries them; null when there are none.</summary>
    public QuietHoursWindow? WindowFor(string tenant, string kind)
    {
        var best = _default;
        var bestScore = 0;
        foreach (var (rule, window) in _overrides)
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
                (best, bestScore) = (window, score);
            }
        }

        return best;
    }

    // Equal start and end mean none.
    private static QuietHoursWindow? Window(TimeSpan start, TimeSpan end, TimeZoneInfo zone) =>
        start == end ? null : new QuietHoursWindow(TimeOnly.FromTimeSpan(start), TimeOnly.FromTimeSpan(end), zone);
}
