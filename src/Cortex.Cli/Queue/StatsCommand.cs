using System.CommandLine;
using Cortex.Cli.Hosting;
using Cortex.Cli.Output;
using Cortex.Shared.Queue;
using Microsoft.Extensions.DependencyInjection;
using Spectre.Console;
using StackExchange.Redis;

namespace Cortex.Cli.Queue;

/// <summary>
/// cortex stats: how much is ready, delayed, leased and dead, who is consuming, how old the oldest ready message is, and
/// whether an operator paused the queue.
/// </summary>
internal static class StatsCommand
{
    private const string Help = """
        --json prints one object; the fields are stable:
          queue                   queue name
          ready.high|normal|low   messages waiting in each ready list; ready.total their sum
          delayed                 waiting for notBefore or a retry
          leased                  held by a sender (in flight or buffered)
          dead                    in the dead-letter list
          pending                 ready.total + delayed + leased
          consumers               senders with a fresh heartbeat
          oldestReadyEnqueuedAt   enqueuedAt of the oldest ready message (ISO-8601), null when none or unstamped
          oldestReadyAgeSeconds   seconds it has been due: since then, or since its notBefore or the end of the
                                  quiet hours it waited out, when later (what CortexOldestMessageTooOld reads);
                                  null likewise
          paused                  the reason an operator gave POST /admin/pause (phone numbers masked) while the
                                  queue is paused: senders lease nothing until POST /admin/resume; null when not
        """;

    public static Command Create(CliConsole console, GlobalOptions global, Dictionary<Command, string> epilogues)
    {
        var json = new Option<bool>("--json") { Description = "Print a machine-readable JSON object" };
        var command = new Command("stats", "Queue depth by state, live consumers, the age of the oldest ready message and an operator's pause") { json };
        epilogues[command] = Help;
        command.SetAction((parse, ct) => CliHost.RunAsync(
            global.Context(console, parse),
            Needs.Redis,
            async (services, _) =>
            {
                var queue = services.GetRequiredService<IMessageQueue>();
                var stats = await queue.GetStatsAsync();
                var ready = await queue.GetOldestReadyAsync();
                var oldest = ready?.EnqueuedAt;
                var age = ready is { } r ? services.GetRequiredService<TimeProvider>().GetUtcNow() - r.WaitingSince : (TimeSpan?)null;
                var paused = Terminal.MaskPhones(await PausedAsync(queue));
                if (parse.GetValue(json))
                {
                    WriteJson(console, queue.Keys.Name, stats, oldest, age, paused);
                }
                else
                {
                    await WriteTableAsync(console, queue.Keys.Name, stats, age, paused);
                }

                return ExitCodes.Success;
            },
            ct));
        return command;
    }

    // The senders read the same key every maintenance tick: with it set, consumers stay live and lease nothing, which the
    // counts alone show only as a backlog nobody takes. A key written with another command is named, as the stats script
    // names the others (Redis's own WRONGTYPE text names no key).
    private static async Task<string?> PausedAsync(IMessageQueue queue)
    {
        try
        {
            return await queue.GetPausedAsync();
        }
        catch (RedisServerException ex) when (QueueScripts.IsMistypedKey(ex))
        {
            throw new CliException(
                ExitCodes.Partial,
                $"Redis holds a queue key of the wrong type: WRONGTYPE {queue.Keys.Paused} is not a string (the operator's pause). Something other than Cortex wrote it; rename it aside as a Redis admin user, not as Cortex's (docs/operations.md, CortexQueueMetricsAbsent)");
        }
    }

    private static void WriteJson(CliConsole console, string name, QueueStats stats, DateTimeOffset? oldest, TimeSpan? age, string? paused) =>
        Terminal.WriteJson(console, w =>
        {
            w.WriteStartObject();
            w.WriteString("queue", name);
            w.WriteStartObject("ready");
            w.WriteNumber("high", stats.ReadyHigh);
            w.WriteNumber("normal", stats.ReadyNormal);
            w.WriteNumber("low", stats.ReadyLow);
            w.WriteNumber("total", stats.Ready);
            w.WriteEndObject();
            w.WriteNumber("delayed", stats.Delayed);
            w.WriteNumber("leased", stats.Leased);
            w.WriteNumber("dead", stats.Dead);
            w.WriteNumber("pending", stats.Pending);
            w.WriteNumber("consumers", stats.Consumers);
            w.WriteTime("oldestReadyEnqueuedAt", oldest);
            if (age is { } a)
            {
                w.WriteNumber("oldestReadyAgeSeconds", Math.Round(Math.Max(0, a.TotalSeconds), 3));
            }
            else
            {
                w.WriteNull("oldestReadyAgeSeconds");
            }

            if (paused is not null)
            {
                w.WriteString("paused", paused);
            }
            else
            {
                w.WriteNull("paused");
            }

            w.WriteEndObject();
        });

    private static async Task WriteTableAsync(CliConsole console, string name, QueueStats stats, TimeSpan? age, string? paused)
    {
        var table = Terminal.Table("State", "Messages");
        table.Columns[1].RightAligned();
        table.Row("ready: high", N(stats.ReadyHigh));
        table.Row("ready: normal", N(stats.ReadyNormal));
        table.Row("ready: low", N(stats.ReadyLow));
        table.Row("delayed", N(stats.Delayed));
        table.Row("leased (in flight)", N(stats.Leased));
        table.Row("dead", N(stats.Dead));
        table.Row("consumers (live)", N(stats.Consumers));
        table.Row("oldest ready", age is { } a ? Terminal.Age(a) : "–");
        table.Row("paused by an operator", paused is null ? "no" : "yes");
        table.Title = new TableTitle(Markup.Escape($"queue '{name}'"));
        Terminal.Out(console).Write(table);
        if (paused is not null)
        {
            // The reason goes under the table, not in a cell: up to 200 characters would widen every row. The admin endpoint
            // refuses control characters, but a key set with redis-cli holds what it was given.
            await console.Out.WriteLineAsync($"paused by an operator: {Terminal.Printable(paused)}; senders lease nothing until POST /admin/resume");
        }
    }

    private static string N(long value) => value.ToString("N0", System.Globalization.CultureInfo.InvariantCulture);
}
