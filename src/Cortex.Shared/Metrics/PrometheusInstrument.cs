using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Numerics;

namespace Cortex.Shared.Metrics;

/// <summary>One instrument's series as the exporter aggregates them: running sums, last values or histogram buckets per tag set.</summary>
internal sealed class PrometheusInstrument
{
    private static readonly double[] s_secondsBuckets =
        [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];

    // OpenTelemetry's default explicit bucket boundaries.
    private static readonly double[] s_defaultBuckets = [0, 5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 7500, 10000];

    private readonly Aggregation _aggregation;
    private readonly ConcurrentDictionary<KeyValuePair<string, object?>[], Series> _tagged = new(TagSetComparer.Instance);
    private readonly ConcurrentDictionary<KeyValuePair<string, object?>[], Series>.AlternateLookup<ReadOnlySpan<KeyValuePair<string, object?>>> _lookup;
    private Series? _untagged;

    private PrometheusInstrument(Instrument instrument, string type, Aggregation aggregation)
    {
        _aggregation = aggregation;
        _lookup = _tagged.GetAlternateLookup<ReadOnlySpan<KeyValuePair<string, object?>>>();
        Type = type;
        Name = PrometheusNaming.MetricName(instrument.Name, instrument.Unit, type);
        Help = string.IsNullOrEmpty(instrument.Description) ? instrument.Name : instrument.Description;
        Buckets = aggregation == Aggregation.Histogram ? BucketBounds(instrument) : [];
        IsObservable = instrument.IsObservable;
    }

    private enum Aggregation
    {
        Sum,
        LastValue,
        Histogram,
    }

    public string Name { get; }

    public string Type { get; }

    public string Help { get; }

    /// <summary>Upper bounds (inclusive) of the histogram buckets, ascending, without +Inf; empty for other instruments.</summary>
    public double[] Buckets { get; }

    public bool IsObservable { get; }

    /// <summary>The current series; for observable instruments, those reported since the last <see cref="Reset"/>.</summary>
    public IEnumerable<Series> CurrentSeries => _untagged is { } untagged ? _tagged.Values.Prepend(untagged) : _tagged.Values;

    /// <summary>Null for instrument kinds the exporter does not know.</summary>
    public static PrometheusInstrument? TryCreate(Instrument instrument)
    {
        var type = instrument.GetType();
        var definition = type.IsGenericType ? type.GetGenericTypeDefinition() : null;
        return definition switch
        {
            _ when definition == typeof(Counter<>) => new(instrument, PrometheusNaming.Counter, Aggregation.Sum),
            _ when definition == typeof(UpDownCounter<>) => new(instrument, PrometheusNaming.Gauge, Aggregation.Sum),
            _ when definition == typeof(Gauge<>) => new(instrument, PrometheusNaming.Gauge, Aggregation.LastValue),
            // Observable counters report their running total, so the last value is the sum.
            _ when definition == typeof(ObservableCounter<>) => new(instrument, PrometheusNaming.Counter, Aggregation.LastValue),
            _ when definition == typeof(ObservableUpDownCounter<>) || definition == typeof(ObservableGauge<>) =>
                new(instrument, PrometheusNaming.Gauge, Aggregation.LastValue),
            _ when definition == typeof(Histogram<>) => new(instrument, PrometheusNaming.Histogram, Aggregation.Histogram),
            _ => null,
        };
    }

    public void Record(double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        switch (_aggregation)
        {
            case Aggregation.Sum:
                Add(ref GetSeries(tags).Value, value);
                break;
            case Aggregation.LastValue:
                Interlocked.Exchange(ref GetSeries(tags).Value, value);
                break;
            case Aggregation.Histogram when !double.IsNaN(value):
                // A NaN would poison the series' sum for good.
                var series = GetSeries(tags);
                var index = Array.BinarySearch(Buckets, value);
                Interlocked.Increment(ref series.Buckets[index >= 0 ? index : ~index]);
                Add(ref series.Value, value);
                break;
        }
    }

    /// <summary>Forgets every series, so a tag set an observable callback stops reporting disappears from the next scrape.</summary>
    public void Reset()
    {
        _untagged = null;
        _tagged.Clear();
    }

    // The last bucket counts values above every bound (+Inf).
    private int BucketCount => _aggregation == Aggregation.Histogram ? Buckets.Length + 1 : 0;

    private Series GetSeries(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        if (tags.IsEmpty)
        {
            if (_untagged is { } untagged)
            {
                return untagged;
            }

            var created = new Series([], BucketCount);
            return Interlocked.CompareExchange(ref _untagged, created, null) ?? created;
        }

        if (_lookup.TryGetValue(tags, out var series))
        {
            return series;
        }

        // First time this tag set is seen: the only allocation on the recording path.
        var key = tags.ToArray();
        Array.Sort(key, static (a, b) => string.CompareOrdinal(a.Key, b.Key));
        return _tagged.GetOrAdd(key, new Series(key, BucketCount));
    }

    private static void Add(ref double location, double value)
    {
        var current = Volatile.Read(ref location);
        while (true)
        {
            var seen = Interlocked.CompareExchange(ref location, current + value, current);
            // Compared as bits: a NaN sum never equals itself and would spin forever.
            if (BitConverter.DoubleToInt64Bits(seen) == BitConverter.DoubleToInt64Bits(current))
            {
                return;
            }

            current = seen;
        }
    }

    private static double[] BucketBounds(Instrument instrument)
    {
        var advised = instrument switch
        {
            Instrument<double> i => Bounds(i.Advice?.HistogramBucketBoundaries),
            Instrument<float> i => Bounds(i.Advice?.HistogramBucketBoundaries),
            Instrument<long> i => Bounds(i.Advice?.HistogramBucketBoundaries),
            Instrument<int> i => Bounds(i.Advice?.HistogramBucketBoundaries),
            Instrument<short> i => Bounds(i.Advice?.HistogramBucketBoundaries),
            Instrument<byte> i => Bounds(i.Advice?.HistogramBucketBoundaries),
            Instrument<decimal> i => Bounds(i.Advice?.HistogramBucketBoundaries),
            _ => null,
        };
        return advised ?? (instrument.Unit == "s" ? s_secondsBuckets : s_defaultBuckets);
    }

    // Sorted and finite so that the le labels increase and +Inf is written once.
    private static double[]? Bounds<T>(IReadOnlyList<T>? advised)
        where T : struct, INumberBase<T> =>
        advised?.Select(double.CreateTruncating).Where(double.IsFinite).Distinct().Order().ToArray();

    /// <summary>One tag set's aggregate. Fields, not properties, so that recording can update them with Interlocked.</summary>
    internal sealed class Series(KeyValuePair<string, object?>[] sortedTags, int bucketCount)
    {
        /// <summary>Running sum, last value, or a histogram's sum.</summary>
        public double Value;

        /// <summary>Per-bucket (not cumulative) histogram counts, the last one for +Inf; empty otherwise.</summary>
        public readonly long[] Buckets = new long[bucketCount];

        public string Labels { get; } = PrometheusNaming.Labels(sortedTags);
    }

    /// <summary>Tag sets are equal whatever order the caller passed the tags in, so {a,b} and {b,a} are one series.</summary>
    private sealed class TagSetComparer :
        IEqualityComparer<KeyValuePair<string, object?>[]>,
        IAlternateEqualityComparer<ReadOnlySpan<KeyValuePair<string, object?>>, KeyValuePair<string, object?>[]>
    {
        public static readonly TagSetComparer Instance = new();

        public bool Equals(KeyValuePair<string, object?>[]? x, KeyValuePair<string, object?>[]? y) =>
            ReferenceEquals(x, y) || (x is not null && y is not null && Equals(x.AsSpan(), y));

        public int GetHashCode(KeyValuePair<string, object?>[] obj) => GetHashCode(obj.AsSpan());

        public bool Equals(ReadOnlySpan<KeyValuePair<string, object?>> alternate, KeyValuePair<string, object?>[] other)
        {
            if (alternate.Length != other.Length)
            {
                return false;
            }

            foreach (var tag in alternate)
            {
                if (!Contains(other, tag))
                {
                    return false;
                }
            }

            return true;
        }

        public int GetHashCode(ReadOnlySpan<KeyValuePair<string, object?>> alternate)
        {
            // A sum does not depend on the order of the tags.
            var hash = 0;
            foreach (var tag in alternate)
            {
                hash += HashCode.Combine(tag.Key, tag.Value);
            }

            return hash;
        }

        public KeyValuePair<string, object?>[] Create(ReadOnlySpan<KeyValuePair<string, object?>> alternate) => alternate.ToArray();

        private static bool Contains(KeyValuePair<string, object?>[] tags, KeyValuePair<string, object?> tag)
        {
            foreach (var candidate in tags)
            {
                if (string.Equals(candidate.Key, tag.Key, StringComparison.Ordinal) && object.Equals(candidate.Value, tag.Value))
                {
                    return true;
                }
            }

            return false;
        }
    }
}
