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
        return queue.EnqueueAsync([PrepareOrThrow(envelope, -1)], cancellationToken);
    }

    /// <summary>Validates every envelope first, then enqueues all of them in pipelined batches; an invalid one enqueues none.</summary>
    public async Task<int> EnqueueBatchAsync(IEnumerable<Envelope> envelopes, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(envelopes);
        var messages = new List<QueueMessage>();
        foreach (var envelope in envelopes)
        {
            messages.Add(PrepareOrThrow(envelope, messages.Count));
        }

        await queue.EnqueueAsync(messages, cancellationToken);
        return messages.Count;
    }

    /// <summary>
    /// The message <see cref="EnqueueAsync"/> would push for this envelope, or why it would refuse it. The check is of the
    /// payload as pushed: stamped and serialized, which can be larger than the envelope as a producer wrote it (an emoji
    /// is written as <c>\uD83D\uDE00</c>, 12 bytes for 4), so an envelope read from a file as valid can still be over
    /// the size limit. Push what it returns with <see cref="EnqueuePreparedAsync"/>.
    /// </summary>
    public (QueueMessage? Message, EnvelopeError? Error) Prepare(Envelope envelope)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        var stamped = envelope.EnqueuedAt is null ? envelope with { EnqueuedAt = timeProvider.GetUtcNow() } : envelope;
        return EnvelopeCodec.TrySerialize(stamped, out var payload, out var error)
            ? (new QueueMessage(payload, stamped.Priority, stamped.NotBefore), null)
            : (null, error);
    }

    /// <summary>Enqueues messages <see cref="Prepare"/> returned, in pipelined batches.</summary>
    public Task EnqueuePreparedAsync(IReadOnlyList<QueueMessage> messages, CancellationToken cancellationToken = default) =>
        queue.EnqueueAsync(messages, cancellationToken);

    private QueueMessage PrepareOrThrow(Envelope envelope, int index)
    {
        var (message, error) = Prepare(envelope);
        return message ?? throw new InvalidEnvelopeException(error!, index, envelope.Id);
    }
}
