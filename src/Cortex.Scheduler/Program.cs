// Cortex.Scheduler: Quartz jobs, clustered on PostgreSQL, that write due reminders, follow-ups and campaign messages to
// the dispatch ledger and push them to Redis; GET /metrics, /health/live and /health/ready on Cortex:Observability:Port.
// `Cortex.Scheduler migrate` applies the database migrations and exits.
// Configuration: environment variables (Cortex__Postgres__ConnectionString=...), appsettings.json, the command line.
using Cortex.Scheduler;
using Cortex.Scheduler.Data;
using Cortex.Shared.Hosting;

using var app = SchedulerApplication.Build(args.Where(a => a != "migrate").ToArray());
if (args.Contains("migrate"))
{
    return await CortexHost.RunCommandAsync(app, async (services, ct) =>
    {
        var applied = await services.GetRequiredService<Migrator>().MigrateAsync(ct);
        Console.WriteLine(applied.Count == 0 ? "database is up to date" : $"applied {string.Join(", ", applied.Select(m => $"{m.Version:D4}_{m.Name}"))}");
    });
}

return await CortexHost.RunAsync(app);
