using Npgsql;
using StackExchange.Redis;
using Xunit;

namespace Cortex.Testing;

/// <summary>
/// One real PostgreSQL and one real redis-server per fixture, plus a database migrated once and used as the template
/// of each test's own database (a copy takes tens of milliseconds; migrating each time would not). The subclass says
/// how to migrate, so this project need not depend on the scheduler.
/// </summary>
public abstract class MigratedDatabaseFixture : IAsyncLifetime
{
    private const string TemplateDatabase = "cortex_template";
    private PostgresServer? _postgres;
    private RedisServer? _redis;
    private ConnectionMultiplexer? _connection;

    public PostgresServer Postgres => _postgres ?? throw new InvalidOperationException("fixture not started");

    public RedisServer Redis => _redis ?? throw new InvalidOperationException("fixture not started");

    /// <summary>The tests' own multiplexer: one per fixture, since closing one takes about a second.</summary>
    public ConnectionMultiplexer Connection => _connection ?? throw new InvalidOperationException("fixture not started");

    public async Task InitializeAsync()
    {
        var postgres = PostgresServer.StartAsync();
        var redis = RedisServer.StartAsync();
        _postgres = await postgres;
        _redis = await redis;
        _connection = await Redis.ConnectAsync();
        var template = await Postgres.CreateDatabaseAsync(TemplateDatabase);

        // No pooling: CREATE DATABASE ... TEMPLATE refuses a template with open connections.
        await using var dataSource = NpgsqlDataSource.Create(template + ";Pooling=false");
        await MigrateAsync(dataSource);
    }

    public async Task DisposeAsync()
    {
        _connection?.Dispose();
        if (_redis is not null)
        {
            await _redis.DisposeAsync();
        }

        if (_postgres is not null)
        {
            await _postgres.DisposeAsync();
        }
    }

    /// <summary>A fresh, migrated database of this test's own.</summary>
    public Task<string> CreateMigratedDatabaseAsync() => Postgres.CreateDatabaseAsync(template: TemplateDatabase);

    /// <summary>Applies the schema to the template database.</summary>
    protected abstract Task MigrateAsync(NpgsqlDataSource template);
}
