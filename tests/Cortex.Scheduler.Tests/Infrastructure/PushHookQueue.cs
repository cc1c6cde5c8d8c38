using Cortex.Shared.Queue;

namespace Cortex.Scheduler.Tests.Infrastructure;

/// <summary>
/// The real Redis queue with a hook before each push of a batch: a test makes the process "die" at the Nth push
/// (throw), or changes the world (pause a campaign) at a known point between batches. Everything else is the real queue.
/// </summary>
public sealed class PushHookQueue(IMessageQueue inner, Func<int, Task> beforePush) : DelegatingMessageQueue(inner)
{
    private int _pushes;

    public override async Task EnqueueAsync(IReadOnlyList<QueueMessage> messages, CancellationToken cancellationToken = default)
    {
        await beforePush(Interlocked.Increment(ref _pushes));
        await base.EnqueueAsync(messages, cancellationToken);
    }
}
