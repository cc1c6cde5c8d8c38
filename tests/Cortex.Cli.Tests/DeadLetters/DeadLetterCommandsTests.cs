using System.Text;
using System.Text.Json;
using Cortex.Cli.Tests.Infrastructure;
using Cortex.Shared.Contract;
using Cortex.Shared.Queue;
using StackExchange.Redis;

namespace Cortex.Cli.Tests.DeadLetters;

[Collection(QueueCollection.Name)]
public sealed class DeadLetterCommandsTests(CliFixture fixture)
{
    private const string PhoneA = "+5511900000001";
    private const string PhoneB = "+5521900000002";
    private const string PhoneC = "+5531900000003";
    private const string PhoneD = "+5541900000004";

    // The invalid envelope has no message id: its row is found by its reason.
    private static readonly string[] s_newestFirst = ["invalid_envelope", "camp:1:7", "bill:2:due", "bill:1:due"];

    private IDatabase Db => fixture.Connection.GetDatabase();

    [Fact]
    public async Task List_NewestFirst_ShowsReasonKindAttemptsIdAndMaskedPhoneOnly()
    {
        var cli = fixture.Queue(Queues.Clock());
        await SeedFourAsync(cli);

        var result = await cli.RunAsync("dlq", "list");

        Assert.True(result.ExitCode == 0, result.ToString());
        var order = s_newestFirst.Select(text => result.Out.IndexOf(text, StringComparison.Ordinal)).ToList();
        Assert.All(order, i => Assert.True(i > 0, result.Out));
        Assert.Equal(order.Order(), order);
        Assert.Contains("retries_exhausted", result.Out, StringComparison.Ordinal);
        Assert.Contains("+55*******0001", result.Out, StringComparison.Ordinal);
        Assert.Contains("+55*******0004", result.Out, StringComparison.Ordinal);
        Assert.Contains("4 shown; 4 in the dead-letter list", result.Out, StringComparison.Ordinal);
        AssertNoFullPhone(result.Out + result.Error);
    }

    [Fact]
    public async Task ListJson_Filters_SelectByReasonKindAndAge()
    {
        var cli = fixture.Queue(Queues.Clock());
        await SeedFourAsync(cli);

        var expired = await ListJsonAsync(cli, "--reason", "expired");
        var oldBilling = await ListJsonAsync(cli, "--kind", "billing_reminder", "--older-than", "1d");
        var lastHour = await ListJsonAsync(cli, "--older-than", "1h");
        var newestTwo = await ListJsonAsync(cli, "--limit", "2");

        Assert.Equal(["bill:2:due"], expired.Select(e => e.GetProperty("messageId").GetString()));
        Assert.Equal(["bill:1:due"], oldBilling.Select(e => e.GetProperty("messageId").GetString()));
        Assert.Equal(["bill:2:due", "bill:1:due"], lastHour.Select(e => e.GetProperty("messageId").GetString()));
        Assert.Equal([0L, 1L], newestTwo.Select(e => e.GetProperty("index").GetInt64()));
        var first = oldBilling[0];
        Assert.Equal("retries_exhausted", first.GetProperty("reason").GetString());
        Assert.Equal(4, first.GetProperty("attempts").GetInt32());
        Assert.Equal("+55*******0001", first.GetProperty("to").GetString());
        Assert.Equal("HTTP 503 for +55*******0001", first.GetProperty("lastError").GetString());
        Assert.Equal(cli.Time.GetUtcNow().AddDays(-3), first.GetProperty("deadAt").GetDateTimeOffset());
    }

    [Fact]
    public async Task Show_MessageId_PrintsTheWholeEntryWithThePhoneMaskedUnlessRevealed()
    {
        var cli = fixture.Queue(Queues.Clock());
        await SeedFourAsync(cli);

        var masked = await cli.RunAsync("dlq", "show", "bill:1:due");
        var revealed = await cli.RunAsync("dlq", "show", "bill:1:due", "--reveal");
        var missing = await cli.RunAsync("dlq", "show", "nope");

        Assert.True(masked.ExitCode == 0, masked.ToString());
        Assert.Contains("retries_exhausted", masked.Out, StringComparison.Ordinal);
        Assert.Contains("\"to\": \"+55*******0001\"", masked.Out, StringComparison.Ordinal);
        Assert.Contains("\"attempt\": 3", masked.Out, StringComparison.Ordinal);
        AssertNoFullPhone(masked.Out);
        Assert.Contains($"\"to\": \"{PhoneA}\"", revealed.Out, StringComparison.Ordinal);
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains("no dead letter has message id 'nope'", missing.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Show_InvalidEnvelopeWithTheNumberAsANumberOrUnderAnotherName_MasksEveryNumberUnlessRevealed()
    {
        var cli = fixture.Queue(Queues.Clock());
        var payload = $$"""{"version":1,"id":"bad:1","to":{{PhoneA[1..]}},"text":"oi","phone":"{{PhoneB}}"}""";
        await Queues.DeadLetterAsync(fixture.Connection, cli.Keys, DeadLetterReasons.InvalidEnvelope, Encoding.UTF8.GetBytes(payload), cli.Time.GetUtcNow(), "bad:1");

        var masked = await cli.RunAsync("dlq", "show", "bad:1");
        var revealed = await cli.RunAsync("dlq", "show", "bad:1", "--reveal");

        Assert.True(masked.ExitCode == 0, masked.ToString());
        Assert.Contains("\"text\": \"oi\"", masked.Out, StringComparison.Ordinal);
        AssertNoFullPhone(masked.Out);
        Assert.Contains(PhoneA[1..], revealed.Out, StringComparison.Ordinal);
        Assert.Contains(PhoneB, revealed.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Show_InvalidEnvelopeWithTheNumberFormattedInAListOrAfterAWord_MasksEveryNumberUnlessRevealed()
    {
        // The masking matched bare runs of digits only, after no letter, digit or '_': each of these printed in full.
        var cli = fixture.Queue(Queues.Clock());
        var payload = $$"""{"version":1,"id":"bad:2","to":["+55 (11) 98765-4321"],"text":"oi","phone":"+55 11 98765-4321","ref":"tel_5511912345678"}""";
        await Queues.DeadLetterAsync(fixture.Connection, cli.Keys, DeadLetterReasons.InvalidEnvelope, Encoding.UTF8.GetBytes(payload), cli.Time.GetUtcNow(), "bad:2");

        var masked = await cli.RunAsync("dlq", "show", "bad:2");
        var revealed = await cli.RunAsync("dlq", "show", "bad:2", "--reveal");

        Assert.True(masked.ExitCode == 0, masked.ToString());
        Assert.Contains("\"+55*******4321\"", masked.Out, StringComparison.Ordinal);
        Assert.Contains("\"phone\": \"+55*******4321\"", masked.Out, StringComparison.Ordinal);
        Assert.Contains("\"ref\": \"tel_+55*******5678\"", masked.Out, StringComparison.Ordinal);
        Assert.DoesNotContain("98765", masked.Out, StringComparison.Ordinal);
        Assert.DoesNotContain("91234", masked.Out, StringComparison.Ordinal);
        Assert.Contains("+55 (11) 98765-4321", revealed.Out, StringComparison.Ordinal);
        Assert.Contains("tel_5511912345678", revealed.Out, StringComparison.Ordinal);
    }

    // A producer's envelope with a field twice is dead-lettered as invalid_envelope ("to: invalid JSON: a property appears
    // twice"); reading its payload for the recipient threw, and list and show died with an unhandled exception on every
    // entry of the list, the good ones too, until someone purged it by hand.
    [Fact]
    public async Task ListAndShow_InvalidEnvelopeWithAFieldTwice_ShowTheEntryWithEveryNumberMasked()
    {
        var cli = fixture.Queue(Queues.Clock());
        await SeedFourAsync(cli);
        var payload = $$$"""{"version":1,"id":"bad:3","to":"{{{PhoneA}}}","text":"oi","to":"{{{PhoneB}}}","attributes":{"a":"1","a":"2"}}""";
        await Queues.DeadLetterAsync(fixture.Connection, cli.Keys, DeadLetterReasons.InvalidEnvelope, Encoding.UTF8.GetBytes(payload), cli.Time.GetUtcNow(), "bad:3");

        var list = await cli.RunAsync("dlq", "list");
        var json = await cli.RunAsync("dlq", "list", "--json");
        var show = await cli.RunAsync("dlq", "show", "bad:3");
        var revealed = await cli.RunAsync("dlq", "show", "bad:3", "--reveal");

        Assert.True(list.ExitCode == 0, list.ToString());
        Assert.Contains("5 shown; 5 in the dead-letter list", list.Out, StringComparison.Ordinal);
        Assert.Contains("bad:3", list.Out, StringComparison.Ordinal);
        Assert.True(json.ExitCode == 0, json.ToString());
        Assert.Equal(5, JsonDocument.Parse(json.Out).RootElement.GetArrayLength());
        Assert.True(show.ExitCode == 0, show.ToString());
        Assert.Contains("\"text\":\"oi\"", show.Out, StringComparison.Ordinal);
        Assert.Contains("+55*******0001", show.Out, StringComparison.Ordinal);
        Assert.Contains("+55*******0002", show.Out, StringComparison.Ordinal);
        AssertNoFullPhone(list.Out + list.Error + json.Out + show.Out + show.Error);
        Assert.Contains(PhoneB, revealed.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ListAndShow_PayloadAndGatewayErrorHoldingEscapeSequences_ShowThemEscaped()
    {
        // Anyone who may LPUSH, or a gateway's error page, can put an escape sequence in a dead letter: shown raw, it would
        // set the operator's window title, write their clipboard (OSC 52) or clear their screen.
        var cli = fixture.Queue(Queues.Clock());
        const string Payload = "owned \u001B]52;c;ZWNobyBvd25lZA==\u0007 \u001B[2J\r\nsecond line";
        await Queues.DeadLetterAsync(fixture.Connection, cli.Keys, DeadLetterReasons.InvalidEnvelope, Encoding.UTF8.GetBytes(Payload), cli.Time.GetUtcNow(), "esc:1", kind: "bill\u001B[31m", lastError: "HTTP 502: \u001B]0;title\u0007");

        var list = await cli.RunAsync("dlq", "list");
        var show = await cli.RunAsync("dlq", "show", "esc:1");

        Assert.True(list.ExitCode == 0, list.ToString());
        Assert.True(show.ExitCode == 0, show.ToString());
        Assert.DoesNotContain(list.Out + show.Out, c => c is '\u001B' or '\u0007' or '\r');
        Assert.Contains("owned \\u001B]52;c;ZWNobyBvd25lZA==\\u0007 \\u001B[2J\\r", show.Out, StringComparison.Ordinal);
        Assert.Contains("second line", show.Out, StringComparison.Ordinal);
        Assert.Contains("HTTP 502: \\u001B]0;title\\u0007", show.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RequeueOne_AfterARealFailedSend_GoesBackToItsReadyListAndTheSenderSendsItAgain()
    {
        var cli = fixture.Queue(Queues.Clock());
        var sender = Queues.Sender(fixture.Connection, cli);
        var payload = Queues.Payload("otp:9", priority: Priority.Low, kind: "otp");
        await sender.EnqueueAsync([new QueueMessage(payload, Priority.Low)]);

        // The sender leases and claims the id, the gateway refuses it for good, the sender dead-letters it.
        var (lease, claim) = await Queues.LeaseAndClaimAsync(sender, "pod-a");
        Assert.Equal(ClaimResult.Claimed, claim);
        var entry = DeadLetterEntry.Create(DeadLetterReasons.Permanent, "number not on WhatsApp", lease.Payload.Span, cli.Time.GetUtcNow()) with { MessageId = "otp:9", Kind = "otp", Attempts = 1, Deliveries = 1 };
        Assert.True(await sender.DeadLetterAsync("pod-a", lease, entry));
        Assert.Equal($"pod-a|{lease.LeaseId}", (string?)await Db.StringGetAsync(cli.Keys.Sent("otp:9")));

        var result = await cli.RunAsync("dlq", "requeue", "otp:9");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal("requeued: 1 (high 0, normal 0, low 1)" + Environment.NewLine, result.Out);
        Assert.Equal(0, await fixture.Connection.LengthAsync(cli.Keys.Dead));
        Assert.Equal(payload, (byte[])(await Db.ListRangeAsync(cli.Keys.ReadyLow)).Single()!);

        // The stale claim of the dead-lettered attempt does not block it: the next sender claims it and sends it.
        var (again, reclaim) = await Queues.LeaseAndClaimAsync(sender, "pod-b");
        Assert.Equal(ClaimResult.Claimed, reclaim);
        Assert.Equal(payload, again.Payload.ToArray());
    }

    [Fact]
    public async Task RequeueOne_RanOutOfRetries_StartsOverWithItsAttemptsForgottenAndTheRestKept()
    {
        var cli = fixture.Queue(Queues.Clock());
        var envelope = new Envelope
        {
            Id = "bill:7:due", To = "+5511987654321", Text = "Sua fatura vence hoje.", Kind = "billing_reminder", Priority = Priority.High,
            Attempt = 3, LastError = "HTTP 503: upstream unavailable", EnqueuedAt = cli.Time.GetUtcNow().AddHours(-3),
        };
        await Queues.DeadLetterAsync(fixture.Connection, cli.Keys, DeadLetterReasons.RetriesExhausted, EnvelopeCodec.Serialize(envelope), cli.Time.GetUtcNow(), envelope.Id, envelope.Kind, 4, envelope.LastError);

        var result = await cli.RunAsync("dlq", "requeue", envelope.Id);

        // With its count kept it had one try left: the first failure after the outage sent it back to the dead letters.
        Assert.True(result.ExitCode == 0, result.ToString());
        var requeued = EnvelopeCodec.Parse((byte[])(await Db.ListRangeAsync(cli.Keys.ReadyHigh)).Single()!);
        Assert.Null(requeued.Error);
        Assert.Equal(envelope with { Attempt = 0 }, requeued.Envelope);
    }

    [Fact]
    public async Task Requeue_IdAlreadySent_WarnsThatTheSenderWillSkipIt()
    {
        var cli = fixture.Queue(Queues.Clock());
        await Queues.DeadLetterAsync(fixture.Connection, cli.Keys, DeadLetterReasons.Expired, Queues.Payload("dup:1"), cli.Time.GetUtcNow(), "dup:1");
        await Db.StringSetAsync(cli.Keys.Sent("dup:1"), "1");

        var result = await cli.RunAsync("dlq", "requeue", "dup:1");

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("1 message id(s) were already sent within the idempotency window", result.Error, StringComparison.Ordinal);
        Assert.Equal(1, await fixture.Connection.LengthAsync(cli.Keys.ReadyNormal));
    }

    [Fact]
    public async Task RequeueFiltered_MovesOnlyTheMatchesAndWarnsAboutPassedExpiry()
    {
        var cli = fixture.Queue(Queues.Clock());
        await SeedFourAsync(cli);

        var result = await cli.RunAsync("dlq", "requeue", "--reason", "expired");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("requeued: 1 (high 1, normal 0, low 0)", result.Out, StringComparison.Ordinal);
        Assert.Contains("1 message(s) are past their expiresAt", result.Error, StringComparison.Ordinal);
        Assert.Equal(["bill:2:due"], (await fixture.Connection.ReadyAsync(cli.Keys, Priority.High)).Select(m => m.Id));
        var left = await ListJsonAsync(cli);
        Assert.Equal(["(none)", "camp:1:7", "bill:1:due"], left.Select(e => e.GetProperty("messageId").GetString() ?? "(none)"));
    }

    [Fact]
    public async Task RequeueAll_EveryEntryLeavesAndEachPayloadGoesToItsPriority()
    {
        var cli = fixture.Queue(Queues.Clock());
        await SeedFourAsync(cli);

        var result = await cli.RunAsync("dlq", "requeue", "--all");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("requeued: 4 (high 1, normal 2, low 1)", result.Out, StringComparison.Ordinal);
        Assert.Contains("1 payload(s) are not valid envelopes", result.Error, StringComparison.Ordinal);
        Assert.Equal(0, await fixture.Connection.LengthAsync(cli.Keys.Dead));
        Assert.Equal(1, await fixture.Connection.LengthAsync(cli.Keys.ReadyHigh));
        Assert.Equal(1, await fixture.Connection.LengthAsync(cli.Keys.ReadyLow));
        var normal = (await Db.ListRangeAsync(cli.Keys.ReadyNormal)).Select(v => Encoding.UTF8.GetString((byte[])v!)).ToList();
        Assert.Equal(2, normal.Count);
        Assert.Contains(normal, p => p.Contains("\"txt\"", StringComparison.Ordinal));
    }

    [Fact]
    public async Task RequeueAll_MoreThanAPage_MovesEveryOneOldestFirst()
    {
        var cli = fixture.Queue(Queues.Clock());
        var batch = Db.CreateBatch();
        var pushes = Enumerable.Range(0, 1234).Select(i =>
        {
            var payload = Queues.Payload("bulk:" + i);
            // The one-object form Cortex wrote before 2026-12-05 (payload inside the JSON): entries of an older version requeue too.
            var entry = DeadLetterEntry.Create(DeadLetterReasons.RetriesExhausted, "gave up", payload, cli.Time.GetUtcNow().AddSeconds(i)) with { MessageId = "bulk:" + i };
            return batch.ListLeftPushAsync(cli.Keys.Dead, entry.ToJson());
        }).ToList();
        batch.Execute();
        await Task.WhenAll(pushes);

        // Every tenth id was sent meanwhile: the warning counts them over all the pages, not the last page's.
        foreach (var i in Enumerable.Range(0, 1234).Where(i => i % 10 == 0))
        {
            await Db.StringSetAsync(cli.Keys.Sent("bulk:" + i), "1");
        }

        var result = await cli.RunAsync("dlq", "requeue", "--all");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal("requeued: 1234 (high 0, normal 1234, low 0)" + Environment.NewLine, result.Out);
        Assert.Contains("warning: 124 message id(s) were already sent within the idempotency window", result.Error, StringComparison.Ordinal);
        Assert.Equal(0, await fixture.Connection.LengthAsync(cli.Keys.Dead));
        var ready = await fixture.Connection.ReadyAsync(cli.Keys, Priority.Normal);
        Assert.Equal(Enumerable.Range(0, 1234).Select(i => "bulk:" + i), ready.Select(m => m.Id));
    }

    [Fact]
    public async Task RequeueDryRun_MoreMatchesThanItLists_ListsTheNewestAndCountsEveryOne()
    {
        var cli = fixture.Queue(Queues.Clock());
        for (var i = 0; i < 120; i++)
        {
            await Queues.DeadLetterAsync(fixture.Connection, cli.Keys, DeadLetterReasons.RetriesExhausted, Queues.Payload("many:" + i), cli.Time.GetUtcNow(), "many:" + i);
        }

        var result = await cli.RunAsync("dlq", "requeue", "--all", "--dry-run");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("50 newest of 120 shown", result.Out, StringComparison.Ordinal);
        Assert.Contains("would requeue 120 (dry run: nothing changed)", result.Out, StringComparison.Ordinal);
        var listed = Enumerable.Range(0, 120).Where(i => result.Out.Contains($"many:{i} ", StringComparison.Ordinal)).ToList();
        Assert.Equal(Enumerable.Range(70, 50), listed);
        Assert.True(result.Out.IndexOf("many:119 ", StringComparison.Ordinal) < result.Out.IndexOf("many:70 ", StringComparison.Ordinal), "newest first");
        Assert.Equal(120, await fixture.Connection.LengthAsync(cli.Keys.Dead));
    }

    [Fact]
    public async Task RequeueDryRun_ListsWhatWouldMoveAndChangesNothing()
    {
        var cli = fixture.Queue(Queues.Clock());
        await SeedFourAsync(cli);

        var result = await cli.RunAsync("dlq", "requeue", "--kind", "billing_reminder", "--dry-run");

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("would requeue 2 (dry run: nothing changed)", result.Out, StringComparison.Ordinal);
        Assert.Contains("bill:1:due", result.Out, StringComparison.Ordinal);
        AssertNoFullPhone(result.Out);
        Assert.Equal(4, await fixture.Connection.LengthAsync(cli.Keys.Dead));
        Assert.Equal(0, await fixture.Connection.LengthAsync(cli.Keys.ReadyNormal));
    }

    [Theory]
    [InlineData("dlq", "requeue")]
    [InlineData("dlq", "requeue", "bill:1:due", "--all")]
    [InlineData("dlq", "requeue", "--all", "--reason", "expired")]
    [InlineData("dlq", "purge", "--yes")]
    [InlineData("dlq", "list", "--older-than", "3 days")]
    public async Task RequeueOrPurge_AmbiguousSelection_ExitsTwoAndChangesNothing(params string[] args)
    {
        var cli = fixture.Queue(Queues.Clock());
        await SeedFourAsync(cli);

        var result = await cli.RunAsync(args);

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Equal(4, await fixture.Connection.LengthAsync(cli.Keys.Dead));
    }

    [Theory]
    [InlineData("list")]
    [InlineData("requeue")]
    [InlineData("purge", "--yes")]
    public async Task MisspeltReason_IsAUsageErrorNamingTheReasonsAndChangesNothing(params string[] verb)
    {
        // "--reason retry_exhausted" said "no dead letters match" with exit 0: the operator took the list for empty and
        // never requeued the messages that ran out of retries.
        var cli = fixture.Queue(Queues.Clock());
        await SeedFourAsync(cli);

        var result = await cli.RunAsync(["dlq", .. verb, "--reason", "retry_exhausted"]);

        Assert.True(result.ExitCode == ExitCodes.Usage, result.ToString());
        Assert.Contains("retry_exhausted", result.Error, StringComparison.Ordinal);
        Assert.All(
            ["invalid_envelope", "expired", "permanent_failure", "retries_exhausted", "poison", "unreadable"],
            reason => Assert.Contains(reason, result.Error, StringComparison.Ordinal));
        Assert.Equal("", result.Out);
        Assert.Equal(4, await fixture.Connection.LengthAsync(cli.Keys.Dead));
    }

    [Theory]
    [InlineData("requeue", "--dryrun")]
    [InlineData("purge", "--all", "--dry-run", "--yes")]
    [InlineData("show", "--revael")]
    public async Task MisspeltOption_IsAUsageErrorNamingItNotAMessageId(params string[] args)
    {
        // Taken for a message id, "--dryrun" said "no dead letter has message id '--dryrun'" with exit 1, and purge's
        // "--all --dry-run" said "say which dead letters" as if --all were missing.
        var cli = fixture.Queue(Queues.Clock());
        await SeedFourAsync(cli);

        var result = await cli.RunAsync(["dlq", .. args]);

        Assert.True(result.ExitCode == ExitCodes.Usage, result.ToString());
        Assert.Contains($"unknown option '{args.First(a => a is "--dryrun" or "--dry-run" or "--revael")}'", result.Error, StringComparison.Ordinal);
        Assert.Equal(4, await fixture.Connection.LengthAsync(cli.Keys.Dead));
    }

    [Fact]
    public async Task RequeueFiltered_AValidReasonWithNoDeadLetter_SaysNothingToDoAndExitsZero()
    {
        var cli = fixture.Queue(Queues.Clock());
        await SeedFourAsync(cli);

        var result = await cli.RunAsync("dlq", "requeue", "--reason", "poison");

        Assert.True(result.ExitCode == ExitCodes.Success, result.ToString());
        Assert.Equal("no dead letters match: nothing to requeue" + Environment.NewLine, result.Out);
        Assert.Equal(4, await fixture.Connection.LengthAsync(cli.Keys.Dead));
    }

    [Fact]
    public async Task RequeueUnknownId_ExitsOne()
    {
        var cli = fixture.Queue(Queues.Clock());
        await SeedFourAsync(cli);

        var result = await cli.RunAsync("dlq", "requeue", "nope");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("no dead letter has message id 'nope'", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PurgeWithYes_RemovesOnlyTheMatches()
    {
        var cli = fixture.Queue(Queues.Clock());
        await SeedFourAsync(cli);

        var result = await cli.RunAsync("dlq", "purge", "--reason", "invalid_envelope", "--yes");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal("purged: 1" + Environment.NewLine, result.Out);
        Assert.Equal(["camp:1:7", "bill:2:due", "bill:1:due"], (await ListJsonAsync(cli)).Select(e => e.GetProperty("messageId").GetString()));
        Assert.Equal(0, await fixture.Connection.LengthAsync(cli.Keys.ReadyNormal));
    }

    [Fact]
    public async Task PurgeWithoutYes_OffATerminal_RefusesWithExitTwo()
    {
        var cli = fixture.Queue(Queues.Clock());
        await SeedFourAsync(cli);

        var result = await cli.RunAsync("dlq", "purge", "--all");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("refusing to purge 4 dead letter(s) without --yes", result.Error, StringComparison.Ordinal);
        Assert.Equal(4, await fixture.Connection.LengthAsync(cli.Keys.Dead));
    }

    [Fact]
    public async Task PurgeOnATerminal_AsksAndOnlyYesPurges()
    {
        var cli = fixture.Queue(Queues.Clock());
        await SeedFourAsync(cli);

        var declined = await cli.RunTypingAsync("n\n", "dlq", "purge", "--all");
        var accepted = await cli.RunTypingAsync("y\n", "dlq", "purge", "--all");

        Assert.Equal(1, declined.ExitCode);
        Assert.Contains("Purge 4 dead letter(s) for good?", declined.Error, StringComparison.Ordinal);
        Assert.Contains("aborted: nothing purged", declined.Error, StringComparison.Ordinal);
        Assert.Equal(0, accepted.ExitCode);
        Assert.Equal("purged: 4" + Environment.NewLine, accepted.Out);
        Assert.Equal(0, await fixture.Connection.LengthAsync(cli.Keys.Dead));
    }

    [Fact]
    public async Task PurgeOnATerminal_DeadLetterArrivesWhileItAsks_PurgesNoMoreThanTheCountConfirmed()
    {
        var cli = fixture.Queue(Queues.Clock());
        await SeedFourAsync(cli);
        using var answer = new AnswerAfter(
            () => Queues.DeadLetterAsync(fixture.Connection, cli.Keys, DeadLetterReasons.Expired, Queues.Payload("late:1"), cli.Time.GetUtcNow(), "late:1"),
            "y");

        var result = await cli.RunTypingAsync(answer, "dlq", "purge", "--all");

        // The purge counts first and asks; what arrives while the operator reads the question was not in the count.
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("Purge 4 dead letter(s) for good?", result.Error, StringComparison.Ordinal);
        Assert.Equal("purged: 4" + Environment.NewLine, result.Out);
        Assert.Equal(["late:1"], (await ListJsonAsync(cli)).Select(e => e.GetProperty("messageId").GetString()));
    }

    /// <summary>
    /// Four dead letters, oldest first: bill:1:due (retries exhausted, 3 days ago, normal), bill:2:due (expired, 2 h ago,
    /// high), camp:1:7 (permanent failure, 10 min ago, low) and an invalid envelope without an id (now).
    /// </summary>
    private async Task SeedFourAsync(CliDriver cli)
    {
        var now = cli.Time.GetUtcNow();
        await Queues.DeadLetterAsync(fixture.Connection, cli.Keys, DeadLetterReasons.RetriesExhausted, Queues.Payload("bill:1:due", PhoneA, kind: "billing_reminder", attempt: 3), now.AddDays(-3), "bill:1:due", "billing_reminder", 4, "HTTP 503 for " + PhoneA[1..]);
        await Queues.DeadLetterAsync(fixture.Connection, cli.Keys, DeadLetterReasons.Expired, Queues.Payload("bill:2:due", PhoneB, Priority.High, "billing_reminder", now.AddHours(-3)), now.AddHours(-2), "bill:2:due", "billing_reminder");
        await Queues.DeadLetterAsync(fixture.Connection, cli.Keys, DeadLetterReasons.Permanent, Queues.Payload("camp:1:7", PhoneC, Priority.Low, "campaign"), now.AddMinutes(-10), "camp:1:7", "campaign", 1, "number not on WhatsApp");
        await Queues.DeadLetterAsync(fixture.Connection, cli.Keys, DeadLetterReasons.InvalidEnvelope, Encoding.UTF8.GetBytes($$"""{"version":1,"id":"bad:1","to":"{{PhoneD}}","txt":"hi"}"""), now);
    }

    [Theory]
    [InlineData("requeue")]
    [InlineData("purge")]
    public async Task RequeueOrPurge_InterruptedPartWay_SaysHowManyItDid(string verb)
    {
        // Ctrl+C said only "interrupted", although the pages before it had been moved or removed for good.
        const int Count = 50_000;
        var cli = fixture.Queue(Queues.Clock());
        var entries = Enumerable.Range(0, Count).Select(i =>
        {
            var payload = Queues.Payload("int-" + i);
            return (RedisValue)(DeadLetterEntry.Create(DeadLetterReasons.RetriesExhausted, "503", payload, cli.Time.GetUtcNow()) with { MessageId = "int-" + i }).ToStored(payload);
        });
        foreach (var chunk in entries.Chunk(5_000))
        {
            await Db.ListLeftPushAsync(cli.Keys.Dead, chunk);
        }

        using var interrupt = new CancellationTokenSource();
        var run = cli.RunInterruptedAsync(interrupt.Token, ["dlq", verb, "--all", .. verb == "purge" ? ["--yes"] : Array.Empty<string>()]);
        await Eventually.TrueAsync(async () => await Db.ListLengthAsync(cli.Keys.Dead) < Count, TimeSpan.FromSeconds(30), () => $"the {verb} to start");
        await interrupt.CancelAsync();
        var result = await run;

        Assert.True(result.ExitCode == ExitCodes.Cancelled, result.ToString());
        var done = Count - await Db.ListLengthAsync(cli.Keys.Dead);
        Assert.InRange(done, 1, Count - 1);
        var said = verb == "requeue" ? "requeued" : "purged";
        Assert.Contains($"{said} {done} before it was interrupted; the rest are still in the dead-letter list", result.Error, StringComparison.Ordinal);
        Assert.Equal(verb == "requeue" ? done : 0, await Db.ListLengthAsync(cli.Keys.ReadyNormal));
    }

    private static async Task<List<JsonElement>> ListJsonAsync(CliDriver cli, params string[] filters)
    {
        var result = await cli.RunAsync(["dlq", "list", "--json", .. filters]);
        Assert.True(result.ExitCode == 0, result.ToString());
        using var json = JsonDocument.Parse(result.Out);
        return json.RootElement.EnumerateArray().Select(e => e.Clone()).ToList();
    }

    private static void AssertNoFullPhone(string output)
    {
        foreach (var phone in new[] { PhoneA, PhoneB, PhoneC, PhoneD })
        {
            Assert.DoesNotContain(phone[1..], output, StringComparison.Ordinal);
        }
    }

    /// <summary>A terminal whose operator does something else (<paramref name="meanwhile"/>) before typing the answer.</summary>
    private sealed class AnswerAfter(Func<Task> meanwhile, string answer) : TextReader
    {
        public override async ValueTask<string?> ReadLineAsync(CancellationToken cancellationToken)
        {
            await meanwhile();
            return answer;
        }
    }
}
