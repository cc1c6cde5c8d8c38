using Cortex.Scheduler.Data;
using Cortex.Scheduler.Tests.Infrastructure;
using Npgsql;

namespace Cortex.Scheduler.Tests.Data;

/// <summary>Migrations against a real PostgreSQL.</summary>
public sealed class MigratorTests(SchedulerFixture fixture) : IClassFixture<SchedulerFixture>
{
    [Fact]
    public async Task MigrateAsync_FreshDatabase_CreatesCortexTablesAndQuartzs15()
    {
        await using var dataSource = NpgsqlDataSource.Create(await fixture.Postgres.CreateDatabaseAsync());

        var applied = await new Migrator(dataSource).MigrateAsync();

        Assert.Equal(["cortex_schema", "quartz_tables", "template_fallbacks", "withdrawn_messages", "conversations_closed_by", "campaign_cron_changed_at", "campaign_recipients_phone", "campaign_runs_expired"], applied.Select(m => m.Name));
        Assert.Equal(15L, await CountAsync(dataSource, "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public' AND table_name LIKE 'qrtz%'"));
        Assert.Equal(9L, await CountAsync(dataSource, "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'cortex'"));
    }

    [Fact]
    public async Task MigrateAsync_ThreeReplicasAtOnceThenAgain_EachMigrationAppliedOnce()
    {
        var database = await fixture.Postgres.CreateDatabaseAsync();
        var sources = Enumerable.Range(0, 3).Select(_ => NpgsqlDataSource.Create(database)).ToList();
        try
        {
            var results = await Task.WhenAll(sources.Select(s => new Migrator(s).MigrateAsync()));
            var again = await new Migrator(sources[0]).MigrateAsync();

            Assert.Equal(Migrator.All.Count, results.Sum(r => r.Count));
            Assert.Empty(again);
            Assert.Equal(Migrator.All.Select(m => m.Version), await new Migrator(sources[0]).AppliedAsync());
        }
        finally
        {
            foreach (var source in sources)
            {
                await source.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task MigrateAsync_RecipientsReplacedByAViewBefore0007_AppliesItWithoutIndexingTheView()
    {
        // docs/data-model.md lets a deployment replace campaign_recipients by a view; 0007's index cannot go on a view, and
        // a migration that fails stops every scheduler start. Here 0007 is applied again after the replacement.
        await using var dataSource = NpgsqlDataSource.Create(await fixture.Postgres.CreateDatabaseAsync());
        await new Migrator(dataSource).MigrateAsync();
        await using (var replace = dataSource.CreateCommand(
            """
            DELETE FROM cortex.schema_migrations WHERE version = 7;
            CREATE TABLE public.crm_recipients AS SELECT * FROM cortex.campaign_recipients;
            DROP TABLE cortex.campaign_recipients;
            CREATE VIEW cortex.campaign_recipients AS SELECT * FROM public.crm_recipients;
            """))
        {
            await replace.ExecuteNonQueryAsync();
        }

        var applied = await new Migrator(dataSource).MigrateAsync();

        Assert.Equal(["campaign_recipients_phone"], applied.Select(m => m.Name));
        Assert.Equal(0L, await CountAsync(dataSource, "SELECT count(*) FROM pg_indexes WHERE indexname = 'campaign_recipients_phone'"));
    }

    [Fact]
    public async Task AppliedAsync_EmptyDatabase_IsEmpty()
    {
        await using var dataSource = NpgsqlDataSource.Create(await fixture.Postgres.CreateDatabaseAsync());

        Assert.Empty(await new Migrator(dataSource).AppliedAsync());
    }

    private static async Task<long> CountAsync(NpgsqlDataSource dataSource, string sql)
    {
        await using var command = dataSource.CreateCommand(sql);
        return (long)(await command.ExecuteScalarAsync())!;
    }
}
