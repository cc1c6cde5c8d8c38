using Cortex.Shared.Contract;
using Cortex.Shared.Queue;
using StackExchange.Redis;

namespace Cortex.Cli.Tests.Infrastructure;

/// <summary>Reads what a queue holds, as the sender would find it.</summary>
public static class RedisState
{
    /// <summary>The ready list of <paramref name="priority"/>, in the order a sender leases it (oldest first), parsed.</summary>
    public static async Task<List<Envelope>> ReadyAsync(this IConnectionMultiplexer redis, QueueKeys keys, Priority priority)
    {
        var values = await redis.GetDatabase().ListRangeAsync(keys.Ready(priority));
        return values.Reverse().Select(v => EnvelopeCodec.Parse((byte[])v!).Envelope ?? throw new InvalidOperationException("invalid envelope in ready: " + v)).ToList();
    }

    public static async Task<long> LengthAsync(this IConnectionMultiplexer redis, RedisKey key) => await redis.GetDatabase().ListLengthAsync(key);
}
