using Cortex.Scheduler.Data;
using Cortex.Testing;
using Npgsql;

namespace Cortex.Scheduler.Tests.Infrastructure;

/// <summary>Real PostgreSQL and Redis per test class, with databases copied from one migrated template.</summary>
public sealed class SchedulerFixture : MigratedDatabaseFixture
{
    protected override Task MigrateAsync(NpgsqlDataSource template) => new Migrator(template).MigrateAsync();

    /// <summary>A scheduler wired as in production against a fresh database and a queue name of its own.</summary>
    public async Task<SchedulerHarness> CreateHarnessAsync(DateTimeOffset now, Dictionary<string, string?>? settings = null) =>
        new(await CreateMigratedDatabaseAsync(), Connection, RedisFixture.UniqueQueueName(), new FakeTimeProvider(now), settings);
}
