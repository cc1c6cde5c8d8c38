using System.Globalization;
using System.Text.Json;
using Cortex.Cli.Tests.Infrastructure;
using Cortex.Shared.Contract;
using Cortex.Testing;
using StackExchange.Redis;

namespace Cortex.Cli.Tests.Queue;

[Collection(QueueCollection.Name)]
public sealed class EnqueueCommandTests(CliFixture fixture) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cortex-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Enqueue_OneMessage_LandsInItsReadyListStampedAndPrintsTheId()
    {
        var cli = fixture.Queue();

        var result = await cli.RunAsync("enqueue", "--to", "5511987654321", "--text", "Olá, Ana", "--id", "charge-1:due", "--priority", "high", "--kind", "billing_reminder", "--tenant", "isp", "--trace-id", "t-1");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal("charge-1:due" + Environment.NewLine, result.Out);
        var message = Assert.Single(await fixture.Connection.ReadyAsync(cli.Keys, Priority.High));
        Assert.Equal("charge-1:due", message.Id);
        Assert.Equal("+5511987654321", message.To);
        Assert.Equal("Olá, Ana", message.Text);
        Assert.Equal(("billing_reminder", "isp", "t-1"), (message.Kind, message.Tenant, message.TraceId));
        Assert.Equal(cli.Time.GetUtcNow(), message.EnqueuedAt);
        Assert.Equal(0, await fixture.Connection.LengthAsync(cli.Keys.ReadyNormal));
    }

    [Fact]
    public async Task Enqueue_OntoAReadyListOfTheWrongType_NamesTheKeyWithoutAStackTrace()
    {
        var cli = fixture.Queue();
        await fixture.Connection.GetDatabase().StringSetAsync(cli.Keys.ReadyNormal, "set by mistake");

        var result = await cli.RunAsync("enqueue", "--to", "+5511987654321", "--text", "Oi", "--id", "m1");

        Assert.True(result.ExitCode == ExitCodes.Partial, result.ToString());
        Assert.Contains($"holds a queue key of the wrong type: WRONGTYPE {cli.Keys.ReadyNormal} is a string, not a list; nothing was pushed", result.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.Error, StringComparison.Ordinal);
        Assert.Equal("", result.Out);
    }

    [Fact]
    public async Task EnqueueFile_AReadyListOfTheWrongTypeAfterTheFirstBatch_SaysHowManyWentIn()
    {
        var cli = fixture.Queue();
        await fixture.Connection.GetDatabase().StringSetAsync(cli.Keys.ReadyLow, "set by mistake");
        var lines = Enumerable.Range(1, 4).Select(i => Line("n" + i)).ToList();
        lines.Add(Line("l1").Replace("\"version\":1", "\"version\":1,\"priority\":\"low\"", StringComparison.Ordinal));
        var file = Write("mixed.jsonl", string.Join('\n', lines));

        var result = await cli.RunAsync("enqueue", "--file", file, "--batch-size", "2");

        Assert.True(result.ExitCode == ExitCodes.Partial, result.ToString());
        Assert.Contains("4 message(s) were enqueued before Redis refused a batch", result.Error, StringComparison.Ordinal);
        Assert.Contains($"WRONGTYPE {cli.Keys.ReadyLow} is a string, not a list; nothing was pushed", result.Error, StringComparison.Ordinal);
        Assert.Equal(["n1", "n2", "n3", "n4"], (await fixture.Connection.ReadyAsync(cli.Keys, Priority.Normal)).Select(m => m.Id));
    }

    [Fact]
    public async Task Enqueue_WithoutId_PrintsTheNewIdOfWhatItEnqueued()
    {
        var cli = fixture.Queue();

        var result = await cli.RunAsync("enqueue", "--to", "+5511987654321", "--text", "Oi");

        Assert.Equal(0, result.ExitCode);
        var message = Assert.Single(await fixture.Connection.ReadyAsync(cli.Keys, Priority.Normal));
        Assert.StartsWith("cli:", message.Id, StringComparison.Ordinal);
        Assert.Equal(message.Id + Environment.NewLine, result.Out);
    }

    [Fact]
    public async Task Enqueue_Template_CarriesNameLanguageAndParametersInOrder()
    {
        var cli = fixture.Queue();

        var result = await cli.RunAsync("enqueue", "--to", "+5511987654321", "--template", "bill_due_3d", "--param", "Ana", "--param", "R$ 99,90", "--id", "t-1", "--priority", "low");

        Assert.Equal(0, result.ExitCode);
        var message = Assert.Single(await fixture.Connection.ReadyAsync(cli.Keys, Priority.Low));
        Assert.Equal(new MessageTemplate("bill_due_3d", "pt_BR", ["Ana", "R$ 99,90"]).Name, message.Template!.Name);
        Assert.Equal("pt_BR", message.Template.Language);
        Assert.Equal(["Ana", "R$ 99,90"], message.Template.Parameters);
        Assert.Null(message.Text);
    }

    [Fact]
    public async Task Enqueue_NotBeforeAhead_WaitsInTheDelayedSetUntilThen()
    {
        var cli = fixture.Queue();
        var due = cli.Time.GetUtcNow().AddHours(2);

        var result = await cli.RunAsync("enqueue", "--to", "+5511987654321", "--text", "Manutenção", "--id", "n-1", "--not-before", due.ToString("O"), "--expires-at", due.AddHours(1).ToString("O"));

        Assert.Equal(0, result.ExitCode);
        var delayed = Assert.Single(await fixture.Connection.GetDatabase().SortedSetRangeByRankWithScoresAsync(cli.Keys.Delayed));
        Assert.Equal(due.ToUnixTimeMilliseconds(), (long)delayed.Score);
        Assert.Equal(0, await fixture.Connection.LengthAsync(cli.Keys.ReadyNormal));
    }

    [Fact]
    public async Task Enqueue_QuietHours_TravelInTheEnvelopeAsVersionTwo()
    {
        var cli = fixture.Queue();

        var result = await cli.RunAsync("enqueue", "--to", "+5511987654321", "--text", "Boa noite", "--id", "q-1", "--quiet-hours", "21:00-08:00 America/Sao_Paulo");

        Assert.True(result.ExitCode == 0, result.ToString());
        var raw = (string)(await fixture.Connection.GetDatabase().ListGetByIndexAsync(cli.Keys.ReadyNormal, 0))!;
        Assert.Contains("\"version\":2", raw, StringComparison.Ordinal);
        var sent = Assert.Single(await fixture.Connection.ReadyAsync(cli.Keys, Priority.Normal));
        Assert.Equal("21:00-08:00 America/Sao_Paulo", sent.QuietHours?.ToString());
    }

    [Theory]
    [InlineData("--to: must be an E.164 number", "enqueue", "--to", "011987", "--text", "x")]
    [InlineData("--quiet-hours: time zone 'Mars/Olympus_Mons' is not known", "enqueue", "--to", "+5511987654321", "--text", "x", "--quiet-hours", "21:00-08:00 Mars/Olympus_Mons")]
    [InlineData("--kind: must be 1 to 64 characters", "enqueue", "--to", "+5511987654321", "--text", "x", "--kind", "Billing Reminder")]
    [InlineData("--not-before: must be an ISO-8601 instant with an offset", "enqueue", "--to", "+5511987654321", "--text", "x", "--not-before", "2026-11-23T09:00:00")]
    [InlineData("give exactly one of --text and --template", "enqueue", "--to", "+5511987654321", "--text", "x", "--template", "promo")]
    [InlineData("--to is required", "enqueue", "--text", "x")]
    [InlineData("--file takes every field from the file; drop --to", "enqueue", "--file", "x.jsonl", "--to", "+5511987654321")]
    public async Task Enqueue_InvalidMessage_ExitsTwoNamingTheOptionAndEnqueuesNothing(string expected, params string[] args)
    {
        var cli = fixture.Queue();

        var result = await cli.RunAsync(args);

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains(expected, result.Error, StringComparison.Ordinal);
        Assert.False(await fixture.Connection.GetDatabase().KeyExistsAsync(cli.Keys.ReadyNormal));
    }

    [Fact]
    public async Task EnqueueFile_JsonLinesWithBadLinesSkipped_EnqueuesTheRestAndExitsOne()
    {
        var cli = fixture.Queue();
        var file = Write("batch.jsonl", JsonLines);

        var result = await cli.RunAsync("enqueue", "--file", file);

        Assert.True(result.ExitCode == 1, result.ToString());
        Assert.Equal("enqueued: 4, skipped: 2" + Environment.NewLine, result.Out);
        Assert.Contains("line 3: txt: unknown field (check its spelling; fields are camelCase)", result.Error, StringComparison.Ordinal);
        Assert.Matches("line 6: (to: )?invalid JSON", result.Error);
        Assert.Equal(["m1", "m2", "m5", "m7"], (await fixture.Connection.ReadyAsync(cli.Keys, Priority.Normal)).Select(m => m.Id));
        Assert.All(await fixture.Connection.ReadyAsync(cli.Keys, Priority.Normal), m => Assert.Equal(cli.Time.GetUtcNow(), m.EnqueuedAt));
        Assert.DoesNotContain("5511900000003", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EnqueueFile_JsonLinesStopOnError_EnqueuesOnlyWhatCameBeforeTheBadLineAndExitsThree()
    {
        var cli = fixture.Queue();
        var file = Write("batch.jsonl", JsonLines);

        var result = await cli.RunAsync("enqueue", "--file", file, "--on-error", "stop");

        Assert.True(result.ExitCode == 3, result.ToString());
        Assert.Equal("enqueued: 2, skipped: 1, stopped at line: 3" + Environment.NewLine, result.Out);
        Assert.Contains("line 3: txt: unknown field", result.Error, StringComparison.Ordinal);
        Assert.Contains("stopped at line 3: nothing from that line on was enqueued; 2 message(s) before it were", result.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("line 6", result.Error, StringComparison.Ordinal);
        Assert.Equal(["m1", "m2"], (await fixture.Connection.ReadyAsync(cli.Keys, Priority.Normal)).Select(m => m.Id));
    }

    [Fact]
    public async Task EnqueueFile_StopAfterSeveralBatches_KeepsEveryEarlierBatchAndNothingAfter()
    {
        var cli = fixture.Queue();
        var lines = Enumerable.Range(1, 9).Select(i => Line("b" + i)).ToList();
        lines.Insert(7, """{"version":1,"id":"bad","to":"+5511987654321"}""");
        var file = Write("many.jsonl", string.Join('\n', lines));

        var result = await cli.RunAsync("enqueue", "--file", file, "--on-error", "stop", "--batch-size", "3");

        Assert.Equal(3, result.ExitCode);
        Assert.Contains("line 8: text: set either text or template", result.Error, StringComparison.Ordinal);
        Assert.Equal(["b1", "b2", "b3", "b4", "b5", "b6", "b7"], (await fixture.Connection.ReadyAsync(cli.Keys, Priority.Normal)).Select(m => m.Id));
    }

    [Fact]
    public async Task EnqueueFile_Csv_ReadsQuotedCellsTemplatesAndPrioritiesAndReportsBadRows()
    {
        var cli = fixture.Queue();
        var file = Write("batch.csv", """
            id,to,text,template,language,param1,param2,kind,priority,not_before
            c1,+5511900000001,"Olá, Ana: sua fatura ""vence"" hoje",,,,,billing_reminder,high,
            c2,5511900000002,,bill_due,pt_BR,Bruno,"R$ 10,00",billing_reminder,,
            c3,+5511900000003,"duas
            linhas",,,,,,low,
            c4,+5511900000004,x,,,,,,urgent,
            c5,+5511900000005,later,,,,,,,2099-01-01T09:00:00-03:00

            """);

        var result = await cli.RunAsync("enqueue", "--file", file);

        Assert.True(result.ExitCode == 1, result.ToString());
        Assert.Equal("enqueued: 4, skipped: 1" + Environment.NewLine, result.Out);
        Assert.Contains("line 6: priority: must be one of high, normal, low", result.Error, StringComparison.Ordinal);
        var high = Assert.Single(await fixture.Connection.ReadyAsync(cli.Keys, Priority.High));
        Assert.Equal(("c1", "Olá, Ana: sua fatura \"vence\" hoje", "billing_reminder"), (high.Id, high.Text, high.Kind));
        var normal = Assert.Single(await fixture.Connection.ReadyAsync(cli.Keys, Priority.Normal));
        Assert.Equal(("c2", "+5511900000002", "bill_due"), (normal.Id, normal.To, normal.Template!.Name));
        Assert.Equal(["Bruno", "R$ 10,00"], normal.Template.Parameters);
        var low = Assert.Single(await fixture.Connection.ReadyAsync(cli.Keys, Priority.Low));
        Assert.Equal("duas\nlinhas", low.Text);
        Assert.Equal(1, await fixture.Connection.GetDatabase().SortedSetLengthAsync(cli.Keys.Delayed));
    }

    [Fact]
    public async Task EnqueueFile_CsvLatin1ByteInAMultiLineCell_RejectsTheWholeRowAndSendsNoPieceOfIt()
    {
        // The row's second line, the rest of its quoted text, was enqueued as a message "Obrigado\"" to +5511900000072.
        var cli = fixture.Queue();
        var file = Path.Combine(_dir, "latin1.csv");
        File.WriteAllBytes(file, [
            .. "id,to,text\na1,+5511900000071,\"Ol"u8, 0xE1, .. " Ana, lembrete:\na2,+5511900000072,Obrigado\"\na3,+5511900000073,ok\n"u8]);

        var result = await cli.RunAsync("enqueue", "--file", file);

        Assert.True(result.ExitCode == ExitCodes.Partial, result.ToString());
        Assert.Equal("enqueued: 1, skipped: 1" + Environment.NewLine, result.Out);
        Assert.Contains("line 2: byte 22: not valid UTF-8", result.Error, StringComparison.Ordinal);
        Assert.Equal(["a3"], (await fixture.Connection.ReadyAsync(cli.Keys, Priority.Normal)).Select(m => m.Id));
    }

    [Fact]
    public async Task EnqueueFile_IdRepeatedWithADifferentMessage_IsALineErrorNamingTheFirstLine()
    {
        // Both were enqueued ("enqueued: 2"); the sender sent the first and acknowledged the second as already sent, so
        // the second customer got nothing, with only a debug log to say so.
        var cli = fixture.Queue();
        var file = Write("repeated.csv", """
            id,to,text
            inv-100,+5511900000011,Sua fatura vence hoje
            inv-100,+5511900000012,Sua fatura vence hoje
            inv-101,+5511900000013,Oi
            inv-101,+5511900000013,Oi
            inv-102,+5511900000014,Oi
            """);

        var result = await cli.RunAsync("enqueue", "--file", file);

        Assert.True(result.ExitCode == ExitCodes.Partial, result.ToString());
        Assert.Equal("enqueued: 4, skipped: 1" + Environment.NewLine, result.Out);
        Assert.Contains("repeated.csv: line 3: id: 'inv-100' is already on line 2 with a different message; only one would be sent", result.Error, StringComparison.Ordinal);
        var ready = await fixture.Connection.ReadyAsync(cli.Keys, Priority.Normal);
        Assert.Equal(["inv-100", "inv-101", "inv-101", "inv-102"], ready.Select(m => m.Id));
        Assert.Equal("+5511900000011", ready[0].To);
    }

    [Fact]
    public async Task EnqueueFile_ExpiresAtNowOrBefore_IsALineErrorAndOnlyTheMessagesStillWorthSendingGoIn()
    {
        // A past expires_at (a wrong year, a copied row) was enqueued and dead-lettered as expired seconds later, unsent.
        var cli = fixture.Queue();
        var now = cli.Time.GetUtcNow();
        string At(TimeSpan offset) => now.Add(offset).ToOffset(TimeSpan.FromHours(-3)).ToString("yyyy-MM-dd'T'HH:mm:sszzz", CultureInfo.InvariantCulture);
        var file = Write("expiry.csv", $"""
            id,to,text,expires_at
            e1,+5511900000001,Oi,{At(TimeSpan.FromDays(-365))}
            e2,+5511900000002,Oi,{At(TimeSpan.Zero)}
            e3,+5511900000003,Oi,{At(TimeSpan.FromMinutes(1))}
            e4,+5511900000004,Oi,
            """);

        var result = await cli.RunAsync("enqueue", "--file", file);

        Assert.True(result.ExitCode == ExitCodes.Partial, result.ToString());
        Assert.Equal("enqueued: 2, skipped: 2" + Environment.NewLine, result.Out);
        Assert.Contains("line 2: expires_at: 2025-11-22T09:00:00-03:00 has already passed (it is 2026-11-22T12:00:00Z): it would be dead-lettered as expired, unsent", result.Error, StringComparison.Ordinal);
        Assert.Contains("line 3: expires_at: 2026-11-22T09:00:00-03:00 has already passed", result.Error, StringComparison.Ordinal);
        Assert.Equal(["e3", "e4"], (await fixture.Connection.ReadyAsync(cli.Keys, Priority.Normal)).Select(m => m.Id));
    }

    [Fact]
    public async Task Enqueue_ExpiresAtInThePast_ExitsTwoAndEnqueuesNothing()
    {
        var cli = fixture.Queue();

        var result = await cli.RunAsync("enqueue", "--to", "+5511987654321", "--text", "Oi", "--id", "x1", "--expires-at", "2026-11-22T08:59:59-03:00");

        Assert.True(result.ExitCode == ExitCodes.Usage, result.ToString());
        Assert.Contains("--expires-at: 2026-11-22T08:59:59-03:00 has already passed (it is 2026-11-22T12:00:00Z)", result.Error, StringComparison.Ordinal);
        Assert.Equal(0, await fixture.Connection.LengthAsync(cli.Keys.ReadyNormal));
    }

    [Fact]
    public async Task EnqueueFile_CsvQuietHoursColumn_SetsThemPerRowAndNamesTheColumnOfABadOne()
    {
        var cli = fixture.Queue();
        var file = Write("quiet.csv", """
            id,to,text,quiet_hours
            q1,+5511900000001,Oi,21:00-08:00 America/Sao_Paulo
            q2,+5511900000002,Oi,
            q3,+5511900000003,Oi,21:00-08:00 Mars/Olympus_Mons
            q4,+5511900000004,Oi,22:00-22:00 UTC

            """);

        var result = await cli.RunAsync("enqueue", "--file", file);

        Assert.True(result.ExitCode == 1, result.ToString());
        Assert.Equal("enqueued: 2, skipped: 2" + Environment.NewLine, result.Out);
        Assert.Contains("line 4: quiet_hours: time zone 'Mars/Olympus_Mons' is not known", result.Error, StringComparison.Ordinal);
        Assert.Contains("line 5: quiet_hours: starts and ends at the same time", result.Error, StringComparison.Ordinal);
        var ready = await fixture.Connection.ReadyAsync(cli.Keys, Priority.Normal);
        Assert.Equal([("q1", "21:00-08:00 America/Sao_Paulo"), ("q2", null)], ready.Select(e => (e.Id, e.QuietHours?.ToString())));
    }

    [Theory]
    [InlineData("id,to,txt\nx,+5511987654321,hi\n", "line 1: header: unknown column 'txt'")]
    [InlineData("+5511987654321,hi\n", "line 1: header: unknown column '+55*******4321'")]
    [InlineData("id,to,param2\nx,+5511987654321,hi\n", "line 1: header: template parameter columns must be param1, param2, ... without gaps")]
    public async Task EnqueueFile_CsvBadHeader_ExitsThreeAndEnqueuesNothing(string csv, string expected)
    {
        var cli = fixture.Queue();

        var result = await cli.RunAsync("enqueue", "--file", Write("bad.csv", csv));

        Assert.Equal(3, result.ExitCode);
        Assert.Contains(expected, result.Error, StringComparison.Ordinal);
        Assert.False(await fixture.Connection.GetDatabase().KeyExistsAsync(cli.Keys.ReadyNormal));
    }

    [Fact]
    public async Task EnqueueFile_Missing_ExitsTwo()
    {
        var result = await fixture.Queue().RunAsync("enqueue", "--file", Path.Combine(_dir, "nope.jsonl"));

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("cannot read", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EnqueueFile_UnknownExtension_AsksForTheFormat()
    {
        var file = Write("batch.txt", Line("x1"));
        var cli = fixture.Queue();

        var guessed = await cli.RunAsync("enqueue", "--file", file);
        var told = await cli.RunAsync("enqueue", "--file", file, "--format", "jsonl");

        Assert.Equal(2, guessed.ExitCode);
        Assert.Contains("--format jsonl or --format csv", guessed.Error, StringComparison.Ordinal);
        Assert.Equal(0, told.ExitCode);
        Assert.Equal(1, await fixture.Connection.LengthAsync(cli.Keys.ReadyNormal));
    }

    [Fact]
    public async Task Enqueue_ClosesItsConnectionOnlyBehindAnAnsweredPing_SoClosingCannotSendThePushAgain()
    {
        // StackExchange.Redis 1.2.6 flushes its write buffer once more when a connection closes, and on a loaded machine
        // that sent the last command again: one `cortex enqueue` in 1,500 pushed its message twice. The fence is a PING
        // answered after the push. This server logs every command with the client's name, so the log must show the CLI's
        // one push followed by its PING.
        await using var redis = await RedisServer.StartAsync("--slowlog-log-slower-than", "0", "--slowlog-max-len", "1000");
        var cli = new CliDriver(new FakeTimeProvider()) { Redis = redis.Configuration, QueueName = RedisFixture.UniqueQueueName() };

        var result = await cli.RunAsync("enqueue", "--to", "+5511987654321", "--text", "Oi", "--id", "fence-1");

        Assert.True(result.ExitCode == 0, result.ToString());
        var slowlog = await ExternalTool.RunAsync("redis-cli", ["-p", redis.Port.ToString(CultureInfo.InvariantCulture), "--json", "SLOWLOG", "GET", "1000"], "It comes with redis-server (`make test` installs it).");
        Assert.True(slowlog.ExitCode == 0, slowlog.ToString());

        // An entry is [id, time, microseconds, [command, arguments...], client address, client name], newest first.
        using var log = JsonDocument.Parse(slowlog.Output);
        var commands = log.RootElement.EnumerateArray().Reverse()
            .Where(entry => entry[5].GetString() == "cortex-cli")
            .Select(entry => entry[3].EnumerateArray().Select(argument => argument.GetString()).ToArray())
            .ToList();
        var push = Assert.Single(commands, command => command[0] == "LPUSH");
        Assert.Contains("\"fence-1\"", push[^1], StringComparison.Ordinal);
        Assert.True(
            commands.FindLastIndex(command => command[0] == "PING") > commands.IndexOf(push),
            "no PING after the push: " + string.Join(" | ", commands.Select(command => command[0])));
    }

    [Fact]
    public async Task EnqueueFile_RedisFullPartWay_SaysHowManyWentInAndWhyInOneLine()
    {
        // maxmemory with noeviction, as the manifests require: a file bigger than the room left fills Redis, which then
        // answers OOM to the next push. That used to end in an unhandled exception, its stack trace, and no count.
        await using var redis = await RedisServer.StartAsync("--maxmemory-policy", "noeviction");
        var port = redis.Port.ToString(CultureInfo.InvariantCulture);
        var info = await ExternalTool.RunAsync("redis-cli", ["-p", port, "INFO", "memory"], "It comes with redis-server (`make test` installs it).");
        var used = long.Parse(info.Output.Split('\n').Single(l => l.StartsWith("used_memory:", StringComparison.Ordinal))[12..].Trim(), CultureInfo.InvariantCulture);
        Assert.Equal(0, (await ExternalTool.RunAsync("redis-cli", ["-p", port, "CONFIG", "SET", "maxmemory", (used + 2_000_000).ToString(CultureInfo.InvariantCulture)], "")).ExitCode);
        var cli = new CliDriver(new FakeTimeProvider()) { Redis = redis.Configuration, QueueName = RedisFixture.UniqueQueueName() };
        var file = Write("big.jsonl", string.Join('\n', Enumerable.Range(1, 40_000).Select(i => Line("big" + i))));

        var result = await cli.RunAsync("enqueue", "--file", file, "--batch-size", "500");

        Assert.True(result.ExitCode == ExitCodes.Unavailable, result.ToString());
        using var connection = await redis.ConnectAsync();
        var enqueued = await connection.LengthAsync(cli.Keys.ReadyNormal);
        Assert.True(enqueued is >= 500 and <= 39_500, $"{enqueued} enqueued; {result}");
        Assert.Contains($"{enqueued} message(s) were enqueued before Redis refused a batch", result.Error, StringComparison.Ordinal);
        Assert.Contains("refused: OOM", result.Error, StringComparison.Ordinal);
        Assert.Contains("Redis is full (maxmemory", result.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Enqueue_ConnectionLostWithThePushUnanswered_NamesTheIdToRerunWith()
    {
        // Writes paused, the CLI's push waits in Redis unanswered; then its connection is cut. The push may have gone in
        // (here it did not): rerun under a fresh id, the default, and a customer could get both.
        await using var redis = await RedisServer.StartAsync();
        var port = redis.Port.ToString(CultureInfo.InvariantCulture);
        Assert.Equal(0, (await ExternalTool.RunAsync("redis-cli", ["-p", port, "CLIENT", "PAUSE", "60000", "WRITE"], "")).ExitCode);
        var cli = new CliDriver(new FakeTimeProvider()) { Redis = redis.Configuration, QueueName = RedisFixture.UniqueQueueName() };

        var run = cli.RunAsync("enqueue", "--to", "+5511987654321", "--text", "Oi");
        await Eventually.TrueAsync(
            async () => (await ExternalTool.RunAsync("redis-cli", ["-p", port, "CLIENT", "LIST"], "")).Output.Split('\n')
                .Any(c => c.Contains("name=cortex-cli", StringComparison.Ordinal) && c.Contains("flags=b", StringComparison.Ordinal)),
            TimeSpan.FromSeconds(30),
            () => "the CLI's push never waited on the pause");
        Assert.Equal(0, (await ExternalTool.RunAsync("redis-cli", ["-p", port, "CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"], "")).ExitCode);
        var result = await run;

        Assert.True(result.ExitCode == ExitCodes.Unavailable, result.ToString());
        var named = System.Text.RegularExpressions.Regex.Match(result.Error, "rerun with --id (cli:[0-9a-f]{32})");
        Assert.True(named.Success, result.ToString());
        Assert.Contains($"may have been enqueued as {named.Groups[1].Value}", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EnqueueFile_LineValidAsWrittenButOverTheLimitOnceSerialized_IsALineErrorAndTheRestGoIn()
    {
        // 6,400 emoji are 25.6 KB as the file writes them and 76.8 KB as the serializer writes them (each as \uD83D\uDE00):
        // this refused the whole batch with an unhandled exception, the valid lines around it too.
        var cli = fixture.Queue();
        var parameters = string.Join(',', Enumerable.Repeat("\"" + string.Concat(Enumerable.Repeat("😀", 200)) + "\"", 32));
        var emoji = $$$"""{"version":1,"id":"e1","to":"+5511987654321","template":{"name":"promo","language":"pt_BR","parameters":[{{{parameters}}}]}}""";
        Assert.InRange(System.Text.Encoding.UTF8.GetByteCount(emoji), 20_000, 30_000);
        var file = Write("emoji.jsonl", string.Join('\n', Line("m1"), emoji, Line("m3")));

        var result = await cli.RunAsync("enqueue", "--file", file);

        Assert.True(result.ExitCode == ExitCodes.Partial, result.ToString());
        Assert.Contains($"{file}: line 2: ", result.Error, StringComparison.Ordinal);
        Assert.Contains($"over the {EnvelopeLimits.MaxEnvelopeBytes}-byte limit", result.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.Error, StringComparison.Ordinal);
        Assert.Equal(["m1", "m3"], (await fixture.Connection.ReadyAsync(cli.Keys, Priority.Normal)).Select(m => m.Id));
    }

    [Fact]
    public async Task Enqueue_OneMessageValidAsTypedButOverTheLimitOnceStamped_ExitsTwoNamingTheLimit()
    {
        // The enqueuedAt stamp (about 50 bytes) is added after the options are checked. An envelope just under the limit
        // without it crashed the CLI with a stack trace.
        var emoji = string.Concat(Enumerable.Repeat("😀", 512));
        var full = new string('a', EnvelopeLimits.MaxTemplateParameterLength);
        List<string> Parameters(int pad) => [.. Enumerable.Repeat(emoji, 10), full, full, full, new string('a', pad)];
        int Size(int pad) => EnvelopeCodec.Serialize(new Envelope { Id = "big-1", To = "+5511987654321", Template = new MessageTemplate("promo", "pt_BR", Parameters(pad)) }).Length;
        var pad = EnvelopeLimits.MaxEnvelopeBytes - 10 - Size(0);
        Assert.Equal(EnvelopeLimits.MaxEnvelopeBytes - 10, Size(pad));
        var cli = fixture.Queue();

        var result = await cli.RunAsync(["enqueue", "--to", "+5511987654321", "--template", "promo", "--id", "big-1", .. Parameters(pad).SelectMany(p => new[] { "--param", p })]);

        Assert.True(result.ExitCode == ExitCodes.Usage, result.ToString());
        Assert.Contains($"over the {EnvelopeLimits.MaxEnvelopeBytes}-byte limit", result.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.Error, StringComparison.Ordinal);
        Assert.False(await fixture.Connection.GetDatabase().KeyExistsAsync(cli.Keys.ReadyNormal));
    }

    [Fact]
    public async Task EnqueueFile_InterruptedPartWay_SaysHowManyWentIn()
    {
        // Ctrl+C said only "interrupted", although every batch before it had gone in.
        var cli = fixture.Queue();
        var file = Write("long.jsonl", string.Join('\n', Enumerable.Range(0, 50_000).Select(i => Line("i" + i))));
        using var interrupt = new CancellationTokenSource();

        var run = cli.RunInterruptedAsync(interrupt.Token, "enqueue", "--file", file, "--batch-size", "1");
        await Eventually.TrueAsync(async () => await fixture.Connection.LengthAsync(cli.Keys.ReadyNormal) > 0, TimeSpan.FromSeconds(30), () => "the first batch");
        await interrupt.CancelAsync();
        var result = await run;

        Assert.True(result.ExitCode == ExitCodes.Cancelled, result.ToString());
        var counted = System.Text.RegularExpressions.Regex.Match(result.Error, @"(\d+) message\(s\) were enqueued before it was interrupted \(a batch in flight may have been too\)");
        Assert.True(counted.Success, result.Error);
        var inRedis = await fixture.Connection.LengthAsync(cli.Keys.ReadyNormal);
        Assert.InRange(inRedis, long.Parse(counted.Groups[1].Value, CultureInfo.InvariantCulture), long.Parse(counted.Groups[1].Value, CultureInfo.InvariantCulture) + 1);
        Assert.True(inRedis < 50_000, $"{inRedis} enqueued: the file was done before the interrupt");
    }

    private static string JsonLines => string.Join('\n',
        Line("m1"),
        Line("m2"),
        """{"version":1,"id":"m3","to":"+5511900000003","txt":"hi"}""",
        "   ",
        Line("m5"),
        """{"version":1,"id":"m6","to":"+55119""",
        Line("m7"));

    private static string Line(string id) => $$"""{"version":1,"id":"{{id}}","to":"+5511987654321","text":"Olá {{id}}"}""";

    private string Write(string name, string content)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, content);
        return path;
    }
}
