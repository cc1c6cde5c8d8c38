using Cortex.Scheduler.Data;
using Cortex.Testing;
using Npgsql;
using StackExchange.Redis;

namespace Cortex.Scheduler.Tests.Infrastructure;

/// <summary>
/// One real PostgreSQL and one real redis-server per test class, plus a database migrated once and used as the template
/// of each test's own database (a copy takes tens of milliseconds; migrating each time would not).
/// </summary>
public sealed class SchedulerFixture : IAsyncLifetime
{
    private const string TemplateDatabase = "cortex_template";
    private PostgresServer? _postgres;
    private RedisServer? _redis;
    private ConnectionMultiplexer? _connection;

    public PostgresServer Postgres => _postgres ?? throw new InvalidOperationException("fixture not started");

    public RedisServer Redis => _redis ?? throw new InvalidOperationException("fixture not started");

    /// <summary>Shared by the harnesses: a multiplexer takes about a second to close, once per class is enough.</summary>
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
        await new Migrator(dataSource).MigrateAsync();
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

    /// <summary>A scheduler wired as in production against a fresh database and a queue name of its own.</summary>
    public async Task<SchedulerHarness> CreateHarnessAsync(DateTimeOffset now, Dictionary<string, string?>? settings = null) =>
        new(await CreateMigratedDatabaseAsync(), Connection, RedisFixture.UniqueQueueName(), new FakeTimeProvider(now), settings);
}
