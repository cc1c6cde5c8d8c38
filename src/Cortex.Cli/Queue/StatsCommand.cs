using System.CommandLine;
using Cortex.Cli.Hosting;
using Cortex.Cli.Output;
using Cortex.Shared.Queue;
using Microsoft.Extensions.DependencyInjection;
using Spectre.Console;

namespace Cortex.Cli.Queue;

/// <summary>cortex stats: how much is ready, delayed, leased and dead, who is consuming, and how old the oldest ready message is.</summary>
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
        """;

    public static Command Create(CliConsole console, GlobalOptions global, Dictionary<Command, string> epilogues)
    {
        var json = new Option<bool>("--json") { Description = "Print a machine-readable JSON object" };
        var command = new Command("stats", "Queue depth by state, live consumers and the age of the oldest ready message") { json };
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
                if (parse.GetValue(json))
                {
                    WriteJson(console, queue.Keys.Name, stats, oldest, age);
                }
                else
                {
                    WriteTable(console, queue.Keys.Name, stats, age);
                }

                return ExitCodes.Success;
            },
            ct));
        return command;
    }

    private static void WriteJson(CliConsole console, string name, QueueStats stats, DateTimeOffset? oldest, TimeSpan? age) =>
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

            w.WriteEndObject();
        });

    private static void WriteTable(CliConsole console, string name, QueueStats stats, TimeSpan? age)
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
        table.Title = new TableTitle(Markup.Escape($"queue '{name}'"));
        Terminal.Out(console).Write(table);
    }

    private static string N(long value) => value.ToString("N0", System.Globalization.CultureInfo.InvariantCulture);
}
