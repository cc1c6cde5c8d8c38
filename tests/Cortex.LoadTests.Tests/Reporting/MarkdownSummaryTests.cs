using System.Text.RegularExpressions;
using Cortex.LoadTests.Reporting;
using static Cortex.LoadTests.Tests.Reporting.Reports;

namespace Cortex.LoadTests.Tests.Reporting;

public sealed partial class MarkdownSummaryTests
{
    [Fact]
    public void Render_FailedCheck_RowAndRunVerdictAreFail()
    {
        var run = Run(Scenario(), Scenario(title: "Burst", checks: [new("p99 latency", "≤ 50 ms", "212 ms", false)]));

        var md = MarkdownSummary.Render(run);

        Assert.StartsWith("# Cortex load test: ❌ FAIL\n", md, StringComparison.Ordinal);
        Assert.Contains("| Burst | p99 latency | ≤ 50 ms | 212 ms | ❌ FAIL |", md, StringComparison.Ordinal);
        Assert.Contains("| Steady rate | throughput | ≥ 25,000 msg/s | 46,764 msg/s | ✅ PASS |", md, StringComparison.Ordinal);
        Assert.Contains("## Burst: ❌ FAIL", md, StringComparison.Ordinal);
    }

    [Fact]
    public void Render_AllChecksPassed_RunVerdictIsPass()
    {
        var md = MarkdownSummary.Render(Run(Scenario()));

        Assert.StartsWith("# Cortex load test: ✅ PASS\n", md, StringComparison.Ordinal);
        Assert.Contains("| p99 enqueue→accepted | 18.2 ms |", md, StringComparison.Ordinal);
    }

    [Fact]
    public void Render_PipesBackslashesAndLineBreaksInCells_StayInsideTheirCell()
    {
        var scenario = Scenario(title: "a|b", checks: [new("C:\\tmp\\|x", "≥ 1|2", "multi\nline", false)], error: "boom | at\r\nFoo()");

        var md = MarkdownSummary.Render(Run(scenario));

        Assert.Contains(@"| a\|b | C:\\tmp\\\|x | ≥ 1\|2 | multi line | ❌ FAIL |", md, StringComparison.Ordinal);
        var rows = md.Split('\n').Where(l => l.StartsWith("| a", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, rows.Count);

        // What a GFM table parser does: an escaped character (\\ or \|) is content, any other | separates cells.
        Assert.All(rows, row => Assert.Equal(6, CellSeparator().Matches(row).Count(m => m.Value == "|")));
    }

    [Fact]
    public void Render_AngleBracketsAndStackTrace_ShownAsTextOnOneRow()
    {
        var md = MarkdownSummary.Render(Run(Scenario(title: "Steady <open>", error: "Redis gone\n   at Connect()")));

        Assert.Contains("| Steady &lt;open> | error | — | Redis gone | ❌ FAIL |", md, StringComparison.Ordinal);
        Assert.DoesNotContain("<open>", md, StringComparison.Ordinal);
        Assert.DoesNotContain("at Connect()", md, StringComparison.Ordinal);
    }

    [GeneratedRegex(@"\\.|\|")]
    private static partial Regex CellSeparator();
}
