using System.Globalization;
using System.Text;

namespace Cortex.LoadTests.Reporting;

/// <summary>A line chart drawn as inline SVG: no script, no stylesheet, so the report opens on an offline machine.</summary>
internal static class SvgChart
{
    private const int Width = 760;
    private const int Height = 240;
    private const int Left = 56;
    private const int Right = 16;
    private const int Top = 28;
    private const int Bottom = 34;
    private const int TickTarget = 5;

    /// <summary>One line: its points in time order; a null or non-finite Y leaves a gap.</summary>
    internal sealed record Series(string Name, string Color, IReadOnlyList<(double X, double? Y)> Points);

    /// <summary>The SVG, or null when no series has a single value (the caller says "no data").</summary>
    public static string? Render(string title, string unit, IReadOnlyList<Series> series)
    {
        var values = series.SelectMany(s => s.Points).Where(p => IsValue(p.Y)).ToList();
        if (values.Count == 0)
        {
            return null;
        }

        // The x range covers every bucket, with or without data, so charts of one scenario line up.
        var xs = series.SelectMany(s => s.Points).Select(p => p.X).Where(double.IsFinite).ToList();
        var xTicks = NiceTicks(Math.Min(0, xs.Min()), xs.Max());
        var yTicks = NiceTicks(Math.Min(0, values.Min(p => p.Y!.Value)), values.Max(p => p.Y!.Value));
        var plotWidth = Width - Left - Right;
        var plotHeight = Height - Top - Bottom;
        double Px(double x) => Left + ((x - xTicks[0]) / (xTicks[^1] - xTicks[0]) * plotWidth);
        double Py(double y) => Top + plotHeight - ((y - yTicks[0]) / (yTicks[^1] - yTicks[0]) * plotHeight);

        var svg = new StringBuilder();
        svg.Append(CultureInfo.InvariantCulture, $"""<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {Width} {Height}" width="{Width}" height="{Height}" role="img" font-family="sans-serif" font-size="11">""");
        svg.Append(CultureInfo.InvariantCulture, $"<title>{Html.Escape(title)}</title>");
        foreach (var y in yTicks)
        {
            svg.Append(CultureInfo.InvariantCulture, $"""<line class="grid" x1="{Left}" x2="{Width - Right}" y1="{F(Py(y))}" y2="{F(Py(y))}" stroke="#e5e7eb"/>""");
            svg.Append(CultureInfo.InvariantCulture, $"""<text class="ytick" x="{Left - 6}" y="{F(Py(y) + 4)}" text-anchor="end" fill="#374151">{Compact(y)}</text>""");
        }

        foreach (var x in xTicks)
        {
            svg.Append(CultureInfo.InvariantCulture, $"""<line x1="{F(Px(x))}" x2="{F(Px(x))}" y1="{Top + plotHeight}" y2="{Top + plotHeight + 4}" stroke="#6b7280"/>""");
            svg.Append(CultureInfo.InvariantCulture, $"""<text class="xtick" x="{F(Px(x))}" y="{Top + plotHeight + 16}" text-anchor="middle" fill="#374151">{Compact(x)}</text>""");
        }

        svg.Append(CultureInfo.InvariantCulture, $"""<line x1="{Left}" x2="{Width - Right}" y1="{Top + plotHeight}" y2="{Top + plotHeight}" stroke="#6b7280"/>""");
        svg.Append(CultureInfo.InvariantCulture, $"""<text x="{Left + (plotWidth / 2)}" y="{Height - 4}" text-anchor="middle" fill="#6b7280">time (s)</text>""");
        svg.Append(CultureInfo.InvariantCulture, $"""<text x="4" y="{Top - 12}" fill="#6b7280">{Html.Escape(unit)}</text>""");

        foreach (var line in series)
        {
            foreach (var run in Runs(line.Points))
            {
                // A lone point between gaps is a zero-length segment: the round cap draws it as a dot.
                var d = new StringBuilder();
                d.Append(CultureInfo.InvariantCulture, $"M{F(Px(run[0].X))} {F(Py(run[0].Y))}");
                foreach (var (x, y) in run.Skip(1))
                {
                    d.Append(CultureInfo.InvariantCulture, $" L{F(Px(x))} {F(Py(y))}");
                }

                if (run.Count == 1)
                {
                    d.Append(" h0");
                }

                svg.Append(CultureInfo.InvariantCulture, $"""<path class="line" data-series="{Html.Escape(line.Name)}" d="{d}" fill="none" stroke="{Html.Escape(line.Color)}" stroke-width="2" stroke-linejoin="round" stroke-linecap="round"/>""");
            }
        }

        if (series.Count > 1)
        {
            var x = Width - Right - (series.Count * 70);
            foreach (var line in series)
            {
                svg.Append(CultureInfo.InvariantCulture, $"""<rect class="legend" x="{x}" y="{Top - 19}" width="12" height="4" fill="{Html.Escape(line.Color)}"/>""");
                svg.Append(CultureInfo.InvariantCulture, $"""<text x="{x + 16}" y="{Top - 14}" fill="#374151">{Html.Escape(line.Name)}</text>""");
                x += 70;
            }
        }

        svg.Append("</svg>");
        return svg.ToString();
    }

    /// <summary>Round tick values (steps of 1, 2 or 5 × 10ⁿ) from at or below <paramref name="min"/> to at or above <paramref name="max"/>.</summary>
    public static IReadOnlyList<double> NiceTicks(double min, double max)
    {
        if (!double.IsFinite(min) || !double.IsFinite(max))
        {
            throw new ArgumentOutOfRangeException(nameof(max), "tick bounds must be finite");
        }

        if (max <= min)
        {
            // A flat series still needs a scale with height.
            max = min + (min == 0 ? 1 : Math.Abs(min));
        }

        var raw = (max - min) / TickTarget;
        var magnitude = Math.Pow(10, Math.Floor(Math.Log10(raw)));
        var normalized = raw / magnitude;
        var step = (normalized <= 1 ? 1 : normalized <= 2 ? 2 : normalized <= 5 ? 5 : 10) * magnitude;
        var first = Math.Floor(min / step);
        var last = Math.Ceiling(max / step);
        var ticks = new List<double>();
        for (var i = first; i <= last; i++)
        {
            // Multiplying (not adding) keeps 0.1 × 3 from drifting into 0.30000000000000004 steps.
            ticks.Add(Math.Round(i * step, 10));
        }

        return ticks;
    }

    /// <summary>A short axis label: 0, 500, 2.5k, 10k, 1.2M.</summary>
    public static string Compact(double value)
    {
        var abs = Math.Abs(value);
        return abs >= 1e9 ? F(value / 1e9) + "G"
            : abs >= 1e6 ? F(value / 1e6) + "M"
            : abs >= 1e3 ? F(value / 1e3) + "k"
            : F(value);
    }

    private static string F(double value) => value.ToString("0.##", CultureInfo.InvariantCulture);

    private static bool IsValue(double? y) => y is { } v && double.IsFinite(v);

    private static IEnumerable<List<(double X, double Y)>> Runs(IReadOnlyList<(double X, double? Y)> points)
    {
        var run = new List<(double X, double Y)>();
        foreach (var (x, y) in points.OrderBy(p => p.X))
        {
            if (IsValue(y) && double.IsFinite(x))
            {
                run.Add((x, y!.Value));
            }
            else if (run.Count > 0)
            {
                yield return run;
                run = [];
            }
        }

        if (run.Count > 0)
        {
            yield return run;
        }
    }
}
