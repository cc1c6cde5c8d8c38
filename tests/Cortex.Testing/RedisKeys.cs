using StackExchange.Redis;

namespace Cortex.Testing;

/// <summary>What keys a test left in Redis.</summary>
public static class RedisKeys
{
    /// <summary>
    /// Every key matching <paramref name="pattern"/>, read in one awaited round trip. StackExchange.Redis 1.2.6 only scans
    /// synchronously, and a blocked test thread waiting on its reply timed out on a loaded machine (CI, every test
    /// assembly at once); a script reply does not need a free thread to arrive.
    /// </summary>
    public static async Task<List<string>> MatchingAsync(this IConnectionMultiplexer redis, string pattern)
    {
        var reply = await redis.GetDatabase().ScriptEvaluateAsync("return redis.call('KEYS', ARGV[1])", values: [pattern]);
        return ((RedisValue[])reply!).Select(v => v.ToString()).ToList();
    }
}
