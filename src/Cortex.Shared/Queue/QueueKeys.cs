using Cortex.Shared.Contract;
using StackExchange.Redis;

namespace Cortex.Shared.Queue;

/// <summary>The Redis keys of one queue. All share the "{name}" hash tag, so Lua scripts touch one cluster slot.</summary>
public sealed class QueueKeys
{
    public QueueKeys(string name)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        Name = name;
        Prefix = "{" + name + "}:";
        ReadyHigh = Prefix + "ready:high";
        ReadyNormal = Prefix + "ready:normal";
        ReadyLow = Prefix + "ready:low";
        Delayed = Prefix + "delayed";
        Dead = Prefix + "dead";
        Consumers = Prefix + "consumers";
        LeaseSequence = Prefix + "lease-seq";
        LeasesPrefix = Prefix + "leases:";
        SentPrefix = Prefix + "sent:";
        Paused = Prefix + "paused";
    }

    public string Name { get; }

    public string Prefix { get; }

    public RedisKey ReadyHigh { get; }

    public RedisKey ReadyNormal { get; }

    public RedisKey ReadyLow { get; }

    /// <summary>Sorted set of messages waiting for notBefore or a retry; score = due time in Unix ms.</summary>
    public RedisKey Delayed { get; }

    /// <summary>Dead-letter list: JSON entries with reason, attempts, last error and the original payload (see <see cref="DeadLetterEntry.FromJson"/>).</summary>
    public RedisKey Dead { get; }

    /// <summary>Sorted set of live consumers; score = last heartbeat in Unix ms.</summary>
    public RedisKey Consumers { get; }

    public RedisKey LeaseSequence { get; }

    /// <summary>Set by an operator (POST /admin/pause): while it exists no consumer leases anything; its value is the reason.</summary>
    public RedisKey Paused { get; }

    public string LeasesPrefix { get; }

    public string SentPrefix { get; }

    public RedisKey Ready(Priority priority) => priority switch
    {
        Priority.High => ReadyHigh,
        Priority.Low => ReadyLow,
        _ => ReadyNormal,
    };

    /// <summary>Hash of one consumer's in-flight leases: lease id → priority char + payload.</summary>
    public RedisKey Leases(string consumerId) => LeasesPrefix + consumerId;

    /// <summary>The last lease request of one consumer ("token|firstLeaseId|count|sizes of the payloads it dead-lettered as oversized"), so a retried request replays its batch.</summary>
    public RedisKey LastLease(string consumerId) => Prefix + "last-lease:" + consumerId;

    public RedisKey Sent(string messageId) => SentPrefix + messageId;
}
