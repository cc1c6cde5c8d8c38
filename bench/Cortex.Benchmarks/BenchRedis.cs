using StackExchange.Redis;

namespace Cortex.Benchmarks;

/// <summary>The Redis the queue, rate-limiter and scrape benchmarks run against: CORTEX_BENCH_REDIS, set by scripts/bench.sh.</summary>
internal static class BenchRedis
{
    public const string Variable = "CORTEX_BENCH_REDIS";

    /// <summary>The address from <see cref="Variable"/>, or null when it is not set.</summary>
    public static string? Address => Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } address ? address : null;

    /// <summary>Connects to <paramref name="address"/>, or to <see cref="Variable"/>'s address when it is null; fails with the fix when neither is set.</summary>
    public static ConnectionMultiplexer Connect(string? address = null)
    {
        address ??= Address ?? throw new InvalidOperationException(
            $"{Variable} is not set: these benchmarks need a redis-server. Run 'make bench' (it starts a throwaway one), "
            + $"or start one yourself and set {Variable}=127.0.0.1:PORT. Every key they write is under a name of their own.");
        return ConnectionMultiplexer.Connect(address + ",abortConnect=false,connectTimeout=2000,syncTimeout=5000");
    }

    /// <summary>A key-name part no other run uses, so a run never touches keys it did not create.</summary>
    public static string UniqueName(string prefix) => prefix + "-" + Guid.NewGuid().ToString("N")[..12];
}
