using System.Collections.Concurrent;
using Cortex.Shared.Queue;

namespace Cortex.Sender.Tests.Pipeline;

/// <summary>The real queue, with every lease and ack batch the sender asked for recorded in order, and its lease checks counted.</summary>
internal sealed class CountingQueue(IMessageQueue inner) : DelegatingMessageQueue(inner)
{
    private readonly ConcurrentQueue<(int Max, int Leased)> _leases = new();
    private readonly ConcurrentQueue<int> _acks = new();
    private readonly ConcurrentQueue<int> _deadLetters = new();
    private int _leaseChecks;

    /// <summary>Each lease call: how many messages the sender asked for, and how many it got.</summary>
    public IReadOnlyCollection<(int Max, int Leased)> Leases => _leases;

    /// <summary>The size of each ack batch written.</summary>
    public IReadOnlyCollection<int> Acks => _acks;

    /// <summary>The size of each dead-letter write, one per call.</summary>
    public IReadOnlyCollection<int> DeadLetters => _deadLetters;

    /// <summary>How many times the sender asked whether it still held a lease before sending.</summary>
    public int LeaseChecks => Volatile.Read(ref _leaseChecks);

    public override async Task<LeaseBatch> LeaseAsync(string consumerId, int max, string? requestToken = null, CancellationToken cancellationToken = default)
    {
        var leased = await base.LeaseAsync(consumerId, max, requestToken, cancellationToken);
        _leases.Enqueue((max, leased.Count));
        return leased;
    }

    public override Task<bool> HoldsLeaseAsync(string consumerId, long leaseId)
    {
        Interlocked.Increment(ref _leaseChecks);
        return base.HoldsLeaseAsync(consumerId, leaseId);
    }

    public override Task<int> AckAsync(string consumerId, IReadOnlyList<AckItem> items)
    {
        _acks.Enqueue(items.Count);
        return base.AckAsync(consumerId, items);
    }

    public override Task<bool> DeadLetterAsync(string consumerId, LeasedMessage message, DeadLetterEntry entry)
    {
        _deadLetters.Enqueue(1);
        return base.DeadLetterAsync(consumerId, message, entry);
    }

    public override Task<int> DeadLetterAsync(string consumerId, IReadOnlyList<DeadLetterItem> items)
    {
        _deadLetters.Enqueue(items.Count);
        return base.DeadLetterAsync(consumerId, items);
    }
}
