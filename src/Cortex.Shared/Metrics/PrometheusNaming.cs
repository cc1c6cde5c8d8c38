using System.Globalization;
using System.Text;

namespace Cortex.Shared.Metrics;

/// <summary>How OpenTelemetry instrument names, units, tags and values are spelled in the Prometheus text format 0.0.4.</summary>
internal static class PrometheusNaming
{
    public const string Counter = "counter";
    public const string Gauge = "gauge";
    public const string Histogram = "histogram";

    /// <summary>Name + unit suffix + "_total" for counters, e.g. counter "dotnet.process.cpu.time" in "s" is "dotnet_process_cpu_time_seconds_total".</summary>
    public static string MetricName(string instrumentName, string? unit, string type)
    {
        var name = Sanitize(instrumentName);
        var isCounter = type == Counter;
        if (isCounter && name.EndsWith("_total", StringComparison.Ordinal))
        {
            // Dropped first so the unit suffix lands before it, never after.
            name = name[..^"_total".Length];
        }

        var suffix = UnitSuffix(unit, type);
        if (suffix.Length > 0 && !name.EndsWith("_" + suffix, StringComparison.Ordinal))
        {
            name += "_" + suffix;
        }

        if (isCounter)
        {
            return name + "_total";
        }

        // A gauge named like a histogram's or a counter's series (dotnet.timer.count is one) is read by Prometheus
        // tooling as part of one, and promtool rejects it.
        if (type == Gauge && (name.EndsWith("_count", StringComparison.Ordinal) || name.EndsWith("_sum", StringComparison.Ordinal)
            || name.EndsWith("_bucket", StringComparison.Ordinal) || name.EndsWith("_total", StringComparison.Ordinal)))
        {
            name += "_current";
        }

        return name;
    }

    /// <summary>Lower case, every character outside [a-z0-9_] replaced with '_' (colons are reserved for recording rules), never a leading digit.</summary>
    public static string Sanitize(string name)
    {
        var text = new StringBuilder(name.Length + 1);
        if (name.Length == 0 || char.IsAsciiDigit(name[0]))
        {
            text.Append('_');
        }

        foreach (var c in name)
        {
            text.Append(char.IsAsciiLetterOrDigit(c) ? char.ToLowerInvariant(c) : '_');
        }

        return text.ToString();
    }

    /// <summary>Label pairs without braces, sorted by tag key (the caller sorts), e.g. <c>outcome="ok",reason="a\"b"</c>.</summary>
    public static string Labels(ReadOnlySpan<KeyValuePair<string, object?>> sortedTags)
    {
        var text = new StringBuilder();
        foreach (var tag in sortedTags)
        {
            if (text.Length > 0)
            {
                text.Append(',');
            }

            text.Append(Sanitize(tag.Key)).Append("=\"");
            Escape(text, FormatTagValue(tag.Value), escapeQuote: true);
            text.Append('"');
        }

        return text.ToString();
    }

    public static string FormatTagValue(object? value) => value switch
    {
        null => "",
        string s => s,
        bool b => b ? "true" : "false",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };

    public static string FormatValue(double value) =>
        double.IsNaN(value) ? "NaN"
        : double.IsPositiveInfinity(value) ? "+Inf"
        : double.IsNegativeInfinity(value) ? "-Inf"
        : value.ToString("R", CultureInfo.InvariantCulture);

    public static void Escape(StringBuilder text, string value, bool escapeQuote)
    {
        foreach (var c in value)
        {
            switch (c)
            {
                case '\\': text.Append(@"\\"); break;
                case '\n': text.Append(@"\n"); break;
                case '"' when escapeQuote: text.Append("\\\""); break;
                default: text.Append(c); break;
            }
        }
    }

    private static string UnitSuffix(string? unit, string type) => unit switch
    {
        null or "" => "",
        // Annotations such as "{message}" say what is counted, not a unit.
        _ when unit.StartsWith('{') => "",
        "1" => type == Gauge ? "ratio" : "",
        "s" => "seconds",
        "ms" => "milliseconds",
        "us" => "microseconds",
        "ns" => "nanoseconds",
        "min" => "minutes",
        "h" => "hours",
        "d" => "days",
        "By" => "bytes",
        "KiBy" => "kibibytes",
        "MiBy" => "mebibytes",
        "GiBy" => "gibibytes",
        "%" => "percent",
        _ => Sanitize(unit).TrimStart('_'),
    };
}
