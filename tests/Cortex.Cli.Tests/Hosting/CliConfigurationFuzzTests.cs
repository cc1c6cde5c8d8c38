using Cortex.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Xunit.Abstractions;

namespace Cortex.Cli.Tests.Hosting;

/// <summary>
/// Issue #7, bad configuration, the CLI's part: every key cortex reads (Redis and queue for stats, enqueue and dlq;
/// PostgreSQL and the scheduler's for migrate, jobs and campaign), listed from the options classes, with every bad value
/// of <see cref="ConfigurationCases"/>: exit 78 naming the key, no secret, no stack trace, nothing reached.
/// </summary>
public sealed class CliConfigurationFuzzTests(ITestOutputHelper output)
{
    public static TheoryData<string> Verbs => ["stats", "campaign status"];

    [Theory]
    [MemberData(nameof(Verbs))]
    public async Task Run_EveryBadValueOfEveryKeyTheVerbReads_Exits78NamingTheKeyWithoutItsSecret(string verb)
    {
        var failures = new List<string>();
        var keys = Keys(verb);
        Assert.True(keys.Count >= (verb == "stats" ? 10 : 25), string.Join(", ", keys.Select(k => k.Key)));
        var missing = keys.Where(k => !ConfigurationCases.Meaning.ContainsKey(k.Key)).Select(k => k.Key).ToList();
        Assert.True(missing.Count == 0, "keys without bad-value cases: " + string.Join(", ", missing));

        var cases = 0;
        foreach (var (key, type) in keys)
        {
            foreach (var value in ConfigurationCases.ByType(type).Concat(ConfigurationCases.Meaning[key]).Distinct())
            {
                cases++;
                var environment = Context(key);
                environment[key.Replace(":", "__", StringComparison.Ordinal)] = value;
                var (code, error) = await RunAsync(verb.Split(' '), environment);
                if (code != ExitCodes.Configuration || !error.Contains(key, StringComparison.OrdinalIgnoreCase)
                    || error.Contains(ConfigurationCases.Secret, StringComparison.Ordinal) || error.Contains("   at ", StringComparison.Ordinal))
                {
                    failures.Add($"{key}='{value.ReplaceLineEndings("\\n")}': exit {code}: {error.Trim()}");
                }
            }
        }

        output.WriteLine($"cortex {verb}: {keys.Count} keys, {cases} bad values");
        Assert.True(failures.Count == 0, $"{failures.Count} of {cases} cases:\n" + string.Join('\n', failures.Take(40)));
    }

    [Theory]
    [InlineData("stats", "--redis", "127.0.0.1:6379,password=" + ConfigurationCases.Secret + ",nosuchoption=1", "Cortex:Redis:Configuration")]
    [InlineData("stats", "--redis", "", "Cortex:Redis:Configuration")]
    [InlineData("stats", "--queue", "a b", "Cortex:Queue:Name")]
    [InlineData("campaign status", "--postgres", "Host=h;Password=" + ConfigurationCases.Secret + ";Bogus=1", "Cortex:Postgres:ConnectionString")]
    public async Task Run_BadGlobalOption_Exits78NamingTheKeyItOverrides(string verb, string option, string value, string key)
    {
        var (code, error) = await RunAsync([.. verb.Split(' '), option, value], Context(string.Empty));

        Assert.True(code == ExitCodes.Configuration, error);
        Assert.Contains(key, error, StringComparison.Ordinal);
        Assert.DoesNotContain(ConfigurationCases.Secret, error, StringComparison.Ordinal);
    }

    private static async Task<(int Code, string Error)> RunAsync(string[] args, Dictionary<string, string> environment)
    {
        using var stdout = new StringWriter();
        using var error = new StringWriter();
        var console = new CliConsole { Out = stdout, Error = error, Environment = environment };
        var code = await Cli.RunAsync(args, console).WaitAsync(TimeSpan.FromSeconds(60));
        return (code, error.ToString());
    }

    private static Dictionary<string, string> Context(string key)
    {
        var environment = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            // Never reached: a bad value must stop the verb before it connects.
            ["Cortex__Redis__Configuration"] = "127.0.0.1:1,connectTimeout=200",
            ["Cortex__Postgres__ConnectionString"] = "Host=127.0.0.1;Port=1;Database=x;Username=x;Timeout=1",
        };
        if (key.StartsWith("Cortex:Scheduler:QuietHours:Overrides:0:", StringComparison.Ordinal))
        {
            environment["Cortex__Scheduler__QuietHours__Overrides__0__Tenant"] = "isp";
            environment["Cortex__Scheduler__QuietHours__Overrides__0__Start"] = "22:00:00";
            environment["Cortex__Scheduler__QuietHours__Overrides__0__End"] = "07:00:00";
        }

        return environment;
    }

    /// <summary>The keys of the options the verb's host validates: Redis and queue, or also PostgreSQL and the scheduler's.</summary>
    private static List<(string Key, Type Type)> Keys(string verb)
    {
        var services = new ServiceCollection();
        services.AddCortexQueue();
        if (verb != "stats")
        {
            services.AddCortexScheduler(new ConfigurationBuilder().Build());
        }

        var keys = new List<(string Key, Type Type)>();
        foreach (var type in services
            .Where(d => d.ServiceType.IsGenericType && d.ServiceType.GetGenericTypeDefinition() == typeof(IValidateOptions<>))
            .Select(d => d.ServiceType.GetGenericArguments()[0])
            .Distinct()
            .Where(t => t.GetField("Section") is not null))
        {
            ConfigurationCases.Leaves((string)type.GetField("Section")!.GetValue(null)!, type, keys);
        }

        return keys;
    }
}
