namespace Cortex.Sender.Pipeline;

/// <summary>
/// Completes when nothing is buffered and no worker holds a message: what a message sent alone waits for, before it is
/// sent and before the next lease. The worker that lets go of the last message wakes the fetcher, so the wait ends
/// with the send rather than on a timer's tick (a crash loop can leave hundreds of messages to be sent alone, one
/// after another). Workers count themselves busy before they take a message from the buffer, so an empty buffer and
/// no busy worker is never seen while a message is between the two.
/// </summary>
internal sealed class IdleSignal(Func<bool> isIdle)
{
    private TaskCompletionSource? _waiter;

    /// <summary>Completes once idle (at once if it already is), or when cancelled.</summary>
    public Task WaitAsync(CancellationToken cancellationToken)
    {
        // The continuation must not run on the worker that let go: that worker goes on reading the buffer.
        var waiter = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        // A full fence: the check below is not read before the waiter is visible to the workers, so a worker that
        // lets go after the check sees the waiter.
        Interlocked.Exchange(ref _waiter, waiter);
        if (isIdle())
        {
            Interlocked.Exchange(ref _waiter, null)?.TrySetResult();
        }

        return waiter.Task.WaitAsync(cancellationToken);
    }

    /// <summary>Called by a worker after it let go of a message (or of a read that found none).</summary>
    public void OnReleased()
    {
        if (Volatile.Read(ref _waiter) is not null && isIdle())
        {
            Interlocked.Exchange(ref _waiter, null)?.TrySetResult();
        }
    }
}
