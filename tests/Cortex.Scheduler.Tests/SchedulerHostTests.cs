using Cortex.Testing;
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

    // As src/Cortex.Scheduler/Program.cs registers its services.
    private static Task<(int ExitCode, string Output)> RunSchedulerHostAsync(Dictionary<string, string?> settings) =>
        ConfigErrorHost.RunAsync(services => services.AddCortexQueue(), settings);
}
