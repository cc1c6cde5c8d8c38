using Cortex.Scheduler.Data;
using Cortex.Testing;
using Npgsql;
using StackExchange.Redis;

namespace Cortex.Cli.Tests.Infrastructure;

/// <summary>
/// One real redis-server and one real PostgreSQL per collection, plus a database migrated once and used as the template
/// of each test's own database. Tests isolate themselves with a queue name and a database of their own.
/// </summary>
public sealed class CliFixture : IAsyncLifetime
{
    private const string TemplateDatabase = "cortex_template";
    private RedisServer? _redis;
    private PostgresServer? _postgres;
    private ConnectionMultiplexer? _connection;

    public RedisServer Redis => _redis ?? throw new InvalidOperationException("fixture not started");

    public PostgresServer Postgres => _postgres ?? throw new InvalidOperationException("fixture not started");

    /// <summary>The tests' own view of Redis, to seed and check what the CLI did.</summary>
    public ConnectionMultiplexer Connection => _connection ?? throw new InvalidOperationException("fixture not started");

    public async Task InitializeAsync()
    {
        var redis = RedisServer.StartAsync();
        var postgres = PostgresServer.StartAsync();
        _redis = await redis;
        _postgres = await postgres;
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

    /// <summary>A fresh, migrated database of the test's own.</summary>
    public Task<string> CreateMigratedDatabaseAsync() => Postgres.CreateDatabaseAsync(template: TemplateDatabase);

    /// <summary>A CLI pointed at this Redis and a queue of the test's own.</summary>
    public CliDriver Queue(FakeTimeProvider? time = null) => new(time ?? new FakeTimeProvider()) { Redis = Redis.Configuration, QueueName = RedisFixture.UniqueQueueName() };

    /// <summary>A CLI pointed at a fresh migrated database (and this Redis).</summary>
    public async Task<CliDriver> DatabaseAsync(FakeTimeProvider? time = null) =>
        new(time ?? new FakeTimeProvider()) { Redis = Redis.Configuration, QueueName = RedisFixture.UniqueQueueName(), Postgres = await CreateMigratedDatabaseAsync() };
}

/// <summary>Tests that need Redis: run one after another, sharing one server.</summary>
[CollectionDefinition(Name)]
public sealed class QueueCollection : ICollectionFixture<CliFixture>
{
    public const string Name = "cli-queue";
}

/// <summary>
/// Tests that need PostgreSQL. One after another: Quartz schedulers built by different hosts in one process must not
/// overlap their lifetimes with a scheduler of the same name more than the product does.
/// </summary>
[CollectionDefinition(Name)]
public sealed class DatabaseCollection : ICollectionFixture<CliFixture>
{
    public const string Name = "cli-database";
}
