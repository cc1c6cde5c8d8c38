using System.Text.RegularExpressions;

namespace Cortex.Sender.Tests.Deploy;

/// <summary>
/// <see cref="DeployArtifacts.ReferencedMetricNames"/> is what a live-scrape test compares against the services' /metrics;
/// here it is checked to read both files and to keep names as written.
/// </summary>
public partial class ReferencedMetricNamesTests
{
    [Fact]
    public void ReferencedMetricNames_RulesAndDashboard_IncludeTheCoreMetrics()
    {
        var names = DeployArtifacts.ReferencedMetricNames();

        Assert.NotEmpty(names);
        Assert.Contains("cortex_queue_depth", names);
        Assert.Contains("cortex_queue_oldest_ready_timestamp_seconds", names);
        Assert.Contains("cortex_sender_sent_total", names);
        Assert.Contains("cortex_sender_failed_total", names);
        Assert.Contains("cortex_sender_dead_lettered_total", names);
        Assert.Contains("cortex_sender_circuit_state", names);
    }

    [Fact]
    public void ReferencedMetricNames_Histograms_KeepTheirSuffixAsWritten()
    {
        var names = DeployArtifacts.ReferencedMetricNames();

        Assert.Contains("cortex_sender_end_to_end_duration_seconds_bucket", names);
        Assert.Contains("cortex_sender_send_duration_seconds_count", names);
        Assert.Contains("cortex_sender_rate_limit_wait_seconds_sum", names);
        Assert.DoesNotContain("cortex_sender_end_to_end_duration_seconds", names);
    }

    [Fact]
    public void ReferencedMetricNames_BothSources_AreRead()
    {
        // A name only the rules use and names only the dashboard uses.
        var fromRules = DeployArtifacts.AlertRules().SelectMany(r => DeployArtifacts.MetricNamesIn(r.Expr)).ToHashSet(StringComparer.Ordinal);
        var fromDashboard = DeployArtifacts.DashboardQueries().SelectMany(DeployArtifacts.MetricNamesIn).ToHashSet(StringComparer.Ordinal);
        var names = DeployArtifacts.ReferencedMetricNames();

        Assert.Contains("cortex_scheduler_job_runs_total", fromRules);
        Assert.Contains("dotnet_process_memory_working_set_bytes", fromDashboard);
        Assert.Equal(fromRules.Union(fromDashboard).Order(StringComparer.Ordinal), names.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void ReferencedMetricNames_EveryName_IsLowerSnakeCase()
    {
        var bad = DeployArtifacts.ReferencedMetricNames().Where(n => !SnakeRegex().IsMatch(n)).ToList();

        Assert.True(bad.Count == 0, "not lower snake case: " + string.Join(", ", bad));
    }

    [GeneratedRegex(@"^(cortex|dotnet)_[a-z0-9]+(_[a-z0-9]+)*$")]
    private static partial Regex SnakeRegex();

    [Fact]
    public void AdapterQueries_HpaAlternative_BothQueriesAreRead()
    {
        // The HPA of k8s/overlays/prod-hpa scales on what these queries serve: their names are checked against /metrics.
        var queries = DeployArtifacts.AdapterQueries().ToList();

        Assert.Equal(2, queries.Count);
        Assert.Equal(["cortex_queue_depth"], queries.SelectMany(DeployArtifacts.MetricNamesIn)); // metricsQuery says <<.Series>>
    }
}
