using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Cortex.Sender.Tests.Deploy;

/// <summary>
/// Runs the real promtool (Debian's prometheus package) on deploy/prometheus: the rules must load and every promtool
/// unit test must pass. promtool missing is a failure, not a skip.
/// </summary>
public partial class PromtoolTests
{
    [Fact]
    public async Task CheckRules_AlertRulesFile_ExitsZero()
    {
        var result = await DeployArtifacts.RunPromtoolAsync("check", "rules", DeployArtifacts.RulesPath);

        Assert.True(result.ExitCode == 0, result.ToString());
    }

    [Fact]
    public async Task CheckRules_AlertRulesFile_CountsAsManyRulesAsTheLineReader()
    {
        // promtool parses the YAML for real; the tests' line reader must see the same rules, or the coverage test
        // below could pass on a rule it never saw.
        var result = await DeployArtifacts.RunPromtoolAsync("check", "rules", DeployArtifacts.RulesPath);
        Assert.True(result.ExitCode == 0, result.ToString());

        var found = RulesFoundRegex().Match(result.Output);
        Assert.True(found.Success, result.ToString());
        Assert.Equal(DeployArtifacts.AlertRules().Count, int.Parse(found.Groups[1].Value, CultureInfo.InvariantCulture));
    }

    [Fact]
    public async Task TestRules_AlertUnitTests_AllPass()
    {
        var result = await DeployArtifacts.RunPromtoolAsync("test", "rules", DeployArtifacts.RuleTestsPath);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("SUCCESS", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CheckRules_DashboardQueries_ParseAsPromQl()
    {
        // Each panel query becomes a recording rule (Grafana's $__rate_interval, $__range and $queue replaced), so
        // promtool's parser checks the dashboard's PromQL too. JSON is YAML, so the file is written with System.Text.Json.
        var exprs = DeployArtifacts.DashboardPanelExprs();
        Assert.NotEmpty(exprs);
        var rules = exprs.Select((e, i) => new Dictionary<string, string>
        {
            ["record"] = $"cortex_dashboard:query_{i + 1}",
            ["expr"] = DeployArtifacts.AsPlainPromQl(e),
        });
        var file = Path.Combine(Path.GetTempPath(), $"cortex-dashboard-queries-{Guid.NewGuid():N}.yml");
        await File.WriteAllTextAsync(file, JsonSerializer.Serialize(new { groups = new[] { new { name = "dashboard", rules } } }));
        try
        {
            var result = await DeployArtifacts.RunPromtoolAsync("check", "rules", file);

            Assert.True(result.ExitCode == 0, result.ToString());
        }
        finally
        {
            File.Delete(file);
        }
    }

    [GeneratedRegex(@"SUCCESS: (\d+) rules found")]
    private static partial Regex RulesFoundRegex();
}
