using Cortex.Scheduler.Data;
using Cortex.Testing;
using Npgsql;

namespace Cortex.Cli.Tests.Infrastructure;

/// <summary>Real Redis and PostgreSQL per collection; tests isolate themselves with a queue and a database of their own.</summary>
public sealed class CliFixture : MigratedDatabaseFixture
{
    protected override Task MigrateAsync(NpgsqlDataSource template) => new Migrator(template).MigrateAsync();

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
