using System.Reflection;
using Cortex.Scheduler;
using Cortex.Shared.Hosting;
using Cortex.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Xunit.Abstractions;

namespace Cortex.Sender.Tests;

/// <summary>
/// Issue #7, bad input, configuration: every key the sender and the scheduler read, listed from their options classes, with
/// bad values of its type (empty, wrong type, out of range, NaN, unknown enum names) and of its meaning (malformed
/// connection strings, URLs, cron, zones). Each must stop the real application builder at start with exit 78 naming the
/// key, never start with a default, never print a secret. A key without a row in <see cref="ConfigurationCases.Meaning"/> fails the test.
/// </summary>
public sealed class ConfigurationFuzzTests(ITestOutputHelper output)
{
    /// <summary>What a key needs around it to be read at all: the gateway's own keys only count for that gateway type.</summary>
    private static readonly (string Prefix, Dictionary<string, string?> Settings)[] s_contexts =
    [
        ("Cortex:Gateway:Evolution:", new() { ["Cortex:Gateway:Type"] = "Evolution", ["Cortex:Gateway:Evolution:BaseUrl"] = "http://127.0.0.1:1", ["Cortex:Gateway:Evolution:Instance"] = "i", ["Cortex:Gateway:Evolution:ApiKey"] = "k" }),
        ("Cortex:Gateway:Cloud:", new() { ["Cortex:Gateway:Type"] = "Cloud", ["Cortex:Gateway:Cloud:PhoneNumberId"] = "123", ["Cortex:Gateway:Cloud:AccessToken"] = "t" }),
        ("Cortex:Scheduler:QuietHours:Overrides:0:", new() { ["Cortex:Scheduler:QuietHours:Overrides:0:Tenant"] = "isp", ["Cortex:Scheduler:QuietHours:Overrides:0:Start"] = "22:00:00", ["Cortex:Scheduler:QuietHours:Overrides:0:End"] = "07:00:00" }),
    ];

    public static TheoryData<string> Processes => ["sender", "scheduler"];

    [Theory]
    [MemberData(nameof(Processes))]
    public void Keys_EveryKeyTheProcessReads_HasBadValueCases(string process)
    {
        var keys = Keys(process).Select(k => k.Key).ToList();

        var missing = keys.Where(k => !ConfigurationCases.Meaning.ContainsKey(k)).ToList();
        Assert.True(missing.Count == 0, "keys without bad-value cases: " + string.Join(", ", missing));
        Assert.True(keys.Count > 10, string.Join(", ", keys));
    }

    [Theory]
    [MemberData(nameof(Processes))]
    public async Task Build_EveryBadValueOfEveryKey_Exits78NamingTheKeyWithoutItsSecret(string process)
    {
        var failures = new List<string>();
        var cases = 0;
        foreach (var (key, type) in Keys(process))
        {
            foreach (var value in ConfigurationCases.ByType(type).Concat(ConfigurationCases.Meaning[key]).Distinct())
            {
                cases++;
                var settings = Context(key);
                settings[key] = value;
                var (code, output) = await RunAsync(process, settings);
                if (code != CortexHost.ConfigurationErrorExitCode || !Names(output, key) || output.Contains(ConfigurationCases.Secret, StringComparison.Ordinal)
                    || output.Contains("   at ", StringComparison.Ordinal))
                {
                    failures.Add($"{key}='{value.ReplaceLineEndings("\\n")}': exit {code}: {output.Trim()}");
                }
            }
        }

        output.WriteLine($"{process}: {Keys(process).Count} keys, {cases} bad values");
        Assert.True(failures.Count == 0, $"{failures.Count} of {cases} cases:\n" + string.Join('\n', failures.Take(40)));
    }

    [Theory]
    [MemberData(nameof(Processes))]
    public async Task Build_GoodContexts_Start(string process)
    {
        // The contexts themselves are valid: a bad value is what fails each case, not its surroundings.
        foreach (var (prefix, _) in s_contexts)
        {
            var (code, output) = await RunAsync(process, Context(prefix));
            Assert.True(code == 0, prefix + ": " + output);
        }
    }

    [Theory]
    [InlineData("Cortex.Sender.dll", "Cortex__Sender__Workers", "0")]
    [InlineData("Cortex.Sender.dll", "Cortex__Gateway__Type", "Fake,Cloud")]
    [InlineData("Cortex.Sender.dll", "Cortex__Redis__Configuration", "127.0.0.1:6379,password=" + ConfigurationCases.Secret + ",nosuchoption=1")]
    [InlineData("Cortex.Sender.dll", "Cortex__Retry__Factor", "NaN")]
    [InlineData("Cortex.Sender.dll", "Cortex__Queue__MaxDeliveries", "")]
    [InlineData("Cortex.Scheduler.dll", "Cortex__Scheduler__OutboxRepairCron", "every minute")]
    [InlineData("Cortex.Scheduler.dll", "Cortex__Postgres__ConnectionString", "Host=h;Password=" + ConfigurationCases.Secret + ";Bogus=1")]
    [InlineData("Cortex.Scheduler.dll", "Cortex__Scheduler__TimeZone", "Mars/Olympus")]
    [InlineData("Cortex.Scheduler.dll", "Cortex__Scheduler__FollowUps__IdleTime", "30")]
    public async Task RealProcess_BadValue_Exits78NamingTheKeyWithoutItsSecret(string dll, string variable, string value)
    {
        var environment = new Dictionary<string, string>
        {
            ["Cortex__Redis__Configuration"] = "127.0.0.1:1,connectTimeout=200",
            ["Cortex__Postgres__ConnectionString"] = "Host=127.0.0.1;Port=1;Database=x;Username=x",
            ["Cortex__Scheduler__ApplyMigrations"] = "false",
            [variable] = value,
        };
        await using var process = ServiceProcess.Start(dll, environment);

        var code = await process.WaitForExitAsync(TimeSpan.FromSeconds(60));

        Assert.True(code == CortexHost.ConfigurationErrorExitCode, process.Output);
        Assert.Contains(variable.Replace("__", ":", StringComparison.Ordinal), process.Output, StringComparison.Ordinal);
        Assert.DoesNotContain(ConfigurationCases.Secret, process.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", process.Output, StringComparison.Ordinal);
    }

    /// <summary>A failure is about <paramref name="key"/> itself, not a mention of it in another key's message.</summary>
    private static bool Names(string output, string key) =>
        output.Contains(": " + key + " ", StringComparison.OrdinalIgnoreCase)
        || output.Contains("; " + key + " ", StringComparison.OrdinalIgnoreCase)
        || output.Contains("'" + key + "'", StringComparison.OrdinalIgnoreCase);

    private static Dictionary<string, string?> Context(string key)
    {
        var settings = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase)
        {
            // Reachable-looking but never reached: nothing starts, the configuration is only validated.
            ["Cortex:Redis:Configuration"] = "127.0.0.1:1,abortConnect=false,connectTimeout=200",
            ["Cortex:Postgres:ConnectionString"] = "Host=127.0.0.1;Port=1;Database=x;Username=x",
        };
        foreach (var (prefix, context) in s_contexts)
        {
            if (key.StartsWith(prefix, StringComparison.Ordinal))
            {
                foreach (var (k, v) in context)
                {
                    settings[k] = v;
                }
            }
        }

        return settings;
    }

    private static async Task<(int Code, string Output)> RunAsync(string process, Dictionary<string, string?> settings)
    {
        void Configure(WebApplicationBuilder builder) => builder.Configuration.AddInMemoryCollection(settings);
        WebApplication app;
        try
        {
            app = process == "sender" ? SenderApplication.Build([], Configure) : SchedulerApplication.Build([], Configure);
        }
        catch (Exception ex) when (ex is InvalidOperationException or ArgumentException or FormatException or OptionsValidationException)
        {
            // Program.cs builds before CortexHost guards the run: this is a crash with a stack trace, not exit 78.
            return (-1, "crashed in Build: " + ex.Message);
        }

        using var _ = app;
        using var writer = new StringWriter();
        var code = await CortexHost.RunCommandAsync(app, (_, _) => Task.CompletedTask, writer);
        return (code, writer.ToString());
    }

    /// <summary>Every leaf key the process binds, from its options classes (found through its registered validators).</summary>
    private static List<(string Key, Type Type)> Keys(string process)
    {
        var services = new ServiceCollection();
        if (process == "sender")
        {
            services.AddCortexSender();
        }
        else
        {
            services.AddCortexScheduler(new ConfigurationBuilder().Build());
        }

        var types = services
            .Where(d => d.ServiceType.IsGenericType && d.ServiceType.GetGenericTypeDefinition() == typeof(IValidateOptions<>))
            .Select(d => d.ServiceType.GetGenericArguments()[0])
            .Append(typeof(ObservabilityOptions))
            .Distinct()
            .Where(t => t.GetField("Section", BindingFlags.Public | BindingFlags.Static) is not null);
        var keys = new List<(string, Type)>();
        foreach (var type in types)
        {
            ConfigurationCases.Leaves((string)type.GetField("Section")!.GetValue(null)!, type, keys);
        }

        return keys;
    }
}
