using BenchmarkDotNet.Attributes;
using Cortex.Sender.Gateways;
using Cortex.Sender.Pipeline;
using Cortex.Sender.RateLimiting;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Cortex.Benchmarks;

/// <summary>
/// What a worker pays for one permit (SenderRateLimiter.AcquireAsync) when a permit is available: no limit, the pod's
/// token bucket, the global bucket in Redis reserving 250 permits per round trip (25,000/s), and both chained as a pod
/// with both limits configures them. <see cref="GlobalRoundTripBenchmarks"/> has the one-round-trip-per-permit case.
/// </summary>
/// <remarks>
/// A waiting acquire would time the configured rate, not code, so no acquire may wait. Rates and bursts are the
/// largest the options validator allows (1,000,000/s, burst 1,000,000), and the loop outruns even that: each
/// iteration is a fixed <see cref="InvocationsPerIteration"/> acquires, fewer than one full bucket, and the
/// [IterationSetup] (not timed) builds fresh limiters with fresh Redis buckets, so every iteration starts full.
/// </remarks>
[MemoryDiagnoser]
[InvocationCount(InvocationsPerIteration)]
public class RateLimiterBenchmarks
{
    public const int InvocationsPerIteration = 200_000;
    internal const int MaxRate = 1_000_000;

    private readonly List<string> _gateways = [];
    private readonly List<SenderRateLimiter> _limiters = [];
    private ConnectionMultiplexer? _redis;
    private SenderRateLimiter? _none;
    private SenderRateLimiter? _pod;
    private SenderRateLimiter? _globalReserved;
    private SenderRateLimiter? _podAndGlobal;

    /// <summary>Overrides CORTEX_BENCH_REDIS (the wiring test's own server).</summary>
    internal string? RedisAddress { get; set; }

    /// <summary>The gateway names of the current limiters, in the order of the benchmarks.</summary>
    internal IReadOnlyList<string> CurrentGateways => _gateways[^4..];

    [GlobalSetup]
    public void GlobalSetup() => _redis = BenchRedis.Connect(RedisAddress);

    [IterationSetup]
    public void FreshLimiters()
    {
        DisposeLimiters();
        _none = Create(_redis!, pod: 0, global: 0, _gateways, _limiters);
        _pod = Create(_redis!, pod: MaxRate, global: 0, _gateways, _limiters);
        _globalReserved = Create(_redis!, pod: 0, global: 25_000, _gateways, _limiters);
        _podAndGlobal = Create(_redis!, pod: MaxRate, global: 25_000, _gateways, _limiters);
    }

    [GlobalCleanup]
    public void GlobalCleanup()
    {
        DisposeLimiters();
        if (_redis is not null)
        {
            DeleteBuckets(_redis, _gateways);
            _redis.Dispose();
        }
    }

    [Benchmark(Baseline = true)]
    public ValueTask<string?> NoLimit() => _none!.AcquireAsync(CancellationToken.None);

    [Benchmark]
    public ValueTask<string?> PodBucket() => _pod!.AcquireAsync(CancellationToken.None);

    /// <summary>25,000/s: 250 permits per round trip, the rest served from the pod's reservation.</summary>
    [Benchmark]
    public ValueTask<string?> GlobalReserved250() => _globalReserved!.AcquireAsync(CancellationToken.None);

    [Benchmark]
    public ValueTask<string?> PodAndGlobalChained() => _podAndGlobal!.AcquireAsync(CancellationToken.None);

    internal static SenderRateLimiter Create(IConnectionMultiplexer redis, double pod, double global, List<string> gateways, List<SenderRateLimiter> limiters)
    {
        var gateway = new GatewayOptions { Name = BenchRedis.UniqueName("bench") };
        var options = new RateLimitOptions
        {
            PodPermitsPerSecond = pod,
            PodBurst = MaxRate,
            GlobalPermitsPerSecond = global,
            GlobalBurst = MaxRate,
        };
        var limiter = new SenderRateLimiter(Options.Create(options), Options.Create(gateway), redis, new SendGate(TimeProvider.System), TimeProvider.System, Microsoft.Extensions.Logging.Abstractions.NullLogger<SenderRateLimiter>.Instance);
        gateways.Add(gateway.Name);
        limiters.Add(limiter);
        return limiter;
    }

    internal static void DeleteBuckets(IConnectionMultiplexer redis, IEnumerable<string> gateways) =>
        redis.GetDatabase().KeyDelete([.. gateways.Select(g => RedisTokenBucketRateLimiter.KeyFor(g))]);

    private void DisposeLimiters()
    {
        foreach (var limiter in _limiters)
        {
            limiter.Dispose();
        }

        _limiters.Clear();
    }
}

/// <summary>
/// The global limit at a provider's per-number rate (80/s, a Cloud API number): the limiter reserves one permit per
/// Redis round trip, so every acquire is one EVAL. The bucket holds 1,000,000 permits, which a run at one round trip
/// per permit cannot spend, so no acquire waits.
/// </summary>
[MemoryDiagnoser]
public class GlobalRoundTripBenchmarks
{
    private readonly List<string> _gateways = [];
    private readonly List<SenderRateLimiter> _limiters = [];
    private ConnectionMultiplexer? _redis;
    private SenderRateLimiter? _limiter;

    /// <summary>Overrides CORTEX_BENCH_REDIS (the wiring test's own server).</summary>
    internal string? RedisAddress { get; set; }

    internal string Gateway => _gateways[0];

    [GlobalSetup]
    public void GlobalSetup()
    {
        _redis = BenchRedis.Connect(RedisAddress);
        _limiter = RateLimiterBenchmarks.Create(_redis, pod: 0, global: 80, _gateways, _limiters);
    }

    [GlobalCleanup]
    public void GlobalCleanup()
    {
        _limiter?.Dispose();
        if (_redis is not null)
        {
            RateLimiterBenchmarks.DeleteBuckets(_redis, _gateways);
            _redis.Dispose();
        }
    }

    [Benchmark]
    public ValueTask<string?> GlobalRoundTripPerPermit() => _limiter!.AcquireAsync(CancellationToken.None);
}
