using Microsoft.Extensions.Hosting;
using StackExchange.Redis;

namespace Cortex.Shared.Redis;

/// <summary>
/// Closes the shared Redis connection without waiting for answers when the host is disposed, after every service has
/// stopped (a sender's last acks and returns answered). The host disposing the connection itself would call
/// StackExchange.Redis 1.2.6's Dispose, which sends QUIT on each connection and waits up to <c>syncTimeout</c> for the
/// replies: it waited all of it on a healthy connection too (5 s with the tests' <c>syncTimeout=5000</c>, 60 s with
/// 60000; 1 s by default), and a dead connection brings none: every stop and restart was held back that long. A hosted
/// service only so that the host
/// creates it, after the connection it is given, and so disposes it first (the container disposes in the reverse order
/// of creation); the connection's own Dispose then finds it closed.
/// </summary>
internal sealed class RedisConnectionCloser(IConnectionMultiplexer connection) : IHostedService, IDisposable
{
    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public void Dispose() => connection.Close(allowCommandsToComplete: false);
}
