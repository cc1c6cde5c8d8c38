using Cortex.Testing;
using Cortex.Shared.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Cortex.Scheduler.Tests;

/// <summary>The scheduler host as Program.cs builds it: a bad configuration stops it at start with exit 78 naming the key.</summary>
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

    [Fact]
    public async Task RunAsync_NoConnectionString_Exits78NamingTheKey()
    {
        var (exitCode, output) = await ConfigErrorHost.RunAsync((services, configuration) => services.AddCortexScheduler(configuration), []);

        Assert.Equal(CortexHost.ConfigurationErrorExitCode, exitCode);
        Assert.Contains("Cortex:Postgres:ConnectionString is required", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunAsync_BadSchedulerValues_Exits78NamingEveryKey()
    {
        var (exitCode, output) = await RunSchedulerHostAsync(new()
        {
            ["Cortex:Scheduler:TimeZone"] = "Brasilia",
            ["Cortex:Scheduler:FollowUps:MaxFollowUps"] = "0",
            ["Cortex:Scheduler:Billing:Crn"] = "0 0 9 * * ?",
        });

        Assert.Equal(CortexHost.ConfigurationErrorExitCode, exitCode);
        Assert.Contains("Cortex:Scheduler:TimeZone must be an IANA time zone such as America/Sao_Paulo or UTC, case included (was 'Brasilia')", output, StringComparison.Ordinal);
        Assert.Contains("Cortex:Scheduler:FollowUps:MaxFollowUps must be 1 to 20 (was 0)", output, StringComparison.Ordinal);
        Assert.Contains("Cortex:Scheduler:Billing:Crn is not a setting (did you mean Cortex:Scheduler:Billing:Cron?)", output, StringComparison.Ordinal);
    }

    // .NET reads a bare number as days: IdleTime=30, meant as 30 minutes, followed up a month later, and the process
    // started (exit 0) without a word; ExpireAfter=6 kept a reminder six days instead of six hours.
    [Theory]
    [InlineData("Cortex:Scheduler:FollowUps:IdleTime", "30", "30 days: write a duration as hh:mm:ss or d.hh:mm:ss (00:00:30 is 30 s, 00:30:00 30 min, 30.00:00:00 30 days)")]
    [InlineData("Cortex:Scheduler:ExpireAfter", "6", "6 days: write a duration as hh:mm:ss or d.hh:mm:ss")]
    [InlineData("Cortex:Queue:IdempotencyWindow", "30", "30 days: write a duration")]
    [InlineData("Cortex:Scheduler:QuietHours:Overrides:0:End", "7", "7 days: write a duration")]
    public async Task RunAsync_DurationAsABareNumber_Exits78SayingItWouldBeDays(string key, string value, string expected)
    {
        var settings = new Dictionary<string, string?> { [key] = value };
        if (key.Contains(":Overrides:", StringComparison.Ordinal))
        {
            settings["Cortex:Scheduler:QuietHours:Overrides:0:Tenant"] = "isp_sul";
            settings["Cortex:Scheduler:QuietHours:Overrides:0:Start"] = "22:00:00";
        }

        var (exitCode, output) = await RunSchedulerHostAsync(settings);

        Assert.Equal(CortexHost.ConfigurationErrorExitCode, exitCode);
        Assert.Contains($"{key} is '{value}', a bare number, which would be {expected}", output, StringComparison.Ordinal);
    }

    // Cortex__Scheduler__QuietHours__Overrides__0__Tenant="ISP Sul" started, and matched no message: a tenant is lower case.
    [Fact]
    public async Task RunAsync_QuietHoursOverrideForATenantNoMessageCanHave_Exits78NamingTheKey()
    {
        var (exitCode, output) = await RunSchedulerHostAsync(new()
        {
            ["Cortex:Scheduler:QuietHours:Overrides:0:Tenant"] = "ISP Sul",
            ["Cortex:Scheduler:QuietHours:Overrides:0:Start"] = "22:00:00",
            ["Cortex:Scheduler:QuietHours:Overrides:0:End"] = "07:00:00",
            ["Cortex:Scheduler:QuietHours:Overrides:1:Tenant"] = "isp_norte",
            ["Cortex:Scheduler:QuietHours:Overrides:1:Kind"] = "campaign",
            ["Cortex:Scheduler:QuietHours:Overrides:1:Start"] = "20:00:00",
            ["Cortex:Scheduler:QuietHours:Overrides:1:End"] = "09:00:00",
            ["Cortex:Scheduler:QuietHours:Overrides:2:Tenant"] = "isp_norte",
            ["Cortex:Scheduler:QuietHours:Overrides:2:Kind"] = "campaign",
            ["Cortex:Scheduler:QuietHours:Overrides:2:Start"] = "19:00:00",
            ["Cortex:Scheduler:QuietHours:Overrides:2:End"] = "09:00:00",
        });

        Assert.Equal(CortexHost.ConfigurationErrorExitCode, exitCode);
        Assert.Contains("Cortex:Scheduler:QuietHours:Overrides:0:Tenant must be 1 to 64 characters of a-z, 0-9, '_', '.', '-', as a message's tenant (was 'ISP Sul')", output, StringComparison.Ordinal);
        Assert.Contains("Cortex:Scheduler:QuietHours:Overrides:2 is for the same Tenant and Kind (tenant 'isp_norte', kind 'campaign') as Cortex:Scheduler:QuietHours:Overrides:1", output, StringComparison.Ordinal);
    }

    // Both were accepted at start, and then every message with quiet hours failed in CortexClient: the window it carries
    // ('21:00-08:00 America//Sao_Paulo', or '21:00-21:00 …' from 21:00:00.5) is one the contract refuses.
    [Fact]
    public async Task RunAsync_QuietHoursMessagesCouldNotCarry_Exits78NamingTheKeys()
    {
        var (exitCode, output) = await RunSchedulerHostAsync(new()
        {
            ["Cortex:Scheduler:TimeZone"] = "America//Sao_Paulo",
            ["Cortex:Scheduler:QuietHours:Start"] = "21:00:00.5",
            ["Cortex:Scheduler:QuietHours:End"] = "21:00:00",
        });

        Assert.Equal(CortexHost.ConfigurationErrorExitCode, exitCode);
        Assert.Contains("Cortex:Scheduler:TimeZone must be an IANA time zone such as America/Sao_Paulo or UTC, case included (was 'America//Sao_Paulo')", output, StringComparison.Ordinal);
        Assert.Contains("Cortex:Scheduler:QuietHours:Start must be whole seconds, HH:mm or HH:mm:ss, as messages carry it (was '21:00:00.5000000')", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunAsync_ConnectionStringWithUnknownKeyword_Exits78WithoutShowingThePassword()
    {
        var (exitCode, output) = await RunSchedulerHostAsync(new() { ["Cortex:Postgres:ConnectionString"] = "Host=db;Passwrd=hunter2" });

        Assert.Equal(CortexHost.ConfigurationErrorExitCode, exitCode);
        Assert.Contains("Cortex:Postgres:ConnectionString is not a valid Npgsql connection string", output, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Password")]
    [InlineData("PSW")]
    public async Task RunAsync_PasswordHoldingAnUnquotedSemicolon_Exits78WithoutShowingAnyOfIt(string keyword)
    {
        // Npgsql reads the password's second half as a keyword, and its message names that keyword.
        var (exitCode, output) = await RunSchedulerHostAsync(new() { ["Cortex:Postgres:ConnectionString"] = $"Host=db;Username=cortex;{keyword}=Xk9;Rt7vQ2mZ=pL4" });

        Assert.Equal(CortexHost.ConfigurationErrorExitCode, exitCode);
        Assert.Contains("Cortex:Postgres:ConnectionString is not a valid Npgsql connection string: a keyword is unknown or a value is not valid", output, StringComparison.Ordinal);
        Assert.DoesNotContain("rt7vq2mz", output, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("pL4", output, StringComparison.Ordinal);
    }

    // As src/Cortex.Scheduler/Program.cs registers its services, with a connection string that parses (nothing listens there).
    private static Task<(int ExitCode, string Output)> RunSchedulerHostAsync(Dictionary<string, string?> settings)
    {
        var all = new Dictionary<string, string?> { ["Cortex:Postgres:ConnectionString"] = "Host=127.0.0.1;Port=1;Username=nobody;Timeout=1" };
        foreach (var (key, value) in settings)
        {
            all[key] = value;
        }

        return ConfigErrorHost.RunAsync((services, configuration) => services.AddCortexScheduler(configuration), all);
    }
}
