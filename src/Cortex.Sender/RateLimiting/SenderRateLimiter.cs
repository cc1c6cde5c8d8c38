using System.Threading.RateLimiting;
using Cortex.Sender.Gateways;
using Cortex.Sender.Pipeline;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Cortex.Sender.RateLimiting;

/// <summary>
/// The send rate limit of this pod: its own token bucket chained with the gateway instance's global bucket in
/// Redis, either of which may be off. A throttled answer pauses this pod at once and every pod through Redis.
/// </summary>
public sealed class SenderRateLimiter : IDisposable
{
    private readonly RateLimiter? _limiter;
    private readonly RedisTokenBucketRateLimiter? _global;
    private readonly TokenBucketRateLimiter? _pod;
    private readonly SendGate _gate;
    private readonly RateLimitOptions _options;

    public SenderRateLimiter(IOptions<RateLimitOptions> options, IOptions<GatewayOptions> gateway, IConnectionMultiplexer connection, SendGate gate, TimeProvider timeProvider)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(gateway);
        _options = options.Value;
        _gate = gate;
        if (_options.PodPermitsPerSecond > 0)
        {
            _pod = new TokenBucketRateLimiter(PodBucket(_options.PodPermitsPerSecond, _options.PodBurst, autoReplenishment: true));
        }

        if (_options.GlobalPermitsPerSecond > 0)
        {
            _global = new RedisTokenBucketRateLimiter(connection, gateway.Value.Name, _options.GlobalPermitsPerSecond, _options.GlobalBurst, timeProvider);
        }

        _limiter = (_pod, _global) switch
        {
            (null, null) => null,
            ({ } p, null) => p,
            (null, { } g) => g,
            ({ } p, { } g) => RateLimiter.CreateChained(p, g),
        };
    }

    public bool IsEnabled => _limiter is not null;

    /// <summary>
    /// Token bucket options for a steady <paramref name="permitsPerSecond"/>: several tokens per period at high rates
    /// so the replenishment timer ticks at most every 10 ms, and the period chosen so the rate is exact.
    /// </summary>
    public static TokenBucketRateLimiterOptions PodBucket(double permitsPerSecond, int burst, bool autoReplenishment)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(permitsPerSecond);
        var tokensPerPeriod = Math.Max(1, (int)Math.Ceiling(permitsPerSecond / 100));
        return new TokenBucketRateLimiterOptions
        {
            TokenLimit = Math.Max(burst, tokensPerPeriod),
            TokensPerPeriod = tokensPerPeriod,
            ReplenishmentPeriod = TimeSpan.FromTicks((long)(TimeSpan.TicksPerSecond * tokensPerPeriod / permitsPerSecond)),
            QueueLimit = 1_000_000,
            QueueProcessingOrder = QueueProcessingOrder.OldestFirst,
            AutoReplenishment = autoReplenishment,
        };
    }

    /// <summary>Waits for a permit; returns at once when no limit is configured.</summary>
    public async ValueTask AcquireAsync(CancellationToken cancellationToken)
    {
        if (_limiter is null)
        {
            return;
        }

        using var lease = await _limiter.AcquireAsync(1, cancellationToken);
        if (!lease.IsAcquired)
        {
            // Only a full wait queue refuses; honour its advice rather than sending over the limit.
            var retryAfter = lease.TryGetMetadata(MetadataName.RetryAfter, out var after) ? after : TimeSpan.FromMilliseconds(10);
            await Task.Delay(retryAfter, cancellationToken);
            await AcquireAsync(cancellationToken);
        }
    }

    /// <summary>The gateway asked us to slow down: pause this pod now and every pod through the shared bucket.</summary>
    public async Task OnThrottledAsync(TimeSpan? retryAfter)
    {
        var pause = retryAfter is { } r && r > TimeSpan.Zero ? r : _options.ThrottlePause;
        _gate.PauseFor(pause, "gateway throttling");
        if (_global is not null)
        {
            await _global.PauseAsync(pause);
        }
    }

    public void Dispose()
    {
        // A chained limiter does not own the limiters it chains.
        if (_limiter is not null && !ReferenceEquals(_limiter, _pod) && !ReferenceEquals(_limiter, _global))
        {
            _limiter.Dispose();
        }

        _pod?.Dispose();
        _global?.Dispose();
    }
}
