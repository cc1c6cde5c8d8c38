using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace Cortex.Shared.Contract;

/// <summary>
/// The hours of the day a message must not be sent in, in a time zone: <c>21:00-08:00 America/Sao_Paulo</c> on the wire.
/// The window may cross midnight; it starts at <see cref="Start"/> and ends at <see cref="End"/>, which is the first
/// minute a message may go again.
/// </summary>
public sealed record QuietHoursWindow
{
    // Zones found, by id, in any case, as .NET's own cache keeps them. Bounded by the machine's zone list: an unknown id is
    // looked up each time and not kept, and an id is a plain path of zone names (no empty or dotted part), so that a
    // hostile producer cannot grow either cache with spellings of one zone (America//Sao_Paulo, ./America/Sao_Paulo).
    private static readonly ConcurrentDictionary<string, TimeZoneInfo> s_zones = new(StringComparer.OrdinalIgnoreCase);

    private static readonly string[] s_timeFormats = ["HH:mm", "HH:mm:ss"];

    private static readonly SearchValues<char> s_zoneIdChars = SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_/+-. ");

    public QuietHoursWindow(TimeOnly start, TimeOnly end, TimeZoneInfo zone)
    {
        ArgumentNullException.ThrowIfNull(zone);
        if (start == end)
        {
            throw new ArgumentException("A quiet-hours window starts and ends at different times.", nameof(end));
        }

        Start = start;
        End = end;
        Zone = zone;
    }

    public TimeOnly Start { get; }

    public TimeOnly End { get; }

    public TimeZoneInfo Zone { get; }

    /// <summary>Reads the wire form, or says what is wrong with it in words a producer can act on.</summary>
    public static bool TryParse(string value, [NotNullWhen(true)] out QuietHoursWindow? window, [NotNullWhen(false)] out string? error)
    {
        ArgumentNullException.ThrowIfNull(value);
        window = null;
        error = null;
        if (value.Length > EnvelopeLimits.MaxQuietHoursLength)
        {
            error = $"is {value.Length} characters, over the {EnvelopeLimits.MaxQuietHoursLength} limit";
            return false;
        }

        var space = value.IndexOf(' ', StringComparison.Ordinal);
        var dash = space < 0 ? -1 : value.AsSpan(0, space).IndexOf('-');
        if (dash < 0
            || !TimeOnly.TryParseExact(value.AsSpan(0, dash), s_timeFormats, CultureInfo.InvariantCulture, DateTimeStyles.None, out var start)
            || !TimeOnly.TryParseExact(value.AsSpan(dash + 1, space - dash - 1), s_timeFormats, CultureInfo.InvariantCulture, DateTimeStyles.None, out var end))
        {
            error = "must be \"HH:mm-HH:mm <time zone>\", e.g. \"21:00-08:00 America/Sao_Paulo\"";
            return false;
        }

        if (start == end)
        {
            error = "starts and ends at the same time; leave quietHours out for none";
            return false;
        }

        var id = value.AsSpan(space + 1);
        if (!s_zones.GetAlternateLookup<ReadOnlySpan<char>>().TryGetValue(id, out var zone))
        {
            // Zone ids name files under the zone database: nothing else is looked up.
            var name = id.ToString();
            if (!IsZonePath(id) || !TimeZoneInfo.TryFindSystemTimeZoneById(name, out zone))
            {
                error = $"time zone '{name}' is not known (use an IANA name such as America/Sao_Paulo)";
                return false;
            }

            s_zones.TryAdd(name, zone);
        }

        window = new QuietHoursWindow(start, end, zone);
        return true;
    }

    private static bool IsZonePath(ReadOnlySpan<char> id)
    {
        if (id.ContainsAnyExcept(s_zoneIdChars))
        {
            return false;
        }

        foreach (var part in id.Split('/'))
        {
            if (part.End.Value == part.Start.Value || id[part][0] == '.')
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>The earliest instant at or after <paramref name="time"/> outside the window: <paramref name="time"/> itself when it is outside.</summary>
    public DateTimeOffset NextAllowed(DateTimeOffset time)
    {
        var local = TimeZoneInfo.ConvertTime(time, Zone);
        var timeOfDay = TimeOnly.FromTimeSpan(local.TimeOfDay);
        if (!timeOfDay.IsBetween(Start, End))
        {
            return time;
        }

        // The window ends today when we are before its end, else tomorrow (after 21:00 in a 21:00–08:00 window).
        return EndOn(timeOfDay < End ? local.Date : local.Date.AddDays(1));
    }

    private DateTimeOffset EndOn(DateTime date)
    {
        var endLocal = date + End.ToTimeSpan();

        // A daylight-saving gap can swallow the end time; the first valid instant after it is the right answer.
        while (Zone.IsInvalidTime(endLocal))
        {
            endLocal = endLocal.AddMinutes(1);
        }

        return new DateTimeOffset(endLocal, Zone.GetUtcOffset(endLocal)).ToUniversalTime();
    }

    /// <summary>The wire form, as <see cref="TryParse"/> reads it.</summary>
    public override string ToString() => $"{Format(Start)}-{Format(End)} {Zone.Id}";

    private static string Format(TimeOnly time) =>
        time.ToString(time.Second == 0 ? "HH:mm" : "HH:mm:ss", CultureInfo.InvariantCulture);
}
