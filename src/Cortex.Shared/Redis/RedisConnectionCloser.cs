using Microsoft.Extensions.Hosting;
using StackExchange.Redis;

namespace Cortex.Shared.Redis;

/// <summary>
/// Closes the shared Redis connection once every service of the host has stopped (a sender's last acks and returns
/// answered), without waiting for answers. The host disposing it instead would call StackExchange.Redis 1.2.6's Dispose,
/// which sends QUIT on each connection and waits up to <c>syncTimeout</c> for replies its subscription connection never
/// reads as one (1 s by default; 5 s in the tests' configuration), and a dead connection brings none: every stop and
/// restart was held back that long.
/// </summary>
internal sealed class RedisConnectionCloser(IConnectionMultiplexer connection, IHostApplicationLifetime lifetime) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        lifetime.ApplicationStopped.Register(() => connection.Close(allowCommandsToComplete: false));
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
