using System.CommandLine;
using Cortex.Cli.Files;
using Cortex.Cli.Hosting;
using Cortex.Cli.Output;
using Cortex.Shared.Client;
using Cortex.Shared.Queue;
using Microsoft.Extensions.DependencyInjection;
using Spectre.Console;
using StackExchange.Redis;

namespace Cortex.Cli.Queue;

/// <summary>cortex enqueue: one message from options, or many from a JSON-lines or CSV file, through CortexClient.</summary>
internal static class EnqueueCommand
{
    private const string Help = """
        One message:  cortex enqueue --to +5511987654321 --text "Olá" [--id ID] [--kind K] ...
                      prints the message id (a new one unless --id is given; the same id is sent once).
        From a file:  cortex enqueue --file reminders.jsonl [--on-error skip|stop] [--batch-size 500]
                      lines are validated with the sender's rules and enqueued in batches. A rejected line is
                      reported on stderr as 'FILE: line N: field: reason'. skip (default) enqueues the others and
                      exits 1; stop enqueues what came before the bad line, nothing from it on, and exits 3.
                      The summary 'enqueued: N, skipped: M' goes to stdout. Rerunning a file is safe: ids
                      already sent within the idempotency window (24 h) are not sent again. An id repeated in
                      the file with a different message is a rejected line (only one would be sent); a repeat
                      of the same message is sent once.
                      The file must be UTF-8 text (a BOM is fine), lines up to 256 KiB, at most 8 GiB; a file that
                      is not (UTF-16, binary, too large), is empty or has a bad CSV header enqueues nothing, exit 3.
        """;

    public static Command Create(CliConsole console, GlobalOptions global, Dictionary<Command, string> epilogues)
    {
        var to = new Option<string?>("--to") { Description = "Recipient, E.164 (+5511987654321)", HelpName = "phone" };
        var text = new Option<string?>("--text") { Description = "Free text (inside WhatsApp's 24-hour window)" };
        var template = new Option<string?>("--template") { Description = "Approved WhatsApp template name", HelpName = "name" };
        var language = new Option<string?>("--language") { Description = "Template language (default pt_BR)", HelpName = "code" };
        var parameters = new Option<string[]>("--param") { Description = "Template parameter, in order; repeat for each", HelpName = "value" };
        var id = new Option<string?>("--id") { Description = "Message id, the idempotency key (default: a new cli:<guid>)" };
        var kind = new Option<string?>("--kind") { Description = "Message kind, e.g. billing_reminder" };
        var tenant = new Option<string?>("--tenant") { Description = "Tenant the message belongs to" };
        var priority = new Option<string?>("--priority") { Description = "Ready list: high, normal (default) or low" };
        priority.AcceptOnlyFromAmong("high", "normal", "low");
        var notBefore = new Option<string?>("--not-before") { Description = "Do not send before this ISO-8601 instant (with offset)", HelpName = "iso" };
        var expiresAt = new Option<string?>("--expires-at") { Description = "Dead-letter as expired if unsent by this ISO-8601 instant (one already passed is refused)", HelpName = "iso" };
        var quietHours = new Option<string?>("--quiet-hours") { Description = "Hours not to send in, e.g. \"21:00-08:00 America/Sao_Paulo\" (waits until they end)", HelpName = "window" };
        var traceId = new Option<string?>("--trace-id") { Description = "Trace id carried into the sender's logs" };
        var file = new Option<string?>("--file") { Description = "Enqueue every message of a JSON-lines or CSV file", HelpName = "path" };
        var format = new Option<string?>("--format") { Description = "File format: jsonl or csv (default: from the extension)" };
        format.AcceptOnlyFromAmong("jsonl", "csv");
        var batchSize = new Option<int>("--batch-size") { Description = "Messages per Redis round trip", DefaultValueFactory = _ => 500 };
        var onError = new Option<string>("--on-error") { Description = "On a bad line: skip it (exit 1 at the end) or stop (exit 3)", DefaultValueFactory = _ => "skip" };
        onError.AcceptOnlyFromAmong("skip", "stop");

        var command = new Command("enqueue", "Enqueue one message, or every message of a JSON-lines or CSV file")
        {
            to, text, template, language, parameters, id, kind, tenant, priority, notBefore, expiresAt, quietHours, traceId, file, format, batchSize, onError,
        };
        epilogues[command] = Help + Environment.NewLine + EnvelopeFile.CsvHelp;
        command.SetAction((parse, ct) =>
        {
            if (parse.GetValue(file) is { } path)
            {
                var single = new Option[] { to, text, template, language, parameters, id, kind, tenant, priority, notBefore, expiresAt, quietHours, traceId }
                    .Where(o => parse.GetResult(o) is not null).Select(o => o.Name).ToList();
                if (single.Count > 0)
                {
                    throw CliException.Usage($"--file takes every field from the file; drop {string.Join(", ", single)}");
                }

                var size = parse.GetValue(batchSize);
                if (size is < 1 or > 10_000)
                {
                    throw CliException.Usage($"--batch-size must be 1 to 10000 (was {size})");
                }

                var fileFormat = parse.GetValue(format) ?? FormatOf(path);
                var stop = parse.GetValue(onError) == "stop";
                return CliHost.RunAsync(global.Context(console, parse), Needs.Redis, (services, token) => EnqueueFileAsync(console, services, path, fileFormat, size, stop, token), ct);
            }

            var fields = new EnvelopeFields
            {
                Id = parse.GetValue(id) ?? "cli:" + Guid.NewGuid().ToString("N"),
                To = parse.GetValue(to) ?? throw CliException.Usage("--to is required (or --file)"),
                Text = parse.GetValue(text),
                Template = parse.GetValue(template),
                Language = parse.GetValue(language),
                Parameters = parse.GetValue(parameters) ?? [],
                Kind = parse.GetValue(kind),
                Tenant = parse.GetValue(tenant),
                Priority = parse.GetValue(priority),
                NotBefore = parse.GetValue(notBefore),
                ExpiresAt = parse.GetValue(expiresAt),
                QuietHours = parse.GetValue(quietHours),
                TraceId = parse.GetValue(traceId),
            };
            if ((fields.Text is null) == (fields.Template is null))
            {
                throw CliException.Usage("give exactly one of --text and --template");
            }

            if (fields.Template is null && fields.Language is not null)
            {
                throw CliException.Usage("--language goes with --template");
            }

            var (envelope, error) = fields.Build(FieldNames.Options);
            if (envelope is null)
            {
                throw CliException.Usage(error!);
            }

            return CliHost.RunAsync(
                global.Context(console, parse),
                Needs.Redis,
                async (services, token) =>
                {
                    // Checked again as pushed: the enqueuedAt stamp can take an envelope just under the size limit over it.
                    var client = services.GetRequiredService<CortexClient>();
                    if (EnvelopeFields.Expired(envelope, services.GetRequiredService<TimeProvider>().GetUtcNow(), FieldNames.Options.ExpiresAt) is { } expired)
                    {
                        throw CliException.Usage(expired);
                    }

                    var (message, refused) = client.Prepare(envelope);
                    if (message is not { } prepared)
                    {
                        throw CliException.Usage(FieldNames.Options.Rename(refused!).ToString());
                    }

                    try
                    {
                        await client.EnqueuePreparedAsync([prepared], token);
                    }
                    catch (Exception ex) when (ex is RedisConnectionException or RedisTimeoutException)
                    {
                        // The push may have reached Redis before the connection failed. Rerun under a new id (the default
                        // is a fresh one each run) and the customer could get both; under this id the sender sends it once.
                        await console.Error.WriteLineAsync($"The message may have been enqueued as {envelope.Id} before Redis failed: to try again, rerun with --id {envelope.Id}, and it is sent once either way.");
                        throw;
                    }

                    await console.Out.WriteLineAsync(envelope.Id);
                    return ExitCodes.Success;
                },
                ct);
        });
        return command;
    }

    private static string FormatOf(string path) => Path.GetExtension(path).ToLowerInvariant() switch
    {
        ".csv" => "csv",
        ".jsonl" or ".ndjson" or ".json" => "jsonl",
        _ => throw CliException.Usage($"cannot tell the format of '{path}' from its extension: add --format jsonl or --format csv"),
    };

    private static async Task<int> EnqueueFileAsync(CliConsole console, IServiceProvider services, string path, string format, int batchSize, bool stopOnError, CancellationToken cancellationToken)
    {
        // Opening checks what can be checked up front (size, encoding, binary): such a file enqueues nothing.
        await using var file = await InputFile.OpenAsync(path, InputLimits.MaxEnqueueFileBytes, cancellationToken);
        var client = services.GetRequiredService<CortexClient>();
        var run = new FileRun();
        var ids = new RepeatedIds();
        var time = services.GetRequiredService<TimeProvider>();
        var expiresAt = format == "csv" ? FieldNames.Csv.ExpiresAt : "expiresAt";
        var lines = format == "csv" ? EnvelopeFile.ReadCsvAsync(file, cancellationToken) : EnvelopeFile.ReadJsonLinesAsync(file, cancellationToken);

        async Task Run(Action<long> report, Func<string, Task> reject)
        {
            var batch = new List<QueueMessage>(batchSize);
            await foreach (var read in lines)
            {
                run.Lines++;

                // Valid as written can still be refused as it would be pushed (over the size limit once serialized): a line
                // error here, instead of a refused batch that takes the valid lines around it down with it.
                var (message, refused) = read.Envelope is { } envelope ? client.Prepare(envelope) : (null, null);
                var error = refused?.ToString()
                    ?? (message is null ? null : EnvelopeFields.Expired(read.Envelope!, time.GetUtcNow(), expiresAt) ?? ids.Add(read.Envelope!, read.Line));
                var line = error is null ? read : read with { Envelope = null, Error = error };
                if (error is null && message is { } pushed)
                {
                    batch.Add(pushed);
                    if (batch.Count == batchSize)
                    {
                        await client.EnqueuePreparedAsync(batch, cancellationToken);
                        run.Enqueued += batch.Count;
                        batch = new List<QueueMessage>(batchSize);
                        report(file.Position);
                    }

                    continue;
                }

                await reject($"{path}: line {line.Line}: {Terminal.MaskPhones(line.Error)}");
                run.Skipped++;
                if (stopOnError || line.Fatal)
                {
                    run.StoppedAt = line.Line;
                    break;
                }
            }

            // Everything before a bad line goes in, in stop mode too: nothing from the bad line on.
            if (batch.Count > 0)
            {
                await client.EnqueuePreparedAsync(batch, cancellationToken);
                run.Enqueued += batch.Count;
            }

            report(file.Position);
        }

        try
        {
            await RunWithProgressAsync();
        }
        catch (CliException) when (run.Enqueued > 0)
        {
            // The file passed its size limit part way (a pipe has no size to check up front).
            await console.Error.WriteLineAsync($"{run.Enqueued} message(s) were enqueued before it. Rerunning the file is safe: ids already sent are not sent again.");
            throw;
        }
        catch (Exception ex) when (ex is RedisConnectionException or RedisTimeoutException)
        {
            await console.Error.WriteLineAsync($"{run.Enqueued} message(s) were enqueued before Redis failed (a batch in flight may have been too). Rerunning the file is safe: ids already sent are not sent again.");
            throw;
        }
        catch (OperationCanceledException) when (run.Enqueued > 0)
        {
            await console.Error.WriteLineAsync($"{run.Enqueued} message(s) were enqueued before it was interrupted (a batch in flight may have been too). Rerunning the file is safe: ids already sent are not sent again.");
            throw;
        }
        catch (RedisServerException ex)
        {
            // A key of the wrong type, or Redis full, read-only or unable to persist: the batches before went in.
            var then = QueueScripts.IsMistypedKey(ex) ? "Once the key is moved aside" : "Once Redis takes writes again";
            await console.Error.WriteLineAsync($"{run.Enqueued} message(s) were enqueued before Redis refused a batch. {then}, rerunning the file is safe: ids already sent are not sent again.");
            throw;
        }

        async Task RunWithProgressAsync()
        {
            if (console.IsErrorTerminal)
            {
                // Rejected lines go through the same console as the bar, which prints them above it instead of through it.
                var terminal = Terminal.Error(console);
                await terminal.Progress()
                    .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
                    .StartAsync(async ctx =>
                    {
                        var task = ctx.AddTask(Markup.Escape(Path.GetFileName(path)), maxValue: Math.Max(1, file.Length ?? 1));
                        await Run(
                            position => task.Value = file.Length is null ? 0 : position,
                            text =>
                            {
                                terminal.Write(new Text(text + Environment.NewLine));
                                return Task.CompletedTask;
                            });
                    });
            }
            else
            {
                await Run(_ => { }, text => console.Error.WriteLineAsync(text));
            }
        }

        if (run.Lines == 0)
        {
            throw new CliException(ExitCodes.StoppedOnBadInput, $"{path}: no messages in the file (it is empty, blank or only a header); nothing was enqueued");
        }

        if (run.StoppedAt is { } stoppedAt)
        {
            await console.Error.WriteLineAsync(
                $"stopped at line {stoppedAt}: nothing from that line on was enqueued; {run.Enqueued} message(s) before it were. Fix the line and rerun the file: ids already sent are not sent again.");
            await console.Out.WriteLineAsync($"enqueued: {run.Enqueued}, skipped: {run.Skipped}, stopped at line: {stoppedAt}");
            return ExitCodes.StoppedOnBadInput;
        }

        await console.Out.WriteLineAsync($"enqueued: {run.Enqueued}, skipped: {run.Skipped}");
        return run.Skipped == 0 ? ExitCodes.Success : ExitCodes.Partial;
    }

    private sealed class FileRun
    {
        public int Enqueued { get; set; }

        public int Skipped { get; set; }

        public int? StoppedAt { get; set; }

        public long Lines { get; set; }
    }
}
