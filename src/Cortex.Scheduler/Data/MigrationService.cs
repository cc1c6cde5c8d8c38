using Microsoft.Extensions.Options;

namespace Cortex.Scheduler.Data;

/// <summary>Applies pending migrations at start, before Quartz needs its tables (off with Cortex:Scheduler:ApplyMigrations=false).</summary>
internal sealed class MigrationService(Migrator migrator, IOptions<SchedulerOptions> options, ILogger<MigrationService> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (!options.Value.ApplyMigrations)
        {
            return;
        }

        foreach (var migration in await migrator.MigrateAsync(cancellationToken))
        {
            Log.MigrationApplied(logger, migration.Version, migration.Name);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
