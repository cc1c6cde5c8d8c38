using System.Diagnostics.Metrics;
using Cortex.Shared.Queue;

namespace Cortex.Shared.Metrics;

/// <summary>
/// Queue depth by state and priority, live consumers and the oldest ready message's enqueue time (meter "Cortex.Queue").
/// Both services export it, so alerts and autoscaling still see the queue when no sender runs.
/// </summary>
public sealed class QueueMetrics : IMetricsSource
{
    public const string MeterName = "Cortex.Queue";

    private readonly IMessageQueue _queue;
    private volatile Snapshot? _last;

    public QueueMetrics(IMessageQueue queue, IMeterFactory meterFactory)
    {
        ArgumentNullException.ThrowIfNull(queue);
        ArgumentNullException.ThrowIfNull(meterFactory);
        _queue = queue;
        var meter = meterFactory.Create(MeterName);
        meter.CreateObservableGauge("cortex.queue.depth", ObserveDepth, "{message}", "Messages in the queue by state (ready by priority, delayed, leased, dead).");
        meter.CreateObservableGauge("cortex.queue.consumers", ObserveConsumers, "{consumer}", "Sender consumers whose heartbeat is fresh.");
        meter.CreateObservableGauge("cortex.queue.oldest_ready.timestamp", ObserveOldest, "s", "Unix time the oldest ready message became due: its push, or later its notBefore or the end of the quiet hours it waited out; absent when nothing is ready.");
        meter.CreateObservableGauge("cortex.queue.paused", ObservePaused, "{state}", "1 while an operator has paused the queue (POST /admin/pause): consumers lease nothing.");
    }

    public async Task CollectAsync(CancellationToken cancellationToken)
    {
        // Cleared only when this collection fails (Redis away: no series, not stale ones), not as it starts: a scrape
        // starting meanwhile cleared the snapshot another scrape had just collected and was about to write.
        try
        {
            var stats = _queue.GetStatsAsync();
            var oldest = _queue.GetOldestReadyAsync();
            var paused = _queue.GetPausedAsync();
            await Task.WhenAll(stats, oldest, paused).WaitAsync(cancellationToken);
            _last = new Snapshot(await stats, (await oldest)?.WaitingSince, await paused is not null);
        }
        catch
        {
            _last = null;
            throw;
        }
    }

    private IEnumerable<Measurement<long>> ObserveDepth()
    {
        if (_last is not { } last)
        {
            yield break;
        }

        var queue = new KeyValuePair<string, object?>("queue", _queue.Keys.Name);
        yield return new(last.Stats.ReadyHigh, queue, new("state", "ready"), new("priority", "high"));
        yield return new(last.Stats.ReadyNormal, queue, new("state", "ready"), new("priority", "normal"));
        yield return new(last.Stats.ReadyLow, queue, new("state", "ready"), new("priority", "low"));
        yield return new(last.Stats.Delayed, queue, new("state", "delayed"));
        yield return new(last.Stats.Leased, queue, new("state", "leased"));
        yield return new(last.Stats.Dead, queue, new("state", "dead"));
    }

    private IEnumerable<Measurement<long>> ObserveConsumers()
    {
        if (_last is { } last)
        {
            yield return new(last.Stats.Consumers, new KeyValuePair<string, object?>("queue", _queue.Keys.Name));
        }
    }

    private IEnumerable<Measurement<double>> ObserveOldest()
    {
        if (_last is { OldestReady: { } oldest })
        {
            yield return new(oldest.ToUnixTimeMilliseconds() / 1000.0, new KeyValuePair<string, object?>("queue", _queue.Keys.Name));
        }
    }

    private IEnumerable<Measurement<int>> ObservePaused()
    {
        if (_last is { } last)
        {
            yield return new(last.Paused ? 1 : 0, new KeyValuePair<string, object?>("queue", _queue.Keys.Name));
        }
    }

    private sealed record Snapshot(QueueStats Stats, DateTimeOffset? OldestReady, bool Paused);
}
