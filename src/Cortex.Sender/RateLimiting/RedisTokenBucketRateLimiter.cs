using System.Threading.RateLimiting;
using Cortex.Sender.Pipeline;
using Cortex.Shared.Redis;
using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;

namespace Cortex.Sender.RateLimiting;

/// <summary>
/// A token bucket shared by every pod through one Redis hash per gateway instance, so twenty pods together
/// stay under the provider's rate. At high rates a pod takes a few tokens per round trip and must spend them
/// within <see cref="ReservationLifetime"/>; unspent ones lapse, which can lower the rate but never raise it.
/// </summary>
internal sealed class RedisTokenBucketRateLimiter : RateLimiter
{
    private static readonly TimeSpan s_reservationLifetime = TimeSpan.FromMilliseconds(100);

    // KEYS: bucket   ARGV: now ms, permits per second, burst, wanted, probe token, probe lease ms
    // Returns {granted, wait ms, probe}. A pause (set after a throttled answer) holds every pod; after it, until a send
    // is answered otherwise, one permit at a time is granted as the probe and every other pod waits for its answer.
    private static readonly RedisScript s_acquire = new("""
        local now = tonumber(ARGV[1])
        local rate = tonumber(ARGV[2])
        local burst = tonumber(ARGV[3])
        local want = tonumber(ARGV[4])
        local s = redis.call('HMGET', KEYS[1], 'tokens', 'ts', 'paused', 'throttled', 'probe_until')
        local tokens = tonumber(s[1]) or burst
        local ts = tonumber(s[2]) or now
        local paused = tonumber(s[3]) or 0
        if paused > now then return {0, paused - now, 0} end
        local probing = s[4] == '1'
        if probing then
          local out = tonumber(s[5]) or 0
          if out > now then return {0, math.min(out - now, 100), 0} end
          want = 1
        end
        if now > ts then
          tokens = math.min(burst, tokens + (now - ts) * rate / 1000)
          ts = now
        end
        local grant = math.min(want, math.floor(tokens))
        if grant >= 1 then tokens = tokens - grant else grant = 0 end
        redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', ts)
        if probing and grant == 1 then redis.call('HSET', KEYS[1], 'probe', ARGV[5], 'probe_until', now + tonumber(ARGV[6])) end
        redis.call('PEXPIRE', KEYS[1], 3600000)
        if grant == 0 then return {0, math.max(1, math.ceil((1 - tokens) * 1000 / rate)), 0} end
        return {grant, 0, probing and 1 or 0}
        """);

    // KEYS: bucket   ARGV: paused-until ms
    // After the pause the bucket holds one token, the probe's, not the burst it would have saved (no burst into a
    // provider that just throttled us), and it probes first.
    private static readonly RedisScript s_pause = new("""
        local cur = tonumber(redis.call('HGET', KEYS[1], 'paused')) or 0
        local untilMs = math.max(cur, tonumber(ARGV[1]))
        redis.call('HDEL', KEYS[1], 'probe', 'probe_until')
        redis.call('HSET', KEYS[1], 'paused', untilMs, 'tokens', '1', 'ts', untilMs, 'throttled', '1')
        redis.call('PEXPIRE', KEYS[1], 3600000)
        return 1
        """);

    // KEYS: bucket   ARGV: probe token, 1 if the throttle is over
    // Only the probe still out may end the probing: after a new pause its token is gone.
    private static readonly RedisScript s_probeDone = new("""
        if redis.call('HGET', KEYS[1], 'probe') ~= ARGV[1] then return 0 end
        if ARGV[2] == '1' then
          redis.call('HDEL', KEYS[1], 'probe', 'probe_until', 'throttled')
        else
          redis.call('HDEL', KEYS[1], 'probe', 'probe_until')
        end
        return 1
        """);

    private readonly IConnectionMultiplexer _connection;
    private readonly RedisKey _key;
    private readonly double _permitsPerSecond;
    private readonly int _burst;
    private readonly int _reserveBatch;
    private readonly TimeProvider _time;
    private readonly long _probeLeaseMs;
    private readonly SemaphoreSlim _redisTurn = new(1, 1);
    private readonly Lock _lock = new();
    private int _reserved;
    private DateTimeOffset _reservedUntil;
    private long _granted;
    private long _idleSince;
    private DateTimeOffset _heldUntil;
    private readonly RedisBackoff _redisBackoff = new();
    private readonly ILogger _logger;

    /// <summary>
    /// One pod's view of the bucket of <paramref name="gatewayName"/>. <paramref name="probeLease"/>: how long the other
    /// pods wait for a probe's answer before another pod probes, since the probe's pod may have died.
    /// </summary>
    public RedisTokenBucketRateLimiter(IConnectionMultiplexer connection, string gatewayName, double permitsPerSecond, int burst, TimeProvider timeProvider, TimeSpan probeLease, ILogger? logger = null)
    {
        _probeLeaseMs = (long)probeLease.TotalMilliseconds;
        _connection = connection;
        _logger = logger ?? NullLogger.Instance;
        _key = KeyFor(gatewayName);
        _permitsPerSecond = permitsPerSecond;
        _burst = burst;
        _time = timeProvider;

        // About 1% of a second's budget per round trip: one token at 80/s, 250 at 25,000/s.
        _reserveBatch = Math.Clamp((int)(permitsPerSecond / 100), 1, Math.Max(1, burst));
        _idleSince = timeProvider.GetTimestamp();
    }

    public static TimeSpan ReservationLifetime => s_reservationLifetime;

    /// <summary>The Redis key of a gateway instance's bucket; its own hash tag, independent of any queue.</summary>
    public static RedisKey KeyFor(string gatewayName) => "cortex:ratelimit:{" + gatewayName + "}";

    /// <summary>What the Redis user may not run of the commands the scripts above run on the bucket (see <see cref="RedisAcl"/>).</summary>
    public Task<IReadOnlyList<string>?> RefusedCommandsAsync() =>
        RedisAcl.RefusedAsync(_connection, "HGET HMGET HSET HDEL PEXPIRE".Split(' ').Select(command => new RedisCommandNeed(command, _key)));

    public override TimeSpan? IdleDuration => _time.GetElapsedTime(Interlocked.Read(ref _idleSince));

    public override RateLimiterStatistics? GetStatistics() => new()
    {
        CurrentAvailablePermits = _reserved,
        CurrentQueuedCount = _redisTurn.CurrentCount == 0 ? 1 : 0,
        TotalSuccessfulLeases = Interlocked.Read(ref _granted),
    };

    /// <summary>The name of the metadata a probe's lease carries: its token, for <see cref="ProbeDoneAsync"/>.</summary>
    public static string ProbeMetadataName => "CORTEX_THROTTLE_PROBE";

    /// <summary>
    /// Holds every pod's sending for <paramref name="duration"/> (the provider throttled us), then lets one probe through
    /// before the others; best effort while Redis is away, and given up with <paramref name="cancellationToken"/>.
    /// </summary>
    public async Task PauseAsync(TimeSpan duration, CancellationToken cancellationToken = default)
    {
        var until = (_time.GetUtcNow() + duration).ToUnixTimeMilliseconds();
        try
        {
            // Given up with the caller's token, as the permit's call is: on a connection that died without failing the
            // answer never comes, and a stop would wait on it.
            await s_pause.EvaluateAsync(_connection, _connection.GetDatabase(), [_key], [until]).WaitAsync(cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The stop: this pod sends nothing more, and the other pods hear the provider's 429 themselves.
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            // This pod is already paused locally; the others will hear the provider's 429 themselves. An outage shows in
            // the permits' waits; a refusal (only a command of this script taken away) would show nowhere else.
            if (RedisAcl.IsRefusal(ex))
            {
                SenderLog.RedisRefusedNotRetried(_logger, "the shared throttle pause", ex.Message, "the other pods hear the provider's 429 themselves");
            }
        }
    }

    /// <summary>
    /// The probe granted with <paramref name="token"/> is over: <paramref name="throttleOver"/> lets every pod go; otherwise
    /// the next permit probes again. Best effort: a probe left open lapses after the probe lease. Given up with
    /// <paramref name="cancellationToken"/>.
    /// </summary>
    public async Task ProbeDoneAsync(string token, bool throttleOver, CancellationToken cancellationToken = default)
    {
        if (throttleOver)
        {
            lock (_lock)
            {
                _heldUntil = default;
            }
        }

        try
        {
            await s_probeDone.EvaluateAsync(_connection, _connection.GetDatabase(), [_key], [token, throttleOver ? 1 : 0]).WaitAsync(cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The stop: the other pods wait out the probe lease, then probe themselves.
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            // The other pods wait out the probe lease, then probe themselves.
            if (RedisAcl.IsRefusal(ex))
            {
                SenderLog.RedisRefusedNotRetried(_logger, "the throttle probe's answer", ex.Message, "the other pods wait out the probe lease, then probe themselves");
            }
        }
    }

    protected override RateLimitLease AttemptAcquireCore(int permitCount) =>
        TryTakeReserved(permitCount) ? Lease.Acquired : Lease.Failed;

    protected override async ValueTask<RateLimitLease> AcquireAsyncCore(int permitCount, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(permitCount, _burst);
        while (true)
        {
            if (TryTakeReserved(permitCount))
            {
                return Lease.Acquired;
            }

            // One Redis round trip at a time per pod: waiters queue here instead of polling Redis in parallel.
            await _redisTurn.WaitAsync(cancellationToken);
            TimeSpan wait;
            try
            {
                if (TryTakeReserved(permitCount))
                {
                    return Lease.Acquired;
                }

                var now = _time.GetUtcNow();
                lock (_lock)
                {
                    // Redis told another waiter of this pod to wait until then (a pause, a probe out, the next token):
                    // asking again before then would get the same answer.
                    wait = _heldUntil - now;
                }

                if (wait <= TimeSpan.Zero)
                {
                    // Given up with the caller's token: on a connection that died without failing, the answer never
                    // comes (StackExchange.Redis 1.2.6 puts no timeout on async calls), and a stop would wait on it.
                    (var lease, wait) = await AskRedisAsync(permitCount, now).WaitAsync(cancellationToken);
                    if (lease is not null)
                    {
                        return lease;
                    }
                }
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException)
            {
                // Without the shared bucket no permit can be granted safely: wait for Redis, never send over the limit.
                // Every worker waits here, so the wait is said, as the queue's own waits are.
                wait = _redisBackoff.Next();
                SenderLog.RedisFailed(_logger, "the global rate limit", wait, ex);
            }
            finally
            {
                _redisTurn.Release();
            }

            await Task.Delay(wait, _time, cancellationToken);
        }
    }

    // One acquire script: a lease, or how long this pod's waiters wait before asking again.
    private async Task<(RateLimitLease? Lease, TimeSpan Wait)> AskRedisAsync(int permitCount, DateTimeOffset now)
    {
        var token = Guid.NewGuid().ToString("N");
        var result = (RedisResult[])(await s_acquire.EvaluateAsync(
            _connection,
            _connection.GetDatabase(),
            [_key],
            [now.ToUnixTimeMilliseconds(), _permitsPerSecond, _burst, Math.Max(permitCount, _reserveBatch), token, _probeLeaseMs]))!;
        _redisBackoff.Reset();

        // The probe after a pause is one permit, whose answer decides for every pod; nothing is reserved beside it.
        var granted = (int)result[0];
        var probe = (int)result[2] == 1;
        if (probe ? granted >= 1 : granted >= permitCount)
        {
            if (!probe)
            {
                lock (_lock)
                {
                    _reserved = granted - permitCount;
                    _reservedUntil = now + s_reservationLifetime;
                }
            }

            Interlocked.Add(ref _granted, permitCount);
            Interlocked.Exchange(ref _idleSince, _time.GetTimestamp());
            return (probe ? new Lease(true, token) : Lease.Acquired, TimeSpan.Zero);
        }

        var wait = TimeSpan.FromMilliseconds((long)result[1]);
        lock (_lock)
        {
            _heldUntil = now + wait;
        }

        return (null, wait);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _redisTurn.Dispose();
        }

        base.Dispose(disposing);
    }

    private bool TryTakeReserved(int permitCount)
    {
        lock (_lock)
        {
            if (_reserved >= permitCount && _time.GetUtcNow() < _reservedUntil)
            {
                _reserved -= permitCount;
                Interlocked.Add(ref _granted, permitCount);
                return true;
            }

            return false;
        }
    }

    private sealed class Lease(bool acquired, string? probeToken = null) : RateLimitLease
    {
        public static readonly Lease Acquired = new(true);
        public static readonly Lease Failed = new(false);

        public override bool IsAcquired => acquired;

        public override IEnumerable<string> MetadataNames => probeToken is null ? [] : [ProbeMetadataName];

        public override bool TryGetMetadata(string metadataName, out object? metadata)
        {
            metadata = metadataName == ProbeMetadataName ? probeToken : null;
            return metadata is not null;
        }
    }
}
