using Cortex.Shared.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Cortex.Scheduler.Tests;

/// <summary>The scheduler host as Program.cs builds it: a bad shared configuration stops it at start with exit 78 naming the key.</summary>
public class SchedulerHostTests
{
    // Hang guard only: a host that starts despite a bad configuration is stopped through ApplicationStarted long before this.
    private static readonly TimeSpan s_hangGuard = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task RunAsync_BadQueueValue_Exits78NamingTheKey()
    {
        var (exitCode, output) = await RunSchedulerHostAsync(new() { ["Cortex:Queue:MaxDeliveries"] = "0" });

        Assert.Equal(CortexHost.ConfigurationErrorExitCode, exitCode);
        Assert.Contains("Cortex:Queue:MaxDeliveries must be 1 to 100 (was 0)", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunAsync_UnknownQueueKey_Exits78NamingTheKey()
    {
        var (exitCode, output) = await RunSchedulerHostAsync(new() { ["Cortex:Queue:MaxDelivery"] = "3" });

        Assert.Equal(CortexHost.ConfigurationErrorExitCode, exitCode);
        Assert.Contains("Cortex:Queue:MaxDelivery is not a setting (did you mean Cortex:Queue:MaxDeliveries?)", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunAsync_BadRedisAndQueueValues_Exits78NamingBothKeys()
    {
        var (exitCode, output) = await RunSchedulerHostAsync(new()
        {
            ["Cortex:Redis:Configuration"] = ",",
            ["Cortex:Queue:MaxDeliveries"] = "0",
        });

        Assert.Equal(CortexHost.ConfigurationErrorExitCode, exitCode);
        Assert.Contains("Cortex:Redis:Configuration names no endpoint", output, StringComparison.Ordinal);
        Assert.Contains("Cortex:Queue:MaxDeliveries must be 1 to 100 (was 0)", output, StringComparison.Ordinal);
    }

    private static async Task<(int ExitCode, string Output)> RunSchedulerHostAsync(Dictionary<string, string?> settings)
    {
        // As src/Cortex.Scheduler/Program.cs builds it; the test's values are added last so they win.
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            // Nothing listens on port 1; abortConnect=false, so a host that got this far would start anyway. The host
            // builds its services (and so connects) before start-up validation; a short connect timeout keeps that quick.
            ["Cortex:Redis:Configuration"] = "127.0.0.1:1,connectTimeout=200",
        });
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Services.AddCortexQueue();
        using var host = builder.Build();

        // The scheduler has no work yet, so a host that passes validation would run until stopped: stop it at once
        // and fail the test instead of hanging.
        var lifetime = host.Services.GetRequiredService<IHostApplicationLifetime>();
        var started = false;
        using var registration = lifetime.ApplicationStarted.Register(() =>
        {
            started = true;
            lifetime.StopApplication();
        });
        using var output = new StringWriter();

        var exitCode = await CortexHost.RunAsync(host, output).WaitAsync(s_hangGuard);

        Assert.False(started, "the host started although its configuration is invalid; output: " + output);
        return (exitCode, output.ToString());
    }
}
