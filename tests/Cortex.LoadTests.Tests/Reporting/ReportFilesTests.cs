using System.Text.Json;
using Cortex.LoadTests.Reporting;
using static Cortex.LoadTests.Tests.Reporting.Reports;

namespace Cortex.LoadTests.Tests.Reporting;

public sealed class ReportFilesTests : IDisposable
{
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("cortex-report-");

    public void Dispose() => _directory.Delete(recursive: true);

    [Fact]
    public void Write_Run_WritesHtmlMarkdownAndJsonThatReadsBackEqual()
    {
        var samples = Ramp(5);
        samples[2] = samples[2] with { Throughput = null, P99Ms = double.NaN, QueueDepth = null };
        var run = Run(Scenario(samples: samples), Scenario(title: "Burst", checks: [new("p99", "≤ 50 ms", "212 ms", false)], error: "timed out"));
        var target = Path.Combine(_directory.FullName, "nested", "run-1");

        var paths = ReportFiles.Write(run, target);

        Assert.Equal(["report.html", "summary.md", "report.json"], paths.Select(Path.GetFileName));
        Assert.All(paths, p => Assert.True(new FileInfo(p).Length > 0, p));
        Assert.Equal(HtmlReport.Render(run), File.ReadAllText(paths[0]));
        var back = ReportFiles.Read(paths[2]);
        Assert.Equal((run.Profile, run.StartedAt, run.Duration, run.Machine, run.Command), (back.Profile, back.StartedAt, back.Duration, back.Machine, back.Command));
        Assert.Equal(run.StartedAt.Offset, back.StartedAt.Offset);
        Assert.Equal(run.Scenarios.Count, back.Scenarios.Count);
        foreach (var (expected, actual) in run.Scenarios.Zip(back.Scenarios))
        {
            Assert.Equal((expected.Id, expected.Title, expected.Model, expected.Description, expected.Error), (actual.Id, actual.Title, actual.Model, actual.Description, actual.Error));
            Assert.Equal(expected.Figures, actual.Figures);
            Assert.Equal(expected.Checks, actual.Checks);
            Assert.Equal(expected.Samples, actual.Samples);
        }

        Assert.False(back.Passed);
    }

    [Fact]
    public void Write_Run_JsonCarriesTheVerdictsForToolsThatDoNotRecompute()
    {
        var paths = ReportFiles.Write(Run(Scenario(), Scenario(title: "Burst", checks: [new("p99", "≤ 50 ms", "212 ms", false)])), _directory.FullName);

        using var json = JsonDocument.Parse(File.ReadAllText(paths[2]));

        Assert.False(json.RootElement.GetProperty("passed").GetBoolean());
        Assert.Equal([true, false], json.RootElement.GetProperty("scenarios").EnumerateArray().Select(s => s.GetProperty("passed").GetBoolean()));
    }
}
