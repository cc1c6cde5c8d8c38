using System.Globalization;
using System.Text;

namespace Cortex.LoadTests.Reporting;

/// <summary>One self-contained HTML page for an operator: verdicts first, then each scenario with its charts.</summary>
internal static class HtmlReport
{
    // Inline CSS only: the report is opened on machines and networks with no CDN.
    private const string Style = """
        body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;max-width:1100px;padding:16px 24px;color:#111827;line-height:1.4}
        header{border-left:8px solid;padding:8px 16px;margin-bottom:16px}
        header.pass{border-color:#16a34a;background:#f0fdf4}header.fail{border-color:#dc2626;background:#fef2f2}
        h1{margin:4px 0}dl{display:grid;grid-template-columns:max-content auto;gap:2px 12px;margin:8px 0}dt{color:#6b7280}dd{margin:0}
        table{border-collapse:collapse;margin:8px 0 16px}th,td{border:1px solid #e5e7eb;padding:4px 8px;text-align:left;vertical-align:top}th{background:#f9fafb}
        .pass{color:#15803d}.fail{color:#b91c1c}.verdict{font-weight:700}
        tr.pass{background:#f0fdf4}tr.fail{background:#fef2f2}header.pass,header.fail,tr.pass,tr.fail,section.pass,section.fail{color:inherit}
        ul.checks{margin:0;padding-left:16px}
        section{border-top:1px solid #e5e7eb;margin-top:24px}
        .badge{font-size:.6em;padding:2px 8px;border-radius:4px;color:#fff;vertical-align:middle}.badge.pass{background:#16a34a;color:#fff}.badge.fail{background:#dc2626;color:#fff}
        .meta{color:#6b7280}.description{white-space:pre-line}
        .error{background:#fef2f2;border:1px solid #dc2626;padding:8px;white-space:pre-wrap;font-family:ui-monospace,monospace}
        .figures{display:flex;flex-wrap:wrap;gap:8px;margin:8px 0}.figure{border:1px solid #e5e7eb;border-radius:6px;padding:6px 12px}
        .figure .value{font-size:1.3em;font-weight:600}.figure .name{color:#6b7280;font-size:.85em}
        figure{margin:8px 0}figcaption{font-weight:600}.nodata{color:#6b7280;font-style:italic}
        svg.chart{max-width:100%;height:auto}
        code{font-family:ui-monospace,monospace;word-break:break-all}
        """;

    public static string Render(RunReport run)
    {
        ArgumentNullException.ThrowIfNull(run);
        var verdict = Verdict(run.Passed);
        var html = new StringBuilder();
        html.Append(CultureInfo.InvariantCulture, $"""
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>Cortex load test {verdict} — {E(run.Profile)}</title>
            <style>{Style}</style>
            </head>
            <body>
            <header class="{Css(run.Passed)}">
            <h1>Cortex load test: <span class="verdict {Css(run.Passed)}">{verdict}</span></h1>
            <dl>
            <dt>profile</dt><dd>{E(run.Profile)}</dd>
            <dt>started</dt><dd>{run.StartedAt.ToString("yyyy-MM-dd HH:mm:ss zzz", CultureInfo.InvariantCulture)}</dd>
            <dt>duration</dt><dd>{Duration(run.Duration)}</dd>
            <dt>machine</dt><dd>{E(run.Machine)}</dd>
            <dt>command</dt><dd><code>{E(run.Command)}</code></dd>
            <dt>scenarios</dt><dd>{run.Scenarios.Count(s => s.Passed)} of {run.Scenarios.Count} passed</dd>
            </dl>
            </header>

            """);

        html.Append("<h2>Summary</h2>\n<table class=\"summary\">\n<thead><tr><th>scenario</th><th>model</th><th>verdict</th><th>checks: measured (target)</th></tr></thead>\n<tbody>\n");
        for (var i = 0; i < run.Scenarios.Count; i++)
        {
            var scenario = run.Scenarios[i];
            html.Append(CultureInfo.InvariantCulture, $"""<tr class="{Css(scenario.Passed)}"><td><a href="#{Anchor(i, scenario)}">{E(scenario.Title)}</a></td><td>{E(scenario.Model)}</td><td class="verdict {Css(scenario.Passed)}">{Verdict(scenario.Passed)}</td><td><ul class="checks">""");
            if (scenario.Error is not null)
            {
                html.Append(CultureInfo.InvariantCulture, $"""<li><span class="fail">error</span>: {E(FirstLine(scenario.Error))}</li>""");
            }

            foreach (var check in scenario.Checks)
            {
                html.Append(CultureInfo.InvariantCulture, $"""<li><span class="{Css(check.Passed)}">{Verdict(check.Passed)}</span> {E(check.Name)}: {E(check.Measured)} ({E(check.Target)})</li>""");
            }

            if (scenario.Error is null && scenario.Checks.Count == 0)
            {
                html.Append("<li>no checks</li>");
            }

            html.Append("</ul></td></tr>\n");
        }

        html.Append("</tbody>\n</table>\n");
        for (var i = 0; i < run.Scenarios.Count; i++)
        {
            Scenario(html, i, run.Scenarios[i]);
        }

        html.Append("</body>\n</html>\n");
        return html.ToString();
    }

    private static void Scenario(StringBuilder html, int index, ScenarioReport scenario)
    {
        html.Append(CultureInfo.InvariantCulture, $"""

            <section id="{Anchor(index, scenario)}" class="{Css(scenario.Passed)}">
            <h2>{E(scenario.Title)} <span class="badge {Css(scenario.Passed)}">{Verdict(scenario.Passed)}</span></h2>
            <p class="meta">{E(scenario.Model)} · <code>{E(scenario.Id)}</code></p>
            <p class="description">{E(scenario.Description)}</p>

            """);
        if (scenario.Error is not null)
        {
            html.Append(CultureInfo.InvariantCulture, $"<pre class=\"error\">{E(scenario.Error)}</pre>\n");
        }

        if (scenario.Figures.Count > 0)
        {
            html.Append("<div class=\"figures\">");
            foreach (var figure in scenario.Figures)
            {
                html.Append(CultureInfo.InvariantCulture, $"""<div class="figure"><div class="value">{E(figure.Value)}</div><div class="name">{E(figure.Name)}</div></div>""");
            }

            html.Append("</div>\n");
        }

        if (scenario.Checks.Count > 0)
        {
            html.Append("<table class=\"checks\"><thead><tr><th>check</th><th>target</th><th>measured</th><th>verdict</th></tr></thead><tbody>\n");
            foreach (var check in scenario.Checks)
            {
                html.Append(CultureInfo.InvariantCulture, $"""<tr class="{Css(check.Passed)}"><td>{E(check.Name)}</td><td>{E(check.Target)}</td><td>{E(check.Measured)}</td><td class="verdict {Css(check.Passed)}">{Verdict(check.Passed)}</td></tr>""");
                html.Append('\n');
            }

            html.Append("</tbody></table>\n");
        }

        var samples = scenario.Samples;
        Chart(html, "Throughput", "msg/s", [new("throughput", "#2563eb", [.. samples.Select(s => (s.Seconds, s.Throughput))])]);
        Chart(html, "Latency percentiles", "ms",
        [
            new("p50", "#16a34a", [.. samples.Select(s => (s.Seconds, s.P50Ms))]),
            new("p95", "#f59e0b", [.. samples.Select(s => (s.Seconds, s.P95Ms))]),
            new("p99", "#dc2626", [.. samples.Select(s => (s.Seconds, s.P99Ms))]),
        ]);
        Chart(html, "Queue depth", "messages", [new("queue depth", "#7c3aed", [.. samples.Select(s => (s.Seconds, (double?)s.QueueDepth))])]);
        html.Append("</section>\n");
    }

    private static void Chart(StringBuilder html, string title, string unit, IReadOnlyList<SvgChart.Series> series)
    {
        var svg = SvgChart.Render($"{title} ({unit})", unit, series);
        html.Append(CultureInfo.InvariantCulture, $"<figure><figcaption>{E(title)} ({E(unit)})</figcaption>");
        html.Append(svg ?? "<p class=\"nodata\">no data</p>");
        html.Append("</figure>\n");
    }

    private static string E(string? text) => Html.Escape(text);

    private static string Verdict(bool passed) => passed ? "PASS" : "FAIL";

    private static string Css(bool passed) => passed ? "pass" : "fail";

    // Ids may hold anything; the anchor keeps the index for uniqueness and only characters safe in a fragment.
    private static string Anchor(int index, ScenarioReport scenario) =>
        string.Create(CultureInfo.InvariantCulture, $"scenario-{index + 1}-{new string([.. scenario.Id.Select(c => char.IsAsciiLetterOrDigit(c) ? c : '-')])}");

    private static string FirstLine(string text) => text.Split('\n', 2)[0].TrimEnd('\r');

    internal static string Duration(TimeSpan duration) => duration.TotalHours >= 1
        ? string.Create(CultureInfo.InvariantCulture, $"{(int)duration.TotalHours} h {duration.Minutes} min {duration.Seconds} s")
        : duration.TotalMinutes >= 1
            ? string.Create(CultureInfo.InvariantCulture, $"{duration.Minutes} min {duration.Seconds} s")
            : string.Create(CultureInfo.InvariantCulture, $"{duration.TotalSeconds:0.#} s");
}
