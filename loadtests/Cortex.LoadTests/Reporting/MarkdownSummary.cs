using System.Globalization;
using System.Text;

namespace Cortex.LoadTests.Reporting;

/// <summary>A GitHub-flavoured Markdown summary of a run, short enough for a PR comment or a CI job summary.</summary>
internal static class MarkdownSummary
{
    public static string Render(RunReport run)
    {
        ArgumentNullException.ThrowIfNull(run);
        var failed = run.Scenarios.Count(s => !s.Passed);
        var md = new StringBuilder();
        md.Append(CultureInfo.InvariantCulture, $"""
            # Cortex load test: {Verdict(run.Passed)}

            - **Profile:** {Text(run.Profile)}
            - **Started:** {run.StartedAt.ToString("yyyy-MM-dd HH:mm:ss zzz", CultureInfo.InvariantCulture)} (took {HtmlReport.Duration(run.Duration)})
            - **Machine:** {Text(run.Machine)}
            - **Command:** {CodeSpan(run.Command)}

            **Verdict: {Verdict(run.Passed)}** — {run.Scenarios.Count - failed} of {run.Scenarios.Count} scenarios passed.

            ## Checks

            | scenario | check | target | measured | verdict |
            | --- | --- | --- | --- | --- |

            """);
        foreach (var scenario in run.Scenarios)
        {
            if (scenario.Error is not null)
            {
                md.Append(CultureInfo.InvariantCulture, $"| {Text(scenario.Title)} | error | — | {Text(FirstLine(scenario.Error))} | {Verdict(false)} |\n");
            }

            foreach (var check in scenario.Checks)
            {
                md.Append(CultureInfo.InvariantCulture, $"| {Text(scenario.Title)} | {Text(check.Name)} | {Text(check.Target)} | {Text(check.Measured)} | {Verdict(check.Passed)} |\n");
            }

            if (scenario.Error is null && scenario.Checks.Count == 0)
            {
                md.Append(CultureInfo.InvariantCulture, $"| {Text(scenario.Title)} | — | — | — | no checks |\n");
            }
        }

        foreach (var scenario in run.Scenarios)
        {
            md.Append(CultureInfo.InvariantCulture, $"\n## {Text(scenario.Title)}: {Verdict(scenario.Passed)}\n\n{Text(scenario.Model)} · {CodeSpan(scenario.Id)}\n\n");
            if (scenario.Figures.Count > 0)
            {
                md.Append("| figure | value |\n| --- | --- |\n");
                foreach (var figure in scenario.Figures)
                {
                    md.Append(CultureInfo.InvariantCulture, $"| {Text(figure.Name)} | {Text(figure.Value)} |\n");
                }
            }
        }

        return md.ToString();
    }

    private static string Verdict(bool passed) => passed ? "✅ PASS" : "❌ FAIL";

    /// <summary>
    /// Text safe in a table cell or a one-line item: a line break would end the row and an unescaped | would
    /// start a new cell. Backslashes are doubled first, or "a\|" would turn the escape back into a separator.
    /// A &lt; becomes an entity so "&lt;open&gt;" is shown, not taken for an HTML tag and dropped by GitHub.
    /// </summary>
    internal static string Text(string? text) => (text ?? string.Empty)
        .Replace("\\", "\\\\", StringComparison.Ordinal)
        .Replace("|", "\\|", StringComparison.Ordinal)
        .Replace("<", "&lt;", StringComparison.Ordinal)
        .Replace("\r\n", " ", StringComparison.Ordinal)
        .Replace('\n', ' ')
        .Replace('\r', ' ');

    // The stack trace is in the HTML report; a table row gets the message.
    private static string FirstLine(string text) => text.Split('\n', 2)[0].TrimEnd('\r');

    // A code span shows a command verbatim; its fence is longer than any run of backticks inside it.
    private static string CodeSpan(string text)
    {
        text = text.Replace("\r\n", " ", StringComparison.Ordinal).Replace('\n', ' ').Replace('\r', ' ');
        var longest = 0;
        var current = 0;
        foreach (var c in text)
        {
            current = c == '`' ? current + 1 : 0;
            longest = Math.Max(longest, current);
        }

        var fence = new string('`', longest + 1);
        return longest > 0 ? $"{fence} {text} {fence}" : $"{fence}{text}{fence}";
    }
}
