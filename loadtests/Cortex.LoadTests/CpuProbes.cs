using System.Diagnostics;
using System.Globalization;
using StackExchange.Redis;

namespace Cortex.LoadTests;

/// <summary>CPU and memory readings of this process, redis-server, another process and the whole machine, for per-message costs.</summary>
internal static class CpuProbes
{
    /// <summary>
    /// CPU seconds the whole machine spent busy (not idle, not waiting for I/O, not stolen by the hypervisor for other
    /// guests), from the first line of /proc/stat.
    /// </summary>
    public static double MachineBusySeconds() => MachineSeconds().Busy;

    /// <summary>
    /// One reading of /proc/stat's first line: the CPU seconds the machine spent busy (as <see cref="MachineBusySeconds"/>),
    /// and those the hypervisor gave to other guests while this machine wanted them (steal).
    /// </summary>
    public static (double Busy, double Stolen) MachineSeconds()
    {
        const double TicksPerSecond = 100; // USER_HZ on Linux
        var fields = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries);

        // cpu user nice system idle iowait irq softirq steal: busy = user through softirq but idle (4) and iowait (5).
        var busy = 0L;
        for (var i = 1; i <= 7 && i < fields.Length; i++)
        {
            busy += i is 4 or 5 ? 0 : long.Parse(fields[i], CultureInfo.InvariantCulture);
        }

        var stolen = fields.Length > 8 ? long.Parse(fields[8], CultureInfo.InvariantCulture) : 0;
        return (busy / TicksPerSecond, stolen / TicksPerSecond);
    }

    public static TimeSpan OwnCpu()
    {
        using var self = Process.GetCurrentProcess();
        return self.TotalProcessorTime;
    }

    /// <summary>redis-server's own CPU seconds (user + system) from <c>INFO cpu</c>.</summary>
    public static async Task<double> RedisCpuSecondsAsync(IDatabase db)
    {
        var info = (string?)await db.ScriptEvaluateAsync("return redis.call('INFO', 'cpu')") ?? string.Empty;
        double Field(string name) => info.Split('\n').Where(l => l.StartsWith(name + ":", StringComparison.Ordinal))
            .Select(l => double.Parse(l[(name.Length + 1)..].Trim(), CultureInfo.InvariantCulture)).FirstOrDefault();
        return Field("used_cpu_user") + Field("used_cpu_sys");
    }

    /// <summary>EVALSHA calls redis-server has answered so far (<c>INFO commandstats</c>): the senders' lease, claim, ack and maintenance scripts.</summary>
    public static async Task<long> RedisScriptCallsAsync(IDatabase db)
    {
        var info = (string?)await db.ScriptEvaluateAsync("return redis.call('INFO', 'commandstats')") ?? string.Empty;
        var line = info.Split('\n').FirstOrDefault(l => l.StartsWith("cmdstat_evalsha:calls=", StringComparison.Ordinal));
        return line is null ? 0 : long.Parse(line["cmdstat_evalsha:calls=".Length..line.IndexOf(',', StringComparison.Ordinal)], CultureInfo.InvariantCulture);
    }

    /// <summary>Resident set size of a process in MB, from /proc; 0 once it has gone.</summary>
    public static double RssMb(int pid)
    {
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                return double.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024;
            }
        }

        return 0;
    }
}
