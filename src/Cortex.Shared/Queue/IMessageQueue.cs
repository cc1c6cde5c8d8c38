namespace Cortex.Shared.Queue;

/// <summary>
/// The reliable queue seam. Every method is one atomic Redis script or pipeline; StackExchange.Redis 1.2.6 takes
/// no CancellationToken, so tokens are checked before a call is issued and each call is bounded by the client's
/// command timeout instead.
/// </summary>
public interface IMessageQueue
{
    QueueKeys Keys { get; }

    /// <summary>
    /// Adds messages to their ready list, or to the delayed set when notBefore is in the future (pipelined). The token is
    /// checked before the push; once sent, the push waits for Redis's answer (StackExchange.Redis 1.2.6 takes no token).
    /// </summary>
    Task EnqueueAsync(IReadOnlyList<QueueMessage> messages, CancellationToken cancellationToken = default);

    /// <summary>
    /// Atomically moves up to <paramref name="max"/> ready messages into the consumer's lease hash. Retrying with the
    /// same <paramref name="requestToken"/> after a failed call returns the batch that call leased, if it ran, so a
    /// reply lost to a connection cut never strands messages; null makes a fresh request. A payload over the envelope
    /// size limit is dead-lettered on the way instead of leased (<see cref="LeaseBatch.Oversized"/>).
    /// </summary>
    Task<LeaseBatch> LeaseAsync(string consumerId, int max, string? requestToken = null, CancellationToken cancellationToken = default);

    /// <summary>
    /// Pauses every consumer of the queue with a reason (they stay alive and lease nothing; sends in flight finish), or
    /// resumes them when <paramref name="reason"/> is null. Producers keep enqueueing meanwhile.
    /// </summary>
    Task SetPausedAsync(string? reason);

    /// <summary>The reason the queue is paused, or null when it is not.</summary>
    Task<string?> GetPausedAsync();

    /// <summary>
    /// What the Redis user may not run of the commands a consumer needs, as "COMMAND key", asked of Redis without running
    /// any; empty when everything is allowed, null when this Redis cannot tell (before 7.0).
    /// </summary>
    Task<IReadOnlyList<string>?> RefusedConsumerCommandsAsync();

    /// <summary>As <see cref="RefusedConsumerCommandsAsync"/>, for a producer: the pushes, and the reads of the queue metrics.</summary>
    Task<IReadOnlyList<string>?> RefusedProducerCommandsAsync();

    /// <summary>For each id, whether it was already sent within the idempotency window.</summary>
    Task<bool[]> AreSentAsync(IReadOnlyList<string> messageIds);

    /// <summary>
    /// Claims each message id for the lease that carries it, atomically, before sending: an id is never in flight
    /// under two live leases, across every pod. The ack turns the claim into the sent marker.
    /// </summary>
    Task<ClaimResult[]> ClaimAsync(string consumerId, IReadOnlyList<AckItem> items);

    /// <summary>Releases leases and marks their message ids as sent; returns how many leases had already been recovered elsewhere.</summary>
    Task<int> AckAsync(string consumerId, IReadOnlyList<AckItem> items);

    /// <summary>Moves a leased message to the delayed set with a new payload (engine fields updated, or notBefore moved); false when the lease was lost.</summary>
    Task<bool> ScheduleRetryAsync(string consumerId, LeasedMessage message, ReadOnlyMemory<byte> payload, DateTimeOffset dueAt);

    /// <summary>Moves a leased message to the delayed set unchanged, without counting an attempt (notBefore not reached, throttling).</summary>
    Task<bool> DeferAsync(string consumerId, LeasedMessage message, DateTimeOffset dueAt);

    /// <summary>
    /// Releases the lease and appends the entry to the dead-letter list, followed by the leased payload byte for byte
    /// (<see cref="DeadLetterEntry.ToStored"/>; a payload set on the entry is not what is stored); false when the lease was lost.
    /// </summary>
    Task<bool> DeadLetterAsync(string consumerId, LeasedMessage message, DeadLetterEntry entry);

    /// <summary>Dead-letters a batch in one atomic call, in order; returns how many were moved (a lost lease writes no entry).</summary>
    Task<int> DeadLetterAsync(string consumerId, IReadOnlyList<DeadLetterItem> items);

    /// <summary>Puts leased messages back at the front of their ready list without counting a delivery; none given = all of the consumer's.</summary>
    Task<int> ReturnAsync(string consumerId, IReadOnlyList<long>? leaseIds = null);

    /// <summary>
    /// Puts one leased message back at the back of its ready list, behind everything waiting there, without counting a
    /// delivery; false when the lease was lost. For a message whose send failed as the gateway's circuit opened: the next
    /// probe is another message, so one the gateway always fails cannot keep the circuit open.
    /// </summary>
    Task<bool> ReturnToBackAsync(string consumerId, long leaseId);

    /// <summary>
    /// The lease ids the consumer's lease hash holds now, in no particular order: for a consumer to find leases it no
    /// longer knows of (Redis came back without the writes that had taken them out).
    /// </summary>
    Task<IReadOnlyList<long>> LeaseIdsAsync(string consumerId);

    /// <summary>Proves the consumer is alive; its leases are safe while heartbeats are younger than the consumer timeout.</summary>
    Task HeartbeatAsync(string consumerId);

    /// <summary>
    /// Renews the consumer's heartbeat, as <see cref="HeartbeatAsync"/> does, and tells whether it still holds the lease:
    /// false once another consumer recovered it, after this one's heartbeat was older than the consumer timeout.
    /// </summary>
    Task<bool> HoldsLeaseAsync(string consumerId, long leaseId);

    /// <summary>Returns any leases the consumer still holds and removes it from the live set (graceful stop).</summary>
    Task<int> RemoveConsumerAsync(string consumerId);

    /// <summary>Moves due delayed messages to ready; returns how many.</summary>
    Task<int> PromoteDueAsync(int limit = 1000);

    /// <summary>
    /// Withdraws messages no longer wanted: out of the delayed set if they wait there (found by priority and payload
    /// exactly as enqueued), and marked by id so that no consumer sends them wherever else they wait (promoted to ready,
    /// retried, leased and not yet claimed). Returns, per message, true once it will not be sent, also when asked again;
    /// false when too late: sent, or being sent.
    /// </summary>
    Task<bool[]> WithdrawAsync(IReadOnlyList<WithdrawItem> items);

    /// <summary>Returns the leases of consumers whose heartbeat expired to ready (or to the DLQ as poison).</summary>
    Task<RecoveryResult> RecoverAsync();

    /// <summary>
    /// Returns the leases held under a consumer id to ready (or to the DLQ as poison) whatever its heartbeat, and removes
    /// it from the live set: for a process starting under the id of one that stopped without returning them.
    /// </summary>
    Task<RecoveryResult> RecoverConsumerAsync(string consumerId);

    /// <summary>Counts by state; <see cref="QueueStats.Consumers"/> counts consumers whose heartbeat is fresh.</summary>
    Task<QueueStats> GetStatsAsync();

    /// <summary>When the oldest ready messages were enqueued and became due; null when nothing is ready or it is not stamped.</summary>
    Task<OldestReady?> GetOldestReadyAsync();

    /// <summary>The next message to go from each ready list that holds one, high first.</summary>
    Task<IReadOnlyList<ReadyTail>> GetReadyTailsAsync();

    /// <summary>Reads dead letters, newest first, without removing them.</summary>
    Task<IReadOnlyList<DeadLetterEntry>> GetDeadLettersAsync(long start = 0, long count = 100);
}
