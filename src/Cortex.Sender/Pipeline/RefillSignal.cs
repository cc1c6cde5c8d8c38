using System.Threading.Channels;

namespace Cortex.Sender.Pipeline;

/// <summary>
/// The fetcher's low-water mark. A gateway-bound sender frees buffer slots one send at a time; leasing into every
/// freed slot would cost Redis a lease, a claim and an ack round trip per handful of messages. The fetcher instead
/// waits until the workers have taken the buffer down to <see cref="Level"/>, where a whole batch fits, and the
/// worker whose read crosses it wakes the fetcher (<see cref="ConditionSignal"/>). No polling.
/// </summary>
internal sealed class RefillSignal
{
    private readonly ChannelReader<WorkItem> _reader;
    private readonly ConditionSignal _crossed;

    public RefillSignal(ChannelReader<WorkItem> reader, int prefetch, int workers, int leaseBatchSize)
    {
        _reader = reader;

        // Room for a full lease batch, but never more than half the buffer, so the buffer still holds work while
        // the lease is on its way. And never below one message per worker: when the buffer is that low, the
        // fetcher leases at once whatever fits, so no worker starves (with Prefetch = Workers that is every slot).
        var batch = Math.Min(leaseBatchSize, Math.Max(1, prefetch / 2));
        Level = Math.Clamp(Math.Max(prefetch - batch, workers - 1), 0, prefetch - 1);
        _crossed = new ConditionSignal(() => !IsAbove);
    }

    /// <summary>Leasing starts when the buffer holds this many messages or fewer.</summary>
    public int Level { get; }

    /// <summary>Whether the buffer is still above the mark: a lease now would be smaller than a batch.</summary>
    public bool IsAbove => _reader.Count > Level;

    /// <summary>Completes once the buffer is at or below the mark (at once if it already is), or when cancelled.</summary>
    public Task WaitAsync(CancellationToken cancellationToken) => _crossed.WaitAsync(cancellationToken);

    /// <summary>Called by a worker after each read: wakes the fetcher if it waits and the buffer is at the mark.</summary>
    public void OnRead() => _crossed.OnChanged();
}
