using System.Globalization;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Cortex.Shared.Redis;

/// <summary>
/// Redis's own clock (<c>TIME</c>), read at start and every minute and carried forward between readings by this
/// process's monotonic clock: the wall clock a sender dates what pods compare in Redis by. Pods judge each other's
/// heartbeats and share the rate limit's refills and pauses; dated by each pod's own clock, a pod whose clock ran a few
/// seconds behind had its leases taken while it sent them, and a recovery counts a delivery. Timers and elapsed time
/// stay the local clock's; until the first reading answers, so does the date.
/// </summary>
public sealed partial class RedisClock : TimeProvider
{
    private static readonly TimeSpan s_readEvery = TimeSpan.FromMinutes(1);
    private static readonly TimeSpan s_retryAfter = TimeSpan.FromSeconds(5);

    // A reading is dated at the middle of its round trip, so it is off by up to half of it. One that took longer than this
    // (a GC pause or a frozen process while it was in flight) does not replace the reading in hand, and Redis is asked
    // again soon; the first reading is kept anyway, and replaced as soon as a better one comes.
    private static readonly TimeSpan s_longRoundTrip = TimeSpan.FromSeconds(1);

    // An offset from the local clock worth telling the operator about: well within a heartbeat interval, yet more than
    // NTP leaves between two machines.
    private static readonly TimeSpan s_worthLogging = TimeSpan.FromSeconds(1);

    private static readonly RedisScript s_time = new("return redis.call('TIME')");

    private readonly Lazy<IConnectionMultiplexer> _connection;
    private readonly TimeProvider _local;
    private readonly ILogger<RedisClock> _logger;
    private Reading? _reading;
    private long _nextReadAt;
    private int _readInProgress;
    private readonly Lock _logged = new();
    private TimeSpan? _loggedOffset;

    /// <param name="connection">The connection whose Redis's clock is read.</param>
    /// <param name="local">This process's clock: its timers, its elapsed time, and the date until Redis answers.</param>
    /// <param name="logger">Where an offset worth fixing is reported.</param>
    public RedisClock(IConnectionMultiplexer connection, TimeProvider local, ILogger<RedisClock> logger)
        : this(connection is null ? throw new ArgumentNullException(nameof(connection)) : () => connection, local, logger)
    {
    }

    /// <param name="connection">
    /// Gives the connection at the first reading, not before: the host resolves its clock while it is built (Kestrel takes
    /// one), before a bad Redis configuration is reported at start as such, naming its key.
    /// </param>
    /// <param name="local">This process's clock: its timers, its elapsed time, and the date until Redis answers.</param>
    /// <param name="logger">Where an offset worth fixing is reported.</param>
    public RedisClock(Func<IConnectionMultiplexer> connection, TimeProvider local, ILogger<RedisClock> logger)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(local);
        ArgumentNullException.ThrowIfNull(logger);
        _connection = new Lazy<IConnectionMultiplexer>(connection, LazyThreadSafetyMode.PublicationOnly);
        _local = local;
        _logger = logger;
        _nextReadAt = local.GetTimestamp();
    }

    /// <summary>Redis's clock minus this process's, as last read; null before Redis first answered.</summary>
    public TimeSpan? Offset => Volatile.Read(ref _reading) is { } reading ? reading.Offset : null;

    public override DateTimeOffset GetUtcNow()
    {
        // Dated by the reading in hand: a reading this call starts serves the calls after it, so that what one call
        // returns does not depend on how fast Redis answered meanwhile.
        var now = _local.GetTimestamp();
        var date = Volatile.Read(ref _reading) is { } reading
            ? reading.RedisTime + _local.GetElapsedTime(reading.Timestamp, now)
            : _local.GetUtcNow();
        if (now >= Volatile.Read(ref _nextReadAt) && Interlocked.CompareExchange(ref _readInProgress, 1, 0) == 0)
        {
            _ = ReadInBackgroundAsync();
        }

        return date;
    }

    public override long GetTimestamp() => _local.GetTimestamp();

    public override long TimestampFrequency => _local.TimestampFrequency;

    public override TimeZoneInfo LocalTimeZone => _local.LocalTimeZone;

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) =>
        _local.CreateTimer(callback, state, dueTime, period);

    /// <summary>
    /// Reads Redis's clock now. A sender waits for this before its first heartbeat, so that no heartbeat is dated by its
    /// own clock; throws what the call throws (Redis away, or its ACL without <c>TIME</c>). A reading whose round trip took
    /// more than a second is kept only when there is no other, and Redis is asked again 5 s later.
    /// </summary>
    public async Task SyncAsync(CancellationToken cancellationToken = default)
    {
        var sent = _local.GetTimestamp();
        var reply = (RedisResult[])(await s_time.EvaluateAsync(_connection.Value, _connection.Value.GetDatabase(), [], []).WaitAsync(cancellationToken))!;
        var answered = _local.GetTimestamp();
        var answeredAt = _local.GetUtcNow();
        var slow = _local.GetElapsedTime(sent, answered) > s_longRoundTrip;
        Volatile.Write(ref _nextReadAt, answered + (long)((slow ? s_retryAfter : s_readEvery).TotalSeconds * _local.TimestampFrequency));
        if (slow && Volatile.Read(ref _reading) is not null)
        {
            return;
        }

        var micros = (long.Parse((string)reply[0]!, CultureInfo.InvariantCulture) * 1_000_000) + long.Parse((string)reply[1]!, CultureInfo.InvariantCulture);

        // Redis read its clock somewhere in the round trip; its middle is off by at most half of it.
        var taken = sent + ((answered - sent) / 2);
        var redisTime = DateTimeOffset.UnixEpoch.AddTicks(micros * (TimeSpan.TicksPerMillisecond / 1000));
        var reading = new Reading(redisTime, taken, redisTime - answeredAt + _local.GetElapsedTime(taken, answered));
        Volatile.Write(ref _reading, reading);
        lock (_logged)
        {
            // Once per offset, and written before either returns: a reading in the background may land beside one asked for.
            if (reading.Offset.Duration() >= s_worthLogging
                && (_loggedOffset is not { } logged || (reading.Offset - logged).Duration() >= s_worthLogging))
            {
                _loggedOffset = reading.Offset;
                LocalClockOff(_logger, Math.Round(reading.Offset.Duration().TotalSeconds, 1), reading.Offset > TimeSpan.Zero ? "behind" : "ahead of");
            }
        }
    }

    /// <summary>Whether the Redis user may read the clock: "TIME" when refused, as <see cref="RedisAclCheck"/> reports it.</summary>
    public Task<IReadOnlyList<string>?> RefusedCommandsAsync() => RedisAcl.RefusedAsync(_connection.Value, [new RedisCommandNeed("TIME", default)]);

    private async Task ReadInBackgroundAsync()
    {
        try
        {
            await SyncAsync();
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException or ObjectDisposedException)
        {
            // Carried forward from the last reading meanwhile; Redis away shows in every other call of the service, and
            // a connection disposed is a service stopping.
            Volatile.Write(ref _nextReadAt, _local.GetTimestamp() + (long)(s_retryAfter.TotalSeconds * _local.TimestampFrequency));
        }
        finally
        {
            Volatile.Write(ref _readInProgress, 0);
        }
    }

    private sealed record Reading(DateTimeOffset RedisTime, long Timestamp, TimeSpan Offset);

    [LoggerMessage(3202, LogLevel.Warning, "This process's clock is {Seconds} s {Direction} Redis's. Heartbeats, retry times and the shared rate limit are dated by Redis's clock, so no pod takes this one's leases for it; the node's NTP is worth a look for the logs' times")]
    private static partial void LocalClockOff(ILogger logger, double seconds, string direction);
}
