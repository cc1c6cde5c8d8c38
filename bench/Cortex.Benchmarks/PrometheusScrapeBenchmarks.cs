using System.Diagnostics.Metrics;
using BenchmarkDotNet.Attributes;
using Cortex.Sender.Metrics;
using Cortex.Shared.Contract;
using Cortex.Shared.Metrics;
using Cortex.Shared.Queue;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Cortex.Benchmarks;

/// <summary>
/// One GET /metrics of a busy sender pod, rendered by PrometheusExporter: every sender instrument with the series a
/// day of billing, follow-up and campaign traffic leaves (4 kinds, failure reasons, dead-letter reasons, histograms),
/// the engine gauges, the queue gauges (read from Redis once, in setup) and the runtime's System.Runtime meter.
/// </summary>
[MemoryDiagnoser]
public class PrometheusScrapeBenchmarks
{
    private static readonly string[] s_kinds = ["billing_reminder", "conversation_follow_up", "campaign", "other"];
    private static readonly string[] s_failures = ["retryable", "throttled", "permanent", "configuration_error"];
    private static readonly string[] s_deadLetterReasons = ["invalid", "expired", "permanent", "retries_exhausted", "poison"];
    private static readonly string[] s_outcomes = ["accepted", "retryable", "throttled", "permanent"];

    private ServiceProvider? _services;
    private ConnectionMultiplexer? _redis;
    private PrometheusExporter? _exporter;
    private RedisMessageQueue? _queue;

    /// <summary>Overrides CORTEX_BENCH_REDIS (the wiring test's own server).</summary>
    internal string? RedisAddress { get; set; }

    internal PrometheusExporter Exporter => _exporter ?? throw new InvalidOperationException("GlobalSetup has not run");

    [GlobalSetup]
    public void GlobalSetup() => SetupAsync().GetAwaiter().GetResult();

    [GlobalCleanup]
    public void GlobalCleanup()
    {
        _services?.Dispose();
        if (_redis is not null && _queue is not null)
        {
            var keys = _queue.Keys;
            _redis.GetDatabase().KeyDelete([keys.ReadyHigh, keys.ReadyNormal, keys.ReadyLow, keys.Consumers]);
        }

        _redis?.Dispose();
    }

    [Benchmark]
    public string Scrape() => Exporter.Scrape();

    /// <summary>What the /metrics endpoint does: the scrape, encoded to UTF-8 and written to the response stream.</summary>
    [Benchmark]
    public Task ScrapeToStream() => Exporter.WriteAsync(Stream.Null, CancellationToken.None);

    private async Task SetupAsync()
    {
        // As in the service: the container owns the exporter and disposes it with the meters.
        _services = new ServiceCollection().AddMetrics().AddSingleton<PrometheusExporter>().BuildServiceProvider();
        var meterFactory = _services.GetRequiredService<IMeterFactory>();
        _exporter = _services.GetRequiredService<PrometheusExporter>();

        var sender = new SenderMetrics(meterFactory);
        sender.ObserveEngine(() => 180, 256, () => 29, 32, () => 0, () => 0, "main");
        var random = new Random(6);
        foreach (var kind in s_kinds)
        {
            for (var i = 0; i < 1_000; i++)
            {
                sender.Sent(kind, TimeSpan.FromMilliseconds(random.Next(50, 120_000)));
            }

            foreach (var reason in s_failures)
            {
                sender.Failed(kind, reason);
            }

            foreach (var reason in s_deadLetterReasons)
            {
                sender.DeadLettered(reason, kind);
            }

            sender.RetryScheduled(kind);
        }

        foreach (var outcome in s_outcomes)
        {
            for (var i = 0; i < 1_000; i++)
            {
                sender.SendDuration(TimeSpan.FromMilliseconds(random.Next(5, 3_000)), outcome);
            }
        }

        for (var i = 0; i < 1_000; i++)
        {
            sender.RateLimitWait(TimeSpan.FromMilliseconds(random.Next(0, 50)));
        }

        sender.DuplicateSkipped();
        sender.RedeliveredSend();
        sender.Throttled();
        sender.Returned(3);
        sender.Deferred();
        sender.LeasesRecovered(2);

        // The queue gauges come from Redis at scrape time in the service; here they are read once, so the benchmark
        // times the rendering and not a round trip.
        _redis = BenchRedis.Connect(RedisAddress);
        _queue = new RedisMessageQueue(_redis, Options.Create(new QueueOptions { Name = BenchRedis.UniqueName("bench") }), TimeProvider.System);
        await _queue.EnqueueAsync([new QueueMessage(EnvelopeCodec.Serialize(Samples.Text("billing:1:D-3:2026-11-25")), Priority.Normal)]);
        await _queue.HeartbeatAsync("bench-consumer");
        var queueMetrics = new QueueMetrics(_queue, meterFactory);
        await queueMetrics.CollectAsync(CancellationToken.None);
    }
}
