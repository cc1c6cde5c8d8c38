using System.Collections.Concurrent;
using System.Diagnostics;
using Cortex.Scheduler.Scheduling;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Quartz;

namespace Cortex.Cli.Tests.Infrastructure;

/// <summary>A real Cortex.Scheduler process (the built dll) joining the Quartz cluster on a test's database.</summary>
public sealed class SchedulerNode : IAsyncDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _lines = new();

    private SchedulerNode(Process process) => _process = process;

    /// <summary>Everything it wrote, for failure messages.</summary>
    public string Output => string.Join('\n', _lines);

    public static SchedulerNode Start(IReadOnlyDictionary<string, string> environment)
    {
        var info = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Cortex.Scheduler.dll"));
        info.Environment["DOTNET_ENVIRONMENT"] = "Production";
        info.Environment["Cortex__Observability__Port"] = "0"; // not 8080: other test assemblies run nodes at the same time
        foreach (var (key, value) in environment)
        {
            info.Environment[key] = value;
        }

        var process = Process.Start(info) ?? throw new InvalidOperationException("could not start Cortex.Scheduler");
        var node = new SchedulerNode(process);
        process.OutputDataReceived += (_, e) => node.Add(e.Data);
        process.ErrorDataReceived += (_, e) => node.Add(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return node;
    }

    /// <summary>
    /// Stores the Cortex jobs and their cron triggers in the database, as a scheduler node does when it starts (JobSchedule),
    /// with an in-process Quartz scheduler that is never started and is shut down afterwards.
    /// </summary>
    public static async Task RegisterJobsAsync(string connectionString)
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
        await scheduler.Shutdown(waitForJobsToComplete: false);
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }

    private void Add(string? line)
    {
        if (line is not null)
        {
            _lines.Enqueue(line);
        }
    }
}
