using StackExchange.Redis;
using Xunit;

namespace Cortex.Testing;

/// <summary>One redis-server per test class; tests isolate themselves with unique queue names.</summary>
public sealed class RedisFixture : IAsyncLifetime
{
    private RedisServer? _server;
    private ConnectionMultiplexer? _connection;

    public RedisServer Server => _server ?? throw new InvalidOperationException("fixture not started");

    public ConnectionMultiplexer Connection => _connection ?? throw new InvalidOperationException("fixture not started");

    public async Task InitializeAsync()
    {
        _server = await RedisServer.StartAsync();
        _connection = await _server.ConnectAsync();
    }

    public async Task DisposeAsync()
    {
        _connection?.Dispose();
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }

    /// <summary>A queue name no other test uses.</summary>
    public static string UniqueQueueName() => "t" + Guid.NewGuid().ToString("N")[..12];
}
