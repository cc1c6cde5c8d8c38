namespace Cortex.Sender.Pipeline;

/// <summary>What a configuration error (401, 403, an HTML page) says, given what the gateway answered before it.</summary>
internal enum RefusalVerdict
{
    /// <summary>Our key, instance or URL may be refused: pause the pod, with another message as the pause's probe.</summary>
    Configuration,

    /// <summary>The gateway took sends made after this message was first refused: this request is refused, not the key.</summary>
    Message,

    /// <summary>As <see cref="Message"/>, for longer than <see cref="ConfigurationRefusals.GiveUpAfter"/>: give up on it.</summary>
    MessageForTooLong,
}

/// <summary>
/// Tells a gateway that refuses our configuration from one that refuses a single request the same way, as a filter in front
/// of it may refuse one body. The first refusal of a message pauses the pod. Once the gateway has itself answered a send
/// that started after that refusal, the key works, and each later refusal of the message is the message's own: it waits
/// without pausing the pod or spending an attempt (a gateway half misrouted refuses some messages, and must not burn
/// their retries), until it has been refused so for <see cref="GiveUpAfter"/>. Per pod and in memory: each pod pauses
/// at most once for such a message, and a restarted pod starts counting again.
/// </summary>
internal sealed class ConfigurationRefusals(TimeProvider time)
{
    /// <summary>How long a message refused for what it carries is tried again before it is dead-lettered.</summary>
    public static readonly TimeSpan GiveUpAfter = TimeSpan.FromHours(1);

    // Message ids and when they were first refused, bounded: a revoked key refuses every message, and the set starts over.
    private const int Capacity = 4096;

    private readonly Dictionary<string, long> _firstRefusedAt = new(StringComparer.Ordinal);
    private long _lastAnsweredSendStart = long.MinValue;

    /// <summary>The gateway itself answered (accepted, permanent, throttled) a send that started at this timestamp.</summary>
    public void Answered(long sendStart)
    {
        lock (_firstRefusedAt)
        {
            _lastAnsweredSendStart = Math.Max(_lastAnsweredSendStart, sendStart);
        }
    }

    /// <summary>Notes that the gateway refused <paramref name="messageId"/>'s send as a configuration error, and judges it.</summary>
    public RefusalVerdict Refused(string messageId)
    {
        lock (_firstRefusedAt)
        {
            if (!_firstRefusedAt.TryGetValue(messageId, out var first))
            {
                if (_firstRefusedAt.Count == Capacity)
                {
                    _firstRefusedAt.Clear();
                }

                _firstRefusedAt[messageId] = time.GetTimestamp();
                return RefusalVerdict.Configuration;
            }

            return _lastAnsweredSendStart <= first ? RefusalVerdict.Configuration
                : time.GetElapsedTime(first) < GiveUpAfter ? RefusalVerdict.Message
                : RefusalVerdict.MessageForTooLong;
        }
    }
}
