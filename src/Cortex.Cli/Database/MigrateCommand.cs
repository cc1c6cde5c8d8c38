using System.CommandLine;
using Cortex.Cli.Hosting;
using Cortex.Scheduler.Data;
using Microsoft.Extensions.DependencyInjection;

namespace Cortex.Cli.Database;

/// <summary>cortex migrate: applies the scheduler's PostgreSQL migrations (Cortex's tables and Quartz's), as the scheduler would at start.</summary>
internal static class MigrateCommand
{
    public static Command Create(CliConsole console, GlobalOptions global)
    {
        var command = new Command("migrate", "Apply pending PostgreSQL migrations (cortex schema and Quartz tables); safe to run while schedulers run");
        command.SetAction((parse, ct) => CliHost.RunAsync(
            global.Context(console, parse),
            Needs.Postgres,
            async (services, token) =>
            {
                var applied = await services.GetRequiredService<Migrator>().MigrateAsync(token);
                await console.Out.WriteLineAsync(applied.Count == 0
                    ? "database is up to date"
                    : "applied " + string.Join(", ", applied.Select(m => $"{m.Version:D4}_{m.Name}")));
                return ExitCodes.Success;
            },
            ct));
        return command;
    }
}
