using Cortex.Scheduler;
using Cortex.Scheduler.Metrics;
using Cortex.Sender.Pipeline;
using Cortex.Shared.Metrics;
using Cortex.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Cortex.Sender.Tests.Deploy;

/// <summary>The alert rules and the dashboard name only metrics the two services really export.</summary>
public class ExportedMetricsTests(RedisFixture redis) : IClassFixture<RedisFixture>
{
    [Fact]
    public async Task AlertRulesAndDashboard_ReferenceOnlyMetricsTheServicesExport()
    {
        var settings = new Dictionary<string, string?>
        {
            ["Cortex:Redis:Configuration"] = redis.Server.Configuration,
            ["Cortex:Postgres:ConnectionString"] = "Host=127.0.0.1;Database=unused",
            ["Cortex:Observability:Port"] = "0",
        };

        // Built, not started: every instrument exists once the services that own them are constructed.
        await using var sender = SenderApplication.Build([], b => b.Configuration.AddInMemoryCollection(settings));
        await using var scheduler = SchedulerApplication.Build([], b => b.Configuration.AddInMemoryCollection(settings));
        sender.Services.GetRequiredService<SenderEngine>();
        sender.Services.GetRequiredService<QueueMetrics>();
        scheduler.Services.GetRequiredService<SchedulerMetrics>();
        scheduler.Services.GetRequiredService<QueueMetrics>();
        var exported = Exported(sender).Concat(Exported(scheduler)).ToHashSet(StringComparer.Ordinal);

        var missing = DeployArtifacts.ReferencedMetricNames().Where(name => !exported.Contains(name)).Order().ToList();

        Assert.True(missing.Count == 0, $"referenced in deploy/ but exported by neither service: {string.Join(", ", missing)}; runtime names exported: {string.Join(", ", exported.Where(n => n.StartsWith("dotnet_", StringComparison.Ordinal)).Order())}");
        Assert.Contains("cortex_queue_depth", exported); // the comparison itself found the services' instruments
        Assert.Contains("cortex_scheduler_job_runs_total", exported);
        Assert.Contains("cortex_sender_send_duration_seconds_bucket", exported);
    }

    private static IReadOnlySet<string> Exported(WebApplication app) => app.Services.GetRequiredService<PrometheusExporter>().SampleNames();
}
