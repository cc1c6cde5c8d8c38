namespace Cortex.Shared.Queue;

/// <summary>
/// Passes every call to an inner queue, like <c>DelegatingHandler</c> does for HTTP: a decorator overrides only the calls
/// it cares about (timing pushes, injecting a fault at a known point) and stays correct when the interface grows.
/// </summary>
public abstract class DelegatingMessageQueue(IMessageQueue inner) : IMessageQueue
{
    public QueueKeys Keys => inner.Keys;

    public virtual Task EnqueueAsync(IReadOnlyList<QueueMessage> messages, CancellationToken cancellationToken = default) =>
        inner.EnqueueAsync(messages, cancellationToken);

    public virtual Task<LeaseBatch> LeaseAsync(string consumerId, int max, string? requestToken = null, CancellationToken cancellationToken = default) =>
        inner.LeaseAsync(consumerId, max, requestToken, cancellationToken);

    public virtual Task<IReadOnlyList<string>?> RefusedConsumerCommandsAsync() => inner.RefusedConsumerCommandsAsync();

    public virtual Task<IReadOnlyList<string>?> RefusedProducerCommandsAsync() => inner.RefusedProducerCommandsAsync();

    public virtual Task<bool[]> AreSentAsync(IReadOnlyList<string> messageIds) => inner.AreSentAsync(messageIds);

    public virtual Task<ClaimResult[]> ClaimAsync(string consumerId, IReadOnlyList<AckItem> items) => inner.ClaimAsync(consumerId, items);

    public virtual Task<int> AckAsync(string consumerId, IReadOnlyList<AckItem> items) => inner.AckAsync(consumerId, items);

    public virtual Task<bool> ScheduleRetryAsync(string consumerId, LeasedMessage message, ReadOnlyMemory<byte> payload, DateTimeOffset dueAt) =>
        inner.ScheduleRetryAsync(consumerId, message, payload, dueAt);

    public virtual Task<bool> DeferAsync(string consumerId, LeasedMessage message, DateTimeOffset dueAt) => inner.DeferAsync(consumerId, message, dueAt);

    public virtual Task<bool> DeadLetterAsync(string consumerId, LeasedMessage message, DeadLetterEntry entry) => inner.DeadLetterAsync(consumerId, message, entry);

    public virtual Task<int> DeadLetterAsync(string consumerId, IReadOnlyList<DeadLetterItem> items) => inner.DeadLetterAsync(consumerId, items);

    public virtual Task SetPausedAsync(string? reason) => inner.SetPausedAsync(reason);

    public virtual Task<string?> GetPausedAsync() => inner.GetPausedAsync();

    public virtual Task<int> ReturnAsync(string consumerId, IReadOnlyList<long>? leaseIds = null) => inner.ReturnAsync(consumerId, leaseIds);

    public virtual Task<bool> ReturnToBackAsync(string consumerId, long leaseId) => inner.ReturnToBackAsync(consumerId, leaseId);

    public virtual Task<IReadOnlyList<long>> LeaseIdsAsync(string consumerId) => inner.LeaseIdsAsync(consumerId);

    public virtual Task HeartbeatAsync(string consumerId) => inner.HeartbeatAsync(consumerId);

    public virtual Task<bool> HoldsLeaseAsync(string consumerId, long leaseId) => inner.HoldsLeaseAsync(consumerId, leaseId);

    public virtual Task<int> RemoveConsumerAsync(string consumerId) => inner.RemoveConsumerAsync(consumerId);

    public virtual Task<int> PromoteDueAsync(int limit = 1000) => inner.PromoteDueAsync(limit);

    public virtual Task<bool[]> WithdrawAsync(IReadOnlyList<WithdrawItem> items) => inner.WithdrawAsync(items);

    public virtual Task<RecoveryResult> RecoverAsync() => inner.RecoverAsync();

    public virtual Task<RecoveryResult> RecoverConsumerAsync(string consumerId) => inner.RecoverConsumerAsync(consumerId);

    public virtual Task<QueueStats> GetStatsAsync() => inner.GetStatsAsync();

    public virtual Task<OldestReady?> GetOldestReadyAsync() => inner.GetOldestReadyAsync();

    public virtual Task<IReadOnlyList<ReadyTail>> GetReadyTailsAsync() => inner.GetReadyTailsAsync();

    public virtual Task<IReadOnlyList<DeadLetterEntry>> GetDeadLettersAsync(long start = 0, long count = 100) => inner.GetDeadLettersAsync(start, count);
}
