// Cortex.Scheduler: Quartz jobs, clustered on PostgreSQL, that write due reminders, follow-ups and campaign messages to
// the dispatch ledger and push them to Redis; GET /metrics, /health/live and /health/ready on Cortex:Observability:Port.
// `Cortex.Scheduler migrate` applies the database migrations and exits.
// Configuration: environment variables (Cortex__Postgres__ConnectionString=...), appsettings.json, the command line.
using Cortex.Scheduler;

using var app = SchedulerApplication.Build(args.Where(a => a != "migrate").ToArray());
if (args.Contains("migrate"))
{
    return await SchedulerApplication.MigrateAsync(app, Console.Out, Console.Error);
}

return await SchedulerApplication.RunAsync(app);
