using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;
using Cortex.Cli.Campaigns;
using Cortex.Cli.Database;
using Cortex.Cli.DeadLetters;
using Cortex.Cli.Hosting;
using Cortex.Cli.Jobs;
using Cortex.Cli.Queue;
using Npgsql;
using StackExchange.Redis;

namespace Cortex.Cli;

/// <summary>The cortex operator command line: parses the arguments, runs one verb and returns its exit code.</summary>
public static class Cli
{
    private const string ConfigurationHelp = """
        Configuration: the services' own keys, from the environment (Cortex__Redis__Configuration,
        Cortex__Queue__Name, Cortex__Postgres__ConnectionString, ...), overridden by --redis, --queue and
        --postgres. stats, enqueue and dlq use Redis only; migrate, jobs and campaign use PostgreSQL only.
        Passwords belong in the environment (Cortex__Redis__Password, Cortex__Postgres__ConnectionString):
        on the command line they show in ps and in shell history, and cortex warns.
        Phone numbers are always masked (+55*******4321) except in 'dlq show --reveal'.
        """;

    /// <summary>Runs with plain writers (no terminal), reading configuration from the process environment.</summary>
    public static Task<int> RunAsync(string[] args, TextWriter output, TextWriter error) => RunAsync(args, CliConsole.Redirected(output, error));

    /// <summary>Runs one command line; <paramref name="cancellationToken"/> interrupts it as Ctrl+C does.</summary>
    public static async Task<int> RunAsync(string[] args, CliConsole console, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(console);
        var root = Build(console);
        var parse = root.Parse(args);
        if (parse.Action is ParseErrorAction)
        {
            foreach (var error in parse.Errors)
            {
                await console.Error.WriteLineAsync("error: " + error.Message);
            }

            await console.Error.WriteLineAsync($"See '{string.Join(' ', Path(parse.CommandResult.Command, root))} --help'.");
            return ExitCodes.Usage;
        }

        try
        {
            return await parse.InvokeAsync(new InvocationConfiguration
            {
                Output = console.Out,
                Error = console.Error,
                EnableDefaultExceptionHandler = false,

                // Ctrl+C is the host's (CortexHost cancels the verb's token); System.CommandLine must not race it.
                ProcessTerminationTimeout = null,
            }, cancellationToken);
        }
        catch (CliException ex)
        {
            await console.Error.WriteLineAsync(ex.Message);
            return ex.ExitCode;
        }
    }

    internal static RootCommand Build(CliConsole console)
    {
        var global = new GlobalOptions();
        var root = new RootCommand("cortex: operate a Cortex WhatsApp notification engine (queue, dead letters, scheduler jobs, campaigns).");
        global.AddTo(root);
        var epilogues = new Dictionary<Command, string> { [root] = ConfigurationHelp + Environment.NewLine + Environment.NewLine + ExitCodes.HelpText };
        root.Add(EnqueueCommand.Create(console, global, epilogues));
        root.Add(StatsCommand.Create(console, global, epilogues));
        root.Add(DeadLetterCommands.Create(console, global, epilogues));
        root.Add(MigrateCommand.Create(console, global));
        root.Add(JobsCommands.Create(console, global));
        root.Add(CampaignCommands.Create(console, global, epilogues));

        var help = root.Options.OfType<HelpOption>().Single();
        help.Action = new EpilogueHelpAction((HelpAction)help.Action!, epilogues);

        // The default prints the entry assembly's version: under a test host that is the host's, not cortex's.
        root.Options.OfType<VersionOption>().Single().Action = new CortexVersionAction();
        return root;
    }

    private static IEnumerable<string> Path(Command command, RootCommand root)
    {
        var names = new Stack<string>();
        for (Symbol? s = command; s is Command c && c != root; s = s.Parents.FirstOrDefault())
        {
            names.Push(c.Name);
        }

        return names.Prepend("cortex");
    }

    /// <summary>Prints this assembly's informational version (version+commit).</summary>
    private sealed class CortexVersionAction : SynchronousCommandLineAction
    {
        public override int Invoke(ParseResult parseResult)
        {
            var assembly = typeof(Cli).Assembly;
            var version = assembly.GetCustomAttributes(typeof(System.Reflection.AssemblyInformationalVersionAttribute), false)
                .OfType<System.Reflection.AssemblyInformationalVersionAttribute>().FirstOrDefault()?.InformationalVersion
                ?? assembly.GetName().Version?.ToString() ?? "unknown";
            parseResult.InvocationConfiguration.Output.WriteLine(version);
            return ExitCodes.Success;
        }
    }

    /// <summary>The default help, then the command's own notes (formats, exit codes).</summary>
    private sealed class EpilogueHelpAction(HelpAction inner, Dictionary<Command, string> epilogues) : SynchronousCommandLineAction
    {
        public override bool ClearsParseErrors => true;

        public override int Invoke(ParseResult parseResult)
        {
            var result = inner.Invoke(parseResult);
            if (epilogues.TryGetValue(parseResult.CommandResult.Command, out var text))
            {
                parseResult.InvocationConfiguration.Output.WriteLine(text);
                parseResult.InvocationConfiguration.Output.WriteLine();
            }

            return result;
        }
    }
}

/// <summary>--redis, --queue and --postgres: on every verb, over the configuration from the environment.</summary>
internal sealed class GlobalOptions
{
    public Option<string?> Redis { get; } = new("--redis")
    {
        Description = "Redis configuration string (host:port[,ssl=true]); overrides Cortex:Redis:Configuration. Give the password in the environment (Cortex__Redis__Password), not here: a command line shows in ps and in shell history",
        HelpName = "conn",
        Recursive = true,
    };

    public Option<string?> Queue { get; } = new("--queue")
    {
        Description = "Queue name; overrides Cortex:Queue:Name (default cortex)",
        HelpName = "name",
        Recursive = true,
    };

    public Option<string?> Postgres { get; } = new("--postgres")
    {
        Description = "Npgsql connection string; overrides Cortex:Postgres:ConnectionString. With a password, set Cortex__Postgres__ConnectionString in the environment instead: a command line shows in ps and in shell history",
        HelpName = "conn",
        Recursive = true,
    };

    public void AddTo(RootCommand root)
    {
        root.Add(Redis);
        root.Add(Queue);
        root.Add(Postgres);
    }

    public CliContext Context(CliConsole console, ParseResult parse)
    {
        var overrides = new Dictionary<string, string?>(StringComparer.Ordinal);
        if (parse.GetValue(Redis) is { } redis)
        {
            overrides["Cortex:Redis:Configuration"] = redis;
            if (HasRedisPassword(redis))
            {
                console.Error.WriteLine("warning: --redis holds a password, which anyone on this machine can read in the process list and which stays in your shell history; set Cortex__Redis__Password in the environment instead");
            }
        }

        if (parse.GetValue(Queue) is { } queue)
        {
            overrides["Cortex:Queue:Name"] = queue;
        }

        if (parse.GetValue(Postgres) is { } postgres)
        {
            overrides["Cortex:Postgres:ConnectionString"] = postgres;
            if (HasPostgresPassword(postgres))
            {
                console.Error.WriteLine("warning: --postgres holds a password, which anyone on this machine can read in the process list and which stays in your shell history; set Cortex__Postgres__ConnectionString in the environment instead");
            }
        }

        return new CliContext(console, overrides);
    }

    /// <summary>Whether a StackExchange.Redis configuration string has a password, read by the client's own parser.</summary>
    internal static bool HasRedisPassword(string configuration)
    {
        try
        {
            return !string.IsNullOrEmpty(ConfigurationOptions.Parse(configuration).Password);
        }
        catch (ArgumentException)
        {
            // Malformed: the configuration check stops the verb naming the key. Still a likely password on the line.
            return configuration.Contains("password", StringComparison.OrdinalIgnoreCase);
        }
    }

    /// <summary>Whether an Npgsql connection string has a password (under any of its names), read by Npgsql's own parser.</summary>
    internal static bool HasPostgresPassword(string connectionString)
    {
        try
        {
            return !string.IsNullOrEmpty(new NpgsqlConnectionStringBuilder(connectionString).Password);
        }
        catch (ArgumentException)
        {
            return connectionString.Contains("password", StringComparison.OrdinalIgnoreCase);
        }
    }
}
