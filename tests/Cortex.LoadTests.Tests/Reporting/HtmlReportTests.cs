using System.Globalization;
using System.Xml.Linq;
using Cortex.LoadTests.Reporting;
using static Cortex.LoadTests.Tests.Reporting.Reports;

namespace Cortex.LoadTests.Tests.Reporting;

public sealed class HtmlReportTests
{
    [Fact]
    public void Render_ScenarioWithAllSeries_DrawsThreeChartsThatParseAsXml()
    {
        var html = HtmlReport.Render(Run(Scenario(), Scenario(title: "Burst")));

        var svgs = Svgs(html);

        Assert.Equal(6, svgs.Count);
        Assert.DoesNotContain("no data", html, StringComparison.Ordinal);
        var latency = Svgs(html).Where(svg => svg.Element(Svg("title"))!.Value.StartsWith("Latency", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, latency.Count);
        Assert.All(latency, chart => Assert.Equal(["p50", "p95", "p99"], chart.Elements(Svg("path")).Select(p => (string?)p.Attribute("data-series"))));
    }

    [Fact]
    public void Render_SeriesWithNullGap_DrawsTwoSeparateSegments()
    {
        double?[] throughput = [100, 200, null, 400, 500];
        var samples = throughput.Select((t, i) => new Sample(i + 1, t, 1, 2, 3, 10, null, null)).ToList();

        var chart = Chart(HtmlReport.Render(Run(Scenario(samples: samples))), "Throughput");

        var paths = chart.Elements(Svg("path")).Where(p => (string?)p.Attribute("data-series") == "throughput").ToList();
        Assert.Equal(2, paths.Count);
        Assert.All(paths, p => Assert.Equal(1, ((string)p.Attribute("d")!).Count(c => c == 'M')));
    }

    [Fact]
    public void Render_LonePointBetweenGaps_IsStillDrawn()
    {
        double?[] throughput = [100, null, 300, null, 500, 600];
        var samples = throughput.Select((t, i) => new Sample(i + 1, t, null, null, null, null, null, null)).ToList();

        var chart = Chart(HtmlReport.Render(Run(Scenario(samples: samples))), "Throughput");

        Assert.Equal(3, chart.Elements(Svg("path")).Count());
    }

    [Fact]
    public void Render_FailedCheck_ShowsFailForCheckScenarioAndRun()
    {
        var failing = Scenario(title: "Burst", checks:
        [
            new("throughput", "≥ 25,000 msg/s", "46,764 msg/s", true),
            new("p99 latency", "≤ 50 ms", "212 ms", false),
        ]);
        var run = Run(Scenario(), failing);

        var html = HtmlReport.Render(run);

        Assert.False(run.Passed);
        Assert.Contains("<h1>Cortex load test: <span class=\"verdict fail\">FAIL</span></h1>", html, StringComparison.Ordinal);
        Assert.Contains("<tr class=\"fail\"><td>p99 latency</td><td>≤ 50 ms</td><td>212 ms</td><td class=\"verdict fail\">FAIL</td></tr>", html, StringComparison.Ordinal);
        Assert.Contains("Burst <span class=\"badge fail\">FAIL</span>", html, StringComparison.Ordinal);
        Assert.Contains("1 of 2 passed", html, StringComparison.Ordinal);
    }

    [Fact]
    public void Render_ScenarioThatThrew_IsFailWithItsErrorEvenWhenChecksPassed()
    {
        var run = Run(Scenario(error: "Redis connection refused <127.0.0.1:6379>\n   at Connect()"));

        var html = HtmlReport.Render(run);

        Assert.False(run.Passed);
        Assert.Contains("<pre class=\"error\">Redis connection refused &lt;127.0.0.1:6379&gt;\n   at Connect()</pre>", html, StringComparison.Ordinal);
        Assert.Contains("<span class=\"verdict fail\">FAIL</span>", html, StringComparison.Ordinal);
    }

    [Fact]
    public void Render_HostileText_IsEscapedEverywhere()
    {
        const string Hostile = "<script>alert(\"x\")</script> & 'quoted'";
        var scenario = new ScenarioReport(Hostile, Hostile, Hostile, Hostile, [new(Hostile, Hostile)], [new(Hostile, Hostile, Hostile, false)], Ramp(5), Hostile);
        var run = new RunReport(Hostile, DateTimeOffset.UnixEpoch, TimeSpan.Zero, Hostile, Hostile, [scenario]);

        var html = HtmlReport.Render(run);

        Assert.DoesNotContain("<script", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("'quoted'", html, StringComparison.Ordinal);
        Assert.Contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;quoted&#39;", html, StringComparison.Ordinal);
        Assert.Equal(3, Svgs(html).Count);
    }

    [Fact]
    public void Render_ThroughputUpTo46764_HasRoundTicksFromZeroCoveringTheMax()
    {
        var chart = Chart(HtmlReport.Render(Run(Scenario())), "Throughput");

        var ticks = chart.Elements(Svg("text")).Where(t => (string?)t.Attribute("class") == "ytick").Select(t => t.Value).ToList();

        Assert.Equal(["0", "10k", "20k", "30k", "40k", "50k"], ticks);
    }

    [Fact]
    public void Render_AllNullSeries_SaysNoDataInsteadOfAChart()
    {
        var samples = Enumerable.Range(1, 5).Select(s => new Sample(s, 1_000, null, null, null, 5, null, null)).ToList();

        var html = HtmlReport.Render(Run(Scenario(samples: samples)));

        Assert.Equal(2, Svgs(html).Count);
        Assert.Contains("<figcaption>Latency percentiles (ms)</figcaption><p class=\"nodata\">no data</p>", html, StringComparison.Ordinal);
    }

    [Fact]
    public void Render_ScenarioWithoutSamples_SaysNoDataForEveryChart()
    {
        var html = HtmlReport.Render(Run(Scenario(samples: [])));

        Assert.Empty(Svgs(html));
        Assert.Equal(3, html.Split("no data").Length - 1);
    }

    [Fact]
    public void Render_UnderACommaDecimalCulture_WritesInvariantNumbers()
    {
        var previous = CultureInfo.CurrentCulture;
        try
        {
            // The harness runs with invariant globalization, so pt-BR is built by hand: decimal comma, dot for thousands.
            var brazil = (CultureInfo)CultureInfo.InvariantCulture.Clone();
            brazil.NumberFormat.NumberDecimalSeparator = ",";
            brazil.NumberFormat.NumberGroupSeparator = ".";
            CultureInfo.CurrentCulture = brazil;
            var samples = Enumerable.Range(1, 5).Select(s => new Sample(s, null, 0.25 * s, null, null, null, null, null)).ToList();

            var chart = Chart(HtmlReport.Render(Run(Scenario(samples: samples))), "Latency");

            var ticks = chart.Elements(Svg("text")).Where(t => (string?)t.Attribute("class") == "ytick").Select(t => t.Value).ToList();
            Assert.Contains("0.5", ticks);
            Assert.DoesNotContain(chart.Descendants().Attributes(), a => a.Value.Contains(',', StringComparison.Ordinal));
        }
        finally
        {
            CultureInfo.CurrentCulture = previous;
        }
    }
}
