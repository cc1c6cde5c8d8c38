using Cortex.Shared.Contract;

namespace Cortex.Shared.Queue;

/// <summary>A payload to enqueue: the UTF-8 JSON envelope, its ready list and an optional earliest send time.</summary>
public readonly record struct QueueMessage(ReadOnlyMemory<byte> Payload, Priority Priority, DateTimeOffset? NotBefore = null);

/// <summary>A message leased to one consumer; it stays in that consumer's lease hash until acked, retried, dead-lettered or returned.</summary>
public sealed record LeasedMessage(long LeaseId, Priority Priority, ReadOnlyMemory<byte> Payload, int PreviousDeliveries)
{
    /// <summary>True when an earlier consumer leased this message and died: its send may already have reached the gateway.</summary>
    public bool IsRedelivery => PreviousDeliveries > 0;
}

/// <summary>
/// What one lease call took from the ready lists: the messages now leased to the consumer, and the size of each payload
/// that was over <see cref="EnvelopeLimits.MaxEnvelopeBytes"/> and so was dead-lettered inside Redis instead
/// (as <c>invalid_envelope</c>, the payload kept byte for byte), never carried to the consumer.
/// </summary>
public sealed class LeaseBatch(IReadOnlyList<LeasedMessage> messages, IReadOnlyList<int> oversized) : IReadOnlyList<LeasedMessage>
{
    public static LeaseBatch Empty { get; } = new([], []);

    /// <summary>The size in bytes of each payload dead-lettered for being over the envelope limit, in the order taken.</summary>
    public IReadOnlyList<int> Oversized => oversized;

    public int Count => messages.Count;

    public LeasedMessage this[int index] => messages[index];

    public IEnumerator<LeasedMessage> GetEnumerator() => messages.GetEnumerator();

    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
}

/// <summary>
/// An ack: the lease to release and the message id to mark as sent for idempotency, with the message's expiry when it
/// has one (its sent marker is kept until then, when that is longer than the idempotency window).
/// </summary>
public readonly record struct AckItem(long LeaseId, string MessageId, DateTimeOffset? ExpiresAt = null);

/// <summary>A leased message and the dead letter that replaces it.</summary>
public readonly record struct DeadLetterItem(LeasedMessage Message, DeadLetterEntry Entry);

/// <summary>The answer to a send claim on a message id.</summary>
public enum ClaimResult
{
    /// <summary>This lease holds the id now: send it.</summary>
    Claimed = 0,

    /// <summary>The id was sent within the idempotency window: ack without sending.</summary>
    AlreadySent = 1,

    /// <summary>Another live lease (this pod or another) is sending the same id: try again later.</summary>
    InFlightElsewhere = 2,

    /// <summary>Its producer withdrew it (<see cref="IMessageQueue.WithdrawAsync"/>): not sent; the claim released its lease.</summary>
    Withdrawn = 3,
}

/// <summary>
/// A message to withdraw: its id, its priority and payload exactly as enqueued (as it waits in the delayed set), and its
/// expiry when it has one (its withdrawn marker is kept until then, when that is longer than the idempotency window).
/// </summary>
public sealed record WithdrawItem(string MessageId, QueueMessage Message, DateTimeOffset? ExpiresAt = null);

/// <summary>What one recovery sweep did.</summary>
public readonly record struct RecoveryResult(int Recovered, int Poisoned, int DeadConsumers);

/// <summary>Counts of a queue by state.</summary>
public sealed record QueueStats(long ReadyHigh, long ReadyNormal, long ReadyLow, long Delayed, long Leased, long Dead, long Consumers)
{
    public long Ready => ReadyHigh + ReadyNormal + ReadyLow;

    /// <summary>Messages not yet finished: ready, delayed or leased.</summary>
    public long Pending => Ready + Delayed + Leased;
}

/// <summary>
/// The oldest of the messages next to go from the ready lists. <see cref="EnqueuedAt"/>: the earliest first push
/// (its envelope's enqueuedAt). <see cref="WaitingSince"/>: the earliest time one of them could have been sent, which is
/// later than its push for one held by its notBefore or its quiet hours: the wait that says sending is behind.
/// </summary>
public sealed record OldestReady(DateTimeOffset EnqueuedAt, DateTimeOffset WaitingSince);

/// <summary>
/// The next message to go from one ready list: its id, its envelope's enqueuedAt and notBefore, each null when its payload
/// does not tell it (a malformed one).
/// </summary>
public sealed record ReadyTail(Priority Priority, string? Id, DateTimeOffset? EnqueuedAt, DateTimeOffset? NotBefore);
