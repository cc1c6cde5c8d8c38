using Cortex.Shared.Queue;

namespace Cortex.Sender.Pipeline;

/// <summary>
/// The sender's queue, keeping the lease ids this consumer holds in memory: from the lease call that handed them out
/// until a write that takes them out of its lease hash (ack, retry, deferral, dead letter, return, a withdrawn claim) has
/// been answered, or Redis said the lease is gone. A lease in the hash that is not held here, with an id no higher than
/// the highest handed out, is one nothing in this process will ever finish (<see cref="Orphans"/>): Redis came back
/// without the writes that had taken it out (a failover, the AOF fsync window), and this consumer's heartbeat would keep
/// it from every other consumer until the process stops.
/// </summary>
internal sealed class HeldLeases(IMessageQueue inner, string consumerId) : DelegatingMessageQueue(inner)
{
    private readonly HashSet<long> _held = [];
    private long _highest;

    /// <summary>The highest lease id handed to this consumer so far (0: none). Every later lease id is higher.</summary>
    public long Highest
    {
        get
        {
            lock (_held)
            {
                return _highest;
            }
        }
    }

    /// <summary>The ids of <paramref name="inHash"/> not held here and no higher than <paramref name="highest"/>, in order.</summary>
    /// <param name="inHash">The consumer's lease hash, read after <paramref name="highest"/> was.</param>
    /// <param name="highest"><see cref="Highest"/> as read before the hash: a lease call answered after it is left alone.</param>
    public List<long> Orphans(IReadOnlyList<long> inHash, long highest)
    {
        lock (_held)
        {
            return [.. inHash.Where(id => id <= highest && !_held.Contains(id)).Order()];
        }
    }

    public override async Task<LeaseBatch> LeaseAsync(string consumerId, int max, string? requestToken = null, CancellationToken cancellationToken = default)
    {
        var batch = await base.LeaseAsync(consumerId, max, requestToken, cancellationToken);
        if (IsMine(consumerId))
        {
            lock (_held)
            {
                foreach (var message in batch)
                {
                    _held.Add(message.LeaseId);
                    _highest = Math.Max(_highest, message.LeaseId);
                }
            }
        }

        return batch;
    }

    public override async Task<ClaimResult[]> ClaimAsync(string consumerId, IReadOnlyList<AckItem> items)
    {
        var claims = await base.ClaimAsync(consumerId, items);

        // A withdrawn id's lease is released by the claim itself.
        Release(consumerId, claims.Select((claim, i) => (claim, i)).Where(c => c.claim == ClaimResult.Withdrawn).Select(c => items[c.i].LeaseId));
        return claims;
    }

    public override async Task<int> AckAsync(string consumerId, IReadOnlyList<AckItem> items)
    {
        var lost = await base.AckAsync(consumerId, items);
        Release(consumerId, items.Select(item => item.LeaseId));
        return lost;
    }

    public override async Task<bool> ScheduleRetryAsync(string consumerId, LeasedMessage message, ReadOnlyMemory<byte> payload, DateTimeOffset dueAt)
    {
        var moved = await base.ScheduleRetryAsync(consumerId, message, payload, dueAt);
        Release(consumerId, [message.LeaseId]);
        return moved;
    }

    public override async Task<bool> DeferAsync(string consumerId, LeasedMessage message, DateTimeOffset dueAt)
    {
        var moved = await base.DeferAsync(consumerId, message, dueAt);
        Release(consumerId, [message.LeaseId]);
        return moved;
    }

    public override async Task<bool> DeadLetterAsync(string consumerId, LeasedMessage message, DeadLetterEntry entry)
    {
        var moved = await base.DeadLetterAsync(consumerId, message, entry);
        Release(consumerId, [message.LeaseId]);
        return moved;
    }

    public override async Task<int> DeadLetterAsync(string consumerId, IReadOnlyList<DeadLetterItem> items)
    {
        var moved = await base.DeadLetterAsync(consumerId, items);
        Release(consumerId, items.Select(item => item.Message.LeaseId));
        return moved;
    }

    public override async Task<int> ReturnAsync(string consumerId, IReadOnlyList<long>? leaseIds = null)
    {
        var returned = await base.ReturnAsync(consumerId, leaseIds);
        if (leaseIds is null)
        {
            ReleaseAll(consumerId);
        }
        else
        {
            Release(consumerId, leaseIds);
        }

        return returned;
    }

    public override async Task<bool> ReturnToBackAsync(string consumerId, long leaseId)
    {
        var returned = await base.ReturnToBackAsync(consumerId, leaseId);
        Release(consumerId, [leaseId]);
        return returned;
    }

    public override async Task<bool> HoldsLeaseAsync(string consumerId, long leaseId)
    {
        var held = await base.HoldsLeaseAsync(consumerId, leaseId);
        if (!held)
        {
            Release(consumerId, [leaseId]);
        }

        return held;
    }

    public override async Task<int> RemoveConsumerAsync(string consumerId)
    {
        var returned = await base.RemoveConsumerAsync(consumerId);
        ReleaseAll(consumerId);
        return returned;
    }

    public override async Task<RecoveryResult> RecoverConsumerAsync(string consumerId)
    {
        var recovery = await base.RecoverConsumerAsync(consumerId);
        ReleaseAll(consumerId);
        return recovery;
    }

    private bool IsMine(string id) => string.Equals(id, consumerId, StringComparison.Ordinal);

    private void Release(string id, IEnumerable<long> leaseIds)
    {
        if (!IsMine(id))
        {
            return;
        }

        lock (_held)
        {
            foreach (var leaseId in leaseIds)
            {
                _held.Remove(leaseId);
            }
        }
    }

    private void ReleaseAll(string id)
    {
        if (IsMine(id))
        {
            lock (_held)
            {
                _held.Clear();
            }
        }
    }
}
