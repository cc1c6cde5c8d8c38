using Cortex.Shared.Queue;

namespace Cortex.Scheduler.Tests.Infrastructure;

/// <summary>
/// The real Redis queue with a hook before each push of a batch: a test makes the process "die" at the Nth push
/// (throw), or changes the world (pause a campaign) at a known point between batches. Everything else is the real queue.
/// </summary>
public sealed class PushHookQueue(IMessageQueue inner, Func<int, Task> beforePush) : IMessageQueue
{
    private int _pushes;

    public async Task EnqueueAsync(IReadOnlyList<QueueMessage> messages, CancellationToken cancellationToken = default)
    {
        await beforePush(Interlocked.Increment(ref _pushes));
        await inner.EnqueueAsync(messages, cancellationToken);
    }

    public QueueKeys Keys => inner.Keys;

    public Task<IReadOnlyList<LeasedMessage>> LeaseAsync(string consumerId, int max, string? requestToken = null, CancellationToken cancellationToken = default) =>
        inner.LeaseAsync(consumerId, max, requestToken, cancellationToken);

    public Task<bool[]> AreSentAsync(IReadOnlyList<string> messageIds) => inner.AreSentAsync(messageIds);

    public Task<ClaimResult[]> ClaimAsync(string consumerId, IReadOnlyList<AckItem> items) => inner.ClaimAsync(consumerId, items);

    public Task<int> AckAsync(string consumerId, IReadOnlyList<AckItem> items) => inner.AckAsync(consumerId, items);

    public Task<bool> ScheduleRetryAsync(string consumerId, LeasedMessage message, ReadOnlyMemory<byte> payload, DateTimeOffset dueAt) =>
        inner.ScheduleRetryAsync(consumerId, message, payload, dueAt);

    public Task<bool> DeferAsync(string consumerId, LeasedMessage message, DateTimeOffset dueAt) => inner.DeferAsync(consumerId, message, dueAt);

    public Task<bool> DeadLetterAsync(string consumerId, LeasedMessage message, DeadLetterEntry entry) => inner.DeadLetterAsync(consumerId, message, entry);

    public Task<int> ReturnAsync(string consumerId, IReadOnlyList<long>? leaseIds = null) => inner.ReturnAsync(consumerId, leaseIds);

    public Task HeartbeatAsync(string consumerId) => inner.HeartbeatAsync(consumerId);

    public Task<int> RemoveConsumerAsync(string consumerId) => inner.RemoveConsumerAsync(consumerId);

    public Task<int> PromoteDueAsync(int limit = 1000) => inner.PromoteDueAsync(limit);

    public Task<RecoveryResult> RecoverAsync() => inner.RecoverAsync();

    public Task<QueueStats> GetStatsAsync() => inner.GetStatsAsync();

    public Task<IReadOnlyList<DeadLetterEntry>> GetDeadLettersAsync(long start = 0, long count = 100) => inner.GetDeadLettersAsync(start, count);
}
