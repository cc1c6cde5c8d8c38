using Cortex.Shared.Queue;
using Cortex.Testing;
using Npgsql;

namespace Cortex.Cli.Tests.Infrastructure;

/// <summary>What one CLI run did: its exit code and everything it wrote to stdout and stderr.</summary>
public sealed record CliResult(int ExitCode, string Out, string Error)
{
    public override string ToString() => $"exit {ExitCode}\n--- stdout\n{Out}--- stderr\n{Error}";
}

/// <summary>
/// Runs the cortex entry point in process, as the shell would (same arguments), against real servers: --redis, --queue
/// and --postgres are appended unless <see cref="Environment"/> is used instead. The process environment is never read.
/// </summary>
public sealed class CliDriver(FakeTimeProvider time)
{
    public FakeTimeProvider Time { get; } = time;

    public string? Redis { get; init; }

    public string? QueueName { get; init; }

    public string? Postgres { get; init; }

    /// <summary>Date by Redis's clock read over <see cref="Time"/>, as the real CLI does; off so that tests drive the date.</summary>
    public bool DateByRedis { get; init; }

    /// <summary>Environment variables the CLI sees (Cortex__...); empty by default.</summary>
    public Dictionary<string, string> Environment { get; } = [];

    public QueueKeys Keys => new(QueueName ?? "cortex");

    public Task<CliResult> RunAsync(params string[] args) => RunCoreAsync(null, args, default);

    /// <summary>Runs until done or until <paramref name="interrupt"/> fires, as Ctrl+C would.</summary>
    public Task<CliResult> RunInterruptedAsync(CancellationToken interrupt, params string[] args) => RunCoreAsync(null, args, interrupt);

    /// <summary>Runs with <paramref name="input"/> typed on a terminal (stdin is a terminal).</summary>
    public Task<CliResult> RunTypingAsync(string input, params string[] args) => RunCoreAsync(new StringReader(input), args, default);

    /// <summary>As <see cref="RunTypingAsync(string, string[])"/>, with the terminal's input read from <paramref name="input"/>.</summary>
    public Task<CliResult> RunTypingAsync(TextReader input, params string[] args) => RunCoreAsync(input, args, default);

    private async Task<CliResult> RunCoreAsync(TextReader? input, string[] args, CancellationToken interrupt)
    {
        var all = new List<string>(args);
        if (Redis is not null)
        {
            all.AddRange(["--redis", Redis]);
        }

        if (QueueName is not null)
        {
            all.AddRange(["--queue", QueueName]);
        }

        if (Postgres is not null)
        {
            all.AddRange(["--postgres", Postgres]);
        }

        using var output = new StringWriter();
        using var error = new StringWriter();
        var console = new CliConsole
        {
            Out = output,
            Error = error,
            In = input ?? TextReader.Null,
            IsInputTerminal = input is not null,
            TimeProvider = Time,
            DateByRedis = DateByRedis,
            Environment = Environment,
        };
        var code = await Cli.RunAsync([.. all], console, interrupt).WaitAsync(TimeSpan.FromSeconds(60), CancellationToken.None);
        return new CliResult(code, output.ToString(), error.ToString());
    }

    /// <summary>Runs SQL against the test's database and returns the first column of the first row.</summary>
    public async Task<T?> ScalarAsync<T>(string sql, params (string Name, object Value)[] parameters)
    {
        await using var dataSource = NpgsqlDataSource.Create(Postgres!);
        await using var command = dataSource.CreateCommand(sql);
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }

        var value1 = await command.ExecuteScalarAsync();
        return value1 is null or DBNull ? default : (T)value1;
    }

    public async Task ExecuteAsync(string sql, params (string Name, object Value)[] parameters)
    {
        await using var dataSource = NpgsqlDataSource.Create(Postgres!);
        await using var command = dataSource.CreateCommand(sql);
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }

        await command.ExecuteNonQueryAsync();
    }
}
