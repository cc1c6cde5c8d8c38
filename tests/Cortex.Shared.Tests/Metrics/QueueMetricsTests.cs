using Cortex.Shared.Metrics;
using Cortex.Shared.Queue;
using Cortex.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Cortex.Shared.Tests.Metrics;

/// <summary>The queue's figures as a scrape reads them, from a real Redis.</summary>
public sealed class QueueMetricsTests(RedisFixture redis) : IClassFixture<RedisFixture>
{
    [Fact]
    public async Task Scrape_AnotherScrapeCollectingMeanwhile_StillHasTheQueueSeries()
    {
        // Two Prometheus servers, or Prometheus and an operator's curl, scrape at once. Each collection began by clearing
        // the shared snapshot, so the second one's start emptied the first's before it was written: no cortex_queue_*
        // series in that scrape, a gap in the depth an autoscaler reads.
        var queue = new HeldStatsQueue(new RedisMessageQueue(redis.Connection, Options.Create(new QueueOptions { Name = RedisFixture.UniqueQueueName() }), TimeProvider.System));
        await using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var meters = services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>();
        var metrics = new QueueMetrics(queue, meters);
        using var exporter = new PrometheusExporter(meters);

        await metrics.CollectAsync(CancellationToken.None);
        queue.Hold();
        var second = metrics.CollectAsync(CancellationToken.None);
        var first = PrometheusText.Parse(exporter.Scrape());
        queue.Release();
        await second;

        Assert.Equal(0, first.Value("cortex_queue_depth", ("queue", queue.Keys.Name), ("state", "dead")));
        Assert.Equal(0, first.Value("cortex_queue_consumers", ("queue", queue.Keys.Name)));
    }

    /// <summary>The real queue, whose stats can be held back until released, as a slow Redis answer would be.</summary>
    private sealed class HeldStatsQueue(IMessageQueue inner) : DelegatingMessageQueue(inner)
    {
        private TaskCompletionSource? _held;

        public void Hold() => _held = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Release() => _held?.TrySetResult();

        public override async Task<QueueStats> GetStatsAsync()
        {
            if (_held is { } held)
            {
                await held.Task;
            }

            return await base.GetStatsAsync();
        }
    }
}
