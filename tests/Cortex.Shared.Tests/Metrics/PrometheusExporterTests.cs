using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Text;
using System.Text.RegularExpressions;
using Cortex.Shared.Metrics;
using Microsoft.Extensions.DependencyInjection;

namespace Cortex.Shared.Tests.Metrics;

public class PrometheusExporterTests
{
    [Fact]
    public void Scrape_Counter_WritesHelpTypeAndRunningTotalPerTagSet()
    {
        using var meter = new Meter("Test.Exporter");
        using var exporter = new PrometheusExporter(m => m == meter);
        var sent = meter.CreateCounter<long>("cortex.sender.sent", "{message}", "Messages accepted by the gateway.");

        sent.Add(1);
        sent.Add(2);
        sent.Add(4, new KeyValuePair<string, object?>("outcome", "ok"));

        Assert.Equal(
            """
            # HELP cortex_sender_sent_total Messages accepted by the gateway.
            # TYPE cortex_sender_sent_total counter
            cortex_sender_sent_total 3
            cortex_sender_sent_total{outcome="ok"} 4

            """,
            exporter.Scrape());
    }

    [Fact]
    public void Scrape_TagsInAnyOrder_OneSeriesWithSortedSanitizedLabels()
    {
        using var meter = new Meter("Test.Exporter");
        using var exporter = new PrometheusExporter(m => m == meter);
        var collections = meter.CreateCounter<int>("gc.collections", description: "Collections.");

        collections.Add(1, new("reason", "alloc"), new("gc.heap.generation", "gen0"));
        collections.Add(2, new("gc.heap.generation", "gen0"), new("reason", "alloc"));
        collections.Add(5, new("attempt", 3), new("final", true), new("ratio", 0.5), new("missing", null));

        Assert.Equal(
            """
            # HELP gc_collections_total Collections.
            # TYPE gc_collections_total counter
            gc_collections_total{attempt="3",final="true",missing="",ratio="0.5"} 5
            gc_collections_total{gc_heap_generation="gen0",reason="alloc"} 3

            """,
            exporter.Scrape());
    }

    [Fact]
    public void Scrape_UpDownCountersAndGauges_WritesGaugesWithUnitSuffixes()
    {
        using var meter = new Meter("Test.Exporter");
        using var exporter = new PrometheusExporter(m => m == meter);
        var inFlight = meter.CreateUpDownCounter<long>("cortex.sender.in_flight", "{message}", "Messages being sent.");
        var buffer = meter.CreateUpDownCounter<long>("cortex.buffer.size", "By", "Buffered bytes.");
        var utilization = meter.CreateGauge<double>("cortex.sender.utilization", "1", "Share of the rate limit used.");
        var ready = meter.CreateUpDownCounter<int>("cortex.queue.ready.count", "{message}", "Ready messages.");

        inFlight.Add(5);
        inFlight.Add(-2);
        buffer.Add(1024);
        utilization.Record(0.5);
        utilization.Record(0.25);
        ready.Add(7);

        // The last gauge would read as a histogram's _count series without the _current suffix.
        Assert.Equal(
            """
            # HELP cortex_buffer_size_bytes Buffered bytes.
            # TYPE cortex_buffer_size_bytes gauge
            cortex_buffer_size_bytes 1024
            # HELP cortex_queue_ready_count_current Ready messages.
            # TYPE cortex_queue_ready_count_current gauge
            cortex_queue_ready_count_current 7
            # HELP cortex_sender_in_flight Messages being sent.
            # TYPE cortex_sender_in_flight gauge
            cortex_sender_in_flight 3
            # HELP cortex_sender_utilization_ratio Share of the rate limit used.
            # TYPE cortex_sender_utilization_ratio gauge
            cortex_sender_utilization_ratio 0.25

            """,
            exporter.Scrape());
    }

    [Fact]
    public void Scrape_Histogram_WritesCumulativeBucketsSumAndCount()
    {
        using var meter = new Meter("Test.Exporter");
        using var exporter = new PrometheusExporter(m => m == meter);
        var duration = meter.CreateHistogram<double>(
            "cortex.sender.send.duration",
            unit: "s",
            description: "Time of one gateway call.",
            tags: null,
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.005, 0.25, 1, 2.5] });
        var ok = new KeyValuePair<string, object?>("outcome", "ok");

        // A value equal to a bound counts in that bucket (le means less or equal).
        duration.Record(0.25, ok);
        duration.Record(0.5, ok);
        duration.Record(0.5, ok);
        duration.Record(4, ok);
        duration.Record(0.001);

        Assert.Equal(
            """
            # HELP cortex_sender_send_duration_seconds Time of one gateway call.
            # TYPE cortex_sender_send_duration_seconds histogram
            cortex_sender_send_duration_seconds_bucket{le="0.005"} 1
            cortex_sender_send_duration_seconds_bucket{le="0.25"} 1
            cortex_sender_send_duration_seconds_bucket{le="1"} 1
            cortex_sender_send_duration_seconds_bucket{le="2.5"} 1
            cortex_sender_send_duration_seconds_bucket{le="+Inf"} 1
            cortex_sender_send_duration_seconds_sum 0.001
            cortex_sender_send_duration_seconds_count 1
            cortex_sender_send_duration_seconds_bucket{outcome="ok",le="0.005"} 0
            cortex_sender_send_duration_seconds_bucket{outcome="ok",le="0.25"} 1
            cortex_sender_send_duration_seconds_bucket{outcome="ok",le="1"} 3
            cortex_sender_send_duration_seconds_bucket{outcome="ok",le="2.5"} 3
            cortex_sender_send_duration_seconds_bucket{outcome="ok",le="+Inf"} 4
            cortex_sender_send_duration_seconds_sum{outcome="ok"} 5.25
            cortex_sender_send_duration_seconds_count{outcome="ok"} 4

            """,
            exporter.Scrape());
    }

    [Theory]
    [InlineData("s", "0.001 0.0025 0.005 0.01 0.025 0.05 0.1 0.25 0.5 1 2.5 5 10 30 60 120 300 600 1800 3600 +Inf")]
    [InlineData("{message}", "0 5 10 25 50 75 100 250 500 750 1000 2500 5000 7500 10000 +Inf")]
    public void Scrape_HistogramWithoutAdvice_UsesDefaultBucketsForItsUnit(string unit, string expectedBounds)
    {
        using var meter = new Meter("Test.Exporter");
        using var exporter = new PrometheusExporter(m => m == meter);
        meter.CreateHistogram<int>("cortex.batch", unit).Record(1);

        var bounds = Regex.Matches(exporter.Scrape(), "le=\"([^\"]+)\"").Select(m => m.Groups[1].Value);

        Assert.Equal(expectedBounds, string.Join(' ', bounds));
    }

    [Fact]
    public void Scrape_LabelValueAndHelpWithSpecialCharacters_AreEscaped()
    {
        using var meter = new Meter("Test.Exporter");
        using var exporter = new PrometheusExporter(m => m == meter);
        var counter = meter.CreateCounter<long>("cortex.files", description: "Line one\nC:\\dir \"quoted\"");

        counter.Add(1, new KeyValuePair<string, object?>("path", "C:\\dir \"x\"\ny"));

        // HELP escapes backslash and newline only; label values also escape the double quote.
        Assert.Equal(
            """
            # HELP cortex_files_total Line one\nC:\\dir "quoted"
            # TYPE cortex_files_total counter
            cortex_files_total{path="C:\\dir \"x\"\ny"} 1

            """,
            exporter.Scrape());
    }

    [Fact]
    public void Scrape_SpecialAndExtremeValues_WrittenSoPrometheusParsesThem()
    {
        using var meter = new Meter("Test.Exporter");
        using var exporter = new PrometheusExporter(m => m == meter);
        var gauge = meter.CreateGauge<double>("cortex.value");

        gauge.Record(double.NaN, new KeyValuePair<string, object?>("k", "a"));
        gauge.Record(double.PositiveInfinity, new KeyValuePair<string, object?>("k", "b"));
        gauge.Record(double.NegativeInfinity, new KeyValuePair<string, object?>("k", "c"));
        gauge.Record(0.1, new KeyValuePair<string, object?>("k", "d"));
        gauge.Record(1e21, new KeyValuePair<string, object?>("k", "e"));

        // No description: the instrument's own name is the help text, because promtool rejects a metric without one.
        Assert.Equal(
            """
            # HELP cortex_value cortex.value
            # TYPE cortex_value gauge
            cortex_value{k="a"} NaN
            cortex_value{k="b"} +Inf
            cortex_value{k="c"} -Inf
            cortex_value{k="d"} 0.1
            cortex_value{k="e"} 1E+21

            """,
            exporter.Scrape());
    }

    [Fact]
    public void Scrape_EveryMeasurementType_Recorded()
    {
        using var meter = new Meter("Test.Exporter");
        using var exporter = new PrometheusExporter(m => m == meter);

        meter.CreateCounter<byte>("t.byte").Add(1);
        meter.CreateCounter<short>("t.short").Add(2);
        meter.CreateCounter<int>("t.int").Add(3);
        meter.CreateCounter<long>("t.long").Add(4);
        meter.CreateCounter<float>("t.float").Add(0.5f);
        meter.CreateCounter<double>("t.double").Add(0.25);
        meter.CreateCounter<decimal>("t.decimal").Add(1.5m);

        var samples = exporter.Scrape().Split('\n').Where(l => l.Length > 0 && !l.StartsWith('#'));
        Assert.Equal(
            ["t_byte_total 1", "t_decimal_total 1.5", "t_double_total 0.25", "t_float_total 0.5", "t_int_total 3", "t_long_total 4", "t_short_total 2"],
            samples);
    }

    [Fact]
    public void Scrape_ObservableInstruments_ReadAtScrapeTimeAndVanishWhenNotReported()
    {
        using var meter = new Meter("Test.Exporter");
        using var exporter = new PrometheusExporter(m => m == meter);
        var processed = 10L;
        var depths = new Dictionary<string, int> { ["a"] = 3, ["b"] = 4 };
        meter.CreateObservableCounter("cortex.processed", () => processed, "{message}", "Processed.");
        meter.CreateObservableGauge(
            "cortex.queue.depth",
            () => depths.Select(d => new Measurement<int>(d.Value, new KeyValuePair<string, object?>("queue", d.Key))),
            "{message}",
            "Depth.");

        var first = exporter.Scrape();
        processed = 25;
        depths.Remove("b");
        depths["a"] = 9;
        var second = exporter.Scrape();

        Assert.Equal(
            """
            # HELP cortex_processed_total Processed.
            # TYPE cortex_processed_total counter
            cortex_processed_total 10
            # HELP cortex_queue_depth Depth.
            # TYPE cortex_queue_depth gauge
            cortex_queue_depth{queue="a"} 3
            cortex_queue_depth{queue="b"} 4

            """,
            first);
        Assert.Equal(
            """
            # HELP cortex_processed_total Processed.
            # TYPE cortex_processed_total counter
            cortex_processed_total 25
            # HELP cortex_queue_depth Depth.
            # TYPE cortex_queue_depth gauge
            cortex_queue_depth{queue="a"} 9

            """,
            second);
    }

    [Fact]
    public void Scrape_ObservableCallbackThrows_OtherSeriesStillWritten()
    {
        using var meter = new Meter("Test.Exporter");
        using var exporter = new PrometheusExporter(m => m == meter);
        meter.CreateCounter<long>("cortex.sent").Add(3);
        Func<long> broken = () => throw new InvalidOperationException("redis is down");
        meter.CreateObservableGauge("cortex.broken", broken);
        meter.CreateObservableGauge("cortex.working", () => 2L);

        var text = exporter.Scrape();

        Assert.Contains("\ncortex_sent_total 3\n", text, StringComparison.Ordinal);
        Assert.Contains("\ncortex_working 2\n", text, StringComparison.Ordinal);
        Assert.DoesNotContain("cortex_broken", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Scrape_SameNameFromTwoMeters_MergedUnderOneHelpAndType()
    {
        using var sender = new Meter("Test.Sender");
        using var queue = new Meter("Test.Queue");
        using var exporter = new PrometheusExporter(m => m == sender || m == queue);
        var fromSender = sender.CreateCounter<long>("cortex.queue.leases_recovered", "{message}", "Leases returned (sender).");
        var fromQueue = queue.CreateCounter<long>("cortex.queue.leases_recovered", "{message}", "Leases returned (queue).");

        fromSender.Add(2);
        fromQueue.Add(3);
        fromQueue.Add(1, new KeyValuePair<string, object?>("reason", "expired"));

        Assert.Equal(
            """
            # HELP cortex_queue_leases_recovered_total Leases returned (sender).
            # TYPE cortex_queue_leases_recovered_total counter
            cortex_queue_leases_recovered_total 5
            cortex_queue_leases_recovered_total{reason="expired"} 1

            """,
            exporter.Scrape());
    }

    [Fact]
    public void Scrape_SameNameDifferentType_FirstPublishedKeepsTheName()
    {
        using var meter = new Meter("Test.Exporter");
        using var exporter = new PrometheusExporter(m => m == meter);
        var waiting = meter.CreateUpDownCounter<double>("cortex.wait", "s", "Seconds waited now.");
        var histogram = meter.CreateHistogram<double>("cortex.wait", "s", "Wait per call.");

        waiting.Add(1.5);
        histogram.Record(0.5);

        Assert.Equal(
            """
            # HELP cortex_wait_seconds Seconds waited now.
            # TYPE cortex_wait_seconds gauge
            cortex_wait_seconds 1.5

            """,
            exporter.Scrape());
    }

    [Fact]
    public void Scrape_TwoHostsInOneProcess_EachExporterShowsOnlyItsFactorysMeters()
    {
        using var hostA = new ServiceCollection().AddMetrics().BuildServiceProvider();
        using var hostB = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var factoryA = hostA.GetRequiredService<IMeterFactory>();
        var factoryB = hostB.GetRequiredService<IMeterFactory>();
        using var exporterA = new PrometheusExporter(factoryA);
        using var exporterB = new PrometheusExporter(factoryB);
        using var outsider = new Meter("Cortex.Sender");

        // Same meter and instrument names in both hosts, as two senders started by one test would have.
        factoryA.Create("Cortex.Sender").CreateCounter<long>("cortex.sender.sent").Add(1);
        factoryB.Create("Cortex.Sender").CreateCounter<long>("cortex.sender.sent").Add(5);
        outsider.CreateCounter<long>("cortex.sender.sent").Add(100);

        var a = exporterA.Scrape();
        var b = exporterB.Scrape();

        Assert.Equal(["cortex_sender_sent_total 1"], a.Split('\n').Where(l => l.StartsWith("cortex_", StringComparison.Ordinal)));
        Assert.Equal(["cortex_sender_sent_total 5"], b.Split('\n').Where(l => l.StartsWith("cortex_", StringComparison.Ordinal)));
        // The runtime's global meter belongs to no factory and is in both.
        Assert.Contains("# TYPE dotnet_process_cpu_time_seconds_total counter\n", a, StringComparison.Ordinal);
        Assert.Contains("# TYPE dotnet_process_cpu_time_seconds_total counter\n", b, StringComparison.Ordinal);
    }

    [Fact]
    public void Scrape_MeterDisposed_ItsSeriesDisappear()
    {
        using var kept = new Meter("Test.Kept");
        var stopped = new Meter("Test.Stopped");
        using var exporter = new PrometheusExporter(m => m == kept || m == stopped);
        kept.CreateCounter<long>("cortex.kept").Add(1);
        stopped.CreateCounter<long>("cortex.stopped").Add(1);

        stopped.Dispose();

        Assert.Equal(
            """
            # HELP cortex_kept_total cortex.kept
            # TYPE cortex_kept_total counter
            cortex_kept_total 1

            """,
            exporter.Scrape());
    }

    [Fact]
    public void Dispose_ThenRecord_InstrumentDisabledAndScrapeRefused()
    {
        using var meter = new Meter("Test.Exporter");
        var exporter = new PrometheusExporter(m => m == meter);
        var counter = meter.CreateCounter<long>("cortex.sent");
        Assert.True(counter.Enabled);

        exporter.Dispose();
        counter.Add(1);

        // Enabled false is what lets SenderMetrics skip building tags once nothing listens.
        Assert.False(counter.Enabled);
        Assert.Throws<ObjectDisposedException>(exporter.Scrape);
    }

    [Fact]
    public async Task Record_ManyThreadsWhileScraping_TotalsExact()
    {
        const int Threads = 8;
        const int PerThread = 50_000;
        using var meter = new Meter("Test.Exporter");
        using var exporter = new PrometheusExporter(m => m == meter);
        var sent = meter.CreateCounter<long>("cortex.sent");
        var duration = meter.CreateHistogram<double>("cortex.duration", "s", null, null, new InstrumentAdvice<double> { HistogramBucketBoundaries = [1] });

        // Shards are first seen by several threads at once, so series creation races as well as the adds.
        var recording = Task.WhenAll(Enumerable.Range(0, Threads).Select(t => Task.Run(() =>
        {
            var shard = new KeyValuePair<string, object?>("shard", t % 2);
            for (var i = 0; i < PerThread; i++)
            {
                sent.Add(1, shard);
                sent.Add(1);
                duration.Record(0.5, shard);
            }
        })));
        while (!recording.IsCompleted)
        {
            exporter.Scrape();
        }

        await recording;

        var samples = exporter.Scrape().Split('\n').Where(l => l.Length > 0 && !l.StartsWith('#'));
        Assert.Equal(
            [
                """cortex_duration_seconds_bucket{shard="0",le="1"} 200000""",
                """cortex_duration_seconds_bucket{shard="0",le="+Inf"} 200000""",
                """cortex_duration_seconds_sum{shard="0"} 100000""",
                """cortex_duration_seconds_count{shard="0"} 200000""",
                """cortex_duration_seconds_bucket{shard="1",le="1"} 200000""",
                """cortex_duration_seconds_bucket{shard="1",le="+Inf"} 200000""",
                """cortex_duration_seconds_sum{shard="1"} 100000""",
                """cortex_duration_seconds_count{shard="1"} 200000""",
                "cortex_sent_total 400000",
                """cortex_sent_total{shard="0"} 200000""",
                """cortex_sent_total{shard="1"} 200000""",
            ],
            samples);
    }

    [Fact]
    public void Record_TagSetSeenBefore_AllocatesNothing()
    {
        using var meter = new Meter("Test.Exporter");
        using var exporter = new PrometheusExporter(m => m == meter);
        var sent = meter.CreateCounter<long>("cortex.sent");
        var duration = meter.CreateHistogram<double>("cortex.duration", "s");
        var tags = new TagList { { "outcome", "ok" }, { "gateway", "meta" } };
        sent.Add(1, tags);
        sent.Add(1);
        duration.Record(0.1, tags);

        // The sender records about five measurements per message at tens of thousands of messages a second.
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 10_000; i++)
        {
            sent.Add(1, tags);
            sent.Add(1);
            duration.Record(0.1, tags);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    public async Task WriteAsync_Always_SameTextAsScrapeInUtf8WithoutBom()
    {
        using var meter = new Meter("Test.Exporter");
        using var exporter = new PrometheusExporter(m => m == meter);
        meter.CreateCounter<long>("cortex.sent", description: "Mensagens já enviadas.").Add(1, new KeyValuePair<string, object?>("país", "são paulo"));
        using var destination = new MemoryStream();

        await exporter.WriteAsync(destination, CancellationToken.None);

        var bytes = destination.ToArray();
        Assert.Equal((byte)'#', bytes[0]);
        Assert.Equal(exporter.Scrape(), Encoding.UTF8.GetString(bytes));
        Assert.Contains("cortex_sent_total{pa_s=\"são paulo\"} 1\n", Encoding.UTF8.GetString(bytes), StringComparison.Ordinal);
        Assert.Equal("text/plain; version=0.0.4; charset=utf-8", PrometheusExporter.ContentType);
    }
}
