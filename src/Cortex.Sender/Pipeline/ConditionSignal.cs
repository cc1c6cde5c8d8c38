namespace Cortex.Sender.Pipeline;

/// <summary>
/// A wait for a condition on the worker pool that the workers end, not a timer: the fetcher calls
/// <see cref="WaitAsync"/>, and the worker whose read or release makes the condition true calls <see cref="OnChanged"/>
/// and wakes it. One waiter at a time (the fetcher). Used for the refill mark (<see cref="RefillSignal"/>) and for the
/// idle pool a message sent alone waits for (a crash loop can leave hundreds of those, one after another).
/// </summary>
internal sealed class ConditionSignal(Func<bool> condition)
{
    private TaskCompletionSource? _waiter;

    /// <summary>Completes once the condition holds (at once if it already does), or when cancelled.</summary>
    public Task WaitAsync(CancellationToken cancellationToken)
    {
        // The continuation must not run on the worker that woke it: that worker is about to send or read on.
        var waiter = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        // A full fence: the check below is not read before the waiter is visible to the workers, so a change after
        // the check sees the waiter.
        Interlocked.Exchange(ref _waiter, waiter);
        if (condition())
        {
            Interlocked.Exchange(ref _waiter, null)?.TrySetResult();
        }

        return waiter.Task.WaitAsync(cancellationToken);
    }

    /// <summary>Called by a worker after a change that may make the condition hold; only a volatile read while nobody waits.</summary>
    public void OnChanged()
    {
        if (Volatile.Read(ref _waiter) is not null && condition())
        {
            Interlocked.Exchange(ref _waiter, null)?.TrySetResult();
        }
    }
}
