using System.Diagnostics.Metrics;
using System.Numerics;
using System.Text;

namespace Cortex.Shared.Metrics;

/// <summary>Collects every instrument of the meters one IMeterFactory created (plus the runtime's global "System.Runtime" meter) and writes them in the Prometheus text format 0.0.4.</summary>
public sealed class PrometheusExporter : IDisposable
{
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    private const string RuntimeMeterName = "System.Runtime";

    private readonly Func<Meter, bool> _include;
    private readonly MeterListener _listener;
    private readonly Lock _scrapeLock = new();
    private readonly Lock _instrumentsLock = new();
    private readonly List<PrometheusInstrument> _instruments = [];
    private bool _disposed;

    /// <summary>Exports the meters <paramref name="meterFactory"/> created (DefaultMeterFactory sets their Scope to itself), so hosts sharing a process do not see each other's series.</summary>
    public PrometheusExporter(IMeterFactory meterFactory)
        : this(IncludeScope(meterFactory))
    {
    }

    public PrometheusExporter(Func<Meter, bool> include)
    {
        ArgumentNullException.ThrowIfNull(include);
        _include = include;
        _listener = new MeterListener
        {
            InstrumentPublished = OnInstrumentPublished,
            MeasurementsCompleted = OnMeasurementsCompleted,
        };
        _listener.SetMeasurementEventCallback<byte>(OnMeasurement);
        _listener.SetMeasurementEventCallback<short>(OnMeasurement);
        _listener.SetMeasurementEventCallback<int>(OnMeasurement);
        _listener.SetMeasurementEventCallback<long>(OnMeasurement);
        _listener.SetMeasurementEventCallback<float>(OnMeasurement);
        _listener.SetMeasurementEventCallback<double>(OnMeasurement);
        _listener.SetMeasurementEventCallback<decimal>(OnMeasurement);
        _listener.Start();
    }

    /// <summary>One scrape, UTF-8 without a byte order mark.</summary>
    public async Task WriteAsync(Stream destination, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(destination);
        await destination.WriteAsync(Encoding.UTF8.GetBytes(Scrape()), cancellationToken);
    }

    /// <summary>One scrape as text: observable instruments are read now, then every series is written, sorted by name and labels.</summary>
    public string Scrape()
    {
        lock (_scrapeLock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            PrometheusInstrument[] instruments;
            lock (_instrumentsLock)
            {
                instruments = [.. _instruments];
            }

            foreach (var instrument in instruments.Where(i => i.IsObservable))
            {
                instrument.Reset();
            }

            try
            {
                _listener.RecordObservableInstruments();
            }
            catch (AggregateException)
            {
                // Every callback ran; the ones that threw reported nothing, so only their series are missing.
                // Failing the whole scrape would hide the sender's counters exactly when something is wrong.
            }

            return Write(instruments);
        }
    }

    /// <summary>
    /// Every sample name this exporter can write, with or without samples yet (histograms as _bucket, _sum, _count):
    /// what alert rules and dashboards may reference.
    /// </summary>
    internal IReadOnlySet<string> SampleNames()
    {
        lock (_instrumentsLock)
        {
            return _instruments
                .SelectMany(i => i.Type == PrometheusNaming.Histogram ? [i.Name + "_bucket", i.Name + "_sum", i.Name + "_count"] : new[] { i.Name })
                .ToHashSet(StringComparer.Ordinal);
        }
    }

    public void Dispose()
    {
        lock (_scrapeLock)
        {
            _disposed = true;
            // Disables every instrument: later measurements never reach this exporter and Enabled turns false.
            _listener.Dispose();
        }
    }

    private static Func<Meter, bool> IncludeScope(IMeterFactory meterFactory)
    {
        ArgumentNullException.ThrowIfNull(meterFactory);
        return meter => ReferenceEquals(meter.Scope, meterFactory) || meter.Name == RuntimeMeterName;
    }

    private static void OnMeasurement<T>(Instrument instrument, T measurement, ReadOnlySpan<KeyValuePair<string, object?>> tags, object? state)
        where T : struct, INumberBase<T> =>
        ((PrometheusInstrument)state!).Record(double.CreateTruncating(measurement), tags);

    private static string Write(PrometheusInstrument[] instruments)
    {
        var families = new SortedDictionary<string, Family>(StringComparer.Ordinal);
        foreach (var instrument in instruments)
        {
            if (!families.TryGetValue(instrument.Name, out var family))
            {
                families.Add(instrument.Name, family = new Family(instrument));
            }
            else if (family.Type != instrument.Type || !family.Buckets.AsSpan().SequenceEqual(instrument.Buckets))
            {
                // Two shapes under one name cannot be written; the first instrument published keeps it.
                continue;
            }

            foreach (var series in instrument.CurrentSeries)
            {
                family.Add(series);
            }
        }

        var text = new StringBuilder();
        foreach (var family in families.Values)
        {
            family.WriteTo(text);
        }

        return text.ToString();
    }

    private void OnInstrumentPublished(Instrument instrument, MeterListener listener)
    {
        if (!_include(instrument.Meter) || PrometheusInstrument.TryCreate(instrument) is not { } state)
        {
            return;
        }

        lock (_instrumentsLock)
        {
            _instruments.Add(state);
        }

        listener.EnableMeasurementEvents(instrument, state);
    }

    // A disposed meter (a stopped host's) takes its series out of the scrape.
    private void OnMeasurementsCompleted(Instrument instrument, object? state)
    {
        lock (_instrumentsLock)
        {
            _instruments.Remove((PrometheusInstrument)state!);
        }
    }

    /// <summary>The series of one metric name, merged across the instruments that map to it.</summary>
    private sealed class Family(PrometheusInstrument first)
    {
        private readonly SortedDictionary<string, (double Value, long[] Buckets)> _samples = new(StringComparer.Ordinal);
        private readonly string _name = first.Name;
        private readonly string _help = first.Help;

        public string Type { get; } = first.Type;

        public double[] Buckets { get; } = first.Buckets;

        // Same name and labels from two instruments add up, which is what counters and up-down counters from two meters mean.
        public void Add(PrometheusInstrument.Series series)
        {
            var value = Volatile.Read(ref series.Value);
            var buckets = new long[series.Buckets.Length];
            for (var i = 0; i < buckets.Length; i++)
            {
                buckets[i] = Volatile.Read(ref series.Buckets[i]);
            }

            if (_samples.TryGetValue(series.Labels, out var existing))
            {
                value += existing.Value;
                for (var i = 0; i < buckets.Length; i++)
                {
                    buckets[i] += existing.Buckets[i];
                }
            }

            _samples[series.Labels] = (value, buckets);
        }

        public void WriteTo(StringBuilder text)
        {
            if (_samples.Count == 0)
            {
                return;
            }

            text.Append("# HELP ").Append(_name).Append(' ');
            PrometheusNaming.Escape(text, _help, escapeQuote: false);
            text.Append('\n');
            text.Append("# TYPE ").Append(_name).Append(' ').Append(Type).Append('\n');
            foreach (var (labels, (value, buckets)) in _samples)
            {
                if (Type != PrometheusNaming.Histogram)
                {
                    Sample(text, _name, labels, value);
                    continue;
                }

                // Counted from the buckets rather than kept apart, so +Inf always equals _count.
                var cumulative = 0L;
                var separator = labels.Length > 0 ? "," : "";
                for (var i = 0; i < buckets.Length; i++)
                {
                    cumulative += buckets[i];
                    var le = i < Buckets.Length ? PrometheusNaming.FormatValue(Buckets[i]) : "+Inf";
                    Sample(text, _name + "_bucket", labels + separator + "le=\"" + le + "\"", cumulative);
                }

                Sample(text, _name + "_sum", labels, value);
                Sample(text, _name + "_count", labels, cumulative);
            }
        }

        private static void Sample(StringBuilder text, string name, string labels, double value)
        {
            text.Append(name);
            if (labels.Length > 0)
            {
                text.Append('{').Append(labels).Append('}');
            }

            text.Append(' ').Append(PrometheusNaming.FormatValue(value)).Append('\n');
        }
    }
}
