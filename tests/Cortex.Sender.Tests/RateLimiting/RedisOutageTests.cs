using Cortex.Sender.RateLimiting;
using Cortex.Testing;

namespace Cortex.Sender.Tests.RateLimiting;

public sealed class RedisOutageTests
{
    [Fact]
    public async Task AcquireAsync_RedisKilledThenRestarted_WaitsInsteadOfThrowingAndResumes()
    {
        await using var server = await RedisServer.StartAsync();
        using var connection = await server.ConnectAsync();
        using var limiter = new RedisTokenBucketRateLimiter(connection, "outage", permitsPerSecond: 1000, burst: 1, TimeProvider.System, TimeSpan.FromSeconds(10));
        using (await limiter.AcquireAsync(1))
        {
        }

        await server.KillAsync();
        var waiting = limiter.AcquireAsync(1).AsTask();
        await Task.Delay(300); // long enough for several failed round trips, had they thrown
        Assert.False(waiting.IsFaulted, waiting.Exception?.ToString());
        Assert.False(waiting.IsCompleted, "a permit must not be granted without the shared bucket");

        await server.RestartAsync();
        using var lease = await waiting.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True(lease.IsAcquired);
    }

    [Fact]
    public async Task PauseAsync_RedisDown_DoesNotThrow()
    {
        await using var server = await RedisServer.StartAsync();
        using var connection = await server.ConnectAsync();
        using var limiter = new RedisTokenBucketRateLimiter(connection, "outage-pause", permitsPerSecond: 80, burst: 10, TimeProvider.System, TimeSpan.FromSeconds(10));
        await server.KillAsync();

        await limiter.PauseAsync(TimeSpan.FromSeconds(1)).WaitAsync(TimeSpan.FromSeconds(30));
    }
}
