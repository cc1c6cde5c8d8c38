using Cortex.Shared.Contract;
using Cortex.Shared.Queue;

namespace Cortex.Shared.Client;

/// <summary>
/// Producer API for .NET systems: validates envelopes with the sender's own rules, stamps enqueuedAt and
/// pushes them (pipelined) to the ready list of their priority, or to the delayed set when notBefore is ahead.
/// </summary>
public sealed class CortexClient(IMessageQueue queue, TimeProvider timeProvider)
{
    /// <summary>Enqueues one message; throws <see cref="InvalidEnvelopeException"/> if it breaks the contract.</summary>
    public Task EnqueueAsync(Envelope envelope, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        return queue.EnqueueAsync([Prepare(envelope, -1)], cancellationToken);
    }

    /// <summary>Validates every envelope first, then enqueues all of them in pipelined batches; an invalid one enqueues none.</summary>
    public async Task<int> EnqueueBatchAsync(IEnumerable<Envelope> envelopes, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(envelopes);
        var messages = new List<QueueMessage>();
        foreach (var envelope in envelopes)
        {
            messages.Add(Prepare(envelope, messages.Count));
        }

        await queue.EnqueueAsync(messages, cancellationToken);
        return messages.Count;
    }

    private QueueMessage Prepare(Envelope envelope, int index)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        var stamped = envelope.EnqueuedAt is null ? envelope with { EnqueuedAt = timeProvider.GetUtcNow() } : envelope;
        var payload = EnvelopeCodec.Serialize(stamped);
        var parsed = EnvelopeCodec.Parse(payload);
        if (parsed.Error is { } error)
        {
            throw new InvalidEnvelopeException(error, index, envelope.Id);
        }

        return new QueueMessage(payload, stamped.Priority, stamped.NotBefore);
    }
}
