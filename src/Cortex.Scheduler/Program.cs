// Cortex.Scheduler: Quartz jobs, clustered on PostgreSQL, that write due reminders, follow-ups and campaign messages to
// the dispatch ledger and push them to Redis. `Cortex.Scheduler migrate` applies the database migrations and exits.
using Cortex.Scheduler.Data;

var builder = Host.CreateApplicationBuilder(args.Where(a => a != "migrate").ToArray());
builder.Services.AddCortexScheduler(builder.Configuration);
using var host = builder.Build();
if (args.Contains("migrate"))
{
    return await Cortex.Shared.Hosting.CortexHost.RunCommandAsync(host, async (services, ct) =>
    {
        var applied = await services.GetRequiredService<Migrator>().MigrateAsync(ct);
        Console.WriteLine(applied.Count == 0 ? "database is up to date" : $"applied {string.Join(", ", applied.Select(m => $"{m.Version:D4}_{m.Name}"))}");
    });
}

return await Cortex.Shared.Hosting.CortexHost.RunAsync(host);
