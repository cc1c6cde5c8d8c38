using System.Diagnostics;
using System.Globalization;
using Cortex.LoadTests.Load;
using Cortex.Shared.Client;
using Cortex.Shared.Contract;
using StackExchange.Redis;

namespace Cortex.LoadTests.Chaos;

/// <summary>
/// Another system pushing through <see cref="CortexClient"/> at a steady rate while Redis fails under it, as a
/// well-behaved producer does: a push that throws is retried until Redis takes it, and a push counts as acknowledged
/// only when the call returned. Keeps when each message's push was acknowledged, so that what a crash lost can be set
/// against the AOF's fsync window.
/// </summary>
internal sealed class LiveProducer : IAsyncDisposable
{
    private static readonly TimeSpan s_tick = TimeSpan.FromMilliseconds(5);
    private static readonly TimeSpan s_retryDelay = TimeSpan.FromMilliseconds(100);
    private readonly CortexClient _client;
    private readonly MessageLedger _ledger;
    private readonly string _prefix;
    private readonly int _from;
    private readonly long[] _ackedAt;
    private readonly double _rate;
    private readonly CancellationTokenSource _stop = new();
    private readonly DateTimeOffset _now = TimeProvider.System.GetUtcNow();
    private readonly Random _random = new(13);
    private readonly Task _loop;
    private int _produced;

    /// <summary>Starts pushing ledger indices from <paramref name="from"/> on at <paramref name="rate"/> msg/s, at most <paramref name="capacity"/> of them.</summary>
    public LiveProducer(CortexClient client, MessageLedger ledger, string prefix, int from, int capacity, double rate)
    {
        (_client, _ledger, _prefix, _from, _rate) = (client, ledger, prefix, from, rate);
        _ackedAt = new long[capacity];
        _loop = RunAsync();
    }

    /// <summary>Messages pushed and acknowledged so far: ledger indices [from, from + Produced).</summary>
    public int Produced => Volatile.Read(ref _produced);

    /// <summary>
    /// Attempts that threw and were tried again: while Redis is away one batch (what was due when it went) is tried every
    /// 100 ms, so this counts failed attempts of that batch, not messages refused.
    /// </summary>
    public int FailedPushes { get; private set; }

    /// <summary>When the push of ledger index <paramref name="index"/> was acknowledged (a Stopwatch timestamp).</summary>
    public long AckedAt(int index) => _ackedAt[index - _from];

    /// <summary>Stops pushing after the push in progress is acknowledged; returns how many messages were pushed.</summary>
    public async Task<int> StopAsync()
    {
        await _stop.CancelAsync();
        await _loop;
        return Produced;
    }

    private async Task RunAsync()
    {
        var clock = Stopwatch.StartNew();
        using var timer = new PeriodicTimer(s_tick);
        try
        {
            while (_produced < _ackedAt.Length && await timer.WaitForNextTickAsync(_stop.Token))
            {
                var due = Math.Min(_ackedAt.Length, (int)(_rate * clock.Elapsed.TotalSeconds)) - _produced;
                if (due > 0)
                {
                    await PushAsync(_from + _produced, due);
                    _ackedAt.AsSpan(_produced, due).Fill(Stopwatch.GetTimestamp());
                    Volatile.Write(ref _produced, _produced + due);
                }
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
        }
    }

    // Retried until Redis takes it, even once stopping: a push that was started is finished, so [from, from + Produced)
    // is exactly what was acknowledged.
    private async Task PushAsync(int start, int count)
    {
        var batch = new Envelope[count];
        for (var k = 0; k < count; k++)
        {
            batch[k] = Workload.BillingReminder(start + k, _now, _random, _prefix + (start + k).ToString(CultureInfo.InvariantCulture));
        }

        _ledger.Enqueued(start, count, Stopwatch.GetTimestamp());
        while (true)
        {
            try
            {
                await _client.EnqueueBatchAsync(batch);
                return;
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException)
            {
                FailedPushes++;
                await Task.Delay(s_retryDelay);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _stop.Dispose();
    }
}
