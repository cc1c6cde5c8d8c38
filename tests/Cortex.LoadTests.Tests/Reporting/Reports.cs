using System.Text.RegularExpressions;
using System.Xml.Linq;
using Cortex.LoadTests.Reporting;

namespace Cortex.LoadTests.Tests.Reporting;

/// <summary>Report builders with realistic defaults, so each test states only what it is about.</summary>
internal static partial class Reports
{
    public static RunReport Run(params ScenarioReport[] scenarios) => new(
        "smoke",
        new DateTimeOffset(2026, 11, 22, 10, 30, 0, TimeSpan.FromHours(-3)),
        TimeSpan.FromSeconds(125),
        "2 cores, 24 GiB, Debian 12",
        "Cortex.LoadTests run --profile smoke --redis 127.0.0.1:6379",
        scenarios);

    public static ScenarioReport Scenario(
        string title = "Steady rate",
        IReadOnlyList<Check>? checks = null,
        IReadOnlyList<Sample>? samples = null,
        string? error = null) => new(
        "steady",
        title,
        "open (rate-driven)",
        "20,000 msg/s offered for 30 s against the instant gateway.",
        [new("throughput", "46,764 msg/s"), new("p99 enqueue→accepted", "18.2 ms")],
        checks ?? [new("throughput", "≥ 25,000 msg/s", "46,764 msg/s", true)],
        samples ?? Ramp(10),
        error);

    /// <summary>Buckets 1..n with every series filled; throughput peaks at 46,764 msg/s.</summary>
    public static List<Sample> Ramp(int seconds) =>
        [.. Enumerable.Range(1, seconds).Select(s => new Sample(s, 46_764.0 * s / seconds, 2 + s, 8 + s, 15 + s, 1_000 * (seconds - s), 180 + s, 1.5))];

    /// <summary>Every inline SVG in the page, parsed as XML: a chart that does not parse would not render either.</summary>
    public static List<XElement> Svgs(string html) =>
        [.. SvgPattern().Matches(html).Select(m => XElement.Parse(m.Value))];

    public static XElement Chart(string html, string titleStart) =>
        Svgs(html).Single(svg => svg.Elements(Svg("title")).Single().Value.StartsWith(titleStart, StringComparison.Ordinal));

    public static XName Svg(string name) => XName.Get(name, "http://www.w3.org/2000/svg");

    [GeneratedRegex("<svg[^>]*>.*?</svg>", RegexOptions.Singleline)]
    private static partial Regex SvgPattern();
}
