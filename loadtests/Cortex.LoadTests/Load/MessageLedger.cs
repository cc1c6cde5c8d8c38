using System.Diagnostics;

namespace Cortex.LoadTests.Load;

/// <summary>
/// Per-message bookkeeping of a load run in flat arrays (a million messages cost 20 MB): when each workload index was
/// enqueued, when the gateway first accepted it, and how many times. From it: lost, duplicated, throughput and
/// enqueue→accepted latency, over the whole run or per time bucket.
/// </summary>
internal sealed class MessageLedger
{
    private readonly long[] _enqueuedAt;
    private readonly long[] _acceptedAt;
    private readonly int[] _accepts;
    private long _acceptedTotal;
    private int _distinct;
    private Waiter? _waiter;

    public MessageLedger(int capacity)
    {
        _enqueuedAt = new long[capacity];
        _acceptedAt = new long[capacity];
        _accepts = new int[capacity];
    }

    public int Capacity => _accepts.Length;

    /// <summary>Messages accepted at least once so far.</summary>
    public int Distinct => Volatile.Read(ref _distinct);

    /// <summary>Completes once <paramref name="target"/> distinct messages have been accepted (one waiter at a time).</summary>
    public Task WhenDistinct(int target)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        // A full fence between publishing the waiter and reading the count, as Accept has between counting and reading
        // the waiter: with only a release write here, the read could move before it, and an acceptance landing between
        // the two would see no waiter while this saw the old count; nobody would complete the task.
        Interlocked.Exchange(ref _waiter, new Waiter(target, done));
        if (Distinct >= target)
        {
            done.TrySetResult();
        }

        return done.Task;
    }

    /// <summary>Acceptances so far, duplicates included.</summary>
    public long AcceptedTotal => Interlocked.Read(ref _acceptedTotal);

    /// <summary>Marks indices [<paramref name="from"/>, from + count) as enqueued at <paramref name="timestamp"/> (<see cref="Stopwatch.GetTimestamp"/>).</summary>
    public void Enqueued(int from, int count, long timestamp) => _enqueuedAt.AsSpan(from, count).Fill(timestamp);

    /// <summary>Records an acceptance; false when the index is not one of this ledger's messages.</summary>
    public bool Accept(int index, long timestamp)
    {
        if ((uint)index >= (uint)_accepts.Length)
        {
            return false;
        }

        if (Interlocked.Increment(ref _accepts[index]) == 1)
        {
            Volatile.Write(ref _acceptedAt[index], timestamp);
            var distinct = Interlocked.Increment(ref _distinct);
            if (Volatile.Read(ref _waiter) is { } waiter && distinct >= waiter.Target)
            {
                waiter.Done.TrySetResult();
            }
        }

        Interlocked.Increment(ref _acceptedTotal);
        return true;
    }

    public int AcceptCount(int index) => Volatile.Read(ref _accepts[index]);

    /// <summary>How many of [from, to) were accepted at least once.</summary>
    public int AcceptedIn(int from, int to)
    {
        var n = 0;
        for (var i = from; i < to; i++)
        {
            n += Volatile.Read(ref _accepts[i]) > 0 ? 1 : 0;
        }

        return n;
    }

    /// <summary>Indices of [from, to) never accepted, and the extra acceptances (a message accepted twice counts one).</summary>
    public (List<int> Missing, int Duplicates) Audit(int from, int to)
    {
        var missing = new List<int>();
        var duplicates = 0;
        for (var i = from; i < to; i++)
        {
            var n = Volatile.Read(ref _accepts[i]);
            if (n == 0)
            {
                missing.Add(i);
            }
            else
            {
                duplicates += n - 1;
            }
        }

        return (missing, duplicates);
    }

    /// <summary>First-acceptance times of [from, to), sorted (accepted messages only).</summary>
    public long[] AcceptanceTimes(int from, int to)
    {
        var times = new List<long>(to - from);
        for (var i = from; i < to; i++)
        {
            if (Volatile.Read(ref _acceptedAt[i]) is var at and > 0)
            {
                times.Add(at);
            }
        }

        var array = times.ToArray();
        Array.Sort(array);
        return array;
    }

    /// <summary>Enqueue→accepted latencies of [from, to) in milliseconds, sorted (accepted messages only).</summary>
    public double[] LatenciesMs(int from, int to)
    {
        var latencies = new List<double>(to - from);
        for (var i = from; i < to; i++)
        {
            if (Volatile.Read(ref _acceptedAt[i]) is var at and > 0 && _enqueuedAt[i] > 0)
            {
                latencies.Add(Stopwatch.GetElapsedTime(_enqueuedAt[i], at).TotalMilliseconds);
            }
        }

        var array = latencies.ToArray();
        Array.Sort(array);
        return array;
    }

    /// <summary>
    /// Per bucket of <paramref name="bucket"/> from <paramref name="start"/>: acceptances of [from, to) in it, and the
    /// enqueue→accepted latencies (ms) of those messages.
    /// </summary>
    public List<(int Accepted, List<double> LatenciesMs)> Buckets(int from, int to, long start, TimeSpan bucket)
    {
        var buckets = new List<(int Accepted, List<double> LatenciesMs)>();
        for (var i = from; i < to; i++)
        {
            var at = Volatile.Read(ref _acceptedAt[i]);
            if (at <= 0 || at < start)
            {
                continue;
            }

            var b = (int)(Stopwatch.GetElapsedTime(start, at) / bucket);
            while (buckets.Count <= b)
            {
                buckets.Add((0, []));
            }

            var (count, latencies) = buckets[b];
            if (_enqueuedAt[i] > 0)
            {
                latencies.Add(Stopwatch.GetElapsedTime(_enqueuedAt[i], at).TotalMilliseconds);
            }

            buckets[b] = (count + 1, latencies);
        }

        return buckets;
    }

    /// <summary>The q-quantile (0..1) of a sorted array by nearest rank, or null when empty.</summary>
    public static double? Quantile(double[] sorted, double q) =>
        sorted.Length == 0 ? null : sorted[Math.Clamp((int)Math.Ceiling(q * sorted.Length) - 1, 0, sorted.Length - 1)];

    private sealed record Waiter(int Target, TaskCompletionSource Done);
}
