using System.Diagnostics;
using Cortex.Cli.Tests.Infrastructure;
using Cortex.Shared.Contract;
using Cortex.Testing;

namespace Cortex.Cli.Tests.Files;

/// <summary>
/// Issue #7, bad input, CLI files, end to end: generated files through 'cortex enqueue --file' and 'cortex campaign create
/// --recipients' against real redis-server and PostgreSQL, in process and as the real cortex process. After every run the
/// servers are read back: a refused file wrote nothing, a stopped one exactly the lines before the bad line.
/// </summary>
[Collection(DatabaseCollection.Name)]
public sealed class FileCommandsFuzzTests(CliFixture fixture) : IDisposable
{
    /// <summary>Cases per kind run in process: every category, about 4 times each.</summary>
    public const int CasesPerKind = 4 * 22;

    /// <summary>Cases per kind run as the real cortex process: every category once.</summary>
    public const int ProcessCasesPerKind = 22;

    private readonly string _dir = Directory.CreateTempSubdirectory("cortex-fuzz-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData(InputKind.Recipients)]
    [InlineData(InputKind.EnvelopeCsv)]
    [InlineData(InputKind.EnvelopeJsonl)]
    public async Task Commands_GeneratedFiles_WriteExactlyWhatTheContractAllows(InputKind kind)
    {
        var database = await fixture.DatabaseAsync();
        var failures = new List<string>();
        foreach (var input in BadInputFiles.Generate(kind, CasesPerKind, firstSeed: 500_000 + (100_000 * (int)kind)))
        {
            var stop = input.Seed % 2 == 0;
            var result = await RunAsync(input, stop, args => RunInProcessAsync(database, args));
            if (await CheckAsync(database, input, stop, result) is { } failure)
            {
                failures.Add($"{input} ({(stop ? "stop" : "skip")}): {failure}\n{result}");
            }
        }

        Assert.True(failures.Count == 0, $"{failures.Count} of {CasesPerKind} failed:\n" + string.Join('\n', failures.Take(10)));
    }

    [Theory]
    [InlineData(InputKind.Recipients)]
    [InlineData(InputKind.EnvelopeCsv)]
    [InlineData(InputKind.EnvelopeJsonl)]
    public async Task CortexProcess_GeneratedFiles_ExitAsDocumentedWithoutAStackTraceAndWriteNothingWhenRefused(InputKind kind)
    {
        var database = await fixture.DatabaseAsync();
        var failures = new List<string>();
        foreach (var input in BadInputFiles.Generate(kind, ProcessCasesPerKind, firstSeed: 900_000 + (100_000 * (int)kind)))
        {
            var result = await RunAsync(input, stop: true, args => RunProcessAsync(database, args));
            if (await CheckAsync(database, input, stop: true, result) is { } failure)
            {
                failures.Add($"{input}: {failure}\n{result}");
            }
        }

        Assert.True(failures.Count == 0, string.Join('\n', failures.Take(10)));
    }

    [Fact]
    public async Task CortexProcess_EnqueueFromAPipe_EnqueuesItInsteadOfCrashing()
    {
        // Regression: the progress code asked a pipe for its length (NotSupportedException, exit 134 with a stack trace)
        // after the messages had been enqueued.
        var cli = fixture.Queue();
        var fifo = Path.Combine(_dir, "pipe.jsonl");
        using (var mkfifo = Process.Start("mkfifo", [fifo]))
        {
            await mkfifo.WaitForExitAsync();
            Assert.Equal(0, mkfifo.ExitCode);
        }

        await using var process = ServiceProcess.Start("cortex.dll", new Dictionary<string, string>(), "enqueue", "--file", fifo, "--redis", cli.Redis!, "--queue", cli.QueueName!);
        await File.WriteAllTextAsync(fifo, "{\"version\":1,\"id\":\"p-1\",\"to\":\"+5511987654321\",\"text\":\"Oi\"}\n");

        var code = await process.WaitForExitAsync(TimeSpan.FromSeconds(60));

        Assert.True(code == 0, process.Output);
        Assert.Contains("enqueued: 1, skipped: 0", process.Output, StringComparison.Ordinal);
        Assert.Equal(["p-1"], (await fixture.Connection.ReadyAsync(cli.Keys, Priority.Normal)).Select(e => e.Id));
    }

    [Theory]
    [InlineData("/dev/zero", "is not a text file (a NUL byte at offset 0")]
    [InlineData("/dev/urandom", "")]
    [InlineData("sparse", "over the limit of 8 GiB")]
    public async Task CortexProcess_EnqueueFromADeviceOrAHugeFile_RefusesItAtOnceAndEnqueuesNothing(string path, string expected)
    {
        var cli = fixture.Queue();
        if (path == "sparse")
        {
            // 9 GiB that take no disk: refused on its size before a byte is read.
            path = Path.Combine(_dir, "huge.jsonl");
            await using (var sparse = File.Create(path))
            {
                sparse.SetLength(9L << 30);
            }
        }

        await using var process = ServiceProcess.Start("cortex.dll", new Dictionary<string, string>(), "enqueue", "--file", path, "--format", "jsonl", "--redis", cli.Redis!, "--queue", cli.QueueName!);
        var code = await process.WaitForExitAsync(TimeSpan.FromSeconds(60));

        Assert.True(code == ExitCodes.StoppedOnBadInput, process.Output);
        Assert.Contains(path + ": ", process.Output, StringComparison.Ordinal);
        Assert.Contains(expected, process.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", process.Output, StringComparison.Ordinal);
        Assert.Empty(await QueueKeysAsync(cli.QueueName!));
    }

    private async Task<CliResult> RunAsync(InputCase input, bool stop, Func<string[], Task<CliResult>> run)
    {
        var path = Path.Combine(_dir, input.FileName);
        await File.WriteAllBytesAsync(path, input.Bytes);
        try
        {
            return input.Kind == InputKind.Recipients
                ? await run(["campaign", "create", "--name", "fuzz " + input.Seed, "--template", "promo", "--run-at", "2099-11-27T10:00:00Z", "--recipients", path])
                : await run(["enqueue", "--file", path, "--on-error", stop ? "stop" : "skip", "--batch-size", "3", "--queue", "fz" + input.Seed]);
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static async Task<CliResult> RunInProcessAsync(CliDriver database, string[] args)
    {
        var cli = new CliDriver(database.Time) { Redis = database.Redis, Postgres = database.Postgres };
        return await cli.RunAsync(args);
    }

    private static async Task<CliResult> RunProcessAsync(CliDriver database, string[] args)
    {
        await using var process = ServiceProcess.Start("cortex.dll", new Dictionary<string, string>(), [.. args, "--redis", database.Redis!, "--postgres", database.Postgres!]);
        var code = await process.WaitForExitAsync(TimeSpan.FromSeconds(60));
        return new CliResult(code, string.Empty, process.Output);
    }

    private async Task<string?> CheckAsync(CliDriver database, InputCase input, bool stop, CliResult result)
    {
        var all = result.Out + result.Error;
        if (all.Contains("   at ", StringComparison.Ordinal) || all.Contains("Unhandled exception", StringComparison.Ordinal))
        {
            return "a stack trace";
        }

        var path = Path.Combine(_dir, input.FileName);
        if (input.Kind == InputKind.Recipients)
        {
            var name = "fuzz " + input.Seed;
            var phones = await database.ScalarAsync<string>(
                "SELECT string_agg(r.phone, ',' ORDER BY r.id) FROM cortex.campaign_recipients r JOIN cortex.campaigns c ON c.id = r.campaign_id WHERE c.name = @name", ("name", name));
            var campaigns = await database.ScalarAsync<long>("SELECT count(*) FROM cortex.campaigns WHERE name = @name", ("name", name));
            if (input.Valid)
            {
                return result.ExitCode == 0 && campaigns == 1 && phones == string.Join(',', input.Before) ? null : $"valid: {campaigns} campaign(s), recipients {phones}";
            }

            var prefix = input.FileLevel ? path + ": " : $"{path}: line {input.BadLine}: ";
            return result.ExitCode == ExitCodes.StoppedOnBadInput && campaigns == 0 && phones is null && result.Error.Contains(prefix, StringComparison.Ordinal)
                && (input.Expected is null || result.Error.Contains(input.Expected, StringComparison.Ordinal))
                ? null
                : $"expected exit 3 naming '{prefix}{input.Expected}' and no campaign; {campaigns} campaign(s)";
        }

        var keys = new Cortex.Shared.Queue.QueueKeys("fz" + input.Seed);
        // Every row once, in order: a duplicate-row file holds an id twice by design, and no batch is pushed twice (one was,
        // on a loaded machine, until the CLI closed its connection behind a PING: EnqueueCommandTests).
        var ids = (await fixture.Connection.ReadyAsync(keys, Priority.Normal)).Select(e => e.Id).ToList();

        if (input.Valid)
        {
            return result.ExitCode == 0 && ids.SequenceEqual(input.Before) ? null : $"valid: enqueued [{string.Join(",", ids)}]";
        }

        if (input.FileLevel)
        {
            return result.ExitCode == ExitCodes.StoppedOnBadInput && (await QueueKeysAsync("fz" + input.Seed)).Count == 0 && result.Error.Contains(path + ": ", StringComparison.Ordinal)
                ? null
                : $"expected exit 3 naming the file and nothing enqueued; enqueued [{string.Join(",", ids)}]";
        }

        var fatal = input.Kind == InputKind.EnvelopeCsv && input.Category == "truncated";
        var expectedIds = stop || fatal ? input.Before : [.. input.Before, .. input.After];
        var expectedCode = stop || fatal ? ExitCodes.StoppedOnBadInput : ExitCodes.Partial;
        var named = $"{path}: line {input.BadLine}: ";
        return result.ExitCode == expectedCode && ids.SequenceEqual(expectedIds) && result.Error.Contains(named, StringComparison.Ordinal)
            && (input.Expected is null || result.Error.Contains(input.Expected, StringComparison.Ordinal))
            ? null
            : $"expected exit {expectedCode} naming '{named}{input.Expected}', ids [{string.Join(",", expectedIds)}]; got [{string.Join(",", ids)}]";
    }

    private Task<List<string>> QueueKeysAsync(string queue) => fixture.Connection.MatchingAsync("{" + queue + "}*");
}
