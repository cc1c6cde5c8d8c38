using System.Globalization;
using System.Text.RegularExpressions;
using Cortex.Shared.Redis;
using Cortex.Testing;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Cortex.Shared.Tests.Redis;

/// <summary>
/// The clock a sender dates heartbeats, retry times and the shared rate limit by: Redis's, whatever this machine's says,
/// so that pods whose clocks disagree still agree on whose heartbeat is old.
/// </summary>
public sealed class RedisClockTests(RedisFixture redis) : IClassFixture<RedisFixture>
{
    [Fact]
    public async Task GetUtcNow_LocalClockAnHourBehind_TellsRedisTimeOnceReadAndSaysHowFarOffTheLocalOneIs()
    {
        using var logs = new CapturedLogs();
        var clock = new RedisClock(redis.Connection, new ShiftedClock(TimeSpan.FromHours(-1)), Logger(logs));

        // Until Redis answers, the local clock is all there is.
        Assert.InRange(clock.GetUtcNow() - TimeProvider.System.GetUtcNow(), TimeSpan.FromHours(-1) - TimeSpan.FromSeconds(1), TimeSpan.FromHours(-1) + TimeSpan.FromSeconds(1));

        await clock.SyncAsync();

        // This redis-server runs on this machine: its clock is the system clock.
        var redisTime = await RedisTimeAsync();
        Assert.InRange(clock.GetUtcNow() - redisTime, TimeSpan.FromSeconds(-1), TimeSpan.FromSeconds(1));
        Assert.InRange(clock.Offset!.Value, TimeSpan.FromHours(1) - TimeSpan.FromSeconds(1), TimeSpan.FromHours(1) + TimeSpan.FromSeconds(1));
        var line = Assert.Single(logs.Lines, l => l.Contains("[3202]", StringComparison.Ordinal));
        Assert.StartsWith("Warning ", line, StringComparison.Ordinal);
        var said = Regex.Match(line, @"clock is ([0-9.]+) s behind Redis's");
        Assert.True(said.Success, line);
        Assert.InRange(double.Parse(said.Groups[1].Value, CultureInfo.InvariantCulture), 3599, 3601);
    }

    [Fact]
    public async Task GetUtcNow_LocalClockRight_LogsNothing()
    {
        using var logs = new CapturedLogs();
        var clock = new RedisClock(redis.Connection, TimeProvider.System, Logger(logs));

        await clock.SyncAsync();

        Assert.InRange(clock.Offset!.Value, TimeSpan.FromSeconds(-1), TimeSpan.FromSeconds(1));
        Assert.DoesNotContain(logs.Lines, l => l.Contains("[3202]", StringComparison.Ordinal));
    }

    [Fact]
    public async Task GetUtcNow_BetweenReadings_GoesOnByTheLocalElapsedTimeAndReadsRedisAgainAfterAMinute()
    {
        // A local clock that stands still unless told: its own date is two weeks before the real one.
        var local = new FakeTimeProvider();
        var clock = new RedisClock(redis.Connection, local, Logger(new CapturedLogs()));
        await clock.SyncAsync();
        var read = clock.GetUtcNow();
        var offset = clock.Offset!.Value;
        Assert.InRange(read - TimeProvider.System.GetUtcNow(), TimeSpan.FromSeconds(-1), TimeSpan.FromSeconds(1));

        local.Advance(TimeSpan.FromSeconds(59));
        Assert.Equal(read + TimeSpan.FromSeconds(59), clock.GetUtcNow());
        Assert.Equal(offset, clock.Offset);

        // A minute on, the next use reads Redis again, and is itself dated by the reading in hand: Redis's clock barely
        // moved meanwhile, so once that read lands the date goes back near it.
        local.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal(read + TimeSpan.FromSeconds(61), clock.GetUtcNow());
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (clock.Offset > offset - TimeSpan.FromSeconds(50))
        {
            await Task.Delay(10, timeout.Token);
        }

        Assert.InRange(clock.GetUtcNow() - TimeProvider.System.GetUtcNow(), TimeSpan.FromSeconds(-1), TimeSpan.FromSeconds(1));
    }

    [Fact]
    public async Task SyncAsync_ReadingWithALongRoundTrip_KeepsTheOneInHandAndAsksAgainSoon()
    {
        var local = new StallingClock();
        var clock = new RedisClock(redis.Connection, local, Logger(new CapturedLogs()));
        await clock.SyncAsync();
        var offset = clock.Offset!.Value;

        // The process stalls 10 s while the next reading is in flight (a GC pause, a frozen pod). Dated at the middle of
        // its round trip, that reading would put the clock 5 s off until the next one, a minute later.
        local.StallNextTimestamp(TimeSpan.FromSeconds(10));
        await clock.SyncAsync();
        Assert.Equal(offset, clock.Offset);

        // Asked again 5 s on, not a minute: the local clock has moved 15 s on, and Redis's has not.
        local.Advance(TimeSpan.FromSeconds(5));
        _ = clock.GetUtcNow();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (clock.Offset == offset)
        {
            await Task.Delay(10, timeout.Token);
        }

        Assert.InRange(clock.Offset!.Value, offset - TimeSpan.FromSeconds(16), offset - TimeSpan.FromSeconds(14));
    }

    [Fact]
    public async Task RefusedCommands_UserWithoutTime_NamesIt()
    {
        const string password = "clock-acl-test";
        await using var server = await RedisServer.StartAsync(new RedisSecurity { Password = password });
        using var connection = await server.ConnectAsync();
        var clock = new RedisClock(connection, TimeProvider.System, Logger(new CapturedLogs()));
        Assert.Empty(await clock.RefusedCommandsAsync() ?? ["this Redis cannot check"]);

        await SetDefaultUserAsync(server, password, "-time");

        Assert.Equal(["TIME"], await clock.RefusedCommandsAsync());
        await Assert.ThrowsAsync<RedisServerException>(() => clock.SyncAsync());
        Assert.Null(clock.Offset);
    }

    // StackExchange.Redis's own reading of TIME, apart from the clock's.
    private async Task<DateTimeOffset> RedisTimeAsync() =>
        new(DateTime.SpecifyKind(await redis.Connection.GetServer(redis.Connection.GetEndPoints()[0]).TimeAsync(), DateTimeKind.Utc));

    private static async Task SetDefaultUserAsync(RedisServer server, string password, string rule)
    {
        var result = await ExternalTool.RunAsync(
            "redis-cli",
            ["-p", server.Port.ToString(CultureInfo.InvariantCulture), "--no-auth-warning", "--user", "default", "--pass", password, "ACL", "SETUSER", "default", rule],
            "It comes with redis-server (`make test` installs it).");
        Assert.True(result.ExitCode == 0 && result.Output.Trim() == "OK", result.ToString());
    }

    private static ILogger<RedisClock> Logger(CapturedLogs logs) => new LoggerFactory([logs]).CreateLogger<RedisClock>();

    /// <summary>A local clock that stands still unless told, and can jump while a reading is in flight.</summary>
    private sealed class StallingClock : TimeProvider
    {
        private readonly FakeTimeProvider _inner = new();
        private TimeSpan _stall;

        public override long TimestampFrequency => _inner.TimestampFrequency;

        public override DateTimeOffset GetUtcNow() => _inner.GetUtcNow();

        /// <summary>The next timestamp read (a reading's start) is followed by a jump of <paramref name="by"/>.</summary>
        public void StallNextTimestamp(TimeSpan by) => _stall = by;

        public void Advance(TimeSpan by) => _inner.Advance(by);

        public override long GetTimestamp()
        {
            var now = _inner.GetTimestamp();
            if (_stall > TimeSpan.Zero)
            {
                _inner.Advance(_stall);
                _stall = TimeSpan.Zero;
            }

            return now;
        }
    }
}
