using System.Collections;
using Cortex.Shared.Contract;

namespace Cortex.Sender.Pipeline;

/// <summary>
/// The logging scope of one message's send: every line logged inside it (gateway answers, Polly, faults) carries the
/// message id and the producer's traceId; the JSON console formatter writes them as fields.
/// </summary>
internal sealed class MessageLogScope(Envelope envelope) : IReadOnlyList<KeyValuePair<string, object?>>
{
    public int Count => 2;

    public KeyValuePair<string, object?> this[int index] => index switch
    {
        0 => new("MessageId", envelope.Id),
        1 => new("TraceId", envelope.TraceId),
        _ => throw new ArgumentOutOfRangeException(nameof(index)),
    };

    public IEnumerator<KeyValuePair<string, object?>> GetEnumerator()
    {
        yield return this[0];
        yield return this[1];
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    public override string ToString() => $"message {envelope.Id} trace {envelope.TraceId}";
}
