using System.Globalization;

namespace Cortex.Cli;

/// <summary>Parses the values operators type: instants with an offset, short durations.</summary>
internal static class Input
{
    // Date, 'T' (or a space, as RFC 3339 allows), time to the minute, second or fraction, then the offset: nothing else the
    // lenient parser would take, such as a time without a date (read as today) or 01/02/2027 (read month first, where an
    // operator in Brazil means 1 February).
    private static readonly string[] s_instantFormats =
    [
        "yyyy-MM-dd'T'HH:mmzzz", "yyyy-MM-dd'T'HH:mm:sszzz", "yyyy-MM-dd'T'HH:mm:ss.FFFFFFFzzz",
        "yyyy-MM-dd HH:mmzzz", "yyyy-MM-dd HH:mm:sszzz", "yyyy-MM-dd HH:mm:ss.FFFFFFFzzz",
    ];

    /// <summary>An ISO-8601 instant with an explicit offset (Z or ±hh:mm); without one it would be read in this machine's zone.</summary>
    public static bool TryParseInstant(string? text, out DateTimeOffset value)
    {
        value = default;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }

        var t = text.Trim();
        if (t.EndsWith('Z') || t.EndsWith('z'))
        {
            t = string.Concat(t.AsSpan(0, t.Length - 1), "+00:00");
        }

        return DateTimeOffset.TryParseExact(t, s_instantFormats, CultureInfo.InvariantCulture, DateTimeStyles.None, out value);
    }

    public static DateTimeOffset? Instant(string? text, string option) =>
        text is null ? null
        : TryParseInstant(text, out var value) ? value
        : throw CliException.Usage($"{option}: '{text}' is not an ISO-8601 instant with an offset, e.g. 2026-11-23T09:00:00-03:00 or 2026-11-23T12:00:00Z");

    /// <summary>A duration such as 90s, 30m, 1h, 2d or 1w.</summary>
    public static bool TryParseDuration(string? text, out TimeSpan value)
    {
        value = default;
        if (string.IsNullOrWhiteSpace(text) || text.Length < 2)
        {
            return false;
        }

        if (!long.TryParse(text.AsSpan(0, text.Length - 1), NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n > 100_000)
        {
            return false;
        }

        TimeSpan? unit = text[^1] switch
        {
            's' => TimeSpan.FromSeconds(1),
            'm' => TimeSpan.FromMinutes(1),
            'h' => TimeSpan.FromHours(1),
            'd' => TimeSpan.FromDays(1),
            'w' => TimeSpan.FromDays(7),
            _ => null,
        };
        if (unit is null)
        {
            return false;
        }

        value = unit.Value * n;
        return true;
    }

    public static TimeSpan? Duration(string? text, string option) =>
        text is null ? null
        : TryParseDuration(text, out var value) ? value
        : throw CliException.Usage($"{option}: '{text}' is not a duration: a whole number and a unit, s, m, h, d or w (30m, 1h, 2d)");
}
