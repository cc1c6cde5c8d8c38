using System.Collections;
using System.Reflection;
using Cortex.Scheduler;
using Cortex.Shared.Hosting;
using Cortex.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Cortex.Sender.Tests;

/// <summary>
/// Issue #7, bad input, configuration: every key the sender and the scheduler read, listed from their options classes, with
/// bad values of its type (empty, wrong type, out of range, NaN, unknown enum names) and of its meaning (malformed
/// connection strings, URLs, cron, zones). Each must stop the real application builder at start with exit 78 naming the
/// key, never start with a default, never print a secret. A key without a row in <see cref="s_meaning"/> fails the test.
/// </summary>
public sealed class ConfigurationFuzzTests
{
    private const string Secret = "Sekr3t-Marker-0042";

    /// <summary>Bad values by meaning, per key; the type's own bad values (<see cref="ByType"/>) are added to each.</summary>
    private static readonly Dictionary<string, string[]> s_meaning = new(StringComparer.Ordinal)
    {
        ["Cortex:Redis:Configuration"] = ["", " ", ",", "127.0.0.1:6379,bogus=1", $"127.0.0.1:6379,password={Secret},nosuchoption=1", "127.0.0.1:6379,connectTimeout=abc", $"password={Secret}"],
        ["Cortex:Queue:Name"] = ["", " ", "a b", "{x}", "q\n"],
        ["Cortex:Queue:ConsumerTimeout"] = ["00:00:00", "02:00:00"],
        ["Cortex:Queue:HeartbeatInterval"] = ["00:00:00", "00:00:09"],
        ["Cortex:Queue:MaintenanceInterval"] = ["00:00:00", "00:02:00"],
        ["Cortex:Queue:MaxDeliveries"] = ["0", "-1", "101"],
        ["Cortex:Queue:IdempotencyWindow"] = ["00:00:00", "31.00:00:00"],
        ["Cortex:Queue:HighWeight"] = ["0", "101"],
        ["Cortex:Queue:NormalWeight"] = ["0", "101"],
        ["Cortex:Queue:LowWeight"] = ["0", "-5"],
        ["Cortex:Sender:Workers"] = ["0", "-1", "4097"],
        ["Cortex:Sender:Prefetch"] = ["0", "100001"],
        ["Cortex:Sender:LeaseBatchSize"] = ["0", "1001"],
        ["Cortex:Sender:AckBatchSize"] = ["0", "5001"],
        ["Cortex:Sender:IdlePollMin"] = ["00:00:00", "00:00:11"],
        ["Cortex:Sender:IdlePollMax"] = ["00:00:00", "00:01:01"],
        ["Cortex:Sender:ShutdownTimeout"] = ["00:10:01"],
        ["Cortex:Sender:ConfigurationErrorPause"] = ["00:00:00", "01:00:01"],
        ["Cortex:Sender:MaxThrottleRetries"] = ["-1", "101"],
        ["Cortex:Sender:ConsumerId"] = ["", "pod 1", "a|b", new string('c', 129)],
        ["Cortex:Gateway:Type"] = ["Whatsapp", "Fake,Cloud", "1", "-1"],
        ["Cortex:Gateway:Name"] = ["", "Main", "a b", new string('n', 65)],
        ["Cortex:Gateway:Timeout"] = ["00:00:00", "00:05:01"],
        ["Cortex:Gateway:Evolution:BaseUrl"] = ["", "not a url", "ftp://x", "http://x?q=1", "/relative"],
        ["Cortex:Gateway:Evolution:Instance"] = ["", " "],
        ["Cortex:Gateway:Evolution:ApiKey"] = ["", Secret + "\n", Secret + " x"],
        ["Cortex:Gateway:Cloud:BaseUrl"] = ["", "graph.facebook.com", "file:///etc/passwd", "https://x#f"],
        ["Cortex:Gateway:Cloud:ApiVersion"] = ["", "21.0", "v", "vX"],
        ["Cortex:Gateway:Cloud:PhoneNumberId"] = ["", "+5511987654321", "abc"],
        ["Cortex:Gateway:Cloud:AccessToken"] = ["", Secret + "\n", "Bearer " + Secret],
        ["Cortex:Gateway:Fake:Latency"] = ["00:01:01"],
        ["Cortex:Gateway:Fake:RetryableFailureRate"] = ["-0.1", "1.5"],
        ["Cortex:Gateway:Fake:PermanentFailureRate"] = ["-0.1", "2"],
        ["Cortex:Gateway:Fake:ThrottleRate"] = ["-0.1", "1.01"],
        ["Cortex:Gateway:Fake:TrackAcceptedIds"] = [],
        ["Cortex:Gateway:Fake:Seed"] = [],
        ["Cortex:RateLimit:PodPermitsPerSecond"] = ["-1", "1000001"],
        ["Cortex:RateLimit:PodBurst"] = ["0", "1000001"],
        ["Cortex:RateLimit:GlobalPermitsPerSecond"] = ["-0.5", "1000001"],
        ["Cortex:RateLimit:GlobalBurst"] = ["0"],
        ["Cortex:RateLimit:ThrottlePause"] = ["00:00:00", "00:10:01"],
        ["Cortex:Resilience:ShortRetries"] = ["-1", "11"],
        ["Cortex:Resilience:ShortRetryDelay"] = ["00:01:01"],
        ["Cortex:Resilience:FailureRatio"] = ["0", "1.5"],
        ["Cortex:Resilience:SamplingDuration"] = ["00:00:00", "1.00:00:01"],
        ["Cortex:Resilience:MinimumThroughput"] = ["1", "100001"],
        ["Cortex:Resilience:BreakDuration"] = ["00:00:00", "1.00:00:01"],
        ["Cortex:Retry:BaseDelay"] = ["00:00:00", "1.00:00:01"],
        ["Cortex:Retry:Factor"] = ["0.5", "101"],
        ["Cortex:Retry:MaxDelay"] = ["00:00:00", "7.00:00:01"],
        ["Cortex:Retry:MaxAttempts"] = ["0", "101"],
        ["Cortex:Retry:Jitter"] = ["-0.1", "0.95"],
        ["Cortex:Observability:Port"] = ["-1", "65536"],
        ["Cortex:Observability:BindAddress"] = ["", "localhost", "10.0.0", "010.0.0.1", "999.1.1.1"],
        ["Cortex:Observability:AdminToken"] = ["short-" + "x", Secret + " " + Secret, Secret + "\n"],
        ["Cortex:Observability:ScrapeTimeout"] = ["00:00:00", "00:01:01"],
        ["Cortex:Observability:HealthCheckTimeout"] = ["00:00:00", "00:01:01"],
        ["Cortex:Postgres:ConnectionString"] = ["", " ", "Host=", $"Host=h;Password={Secret};Bogus=1", "Host=h;Port=abc", $"Host=h;Password={Secret};Port=-5", "garbage"],
        ["Cortex:Postgres:CommandTimeout"] = ["00:00:00", "02:00:00"],
        ["Cortex:Scheduler:TimeZone"] = ["", "Mars/Olympus", "UTC+3", "../../etc/passwd"],
        ["Cortex:Scheduler:ApplyMigrations"] = [],
        ["Cortex:Scheduler:BatchSize"] = ["0", "50001"],
        ["Cortex:Scheduler:ExpireAfter"] = ["00:00:00", "8.00:00:00"],
        ["Cortex:Scheduler:OutboxRepairCron"] = ["", "* * * *", "0 0 25 * * ?", "every minute"],
        ["Cortex:Scheduler:InstanceName"] = ["", " "],
        ["Cortex:Scheduler:ClusterCheckinInterval"] = ["00:00:00", "00:05:01"],
        ["Cortex:Scheduler:ClusterCheckinMisfireThreshold"] = ["00:00:01"],
        ["Cortex:Scheduler:MisfireThreshold"] = ["00:00:00", "01:00:01"],
        ["Cortex:Scheduler:Billing:Enabled"] = [],
        ["Cortex:Scheduler:Billing:Cron"] = ["", "0 0 9 * *", "61 * * * * ?"],
        ["Cortex:Scheduler:Billing:Offsets"] = ["", "a,b", "-3;0", "1000", "-61"],
        ["Cortex:Scheduler:FollowUps:Enabled"] = [],
        ["Cortex:Scheduler:FollowUps:Cron"] = ["", "x"],
        ["Cortex:Scheduler:FollowUps:IdleTime"] = ["00:00:00", "31.00:00:00"],
        ["Cortex:Scheduler:FollowUps:MaxFollowUps"] = ["0", "21"],
        ["Cortex:Scheduler:FollowUps:ServiceWindow"] = ["1.00:00:01"],
        ["Cortex:Scheduler:Campaigns:Enabled"] = [],
        ["Cortex:Scheduler:Campaigns:Cron"] = ["", "0 0 10 32 * ?"],
        ["Cortex:Scheduler:QuietHours:Start"] = ["1.00:00:00", "24:00"],
        ["Cortex:Scheduler:QuietHours:End"] = ["1.00:00:00"],
        ["Cortex:Scheduler:QuietHours:Overrides:0:Tenant"] = [],
        ["Cortex:Scheduler:QuietHours:Overrides:0:Kind"] = ["sms", "Billing"],
        ["Cortex:Scheduler:QuietHours:Overrides:0:Start"] = ["1.00:00:00"],
        ["Cortex:Scheduler:QuietHours:Overrides:0:End"] = ["2.00:00:00"],
    };

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

        var missing = keys.Where(k => !s_meaning.ContainsKey(k)).ToList();
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
            foreach (var value in ByType(type).Concat(s_meaning[key]).Distinct())
            {
                cases++;
                var settings = Context(key);
                settings[key] = value;
                var (code, output) = await RunAsync(process, settings);
                if (code != CortexHost.ConfigurationErrorExitCode || !Names(output, key) || output.Contains(Secret, StringComparison.Ordinal)
                    || output.Contains("   at ", StringComparison.Ordinal))
                {
                    failures.Add($"{key}='{value.ReplaceLineEndings("\\n")}': exit {code}: {output.Trim()}");
                }
            }
        }

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
    [InlineData("Cortex.Sender.dll", "Cortex__Redis__Configuration", "127.0.0.1:6379,password=" + Secret + ",nosuchoption=1")]
    [InlineData("Cortex.Sender.dll", "Cortex__Retry__Factor", "NaN")]
    [InlineData("Cortex.Sender.dll", "Cortex__Queue__MaxDeliveries", "")]
    [InlineData("Cortex.Scheduler.dll", "Cortex__Scheduler__OutboxRepairCron", "every minute")]
    [InlineData("Cortex.Scheduler.dll", "Cortex__Postgres__ConnectionString", "Host=h;Password=" + Secret + ";Bogus=1")]
    [InlineData("Cortex.Scheduler.dll", "Cortex__Scheduler__TimeZone", "Mars/Olympus")]
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
        Assert.DoesNotContain(Secret, process.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", process.Output, StringComparison.Ordinal);
    }

    /// <summary>A failure is about <paramref name="key"/> itself, not a mention of it in another key's message.</summary>
    private static bool Names(string output, string key) =>
        output.Contains(": " + key + " ", StringComparison.OrdinalIgnoreCase)
        || output.Contains("; " + key + " ", StringComparison.OrdinalIgnoreCase)
        || output.Contains("'" + key + "'", StringComparison.OrdinalIgnoreCase);

    /// <summary>Values no key of the type accepts.</summary>
    private static IEnumerable<string> ByType(Type type)
    {
        var t = Nullable.GetUnderlyingType(type) ?? type;
        if (t == typeof(int))
        {
            // Not "0x10": .NET's converter reads it as 16, a notation, not a wrong value.
            return ["", " ", "abc", "1.5", "2147483648", "-2147483649", "NaN", "1e3"];
        }

        if (t == typeof(double))
        {
            return ["", "abc", "NaN", "Infinity", "-Infinity", "1e400", "1,5"];
        }

        if (t == typeof(TimeSpan))
        {
            return ["", "abc", "20s", "-00:00:01", "99999999.00:00:00", "25:61:61"];
        }

        if (t == typeof(bool))
        {
            return ["", "yes", "2", "on"];
        }

        if (t.IsEnum)
        {
            return ["", "Unknown", "99"];
        }

        return [];
    }

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
        using var output = new StringWriter();
        var code = await CortexHost.RunCommandAsync(app, (_, _) => Task.CompletedTask, output);
        return (code, output.ToString());
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
            Leaves((string)type.GetField("Section")!.GetValue(null)!, type, keys);
        }

        return keys;
    }

    private static void Leaves(string path, Type type, List<(string, Type)> keys)
    {
        foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.CanWrite))
        {
            var t = Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
            var key = path + ":" + property.Name;
            if (t.IsPrimitive || t.IsEnum || t == typeof(string) || t == typeof(TimeSpan) || t == typeof(Uri) || t == typeof(decimal))
            {
                keys.Add((key, t));
            }
            else if (typeof(IEnumerable).IsAssignableFrom(t) && t.IsGenericType)
            {
                Leaves(key + ":0", t.GetGenericArguments()[0], keys);
            }
            else
            {
                Leaves(key, t, keys);
            }
        }
    }
}
