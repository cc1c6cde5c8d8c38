using System.Collections;
using System.Reflection;

namespace Cortex.Testing;

/// <summary>
/// Issue #7, bad configuration: bad values for every key a Cortex process reads, by the key's meaning and by its type.
/// The tests list the keys from the options classes and fail on a key this table has no row for.
/// </summary>
public static class ConfigurationCases
{
    public const string Secret = "Sekr3t-Marker-0042";

    /// <summary>Bad values by meaning, per key; the type's own bad values (<see cref="ByType"/>) are added to each.</summary>
    public static readonly IReadOnlyDictionary<string, string[]> Meaning = new Dictionary<string, string[]>(StringComparer.Ordinal)
    {
        ["Cortex:Redis:Configuration"] = ["", " ", ",", "127.0.0.1:6379,bogus=1", $"127.0.0.1:6379,password={Secret},nosuchoption=1", "127.0.0.1:6379,connectTimeout=abc", $"password={Secret}", $"127.0.0.1:6379,password=Tr0ub4dor,{Secret}"],
        ["Cortex:Redis:Password"] = [Secret + "\n", " " + Secret, Secret + "\u0000"],
        ["Cortex:Redis:TlsCaCertificateFile"] = ["/no/such/ca.pem", "/dev/null"],
        ["Cortex:Redis:DeadConnectionTimeout"] = ["00:00:00", "00:00:00.500", "00:10:01"],
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
        ["Cortex:Sender:DeadLetterLogLimit"] = ["0", "100001"],
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
        ["Cortex:Resilience:OutageSamplingDuration"] = ["00:00:00.100", "1.00:00:01"],
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
        ["Cortex:Scheduler:Billing:Cron"] = ["", "0 0 9 * *", "61 * * * * ?", "0 0 9 30 2 ?"],
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
        ["Cortex:Scheduler:QuietHours:Overrides:0:Tenant"] = ["ISP Sul", "Isp", "", " ", "isp/sul", new string('t', 65)],
        ["Cortex:Scheduler:QuietHours:Overrides:0:Kind"] = ["sms", "Billing"],
        ["Cortex:Scheduler:QuietHours:Overrides:0:Start"] = ["1.00:00:00"],
        ["Cortex:Scheduler:QuietHours:Overrides:0:End"] = ["2.00:00:00"],
    };

    /// <summary>Values no key of the type accepts.</summary>
    public static IEnumerable<string> ByType(Type type)
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
            // "30" is 30 days to .NET: IdleTime=30, meant as minutes, started with a month; a duration is never a bare number.
            return ["", "abc", "20s", "-00:00:01", "99999999.00:00:00", "25:61:61", "1", "30"];
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

    /// <summary>Every leaf key under <paramref name="path"/> that binds to <paramref name="type"/>; a list contributes its item 0.</summary>
    public static void Leaves(string path, Type type, List<(string Key, Type Type)> keys)
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
