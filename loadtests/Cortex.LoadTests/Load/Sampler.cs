using System.Diagnostics;
using Cortex.Shared.Queue;
using StackExchange.Redis;

namespace Cortex.LoadTests.Load;

/// <summary>
/// Samples, every tenth of a second while a scenario runs, the queue's depth (ready + delayed + leased) and the sender
/// processes' resident memory and CPU time; <see cref="Samples"/> turns them, with the ledger's acceptances, into the
/// per-second series of the report.
/// </summary>
internal sealed class Sampler : IAsyncDisposable
{
    private static readonly TimeSpan s_interval = TimeSpan.FromMilliseconds(100);
    private readonly IMessageQueue _queue;
    private readonly Func<IReadOnlyList<SenderProcess>> _senders;
    private readonly List<Point> _points = [];
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _run;

    public Sampler(IMessageQueue queue, Func<IReadOnlyList<SenderProcess>> senders)
    {
        _queue = queue;
        _senders = senders;
        Start = Stopwatch.GetTimestamp();
        _run = RunAsync();
    }

    /// <summary>Time zero of the scenario's charts (<see cref="Stopwatch.GetTimestamp"/>).</summary>
    public long Start { get; }

    /// <summary>The highest RSS the senders had together, or null when no sample read any (a check on it must then fail, not pass on 0).</summary>
    public double? PeakRssMb
    {
        get
        {
            lock (_points)
            {
                return _points.Where(p => p.RssMb > 0).Select(p => (double?)p.RssMb).Max();
            }
        }
    }

    /// <summary>The highest queue depth seen.</summary>
    public long PeakDepth
    {
        get
        {
            lock (_points)
            {
                return _points.Count == 0 ? 0 : _points.Max(p => p.Depth);
            }
        }
    }

    /// <summary>The senders' RSS samples taken between two instants, leaving out those that read none (every sender gone).</summary>
    public double[] RssBetween(long from, long to)
    {
        lock (_points)
        {
            return [.. _points.Where(p => p.At >= from && p.At <= to && p.RssMb > 0).Select(p => p.RssMb)];
        }
    }

    /// <summary>
    /// The report's series: acceptances (as msg/s) and latency percentiles of [from, to) from the ledger, depth, RSS and
    /// CPU from here, per second, or per quarter to half second for a scenario too short to show a curve in seconds.
    /// </summary>
    public List<Reporting.Sample> Samples(MessageLedger ledger, int from, int to)
    {
        List<Point> points;
        lock (_points)
        {
            points = [.. _points];
        }

        var length = points.Count == 0 ? TimeSpan.Zero : Stopwatch.GetElapsedTime(Start, points[^1].At);
        var bucket = length < TimeSpan.FromSeconds(20) ? TimeSpan.FromMilliseconds(250) : length < TimeSpan.FromSeconds(40) ? TimeSpan.FromMilliseconds(500) : TimeSpan.FromSeconds(1);
        var accepted = ledger.Buckets(from, to, Start, bucket);

        var buckets = Math.Max(accepted.Count, points.Count == 0 ? 0 : (int)(Stopwatch.GetElapsedTime(Start, points[^1].At) / bucket) + 1);
        var samples = new List<Reporting.Sample>(buckets);
        for (var s = 0; s < buckets; s++)
        {
            var inBucket = points.Where(p => (int)(Stopwatch.GetElapsedTime(Start, p.At) / bucket) == s).ToList();
            double? throughput = null, p50 = null, p95 = null, p99 = null;
            if (s < accepted.Count)
            {
                var (count, latencies) = accepted[s];
                throughput = count / bucket.TotalSeconds;
                var sorted = latencies.ToArray();
                Array.Sort(sorted);
                (p50, p95, p99) = (MessageLedger.Quantile(sorted, 0.50), MessageLedger.Quantile(sorted, 0.95), MessageLedger.Quantile(sorted, 0.99));
            }

            double? cpu = null;
            if (inBucket.Count > 0)
            {
                var before = points.LastOrDefault(p => p.At < inBucket[0].At) ?? inBucket[0];
                var last = inBucket[^1];
                var wall = Stopwatch.GetElapsedTime(before.At, last.At).TotalSeconds;
                cpu = wall > 0 ? Math.Max(0, (last.CpuSeconds - before.CpuSeconds) / wall) : null;
            }

            samples.Add(new Reporting.Sample(
                (s + 1) * bucket.TotalSeconds, throughput, p50, p95, p99, inBucket.Count > 0 ? inBucket[^1].Depth : null, inBucket.Count > 0 ? inBucket.Max(p => p.RssMb) : null, cpu));
        }

        return samples;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _run;
        _stop.Dispose();
    }

    private async Task RunAsync()
    {
        using var timer = new PeriodicTimer(s_interval);
        try
        {
            do
            {
                QueueStats stats;
                try
                {
                    stats = await _queue.GetStatsAsync();
                }
                catch (RedisException)
                {
                    // The chaos run takes Redis away on purpose: a missed sample is a gap in the chart, not a failure.
                    continue;
                }

                double rss = 0, cpu = 0;
                foreach (var sender in _senders())
                {
                    cpu += sender.Cpu().TotalSeconds;
                    try
                    {
                        rss += sender.HasExited ? 0 : CpuProbes.RssMb(sender.Id);
                    }
                    catch (IOException)
                    {
                        // Exited between the check and the read.
                    }
                }

                lock (_points)
                {
                    _points.Add(new Point(Stopwatch.GetTimestamp(), stats.Pending, rss, cpu));
                }
            }
            while (await timer.WaitForNextTickAsync(_stop.Token));
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
        }
    }

    private sealed record Point(long At, long Depth, double RssMb, double CpuSeconds);
}
