using System.Diagnostics;
using Cortex.Shared.Client;
using Cortex.Shared.Contract;

namespace Cortex.LoadTests.Load;

/// <summary>
/// Another system enqueueing billing reminders through the public contract (<see cref="CortexClient"/>: validate,
/// stamp, pipelined push), either as one burst (closed model) or at a fixed rate (open model), noting in the ledger
/// when each message was pushed.
/// </summary>
internal sealed class Producer(CortexClient client, MessageLedger ledger, string idPrefix)
{
    private const int Chunk = 5_000;
    private static readonly TimeSpan s_tick = TimeSpan.FromMilliseconds(5);
    private readonly DateTimeOffset _now = TimeProvider.System.GetUtcNow();
    private readonly Random _random = new(7);

    /// <summary>Pushes workload indices [from, from + count) as fast as Redis takes them; returns the push rate in msg/s.</summary>
    public async Task<double> BurstAsync(int from, int count, CancellationToken cancellationToken = default)
    {
        var clock = Stopwatch.StartNew();
        for (var start = from; start < from + count; start += Chunk)
        {
            await PushAsync(start, Math.Min(Chunk, from + count - start), cancellationToken);
        }

        return count / clock.Elapsed.TotalSeconds;
    }

    /// <summary>
    /// Open model: pushes indices from <paramref name="from"/> on at <paramref name="rate"/> msg/s for
    /// <paramref name="duration"/>, whatever the sender does, every 5 ms what is due by then. Returns how many it pushed
    /// and the rate it achieved.
    /// </summary>
    public async Task<(int Count, double Rate)> PacedAsync(int from, double rate, TimeSpan duration, CancellationToken cancellationToken = default)
    {
        var total = (int)(rate * duration.TotalSeconds);
        var produced = 0;
        var clock = Stopwatch.StartNew();
        using var timer = new PeriodicTimer(s_tick);
        while (produced < total && await timer.WaitForNextTickAsync(cancellationToken))
        {
            var due = Math.Min(total, (int)(rate * clock.Elapsed.TotalSeconds)) - produced;
            if (due > 0)
            {
                await PushAsync(from + produced, due, cancellationToken);
                produced += due;
            }
        }

        return (produced, produced / clock.Elapsed.TotalSeconds);
    }

    private async Task PushAsync(int start, int count, CancellationToken cancellationToken)
    {
        var batch = new Envelope[count];
        for (var k = 0; k < count; k++)
        {
            batch[k] = Workload.BillingReminder(start + k, _now, _random, idPrefix + (start + k).ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        ledger.Enqueued(start, count, Stopwatch.GetTimestamp());
        await client.EnqueueBatchAsync(batch, cancellationToken);
    }
}
