using System.Text;
using Cortex.Scheduler.Outbox;
using Cortex.Scheduler.Tests.Infrastructure;
using Cortex.Shared.Contract;
using Cortex.Shared.Queue;

namespace Cortex.Scheduler.Tests.Outbox;

/// <summary>
/// Messages decided during quiet hours wait in Redis's delayed set until 08:00, and a backlog sent at the gateway's pace
/// waits in the ready lists for minutes or hours. What happens meanwhile (an opt-out, a payment, a reply, a cancelled
/// campaign) must stop them: they used to go out regardless.
/// </summary>
public sealed class HeldMessagesTests(SchedulerFixture fixture) : IClassFixture<SchedulerFixture>
{
    // 22:00 in São Paulo (UTC-3): inside the default quiet hours (21:00–08:00), so everything decided now waits until 08:00.
    private static readonly DateTimeOffset s_night = new(2026, 11, 20, 1, 0, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset s_morning = new(2026, 11, 20, 11, 0, 0, TimeSpan.Zero);

    // 11:00 in São Paulo: outside the quiet hours, so everything decided now goes to the ready lists at once.
    private static readonly DateTimeOffset s_day = new(2026, 11, 20, 14, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task WithdrawUnwanted_ChangesDuringTheNight_TakeThoseMessagesOutBeforeTheMorningAndLeaveTheRest()
    {
        await using var h = await fixture.CreateHarnessAsync(s_night);
        await SeedAsync(h, s_night);
        await h.Billing.RunAsync(new DateOnly(2026, 11, 19), default);
        await h.FollowUps.RunAsync(default);
        await h.Campaigns.RunAsync(default);
        var held = await h.QueuedAsync();
        Assert.Equal(7, held.Count);
        Assert.All(held, m => Assert.Equal(s_morning, m.DueAt));

        // In the night.
        h.Clock.Advance(TimeSpan.FromHours(1));
        await ChangeMindsAsync(h);

        // Hours before the send time nothing is read: a night's campaign is checked near its send time, not every minute.
        Assert.Empty(await h.Ledger.WithdrawUnwantedAsync(default));
        h.Clock.Advance(s_morning - DispatchLedger.HeldCheckWindow - h.Clock.GetUtcNow());
        var withdrawn = await h.Ledger.WithdrawUnwantedAsync(default);
        var campaignA = await h.ScalarAsync<long>("SELECT id FROM cortex.campaigns WHERE name = 'A'");

        Assert.Equal(s_changedMinds, withdrawn.Select(w => (Name(w.Key, campaignA), w.Reason)).Order());
        Assert.Equal(["billing:2", "campaign:A:2", "followup:4"], (await h.QueuedAsync()).Select(m => Name(m.Envelope.Id, campaignA)).Order());
        Assert.Equal(4L, await h.ScalarAsync<long>("SELECT count(*) FROM cortex.dispatch_ledger WHERE status = 'withdrawn' AND withdrawn_reason IS NOT NULL"));
        Assert.Empty(await h.Ledger.WithdrawUnwantedAsync(default));
    }

    [Fact]
    public async Task WithdrawUnwanted_PromotedBeforeTheCheckOrAskedAgainAfterAStop_WithdrawnAndRecorded()
    {
        await using var h = await fixture.CreateHarnessAsync(s_night);
        await SeedAsync(h, s_night);
        await h.Billing.RunAsync(new DateOnly(2026, 11, 19), default);
        await h.ExecuteAsync("UPDATE cortex.charges SET status = 'paid'");
        var keys = (await h.QueuedAsync()).Select(m => m.Envelope.Id).Order().ToList();
        Assert.Equal(2, keys.Count);

        // Charge 2's message was taken out of Redis by a run that stopped before it wrote the ledger: the next run found
        // it gone and left the row enqueued for good.
        var payload = await h.ScalarAsync<string>("SELECT payload FROM cortex.dispatch_ledger WHERE key = @key", ("key", keys[1]));
        var priority = await h.ScalarAsync<short>("SELECT priority FROM cortex.dispatch_ledger WHERE key = @key", ("key", keys[1]));
        var message = new QueueMessage(Encoding.UTF8.GetBytes(payload), (Priority)priority);
        Assert.True(Assert.Single(await h.Queue.WithdrawAsync([new WithdrawItem(keys[1], message)])));

        // Charge 1's was promoted at 08:00 before the check ran: it waits in ready. It used to be "too late" and was sent.
        h.Clock.Advance(s_morning + TimeSpan.FromMinutes(1) - h.Clock.GetUtcNow());
        Assert.Equal(1, await h.Queue.PromoteDueAsync());

        var withdrawn = await h.Ledger.WithdrawUnwantedAsync(default);

        Assert.Equal(keys, withdrawn.Select(w => w.Key).Order());
        Assert.All(withdrawn, w => Assert.Equal("charge no longer open", w.Reason));
        Assert.Equal(2L, await h.ScalarAsync<long>("SELECT count(*) FROM cortex.dispatch_ledger WHERE status = 'withdrawn'"));
        var leased = Assert.Single(await h.Queue.LeaseAsync("pod", 10));
        Assert.Equal([ClaimResult.Withdrawn], await h.Queue.ClaimAsync("pod", [new AckItem(leased.LeaseId, keys[0])]));
    }

    [Fact]
    public async Task WithdrawUnwanted_ChangesWhileABacklogWaitsInReady_ThoseMessagesAreDroppedAtTheClaimAndTheRestSent()
    {
        await using var h = await fixture.CreateHarnessAsync(s_day);
        await SeedAsync(h, s_day);
        await h.Billing.RunAsync(new DateOnly(2026, 11, 19), default);
        await h.FollowUps.RunAsync(default);
        await h.Campaigns.RunAsync(default);
        var ready = await h.QueuedAsync();
        Assert.Equal(7, ready.Count);
        Assert.All(ready, m => Assert.Null(m.DueAt));

        // While the backlog waits for the senders.
        h.Clock.Advance(TimeSpan.FromMinutes(5));
        await ChangeMindsAsync(h);

        var withdrawn = await h.Ledger.WithdrawUnwantedAsync(default);
        var campaignA = await h.ScalarAsync<long>("SELECT id FROM cortex.campaigns WHERE name = 'A'");

        Assert.Equal(s_changedMinds, withdrawn.Select(w => (Name(w.Key, campaignA), w.Reason)).Order());
        Assert.Equal(4L, await h.ScalarAsync<long>("SELECT count(*) FROM cortex.dispatch_ledger WHERE status = 'withdrawn' AND withdrawn_reason IS NOT NULL"));

        // A sender leasing the backlog drops the four and sends the rest.
        var leased = await h.Queue.LeaseAsync("pod", 10);
        Assert.Equal(7, leased.Count);
        var ids = leased.Select(m => EnvelopeCodec.Parse(m.Payload.Span).Envelope!.Id).ToList();
        var claims = await h.Queue.ClaimAsync("pod", [.. leased.Select((m, i) => new AckItem(m.LeaseId, ids[i]))]);
        Assert.Equal(s_changedMinds.Select(c => c.Name), ids.Where((_, i) => claims[i] == ClaimResult.Withdrawn).Select(id => Name(id, campaignA)).Order());
        Assert.Equal(
            ["billing:2", "campaign:A:2", "followup:4"],
            ids.Where((_, i) => claims[i] == ClaimResult.Claimed).Select(id => Name(id, campaignA)).Order());
    }

    [Fact]
    public async Task WithdrawUnwanted_BacklogLongerThanARunChecks_TheFirstPushedAreCheckedFirstAndTooLateIsLeft()
    {
        await using var h = await fixture.CreateHarnessAsync(s_day);
        await SeedAsync(h, s_day);
        await h.Billing.RunAsync(new DateOnly(2026, 11, 19), default);
        await h.Campaigns.RunAsync(default);
        await h.ExecuteAsync("UPDATE cortex.charges SET status = 'paid'");
        await h.ExecuteAsync("UPDATE cortex.campaigns SET status = 'cancelled'");
        var ledger = new DispatchLedger(h.DataSource, h.Queue, h.Clock) { BacklogCheckLimit = 2 };

        // Two rows a run: the billing reminders, pushed first and so sent first, are read; the campaign's wait a later run.
        var first = await ledger.WithdrawUnwantedAsync(default);
        Assert.Equal(["billing:1", "billing:2"], first.Select(w => Name(w.Key, 0)).Order());

        // One campaign message is sent before the next run (the pod's other leases go back): too late for it, its row stays
        // enqueued; the others are withdrawn.
        var campaignA = await h.ScalarAsync<long>("SELECT id FROM cortex.campaigns WHERE name = 'A'");
        var sent = await h.ScalarAsync<string>("SELECT key FROM cortex.dispatch_ledger WHERE key LIKE 'campaign:' || @a || ':%:1'", ("a", campaignA.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        var lease = await h.Queue.LeaseAsync("pod", 10);
        var mine = lease.Single(m => EnvelopeCodec.Parse(m.Payload.Span).Envelope!.Id == sent);
        Assert.Equal(ClaimResult.Claimed, Assert.Single(await h.Queue.ClaimAsync("pod", [new AckItem(mine.LeaseId, sent)])));
        await h.Queue.AckAsync("pod", [new AckItem(mine.LeaseId, sent)]);
        await h.Queue.RemoveConsumerAsync("pod");

        var second = await h.Ledger.WithdrawUnwantedAsync(default);
        Assert.Equal(["campaign:A:2", "campaign:B:1"], second.Select(w => Name(w.Key, campaignA)).Order());
        Assert.Equal("enqueued", await h.ScalarAsync<string>("SELECT status FROM cortex.dispatch_ledger WHERE key = @key", ("key", sent)));
    }

    [Fact]
    public async Task WithdrawUnwanted_CampaignCancelledOnceMoreThanARunChecksWereSent_TheMessagesStillWaitingAreWithdrawn()
    {
        // A campaign's messages are all stamped at its decision, within seconds. The check started at the oldest waiting
        // message's stamp and read the first rows pushed, which stay enqueued in the ledger once sent: past the first
        // BacklogCheckLimit (100,000) sent, every run read sent rows only, and a cancel, an opt-out or a payment was never
        // applied to the rest of the backlog. Here 30 messages pushed 5 a transaction, 10 rows a run, 12 sent.
        await using var h = await fixture.CreateHarnessAsync(s_day, new Dictionary<string, string?> { ["Cortex:Scheduler:BatchSize"] = "5" });
        await h.ExecuteAsync("INSERT INTO cortex.message_templates (key, body) VALUES ('promo', 'Oi {name|cliente}!')");
        var campaign = await h.ScalarAsync<long>(
            """
            WITH c AS (INSERT INTO cortex.campaigns (name, template_key, run_at, created_at) VALUES ('big', 'promo', @run, @created) RETURNING id)
            INSERT INTO cortex.campaign_recipients (campaign_id, id, phone)
            SELECT c.id, n, '+55119000001' || lpad(n::text, 2, '0') FROM c, generate_series(1, 30) n RETURNING campaign_id
            """,
            ("run", s_day.AddMinutes(-1).UtcDateTime),
            ("created", s_day.AddDays(-1).UtcDateTime));
        await h.Campaigns.RunAsync(default);
        Assert.Equal(6L, await h.ScalarAsync<long>("SELECT count(DISTINCT enqueued_at) FROM cortex.dispatch_ledger"));

        var lease = await h.Queue.LeaseAsync("pod", 12);
        var sent = lease.Select(m => new AckItem(m.LeaseId, EnvelopeCodec.Parse(m.Payload.Span).Envelope!.Id)).ToList();
        Assert.All(await h.Queue.ClaimAsync("pod", sent), claim => Assert.Equal(ClaimResult.Claimed, claim));
        await h.Queue.AckAsync("pod", sent);
        await h.ExecuteAsync("UPDATE cortex.campaigns SET status = 'cancelled' WHERE id = @id", ("id", campaign));

        var ledger = new DispatchLedger(h.DataSource, h.Queue, h.Clock) { BacklogCheckLimit = 10 };
        var withdrawn = new List<string>();
        for (var run = 0; run < 5; run++)
        {
            withdrawn.AddRange((await ledger.WithdrawUnwantedAsync(default)).Select(w => w.Key));
        }

        // Every message still waiting is withdrawn, each once; the sent ones are left as they were, too late.
        var waiting = (await h.QueuedAsync()).Select(m => m.Envelope.Id).Order().ToList();
        Assert.Equal(18, waiting.Count);
        Assert.Equal(waiting, withdrawn.Order());
        Assert.Equal(12L, await h.ScalarAsync<long>("SELECT count(*) FROM cortex.dispatch_ledger WHERE status = 'enqueued'"));
        var next = await h.Queue.LeaseAsync("pod", 30);
        var claims = await h.Queue.ClaimAsync("pod", [.. next.Select(m => new AckItem(m.LeaseId, EnvelopeCodec.Parse(m.Payload.Span).Envelope!.Id))]);
        Assert.All(claims, claim => Assert.Equal(ClaimResult.Withdrawn, claim));
    }

    [Fact]
    public async Task WithdrawUnwanted_CronCampaignFiresAgainWhileItsLastFiringStillWaits_TheOlderMessagesAreWithdrawn()
    {
        // A daily campaign's messages wait behind a queue paused for a day (ExpireAfter two days). The next firing pushes
        // its own: on resume each recipient got the campaign twice, seconds apart, under two ids. The newer firing counts,
        // as it does for a run still fanning out (superseded) and for missed firings (collapsed into the latest).
        await using var h = await fixture.CreateHarnessAsync(s_day.AddSeconds(30), new Dictionary<string, string?> { ["Cortex:Scheduler:ExpireAfter"] = "2.00:00:00" });
        await h.ExecuteAsync("INSERT INTO cortex.message_templates (key, body) VALUES ('promo', 'Oi {name|cliente}!')");
        var campaign = await h.ScalarAsync<long>(
            """
            WITH c AS (INSERT INTO cortex.campaigns (name, template_key, cron, created_at) VALUES ('daily', 'promo', '0 0 11 * * ?', @created) RETURNING id)
            INSERT INTO cortex.campaign_recipients (campaign_id, id, phone)
            SELECT c.id, n, '+55119000002' || lpad(n::text, 2, '0') FROM c, generate_series(1, 5) n RETURNING campaign_id
            """,
            ("created", s_day.AddDays(-1).AddMinutes(1).UtcDateTime));
        Assert.Equal(1, (await h.Campaigns.RunAsync(default)).RunsStarted);
        h.Clock.Advance(TimeSpan.FromDays(1));
        Assert.Equal(1, (await h.Campaigns.RunAsync(default)).RunsStarted);

        var withdrawn = await h.Ledger.WithdrawUnwantedAsync(default);

        var firstFiring = s_day.ToUnixTimeMilliseconds();
        Assert.Equal([.. Enumerable.Range(1, 5).Select(n => $"campaign:{campaign}:{firstFiring}:{n}")], withdrawn.Select(w => w.Key).Order());
        Assert.All(withdrawn, w => Assert.Equal("a newer firing of the campaign started", w.Reason));
        var next = await h.Queue.LeaseAsync("pod", 20);
        var claims = await h.Queue.ClaimAsync("pod", [.. next.Select(m => new AckItem(m.LeaseId, EnvelopeCodec.Parse(m.Payload.Span).Envelope!.Id))]);
        Assert.Equal(5, claims.Count(c => c == ClaimResult.Withdrawn));
        Assert.Equal(5, claims.Count(c => c == ClaimResult.Claimed));
    }

    [Fact]
    public async Task WithdrawUnwanted_NewerFiringExpiredBeforeFanningOutAnything_TheOlderMessagesStillWaitingGo()
    {
        // An hourly campaign's 11:00 messages wait behind a paused queue. The deploy that lowers ExpireAfter to 30 minutes
        // keeps the scheduler down until 12:45: the 12:00 firing ends expired, nothing fanned out. It counted all the same
        // as "a newer firing of the campaign started": the 11:00 messages were withdrawn, and nobody got either firing.
        await using var h = await fixture.CreateHarnessAsync(s_day.AddSeconds(30), new Dictionary<string, string?> { ["Cortex:Scheduler:BatchSize"] = "2" });
        var campaign = await SeedHourlyCampaignAsync(h);
        h.Clock.Advance(TimeSpan.FromMinutes(105));
        await using var restarted = Restarted(h, expireAfter: "00:30:00");
        var late = await restarted.Campaigns.RunAsync(default);
        Assert.Equal((1, 0), (late.RunsStarted, late.Enqueued));
        Assert.Equal(["completed|5|5|0", "expired|5|0|0"], await RunsAsync(h, campaign));

        Assert.Empty(await restarted.Ledger.WithdrawUnwantedAsync(default));

        var sent = await SendAllAsync(restarted);
        var firstFiring = s_day.ToUnixTimeMilliseconds();
        Assert.Equal([.. Enumerable.Range(1, 5).Select(n => $"campaign:{campaign}:{firstFiring}:{n}")], sent.Order());
        Assert.Equal(0L, await h.ScalarAsync<long>("SELECT count(*) FROM cortex.dispatch_ledger WHERE status = 'withdrawn'"));
    }

    [Fact]
    public async Task WithdrawUnwanted_NewerFiringExpiredAfterFanningOutSome_OnlyTheOlderMessagesOfTheRecipientsItReachedAreWithdrawn()
    {
        // As above, but the scheduler dies at 12:00:30 after committing the 12:00 firing's first batch (recipients 1 and
        // 2), and is back at 12:45 with ExpireAfter 30 minutes: that run ends expired at its cursor and its two messages
        // go. Recipients 1 and 2 would get the campaign twice, so their 11:00 messages are withdrawn; 3 to 5 have only
        // their 11:00 message, which goes.
        await using var h = await fixture.CreateHarnessAsync(s_day.AddSeconds(30), new Dictionary<string, string?> { ["Cortex:Scheduler:BatchSize"] = "2" });
        var campaign = await SeedHourlyCampaignAsync(h);
        h.Clock.Advance(TimeSpan.FromHours(1));
        var crashing = h.Replica(push => push == 1 ? throw new IOException("process killed") : Task.CompletedTask);
        await Assert.ThrowsAsync<IOException>(() => crashing.Campaigns.RunAsync(default));
        h.Clock.Advance(TimeSpan.FromMinutes(45));
        await using var restarted = Restarted(h, expireAfter: "00:30:00");
        await restarted.Campaigns.RunAsync(default);
        Assert.Equal(["completed|5|5|0", "expired|5|2|0"], await RunsAsync(h, campaign));

        var withdrawn = await restarted.Ledger.WithdrawUnwantedAsync(default);

        var (firstFiring, secondFiring) = (s_day.ToUnixTimeMilliseconds(), s_day.AddHours(1).ToUnixTimeMilliseconds());
        Assert.Equal([$"campaign:{campaign}:{firstFiring}:1", $"campaign:{campaign}:{firstFiring}:2"], withdrawn.Select(w => w.Key).Order());
        Assert.All(withdrawn, w => Assert.Equal("a newer firing of the campaign started", w.Reason));
        var sent = await SendAllAsync(restarted);
        Assert.Equal(
            [.. Enumerable.Range(3, 3).Select(n => $"campaign:{campaign}:{firstFiring}:{n}"), .. Enumerable.Range(1, 2).Select(n => $"campaign:{campaign}:{secondFiring}:{n}")],
            sent.Order());
    }

    [Theory]
    [InlineData("3.00:00:00", 3 * 24 * 60 + 1)]
    [InlineData(null, 24 * 60)]
    public async Task WithdrawUnwanted_MessageExpiringAfterTheIdempotencyWindow_StaysWithdrawnUntilItExpires(string? expireAfter, int markerMinutes)
    {
        // ExpireAfter three days: a reminder withdrawn (its charge paid) can wait longer than the 24 h window behind a
        // queue paused over a weekend. Its withdrawn marker lapsed after the window, and the copy still waiting was then
        // sent: a paid bill reminded. It now lives until the message expires, as a sent marker does; the default
        // ExpireAfter (12 h) keeps the window.
        await using var h = await fixture.CreateHarnessAsync(s_day, expireAfter is null ? null : new Dictionary<string, string?> { ["Cortex:Scheduler:ExpireAfter"] = expireAfter });
        await SeedAsync(h, s_day);
        await h.Billing.RunAsync(new DateOnly(2026, 11, 19), default);
        await h.ExecuteAsync("UPDATE cortex.charges SET status = 'paid'");

        var withdrawn = await h.Ledger.WithdrawUnwantedAsync(default);

        Assert.Equal(2, withdrawn.Count);
        foreach (var w in withdrawn)
        {
            var marker = new QueueKeys(h.QueueName).Sent(w.Key);
            Assert.Equal("withdrawn", await h.Redis.GetDatabase().StringGetAsync(marker));
            Assert.InRange((await h.Redis.GetDatabase().KeyTimeToLiveAsync(marker))!.Value, TimeSpan.FromMinutes(markerMinutes - 1), TimeSpan.FromMinutes(markerMinutes));
        }
    }

    [Fact]
    public async Task WithdrawUnwanted_ChargeMovedToAnotherDueDateWhileItsReminderWaits_ThatReminderIsWithdrawn()
    {
        // A feeder's upsert moves charge 1 from the 18th to the 30th while its reminder, "venceu em 18/11", waits: it
        // would tell the customer a wrong date. Charge 2's due date is rewritten unchanged.
        await using var h = await fixture.CreateHarnessAsync(s_day);
        await SeedAsync(h, s_day);
        await h.Billing.RunAsync(new DateOnly(2026, 11, 19), default);
        await h.ExecuteAsync("UPDATE cortex.charges SET due_date = CASE id WHEN 1 THEN date '2026-11-30' ELSE due_date END");

        var withdrawn = Assert.Single(await h.Ledger.WithdrawUnwantedAsync(default));

        Assert.Equal(("billing:1", "due date changed"), (Name(withdrawn.Key, 0), withdrawn.Reason));
        var leased = await h.Queue.LeaseAsync("pod", 10);
        var ids = leased.Select(m => EnvelopeCodec.Parse(m.Payload.Span).Envelope!.Id).ToList();
        var claims = await h.Queue.ClaimAsync("pod", [.. leased.Select((m, i) => new AckItem(m.LeaseId, ids[i]))]);
        Assert.Equal(["billing:2"], ids.Where((_, i) => claims[i] == ClaimResult.Claimed).Select(id => Name(id, 0)));
    }

    [Fact]
    public async Task WithdrawUnwanted_HeldCampaignOfSeveralPiecesCancelled_EveryMessageWithdrawnAndRecorded()
    {
        // Read and withdrawn a piece at a time (1,000), not the whole campaign in memory at once: every piece, the last
        // partial one too, reaches Redis and the ledger.
        await using var h = await fixture.CreateHarnessAsync(s_night);
        await h.ExecuteAsync("INSERT INTO cortex.message_templates (key, body) VALUES ('promo', 'Oi {name|cliente}!')");
        await h.ExecuteAsync(
            """
            WITH c AS (INSERT INTO cortex.campaigns (name, template_key, run_at, created_at) VALUES ('night', 'promo', @run, @created) RETURNING id)
            INSERT INTO cortex.campaign_recipients (campaign_id, id, phone)
            SELECT c.id, n, '+551190' || lpad(n::text, 7, '0') FROM c, generate_series(1, 2500) n
            """,
            ("run", s_night.AddMinutes(-1).UtcDateTime),
            ("created", s_night.AddDays(-1).UtcDateTime));
        await h.Campaigns.RunAsync(default);
        Assert.Equal(2500, (await h.QueuedAsync()).Count(m => m.DueAt == s_morning));
        await h.ExecuteAsync("UPDATE cortex.campaigns SET status = 'cancelled'");

        h.Clock.Advance(s_morning - DispatchLedger.HeldCheckWindow - h.Clock.GetUtcNow());
        var withdrawn = await h.Ledger.WithdrawUnwantedAsync(default);

        Assert.Equal(2500, withdrawn.Select(w => w.Key).Distinct().Count());
        Assert.Empty(await h.QueuedAsync());
        Assert.Equal(2500L, await h.ScalarAsync<long>("SELECT count(*) FROM cortex.dispatch_ledger WHERE status = 'withdrawn' AND withdrawn_reason = 'campaign cancelled'"));
    }

    [Fact]
    public async Task WithdrawUnwanted_MessageStampedDaysAgoNextInReady_RowsPastTheIdempotencyWindowAreNotReadAsWithdrawn()
    {
        // A dead letter requeued by hand keeps its first push's stamp. Next in ready, it took the check back to rows pushed
        // days ago: sent, their sent markers expired after the idempotency window, so Redis took them for waiting, and the
        // ledger recorded delivered reminders as withdrawn (and Redis got a withdrawn marker for each).
        await using var h = await fixture.CreateHarnessAsync(s_day);
        await SeedAsync(h, s_day);
        await h.Billing.RunAsync(new DateOnly(2026, 11, 19), default);
        var delivered = await h.Queue.LeaseAsync("pod", 10);
        var items = delivered.Select(m => new AckItem(m.LeaseId, EnvelopeCodec.Parse(m.Payload.Span).Envelope!.Id)).ToList();
        Assert.Equal(2, items.Count);
        await h.Queue.ClaimAsync("pod", items);
        await h.Queue.AckAsync("pod", items);
        await h.ExecuteAsync("UPDATE cortex.dispatch_ledger SET enqueued_at = @at", ("at", s_day.UtcDateTime));

        // Two days on: the markers are gone, the charges paid, and a requeued dead letter from then is next in ready.
        h.Clock.Advance(TimeSpan.FromDays(2));
        foreach (var item in items)
        {
            await h.Redis.GetDatabase().KeyDeleteAsync(new QueueKeys(h.QueueName).Sent(item.MessageId));
        }

        await h.ExecuteAsync("UPDATE cortex.charges SET status = 'paid'");
        var requeued = new Envelope { Id = "requeued-7", To = "+5511900000009", Text = "Oi!", Kind = "billing", EnqueuedAt = s_day };
        await h.Queue.EnqueueAsync([new QueueMessage(EnvelopeCodec.Serialize(requeued), Priority.Normal)]);
        Assert.Equal(s_day, Assert.Single(await h.Queue.GetReadyTailsAsync()).EnqueuedAt);

        Assert.Empty(await h.Ledger.WithdrawUnwantedAsync(default));
        Assert.Equal(2L, await h.ScalarAsync<long>("SELECT count(*) FROM cortex.dispatch_ledger WHERE status = 'enqueued'"));
    }

    [Fact]
    public async Task WithdrawUnwanted_BacklogWaitingLongerThanTheIdempotencyWindow_UnexpiredOnesWithdrawnAndSentOnesLeft()
    {
        // ExpireAfter three days, and a queue paused over a weekend: reminder 2 still waits 30 h after its push when its
        // charge is paid. The check read no row pushed more than 24 h ago, so the reminder of a paid bill went out on
        // Monday. Reminder 1 was sent before the pause: its sent marker lives until it expires, so it is left as sent.
        await using var h = await fixture.CreateHarnessAsync(s_day, new Dictionary<string, string?> { ["Cortex:Scheduler:ExpireAfter"] = "3.00:00:00" });
        await SeedAsync(h, s_day);
        await h.Billing.RunAsync(new DateOnly(2026, 11, 19), default);
        var first = Assert.Single(await h.Queue.LeaseAsync("pod", 1));
        var envelope = EnvelopeCodec.Parse(first.Payload.Span).Envelope!;
        var delivered = new AckItem(first.LeaseId, envelope.Id, envelope.ExpiresAt);
        Assert.Equal([ClaimResult.Claimed], await h.Queue.ClaimAsync("pod", [delivered]));
        Assert.Equal(0, await h.Queue.AckAsync("pod", [delivered]));
        await h.ExecuteAsync("UPDATE cortex.dispatch_ledger SET enqueued_at = @at", ("at", s_day.UtcDateTime));

        h.Clock.Advance(TimeSpan.FromHours(30));
        await h.ExecuteAsync("UPDATE cortex.charges SET status = 'paid'");
        var withdrawn = Assert.Single(await h.Ledger.WithdrawUnwantedAsync(default));

        Assert.NotEqual(envelope.Id, withdrawn.Key);
        Assert.Equal("charge no longer open", withdrawn.Reason);
        Assert.Equal("enqueued", await h.ScalarAsync<string>("SELECT status FROM cortex.dispatch_ledger WHERE key = @key", ("key", envelope.Id)));
        var second = Assert.Single(await h.Queue.LeaseAsync("pod", 10));
        Assert.Equal([ClaimResult.Withdrawn], await h.Queue.ClaimAsync("pod", [new AckItem(second.LeaseId, withdrawn.Key)]));

        // Once reminder 1 has expired its marker lapses; a requeued dead letter stamped then takes the check back to it,
        // and it must not be read as waiting and recorded as withdrawn.
        h.Clock.Advance(envelope.ExpiresAt!.Value + TimeSpan.FromHours(1) - h.Clock.GetUtcNow());
        await h.Redis.GetDatabase().KeyDeleteAsync(new QueueKeys(h.QueueName).Sent(envelope.Id));
        var requeued = new Envelope { Id = "requeued-8", To = "+5511900000009", Text = "Oi!", Kind = "billing", EnqueuedAt = s_day };
        await h.Queue.EnqueueAsync([new QueueMessage(EnvelopeCodec.Serialize(requeued), Priority.Normal)]);

        Assert.Empty(await h.Ledger.WithdrawUnwantedAsync(default));
        Assert.Equal("enqueued", await h.ScalarAsync<string>("SELECT status FROM cortex.dispatch_ledger WHERE key = @key", ("key", envelope.Id)));
    }

    [Fact]
    public async Task WithdrawUnwanted_LastFollowUpStillWaitingWhenCortexClosesTheConversation_IsLeftToGoWhereAnAgentsCloseWithdrawsIt()
    {
        // Both conversations' follow-ups wait in the ready list (a long backlog, or pushed late after a Redis outage).
        // An agent resolves conversation 4; conversation 3 runs out of follow-ups and Cortex closes it. The check read
        // Cortex's own close as the agent's and withdrew 3's last follow-up too: the customer never got it.
        await using var h = await fixture.CreateHarnessAsync(s_day);
        await h.ExecuteAsync(
            """
            INSERT INTO cortex.conversations (id, phone, customer_name, last_inbound_at, last_outbound_at) VALUES
                (3, '+5511900000003', 'Caio', @in, @out), (4, '+5511900000004', 'Duda', @in, @out)
            """,
            ("in", s_day.AddHours(-3).UtcDateTime),
            ("out", s_day.AddHours(-1).UtcDateTime));
        await h.FollowUps.RunAsync(default);
        h.Clock.Advance(TimeSpan.FromMinutes(31));
        await h.FollowUps.RunAsync(default);
        await h.ExecuteAsync("UPDATE cortex.conversations SET status = 'closed', closed_at = @at WHERE id = 4", ("at", h.Clock.GetUtcNow().UtcDateTime));
        h.Clock.Advance(TimeSpan.FromMinutes(31));
        Assert.Equal(1, (await h.FollowUps.RunAsync(default)).Closed);

        var withdrawn = await h.Ledger.WithdrawUnwantedAsync(default);

        Assert.Equal(["followup:4", "followup:4"], withdrawn.Select(w => Name(w.Key, campaignA: 0)));
        Assert.Equal(2L, await h.ScalarAsync<long>("SELECT count(*) FROM cortex.dispatch_ledger WHERE key LIKE 'followup:3:%' AND status = 'enqueued'"));
    }

    // What ChangeMindsAsync makes unwanted, and why.
    private static readonly (string Name, string Reason)[] s_changedMinds =
    [
        ("billing:1", "charge no longer open"),
        ("campaign:A:1", "opted out"),
        ("campaign:B:1", "campaign cancelled"),
        ("followup:3", "conversation closed or the customer wrote"),
    ];

    // Charge 1 is paid, the customer of conversation 3 writes, recipient 1 of campaign A opts out, campaign B is cancelled.
    private static async Task ChangeMindsAsync(SchedulerHarness h)
    {
        await h.ExecuteAsync("UPDATE cortex.charges SET status = 'paid' WHERE id = 1");
        await h.ExecuteAsync("UPDATE cortex.conversations SET last_inbound_at = @at WHERE id = 3", ("at", h.Clock.GetUtcNow().UtcDateTime));
        await h.ExecuteAsync("INSERT INTO cortex.opt_outs (phone, reason) VALUES ('+5511900000005', 'PARE')");
        await h.ExecuteAsync("UPDATE cortex.campaigns SET status = 'cancelled' WHERE name = 'B'");
    }

    // billing:1:1:2026-11-18 → billing:1; followup:3:<ms>:1 → followup:3; campaign:<id>:<ms>:2 → campaign:A:2.
    private static string Name(string key, long campaignA)
    {
        var parts = key.Split(':');
        return parts[0] == "campaign" ? $"campaign:{(parts[1] == campaignA.ToString(System.Globalization.CultureInfo.InvariantCulture) ? "A" : "B")}:{parts[3]}" : $"{parts[0]}:{parts[1]}";
    }

    // Hourly at minute 0, five recipients; its 11:00 firing (s_day) fanned out and waiting in the ready list.
    private static async Task<long> SeedHourlyCampaignAsync(SchedulerHarness h)
    {
        await h.ExecuteAsync("INSERT INTO cortex.message_templates (key, body) VALUES ('promo', 'Oi {name|cliente}!')");
        var campaign = await h.ScalarAsync<long>(
            """
            WITH c AS (INSERT INTO cortex.campaigns (name, template_key, cron, created_at) VALUES ('hourly', 'promo', '0 0 * * * ?', @created) RETURNING id)
            INSERT INTO cortex.campaign_recipients (campaign_id, id, phone)
            SELECT c.id, n, '+55119000003' || lpad(n::text, 2, '0') FROM c, generate_series(1, 5) n RETURNING campaign_id
            """,
            ("created", s_day.AddMinutes(-30).UtcDateTime));
        Assert.Equal((1, 5), ((await h.Campaigns.RunAsync(default)).RunsStarted, (await h.QueuedAsync()).Count));
        return campaign;
    }

    // The same database, queue and clock, started again with another ExpireAfter.
    private static SchedulerHarness Restarted(SchedulerHarness h, string expireAfter) =>
        new(h.ConnectionString, h.Redis, h.QueueName, h.Clock, new Dictionary<string, string?>(h.Settings) { ["Cortex:Scheduler:ExpireAfter"] = expireAfter });

    private static Task<string[]> RunsAsync(SchedulerHarness h, long campaign) =>
        h.ScalarAsync<string[]>(
            "SELECT array_agg(status || '|' || total || '|' || enqueued || '|' || skipped ORDER BY fire_time) FROM cortex.campaign_runs WHERE campaign_id = @id",
            ("id", campaign));

    // A sender leasing everything in the ready lists: the ids it sends (claimed), not those it drops as withdrawn.
    private static async Task<List<string>> SendAllAsync(SchedulerHarness h)
    {
        var leased = await h.Queue.LeaseAsync("pod", 50);
        var ids = leased.Select(m => EnvelopeCodec.Parse(m.Payload.Span).Envelope!.Id).ToList();
        var claims = await h.Queue.ClaimAsync("pod", [.. leased.Select((m, i) => new AckItem(m.LeaseId, ids[i]))]);
        return [.. ids.Where((_, i) => claims[i] == ClaimResult.Claimed)];
    }

    // Charges due the 18th: the 19th's run reminds them D+1, "venceu em 18/11/2026", a text right on any day, so that it
    // may wait overnight (a due day's "vence hoje" ends with its day).
    private static async Task SeedAsync(SchedulerHarness h, DateTimeOffset now)
    {
        await h.ExecuteAsync(
            """
            INSERT INTO cortex.charges (id, customer_name, phone, amount, due_date) VALUES
                (1, 'Ana', '+5511900000001', 99.90, '2026-11-18'), (2, 'Bia', '+5511900000002', 99.90, '2026-11-18');
            INSERT INTO cortex.conversations (id, phone, customer_name, last_inbound_at, last_outbound_at) VALUES
                (3, '+5511900000003', 'Caio', @in, @out), (4, '+5511900000004', 'Duda', @in, @out);
            INSERT INTO cortex.message_templates (key, body) VALUES ('promo', 'Oi {name|cliente}!');
            """,
            ("in", now.AddHours(-3).UtcDateTime),
            ("out", now.AddHours(-1).UtcDateTime));
        await h.ExecuteAsync(
            """
            WITH a AS (INSERT INTO cortex.campaigns (name, template_key, run_at, created_at) VALUES ('A', 'promo', @run, @created) RETURNING id),
                 b AS (INSERT INTO cortex.campaigns (name, template_key, run_at, created_at) VALUES ('B', 'promo', @run, @created) RETURNING id)
            INSERT INTO cortex.campaign_recipients (campaign_id, id, phone)
            SELECT id, 1, '+5511900000005' FROM a UNION ALL SELECT id, 2, '+5511900000006' FROM a UNION ALL SELECT id, 1, '+5511900000007' FROM b
            """,
            ("run", now.AddMinutes(-1).UtcDateTime),
            ("created", now.AddDays(-1).UtcDateTime));
    }
}
