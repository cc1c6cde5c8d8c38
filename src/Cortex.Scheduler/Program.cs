// Cortex.Scheduler: Quartz jobs, clustered on PostgreSQL, that write due reminders, follow-ups and campaign messages to
// the dispatch ledger and push them to Redis. `Cortex.Scheduler migrate` applies the database migrations and exits.
// Configuration: environment variables (Cortex__Postgres__ConnectionString=...), appsettings.json, the command line.
using Cortex.Scheduler.Data;
using Microsoft.Extensions.Configuration.Memory;

var builder = Host.CreateApplicationBuilder(args.Where(a => a != "migrate").ToArray());

// Defaults below every other source: Npgsql logs each command and Quartz each firing at Information.
builder.Configuration.Sources.Insert(0, new MemoryConfigurationSource
{
    InitialData = new Dictionary<string, string?> { ["Logging:LogLevel:Npgsql"] = "Warning", ["Logging:LogLevel:Quartz"] = "Warning" },
});
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
