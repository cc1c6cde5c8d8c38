using System.Threading.RateLimiting;
using Cortex.Sender.Gateways;
using Cortex.Sender.Pipeline;
using Cortex.Shared.Redis;
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

    public SenderRateLimiter(IOptions<RateLimitOptions> options, IOptions<GatewayOptions> gateway, IConnectionMultiplexer connection, SendGate gate, TimeProvider timeProvider, ILogger<SenderRateLimiter> logger)
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
            // A probe's answer takes at most the gateway's timeout; a pod that died probing holds the others that long.
            _global = new RedisTokenBucketRateLimiter(connection, gateway.Value.Name, _options.GlobalPermitsPerSecond, _options.GlobalBurst, timeProvider, gateway.Value.Timeout, logger);
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
    /// so the replenishment timer ticks at most every 10 ms, and the period chosen so the rate is within 0.5%.
    /// </summary>
    public static TokenBucketRateLimiterOptions PodBucket(double permitsPerSecond, int burst, bool autoReplenishment)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(permitsPerSecond);

        // The replenishment timer counts whole milliseconds (a 12.5 ms period fires every 12 ms and turns 80/s into
        // 83/s), so take the fewest tokens per period whose whole-millisecond period gives the rate within 0.5%:
        // 2 every 25 ms for 80/s, 250 every 10 ms for 25,000/s. A period of 100 ms or more always qualifies.
        var tokensPerPeriod = Math.Max(1, (int)Math.Ceiling(permitsPerSecond / 100));
        var periodMs = Math.Max(10, Math.Round(tokensPerPeriod * 1000d / permitsPerSecond));
        while (Math.Abs((tokensPerPeriod * 1000d / periodMs) - permitsPerSecond) > permitsPerSecond * 0.005)
        {
            tokensPerPeriod++;
            periodMs = Math.Max(10, Math.Round(tokensPerPeriod * 1000d / permitsPerSecond));
        }

        return new TokenBucketRateLimiterOptions
        {
            TokenLimit = Math.Max(burst, tokensPerPeriod),
            TokensPerPeriod = tokensPerPeriod,
            ReplenishmentPeriod = TimeSpan.FromMilliseconds(periodMs),
            QueueLimit = 1_000_000,
            QueueProcessingOrder = QueueProcessingOrder.OldestFirst,
            AutoReplenishment = autoReplenishment,
        };
    }

    /// <summary>What the Redis user may not run on the global bucket (see <see cref="RedisAcl"/>); empty when that limit is off.</summary>
    public async Task<IReadOnlyList<string>?> RefusedCommandsAsync() => _global is null ? [] : await _global.RefusedCommandsAsync();

    /// <summary>
    /// Waits for a permit; returns at once when no limit is configured. After a shared pause the permit may be every
    /// pod's probe: then its token is returned, and its send's end must be told through <see cref="ProbeDoneAsync"/>.
    /// </summary>
    public async ValueTask<string?> AcquireAsync(CancellationToken cancellationToken)
    {
        if (_limiter is null)
        {
            return null;
        }

        using var lease = await _limiter.AcquireAsync(1, cancellationToken);
        if (!lease.IsAcquired)
        {
            // Only a full wait queue refuses; honour its advice rather than sending over the limit.
            var retryAfter = lease.TryGetMetadata(MetadataName.RetryAfter, out var after) ? after : TimeSpan.FromMilliseconds(10);
            await Task.Delay(retryAfter, cancellationToken);
            return await AcquireAsync(cancellationToken);
        }

        return lease.TryGetMetadata(RedisTokenBucketRateLimiter.ProbeMetadataName, out var token) ? (string?)token : null;
    }

    /// <summary>Every pod's probe (<paramref name="probeToken"/>) is over: <paramref name="throttleOver"/> lets them all go.</summary>
    public Task ProbeDoneAsync(string probeToken, bool throttleOver, CancellationToken cancellationToken = default) =>
        _global?.ProbeDoneAsync(probeToken, throttleOver, cancellationToken) ?? Task.CompletedTask;

    /// <summary>How long a throttled answer pauses sending: its Retry-After, or <see cref="RateLimitOptions.ThrottlePause"/>.</summary>
    public TimeSpan PauseFor(TimeSpan? retryAfter) => retryAfter is { } r && r > TimeSpan.Zero ? r : _options.ThrottlePause;

    /// <summary>
    /// The gateway asked us to slow down: pause this pod now and every pod through the shared bucket, whose write is
    /// given up with <paramref name="cancellationToken"/>.
    /// </summary>
    public async Task OnThrottledAsync(TimeSpan? retryAfter, CancellationToken cancellationToken = default)
    {
        var pause = PauseFor(retryAfter);
        _gate.Throttled(pause);
        if (_global is not null)
        {
            await _global.PauseAsync(pause, cancellationToken);
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
