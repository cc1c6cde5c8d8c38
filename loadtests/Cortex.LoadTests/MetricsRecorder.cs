using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Cortex.Sender.Metrics;

namespace Cortex.LoadTests;

/// <summary>Listens to the sender's meter in process: sums counters and keeps every end-to-end latency sample.</summary>
internal sealed class MetricsRecorder : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<string, long> _counters = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<double> _latencies = new();

    public MetricsRecorder()
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == SenderMetrics.MeterName)
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            var key = instrument.Name;
            foreach (var tag in tags)
            {
                key += "|" + tag.Value;
            }

            _counters.AddOrUpdate(key, value, (_, old) => old + value);
        });
        _listener.SetMeasurementEventCallback<double>((instrument, value, _, _) =>
        {
            if (instrument.Name == "cortex.sender.end_to_end.duration")
            {
                _latencies.Enqueue(value);
            }
        });
        _listener.Start();
    }

    public long Counter(string name) => _counters.Where(kv => kv.Key == name || kv.Key.StartsWith(name + "|", StringComparison.Ordinal)).Sum(kv => kv.Value);

    /// <summary>The q-quantile (0..1) of end-to-end latency in seconds, or null without samples.</summary>
    public double? LatencyQuantile(double q)
    {
        var samples = _latencies.ToArray();
        if (samples.Length == 0)
        {
            return null;
        }

        Array.Sort(samples);
        return samples[Math.Min(samples.Length - 1, (int)Math.Ceiling(q * samples.Length) - 1)];
    }

    public int LatencySamples => _latencies.Count;

    public void Dispose() => _listener.Dispose();
}
