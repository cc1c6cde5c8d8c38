using System.Diagnostics.Metrics;
using Cortex.Shared.Metrics;
using Cortex.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Cortex.Shared.Tests.Metrics;

/// <summary>Prometheus' own linter reads a scrape with every instrument kind, the runtime's meter included.</summary>
public class PromtoolLintTests
{
    [Fact]
    public async Task Scrape_EveryInstrumentKindAndRuntimeMeter_PassesPromtoolCheckMetrics()
    {
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var factory = services.GetRequiredService<IMeterFactory>();
        using var exporter = new PrometheusExporter(factory);
        var meter = factory.Create("Cortex.Lint");
        var reason = new KeyValuePair<string, object?>("dead.reason", "C:\\bad \"payload\"\nline two");
        var outcome = new KeyValuePair<string, object?>("outcome", "ok");

        meter.CreateCounter<long>("cortex.sender.sent", "{message}", "Messages accepted.\nSecond line \\ here.").Add(3, reason);
        meter.CreateCounter<double>("cortex.sender.busy", "s", "Busy time.").Add(1.5, outcome);
        meter.CreateCounter<long>("cortex.sender.payload", "By", "Bytes sent.").Add(2048);
        meter.CreateUpDownCounter<int>("cortex.sender.in_flight", "{message}", "In flight.").Add(2, outcome);
        meter.CreateUpDownCounter<long>("cortex.queue.ready.count", "{message}", "Ready messages.").Add(4);
        meter.CreateGauge<double>("cortex.sender.utilization", "1", "Share of the limit used.").Record(0.75);
        meter.CreateGauge<long>("cortex.sender.buffer", "By", "Buffered bytes.").Record(512);
        meter.CreateObservableCounter("cortex.scheduler.runs", () => 7L, "{run}", "Scheduler runs.");
        meter.CreateObservableUpDownCounter("cortex.scheduler.pending", () => new Measurement<int>(5, outcome), "{job}", "Pending jobs.");
        meter.CreateObservableGauge("cortex.queue.oldest.age", () => 12.5, "s", "Age of the oldest message.");
        meter.CreateObservableGauge("cortex.sender.SendRate", () => double.NaN, null, "camelCase name.");
        var duration = meter.CreateHistogram<double>("cortex.sender.send.duration", "s", "Time of one gateway call.");
        duration.Record(0.02, outcome);
        duration.Record(7200, outcome);
        meter.CreateHistogram<int>("cortex.sender.batch.size", "{message}", "Messages per batch.").Record(40);
        meter.CreateHistogram<long>("cortex.sender.body", "By", "Body size.").Record(900);
        // Make the runtime report the series that only exist after a collection and an exception.
        GC.Collect();
        try
        {
            throw new InvalidOperationException("lint");
        }
        catch (InvalidOperationException)
        {
        }

        var scrape = exporter.Scrape();
        var (exitCode, output) = await Promtool.CheckMetricsAsync(scrape);

        Assert.Contains("\ncortex_sender_send_duration_seconds_bucket{outcome=\"ok\",le=\"+Inf\"} 2\n", scrape, StringComparison.Ordinal);
        Assert.Contains("# TYPE dotnet_gc_collections_total counter\n", scrape, StringComparison.Ordinal);
        Assert.Contains("dotnet_exceptions_total{error_type=\"InvalidOperationException\"}", scrape, StringComparison.Ordinal);
        Assert.True(exitCode == 0 && output.Length == 0, $"promtool check metrics exited {exitCode}:\n{output}\n--- scrape ---\n{scrape}");
    }
}
