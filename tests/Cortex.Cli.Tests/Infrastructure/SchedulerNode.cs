using Cortex.Scheduler.Scheduling;
using Cortex.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Quartz;

namespace Cortex.Cli.Tests.Infrastructure;

/// <summary>A real Cortex.Scheduler process joining the Quartz cluster on a test's database, and what a node stores at start.</summary>
public static class SchedulerNode
{
    public static ServiceProcess Start(IReadOnlyDictionary<string, string> environment) => ServiceProcess.Start("Cortex.Scheduler.dll", environment);

    /// <summary>
    /// Stores the Cortex jobs and their cron triggers in the database, as a scheduler node does when it starts (JobSchedule),
    /// with an in-process Quartz scheduler that is never started and is shut down afterwards.
    /// </summary>
    public static async Task RegisterJobsAsync(string connectionString, Func<IScheduler, Task>? then = null)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Cortex:Postgres:ConnectionString"] = connectionString,
        }).Build();
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(configuration);
        services.AddLogging();
        services.AddCortexScheduler(configuration);
        await using var provider = services.BuildServiceProvider();
        await provider.GetRequiredService<JobSchedule>().StartAsync(CancellationToken.None);
        var scheduler = await provider.GetRequiredService<ISchedulerFactory>().GetScheduler();
        if (then is not null)
        {
            await then(scheduler);
        }

        await scheduler.Shutdown(waitForJobsToComplete: false);
    }
}
