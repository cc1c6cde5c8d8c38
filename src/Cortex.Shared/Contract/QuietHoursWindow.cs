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
    // Zones found, by the exact name. Bounded by the machine's zone list: an unknown name is looked up each time and not
    // kept, and only the one spelling of each zone's name is accepted, so that a hostile producer cannot grow this cache
    // or .NET's with spellings of one zone (america/sao_paulo, America//Sao_Paulo, ./America/Sao_Paulo).
    private static readonly ConcurrentDictionary<string, TimeZoneInfo> s_zones = new(StringComparer.Ordinal);

    private static readonly string[] s_timeFormats = ["HH:mm", "HH:mm:ss"];

    // The tz database's name rules: ASCII letters, digits, '.', '-', '_' and '+' in parts that start with an upper-case
    // letter (America/Sao_Paulo, Etc/GMT+3, EST5EDT). Files under the zone database that are not zones' names
    // (localtime, posixrules, posix/…, right/…) and Windows names (with spaces) do not fit it.
    private static readonly SearchValues<char> s_zoneNameChars = SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_+-./");

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
        if (!TryFindZone(id, out var zone))
        {
            error = $"time zone '{id}' is not known (use an IANA name as the tz database spells it, case included, such as America/Sao_Paulo)";
            return false;
        }

        window = new QuietHoursWindow(start, end, zone);
        return true;
    }

    /// <summary>
    /// The zone of an IANA time zone name spelled exactly as the tz database does, case included, if this machine knows
    /// it: the one rule for every window a message carries, whatever was looked up before.
    /// </summary>
    internal static bool TryFindZone(ReadOnlySpan<char> name, [NotNullWhen(true)] out TimeZoneInfo? zone)
    {
        if (s_zones.GetAlternateLookup<ReadOnlySpan<char>>().TryGetValue(name, out zone))
        {
            return true;
        }

        // .NET's lookup alone is no rule: its cache ignores case where the zone files' paths do not (america/sao_paulo
        // was refused until something had loaded America/Sao_Paulo), and it opens any file under the zone database
        // (and, outside invariant globalization, converts Windows names). Only a zone that carries the very name asked for, as an IANA id, is taken.
        var id = name.ToString();
        if (!IsIanaName(name)
            || !TimeZoneInfo.TryFindSystemTimeZoneById(id, out var found)
            || !found.HasIanaId
            || !string.Equals(found.Id, id, StringComparison.Ordinal))
        {
            zone = null;
            return false;
        }

        zone = s_zones.GetOrAdd(id, found);
        return true;
    }

    private static bool IsIanaName(ReadOnlySpan<char> name)
    {
        if (name.ContainsAnyExcept(s_zoneNameChars))
        {
            return false;
        }

        foreach (var part in name.Split('/'))
        {
            if (part.End.Value == part.Start.Value || !char.IsAsciiLetterUpper(name[part][0]))
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
