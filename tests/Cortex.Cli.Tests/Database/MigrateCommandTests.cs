using Cortex.Cli.Tests.Infrastructure;
using Cortex.Testing;

namespace Cortex.Cli.Tests.Database;

[Collection(DatabaseCollection.Name)]
public sealed class MigrateCommandTests(CliFixture fixture)
{
    [Fact]
    public async Task Migrate_FreshDatabaseTwice_AppliesEveryMigrationThenSaysUpToDate()
    {
        var cli = new CliDriver(new FakeTimeProvider()) { Postgres = await fixture.Postgres.CreateDatabaseAsync() };

        var first = await cli.RunAsync("migrate");
        var second = await cli.RunAsync("migrate");

        Assert.True(first.ExitCode == 0, first.ToString());
        Assert.Equal("applied 0001_cortex_schema, 0002_quartz_tables, 0003_template_fallbacks, 0004_withdrawn_messages, 0005_conversations_closed_by, 0006_campaign_cron_changed_at, 0007_campaign_recipients_phone, 0008_campaign_runs_expired" + Environment.NewLine, first.Out);
        Assert.Equal(0, second.ExitCode);
        Assert.Equal("database is up to date" + Environment.NewLine, second.Out);
        Assert.Equal(8L, await cli.ScalarAsync<long>("SELECT count(*) FROM cortex.schema_migrations"));
        Assert.Equal(15L, await cli.ScalarAsync<long>("SELECT count(*) FROM information_schema.tables WHERE table_name LIKE 'qrtz_%'"));
    }

    [Fact]
    public async Task Campaign_UnmigratedDatabase_SaysToMigrate()
    {
        var cli = new CliDriver(new FakeTimeProvider()) { Postgres = await fixture.Postgres.CreateDatabaseAsync() };

        var result = await cli.RunAsync("campaign", "status");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("Run 'cortex migrate'", result.Error, StringComparison.Ordinal);
    }
}
