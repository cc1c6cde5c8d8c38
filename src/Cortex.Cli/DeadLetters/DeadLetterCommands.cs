using System.CommandLine;
using System.CommandLine.Parsing;
using System.Text.Json;
using Cortex.Cli.Hosting;
using Cortex.Cli.Output;
using Cortex.Shared.Contract;
using Cortex.Shared.Queue;
using Microsoft.Extensions.DependencyInjection;

namespace Cortex.Cli.DeadLetters;

/// <summary>cortex dlq list | show | requeue | purge: read the dead-letter list and act on its entries.</summary>
internal static class DeadLetterCommands
{
    private const string ListHelp = """
        Newest first. --json prints an array of objects: index (0 = newest), deadAt, reason, kind, attempts,
        deliveries, messageId, to (masked), detail, lastError. Reasons: invalid_envelope, expired,
        permanent_failure, retries_exhausted, poison, and unreadable for an entry that cannot be read (--reason
        takes only these).
        """;

    private const string RequeueHelp = """
        Each entry moves atomically: it is removed from the dead-letter list by its exact bytes and, only then, its
        original payload is pushed (LPUSH, as a producer would) to the ready list of the payload's priority. An entry
        someone else requeued or purged meanwhile is skipped. The message starts over: its attempt count is set back
        to 0, so one that exhausted its retries gets the whole retry schedule again; the rest of the payload is kept
        (one that is not a valid envelope byte for byte). The sender's send claim left by the failed attempt does not
        stop it; only an id already sent within the idempotency window is skipped (with a warning).
        Invalid envelopes and messages whose expiresAt has passed are requeued too, with a warning: the sender
        dead-letters them again.
        """;

    /// <summary>How many matches a dry run lists: the newest. The count covers them all.</summary>
    private const int DryRunShown = 50;

    private const string PurgeHelp = """
        Asks for confirmation on a terminal; elsewhere --yes is required (exit 2 without it).
        """;

    public static Command Create(CliConsole console, GlobalOptions global, Dictionary<Command, string> epilogues)
    {
        var dlq = new Command("dlq", "Inspect, requeue and purge dead letters");
        dlq.Add(List(console, global, epilogues));
        dlq.Add(Show(console, global));
        dlq.Add(Requeue(console, global, epilogues));
        dlq.Add(Purge(console, global, epilogues));
        return dlq;
    }

    private static Command List(CliConsole console, GlobalOptions global, Dictionary<Command, string> epilogues)
    {
        var filters = new Filters();
        var limit = new Option<int>("--limit") { Description = "Show at most this many", DefaultValueFactory = _ => 50 };
        var json = new Option<bool>("--json") { Description = "Print a JSON array" };
        var command = new Command("list", "List dead letters, newest first, with reason, kind, attempts, message id and masked phone");
        filters.AddTo(command);
        command.Add(limit);
        command.Add(json);
        epilogues[command] = ListHelp;
        command.SetAction((parse, ct) =>
        {
            var matcher = filters.Matcher(parse);
            var max = parse.GetValue(limit);
            if (max < 1)
            {
                throw CliException.Usage($"--limit must be at least 1 (was {max})");
            }

            return CliHost.RunAsync(
                global.Context(console, parse),
                Needs.Redis,
                async (services, token) =>
                {
                    var admin = services.GetRequiredService<DeadLetterAdmin>();
                    var match = matcher(services.GetRequiredService<TimeProvider>());
                    var rows = new List<DeadLetterRow>();
                    await foreach (var record in admin.ReadNewestFirstAsync(cancellationToken: token))
                    {
                        if (match(record))
                        {
                            rows.Add(DeadLetterView.From(record).Row());
                            if (rows.Count == max)
                            {
                                break;
                            }
                        }
                    }

                    if (parse.GetValue(json))
                    {
                        Terminal.WriteJson(console, w =>
                        {
                            w.WriteStartArray();
                            foreach (var row in rows)
                            {
                                WriteJson(w, row);
                            }

                            w.WriteEndArray();
                        });
                    }
                    else if (rows.Count == 0)
                    {
                        await console.Out.WriteLineAsync($"no dead letters{(filters.Any(parse) ? " match" : string.Empty)} (total {await admin.CountAsync()})");
                    }
                    else
                    {
                        Terminal.Out(console).Write(Table(rows));
                        await console.Out.WriteLineAsync($"{rows.Count} shown{(rows.Count == max ? $" (--limit {max})" : string.Empty)}; {await admin.CountAsync()} in the dead-letter list");
                    }

                    return ExitCodes.Success;
                },
                ct);
        });
        return command;
    }

    private static Command Show(CliConsole console, GlobalOptions global)
    {
        var id = new Argument<string>("message-id") { Description = "The envelope id of the dead letter" };
        var reveal = new Option<bool>("--reveal") { Description = "Show the full phone number (personal data: LGPD)" };
        var command = new Command("show", "Show every dead letter of one message id in full, payload pretty-printed (phone masked unless --reveal)") { id, reveal };
        command.SetAction((parse, ct) => CliHost.RunAsync(
            global.Context(console, parse),
            Needs.Redis,
            async (services, token) =>
            {
                var messageId = NotAnOption(parse, parse.GetRequiredValue(id));
                var admin = services.GetRequiredService<DeadLetterAdmin>();
                var found = 0;
                await foreach (var record in admin.ReadNewestFirstAsync(cancellationToken: token))
                {
                    if (record.Entry?.MessageId == messageId)
                    {
                        if (found++ > 0)
                        {
                            await console.Out.WriteLineAsync();
                        }

                        await WriteFullAsync(console, DeadLetterView.From(record), parse.GetValue(reveal));
                    }
                }

                if (found == 0)
                {
                    await console.Error.WriteLineAsync($"no dead letter has message id '{messageId}'");
                    return ExitCodes.Partial;
                }

                return ExitCodes.Success;
            },
            ct));
        return command;
    }

    private static Command Requeue(CliConsole console, GlobalOptions global, Dictionary<Command, string> epilogues)
    {
        var selection = new Selection();
        var dryRun = new Option<bool>("--dry-run") { Description = "Show what would be requeued; change nothing" };
        var command = new Command("requeue", "Move dead letters back to the ready list of their priority: one message id, --all, or those matching filters");
        selection.AddTo(command);
        command.Add(dryRun);
        epilogues[command] = RequeueHelp;
        command.SetAction((parse, ct) =>
        {
            var matcher = selection.Matcher(parse);
            return CliHost.RunAsync(
                global.Context(console, parse),
                Needs.Redis,
                async (services, token) =>
                {
                    var admin = services.GetRequiredService<DeadLetterAdmin>();
                    var queue = services.GetRequiredService<IMessageQueue>();
                    var dry = parse.GetValue(dryRun);
                    var time = services.GetRequiredService<TimeProvider>();
                    var match = matcher(time);
                    var summary = new RequeueSummary(time.GetUtcNow(), dry ? DryRunShown : 0);

                    // Page by page: each page is checked and moved before the next is read (DeadLetterAdmin.PageBytes).
                    int matched, requeued;
                    try
                    {
                        (matched, requeued) = await admin.ActOldestFirstAsync(
                            match,
                            async (records, pageToken) =>
                            {
                                var views = records.Select(DeadLetterView.From).ToList();
                                await summary.CheckAsync(queue, views);
                                var moved = dry ? new bool[records.Count] : await admin.RequeueAsync(records, pageToken);
                                summary.Moved(views, moved);
                                return moved;
                            },
                            cancellationToken: token);
                    }
                    catch (OperationCanceledException) when (!dry)
                    {
                        // The pages before went back to ready, oldest first; the rest are still dead letters.
                        await console.Error.WriteLineAsync($"requeued {summary.Requeued()} before it was interrupted; the rest are still in the dead-letter list, and running it again requeues them");
                        throw;
                    }

                    if (matched == 0)
                    {
                        return await NothingMatchedAsync(console, selection, parse, "requeue");
                    }

                    await summary.WarnAsync(console);
                    if (dry)
                    {
                        var newest = summary.Newest();
                        Terminal.Out(console).Write(Table(newest));
                        if (matched > newest.Count)
                        {
                            await console.Out.WriteLineAsync($"{newest.Count} newest of {matched} shown");
                        }

                        await console.Out.WriteLineAsync($"would requeue {matched - summary.NoPayload} (dry run: nothing changed)");
                        return ExitCodes.Success;
                    }

                    await console.Out.WriteLineAsync(
                        $"requeued: {requeued} (high {summary.Requeued(Priority.High)}, normal {summary.Requeued(Priority.Normal)}, low {summary.Requeued(Priority.Low)})");
                    var gone = matched - requeued - summary.NoPayload;
                    if (gone > 0)
                    {
                        await console.Error.WriteLineAsync($"{gone} entr{(gone == 1 ? "y was" : "ies were")} no longer in the dead-letter list (requeued or purged meanwhile): skipped");
                    }

                    if (summary.NoPayload > 0)
                    {
                        await console.Error.WriteLineAsync($"{summary.NoPayload} entr{(summary.NoPayload == 1 ? "y has" : "ies have")} no payload to requeue (unreadable entry): left in place");
                    }

                    return requeued == matched ? ExitCodes.Success : ExitCodes.Partial;
                },
                ct);
        });
        return command;
    }

    private static Command Purge(CliConsole console, GlobalOptions global, Dictionary<Command, string> epilogues)
    {
        var selection = new Selection();
        var yes = new Option<bool>("--yes") { Description = "Do not ask for confirmation (required when stdin is not a terminal)" };
        var command = new Command("purge", "Delete dead letters for good: one message id, --all, or those matching filters");
        selection.AddTo(command);
        command.Add(yes);
        epilogues[command] = PurgeHelp;
        command.SetAction((parse, ct) =>
        {
            var matcher = selection.Matcher(parse);
            return CliHost.RunAsync(
                global.Context(console, parse),
                Needs.Redis,
                async (services, token) =>
                {
                    var admin = services.GetRequiredService<DeadLetterAdmin>();
                    var match = matcher(services.GetRequiredService<TimeProvider>());
                    int? confirmed = null;
                    if (!parse.GetValue(yes))
                    {
                        // Counted first, holding nothing; the purge then removes at most the count asked about, oldest first.
                        var count = await admin.CountMatchingAsync(match, token);
                        if (count == 0)
                        {
                            return await NothingMatchedAsync(console, selection, parse, "purge");
                        }

                        if (!console.IsInputTerminal)
                        {
                            throw CliException.Usage($"refusing to purge {count} dead letter(s) without --yes: stdin is not a terminal, so nobody can confirm");
                        }

                        await console.Error.WriteAsync($"Purge {count} dead letter(s) for good? This cannot be undone. [y/N] ");
                        var answer = (await console.In.ReadLineAsync(token))?.Trim();
                        if (answer is not ("y" or "Y" or "yes" or "YES" or "Yes"))
                        {
                            await console.Error.WriteLineAsync("aborted: nothing purged");
                            return ExitCodes.Partial;
                        }

                        confirmed = count;
                    }

                    var purged = 0;
                    int matched, removed;
                    try
                    {
                        (matched, removed) = await admin.ActOldestFirstAsync(
                            match,
                            async (records, pageToken) =>
                            {
                                var done = await admin.PurgeAsync(records, pageToken);
                                purged += done.Count(d => d);
                                return done;
                            },
                            limit: confirmed ?? int.MaxValue,
                            cancellationToken: token);
                    }
                    catch (OperationCanceledException)
                    {
                        await console.Error.WriteLineAsync($"purged {purged} before it was interrupted; the rest are still in the dead-letter list");
                        throw;
                    }

                    if (matched == 0 && confirmed is null)
                    {
                        return await NothingMatchedAsync(console, selection, parse, "purge");
                    }

                    await console.Out.WriteLineAsync($"purged: {removed}");
                    var gone = (confirmed ?? matched) - removed;
                    if (gone > 0)
                    {
                        await console.Error.WriteLineAsync($"{gone} were no longer in the dead-letter list (requeued or purged meanwhile)");
                    }

                    return ExitCodes.Success;
                },
                ct);
        });
        return command;
    }

    // The parser takes an option it does not know (--dryrun, purge's --dry-run) for the message id: that read as "no
    // dead letter has message id '--dryrun'" (exit 1), or "say which dead letters" beside --all. An id that does start
    // with '-' is given after "--", as with any command.
    private static string? NotAnOption(ParseResult parse, string? id)
    {
        if (id is not null && id.StartsWith('-') && !parse.Tokens.Any(t => t.Type == TokenType.DoubleDash))
        {
            var verb = parse.CommandResult.Command.Name;
            throw CliException.Usage($"unknown option '{id}' (see 'cortex dlq {verb} --help'); a message id that starts with '-' goes after --: cortex dlq {verb} -- {id}");
        }

        return id;
    }

    private static async Task<int> NothingMatchedAsync(CliConsole console, Selection selection, ParseResult parse, string verb)
    {
        if (selection.MessageId(parse) is { } id)
        {
            await console.Error.WriteLineAsync($"no dead letter has message id '{id}': nothing to {verb}");
            return ExitCodes.Partial;
        }

        await console.Out.WriteLineAsync($"no dead letters match: nothing to {verb}");
        return ExitCodes.Success;
    }

    /// <summary>
    /// What a requeue tells the operator, summed page by page: which matches the sender will not simply send (invalid,
    /// expired, or an id it already sent), what moved to which list, and for a dry run the newest matches to show.
    /// </summary>
    private sealed class RequeueSummary(DateTimeOffset now, int show)
    {
        private readonly Queue<DeadLetterRow> _newest = new();
        private readonly int[] _requeued = new int[3];
        private int _invalid;
        private int _expired;
        private readonly HashSet<string> _alreadySent = new(StringComparer.Ordinal);

        /// <summary>Matches without a payload to push back (unreadable entries): left in place.</summary>
        public int NoPayload { get; private set; }

        /// <summary>The newest matches seen (at most the number to show), newest first.</summary>
        public List<DeadLetterRow> Newest() => [.. _newest.Reverse()];

        public int Requeued(Priority priority) => _requeued[(int)priority];

        public int Requeued() => _requeued.Sum();

        /// <summary>Counts a page's warnings, before it moves: an id is checked against the sent markers while it is still dead.</summary>
        public async Task CheckAsync(IMessageQueue queue, List<DeadLetterView> views)
        {
            _invalid += views.Count(v => v.Envelope is null && v.Record.HasPayload);
            _expired += views.Count(v => v.Envelope?.ExpiresAt is { } at && at <= now);
            NoPayload += views.Count(v => !v.Record.HasPayload);
            var ids = views.Select(v => v.Envelope?.Id).OfType<string>().Distinct(StringComparer.Ordinal).ToList();
            if (ids.Count > 0)
            {
                var sent = await queue.AreSentAsync(ids);
                _alreadySent.UnionWith(ids.Where((_, i) => sent[i]));
            }

            foreach (var view in views.TakeLast(show))
            {
                _newest.Enqueue(view.Row());
                if (_newest.Count > show)
                {
                    _newest.Dequeue();
                }
            }
        }

        public void Moved(List<DeadLetterView> views, bool[] moved)
        {
            for (var i = 0; i < views.Count; i++)
            {
                if (moved[i])
                {
                    _requeued[(int)DeadLetterAdmin.PriorityOf(views[i].Record.Payload())]++;
                }
            }
        }

        public async Task WarnAsync(CliConsole console)
        {
            if (_invalid > 0)
            {
                await console.Error.WriteLineAsync($"warning: {_invalid} payload(s) are not valid envelopes: the sender will dead-letter them again as invalid_envelope (unless it now accepts them, e.g. after an upgrade)");
            }

            if (_expired > 0)
            {
                await console.Error.WriteLineAsync($"warning: {_expired} message(s) are past their expiresAt: the sender will dead-letter them again as expired");
            }

            if (_alreadySent.Count > 0)
            {
                await console.Error.WriteLineAsync($"warning: {_alreadySent.Count} message id(s) were already sent within the idempotency window: the sender will acknowledge them without sending");
            }
        }
    }

    private static Spectre.Console.Table Table(List<DeadLetterRow> rows)
    {
        var table = Terminal.Table("#", "Dead at", "Reason", "Kind", "Attempts", "Message id", "To", "Detail").NoWrap(0, 5, 6);
        foreach (var r in rows)
        {
            table.Row(
                r.Index.ToString(System.Globalization.CultureInfo.InvariantCulture),
                Terminal.Time(r.DeadAt),
                r.Reason,
                r.Kind ?? "–",
                r.Attempts.ToString(System.Globalization.CultureInfo.InvariantCulture),
                r.MessageId ?? "–",
                r.MaskedTo ?? "–",
                r.Detail);
        }

        return table;
    }

    private static void WriteJson(Utf8JsonWriter w, DeadLetterRow r)
    {
        w.WriteStartObject();
        w.WriteNumber("index", r.Index);
        w.WriteTime("deadAt", r.DeadAt);
        w.WriteString("reason", r.Reason);
        w.WriteString("kind", r.Kind);
        w.WriteNumber("attempts", r.Attempts);
        w.WriteNumber("deliveries", r.Deliveries);
        w.WriteString("messageId", r.MessageId);
        w.WriteString("to", r.MaskedTo);
        w.WriteString("detail", r.Detail);
        w.WriteString("lastError", r.LastError);
        w.WriteEndObject();
    }

    private static async Task WriteFullAsync(CliConsole console, DeadLetterView v, bool reveal)
    {
        var e = v.Entry;
        var lines = new (string Name, string? Value)[]
        {
            ("message id", e?.MessageId),
            ("reason", v.Reason),
            ("detail", reveal ? e?.Detail : v.Detail),
            ("kind", e?.Kind),
            ("to", reveal ? v.To : v.To is null ? null : v.MaskedTo),
            ("attempts", e?.Attempts.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            ("deliveries", e?.Deliveries.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            ("last error", reveal ? e?.LastError : Terminal.MaskPhones(e?.LastError)),
            ("dead at", e is null ? null : e.DeadAt.ToString("O", System.Globalization.CultureInfo.InvariantCulture)),
            ("list index", v.Record.Index.ToString(System.Globalization.CultureInfo.InvariantCulture) + " (0 = newest)"),
        };
        // What a producer pushed and a gateway answered, shown with its control characters escaped: an escape sequence in
        // a payload would otherwise drive the operator's terminal (its title, its clipboard, a cleared screen).
        foreach (var (name, value) in lines)
        {
            await console.Out.WriteLineAsync($"{name,-11} {Terminal.Printable(value) ?? "–"}");
        }

        await console.Out.WriteLineAsync("payload:");
        await console.Out.WriteLineAsync(ControlCharacters.Escape(v.PayloadText(reveal), keepLineBreaks: true));
    }

    /// <summary>--reason, --kind, --older-than: every given filter must match.</summary>
    private sealed class Filters
    {
        public Option<string?> Reason { get; } = Reasons();

        public Option<string?> Kind { get; } = new("--kind") { Description = "Only this message kind" };

        public Option<string?> OlderThan { get; } = new("--older-than") { Description = "Only dead for longer than this: 30m, 1h, 2d", HelpName = "age" };

        public void AddTo(Command command)
        {
            command.Add(Reason);
            command.Add(Kind);
            command.Add(OlderThan);
        }

        // A misspelt reason matched nothing and said "no dead letters match" with exit 0: the operator took the list for empty.
        private static Option<string?> Reasons()
        {
            var reason = new Option<string?>("--reason") { Description = "Only this reason (invalid_envelope, expired, permanent_failure, retries_exhausted, poison, or unreadable for an entry that cannot be read)" };
            reason.AcceptOnlyFromAmong(
                DeadLetterReasons.InvalidEnvelope, DeadLetterReasons.Expired, DeadLetterReasons.Permanent, DeadLetterReasons.RetriesExhausted, DeadLetterReasons.Poison, DeadLetterView.Unreadable);
            return reason;
        }

        public bool Any(ParseResult parse) =>
            parse.GetValue(Reason) is not null || parse.GetValue(Kind) is not null || parse.GetValue(OlderThan) is not null;

        /// <summary>Checks the filters now (a usage error before any connection); the matcher dates --older-than by the clock it is given.</summary>
        public Func<TimeProvider, Func<DeadLetterRecord, bool>> Matcher(ParseResult parse)
        {
            var reason = parse.GetValue(Reason);
            var kind = parse.GetValue(Kind);
            var age = Input.Duration(parse.GetValue(OlderThan), "--older-than");
            return time => Match(reason, kind, age is { } a ? time.GetUtcNow() - a : null);
        }

        private static Func<DeadLetterRecord, bool> Match(string? reason, string? kind, DateTimeOffset? cutoff) =>
            r =>
                (reason is null || string.Equals(r.Entry?.Reason ?? DeadLetterView.Unreadable, reason, StringComparison.Ordinal))
                && (kind is null || string.Equals(r.Entry?.Kind, kind, StringComparison.Ordinal))
                && (cutoff is null || (r.Entry is { } e && e.DeadAt <= cutoff));
    }

    /// <summary>What requeue and purge act on: exactly one of a message id, --all, or filters.</summary>
    private sealed class Selection
    {
        private readonly Filters _filters = new();

        public Argument<string?> Id { get; } = new("message-id") { Description = "Every dead letter of this message id", Arity = ArgumentArity.ZeroOrOne };

        public Option<bool> All { get; } = new("--all") { Description = "Every dead letter" };

        public void AddTo(Command command)
        {
            command.Add(Id);
            command.Add(All);
            _filters.AddTo(command);
        }

        public string? MessageId(ParseResult parse) => parse.GetValue(Id);

        public Func<TimeProvider, Func<DeadLetterRecord, bool>> Matcher(ParseResult parse)
        {
            var id = NotAnOption(parse, parse.GetValue(Id));
            var all = parse.GetValue(All);
            var filtered = _filters.Any(parse);
            if ((id is not null ? 1 : 0) + (all ? 1 : 0) + (filtered ? 1 : 0) != 1)
            {
                throw CliException.Usage("say which dead letters: a message id, --all, or filters (--reason, --kind, --older-than), and only one of these");
            }

            return id is not null ? _ => r => string.Equals(r.Entry?.MessageId, id, StringComparison.Ordinal)
                : all ? _ => _ => true
                : _filters.Matcher(parse);
        }
    }
}
