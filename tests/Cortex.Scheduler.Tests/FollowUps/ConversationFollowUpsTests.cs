using Cortex.Scheduler.Tests.Infrastructure;

namespace Cortex.Scheduler.Tests.FollowUps;

/// <summary>Conversation follow-ups against real PostgreSQL and Redis (idle 30 min, at most 2, 24-hour window).</summary>
public sealed class ConversationFollowUpsTests(SchedulerFixture fixture) : IClassFixture<SchedulerFixture>
{
    // 09:00 in São Paulo.
    private static readonly DateTimeOffset s_now = new(2026, 11, 20, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task RunAsync_CustomerSilentPastIdleInsideWindow_GetsTextThatExpiresWhenTheWindowCloses()
    {
        // The window closes 10 minutes from now, before the next follow-up would be due.
        await using var h = await fixture.CreateHarnessAsync(s_now);
        var inbound = s_now.AddHours(-24).AddMinutes(10);
        await SeedAsync(h, 1, inbound: inbound, outbound: s_now.AddMinutes(-31), name: "Dora");

        var result = await h.FollowUps.RunAsync(default);

        var envelope = Assert.Single(await h.QueuedAsync()).Envelope;
        Assert.Equal($"followup:1:{inbound.ToUnixTimeMilliseconds()}:1", envelope.Id);
        Assert.Equal("Olá Dora, ainda podemos ajudar? É só responder esta mensagem.", envelope.Text);
        Assert.Equal(inbound.AddHours(24), envelope.ExpiresAt);
        Assert.Equal((1, 0), (result.FollowUps, result.Closed));
    }

    [Fact]
    public async Task RunAsync_OutsideTheWindow_SendsTheApprovedTemplate()
    {
        await using var h = await fixture.CreateHarnessAsync(s_now);
        await SeedAsync(h, 1, inbound: s_now.AddHours(-30), outbound: s_now.AddHours(-29), name: "Edu");

        await h.FollowUps.RunAsync(default);

        var envelope = Assert.Single(await h.QueuedAsync()).Envelope;
        Assert.Null(envelope.Text);
        Assert.Equal("followup_reminder", envelope.Template!.Name);
        Assert.Equal(["Edu"], envelope.Template.Parameters);
    }

    [Fact]
    public async Task RunAsync_CustomerWithoutAName_TheShippedTemplatesSayClienteInsteadOfABlank()
    {
        // customer_name defaults to ''. The approved template got an empty parameter, which WhatsApp refuses (HTTP 400,
        // a dead letter: the customer never got the follow-up), and the text read "Olá , ainda podemos ajudar?".
        await using var h = await fixture.CreateHarnessAsync(s_now);
        await SeedAsync(h, 1, inbound: s_now.AddHours(-30), outbound: s_now.AddHours(-29), name: "");
        await SeedAsync(h, 2, inbound: s_now.AddHours(-20), outbound: s_now.AddMinutes(-31), name: "");

        await h.FollowUps.RunAsync(default);

        var byId = (await h.QueuedAsync()).ToDictionary(m => m.Envelope.Id.Split(':')[1], m => m.Envelope);
        Assert.Equal(["cliente"], byId["1"].Template!.Parameters);
        Assert.Equal("Olá cliente, ainda podemos ajudar? É só responder esta mensagem.", byId["2"].Text);
    }

    [Fact]
    public async Task RunAsync_NotIdleLongEnoughOrCustomerSpokeLastOrClosed_NothingIsSent()
    {
        await using var h = await fixture.CreateHarnessAsync(s_now);
        await SeedAsync(h, 1, inbound: s_now.AddHours(-2), outbound: s_now.AddMinutes(-10));
        await SeedAsync(h, 2, inbound: s_now.AddMinutes(-40), outbound: s_now.AddMinutes(-50));
        await SeedAsync(h, 3, inbound: s_now.AddHours(-2), outbound: s_now.AddHours(-1), status: "closed");

        var result = await h.FollowUps.RunAsync(default);

        Assert.Empty(await h.QueuedAsync());
        Assert.Equal((0, 0), (result.FollowUps, result.Closed));
    }

    [Fact]
    public async Task RunAsync_EveryIdlePeriod_NextFollowUpUpToTheMaximumThenTheConversationCloses()
    {
        await using var h = await fixture.CreateHarnessAsync(s_now);
        var inbound = s_now.AddHours(-3);
        await SeedAsync(h, 1, inbound: inbound, outbound: s_now.AddHours(-1));

        var first = await h.FollowUps.RunAsync(default);
        var sameMinute = await h.FollowUps.RunAsync(default);
        h.Clock.Advance(TimeSpan.FromMinutes(31));
        var second = await h.FollowUps.RunAsync(default);
        h.Clock.Advance(TimeSpan.FromMinutes(31));
        var third = await h.FollowUps.RunAsync(default);

        Assert.Equal([1, 0, 1, 0], new[] { first.FollowUps, sameMinute.FollowUps, second.FollowUps, third.FollowUps });
        Assert.Equal(1, third.Closed);
        Assert.Equal("closed", await h.ScalarAsync<string>("SELECT status FROM cortex.conversations WHERE id = 1"));
        var anchor = inbound.ToUnixTimeMilliseconds();
        Assert.Equal([$"followup:1:{anchor}:1", $"followup:1:{anchor}:2"], (await h.QueuedAsync()).Select(m => m.Envelope.Id).Order());
    }

    [Fact]
    public async Task RunAsync_FollowUpStillWaitingWhenTheNextIsDecided_HasExpiredSoTheCustomerNeverGetsBothInARow()
    {
        // Redis away for an hour (or the gateway, or a paused queue): follow-up 1 waited, follow-up 2 was decided an idle
        // period later, and once sending resumed both went out seconds apart, the same question twice.
        await using var h = await fixture.CreateHarnessAsync(s_now);
        await SeedAsync(h, 1, inbound: s_now.AddHours(-3), outbound: s_now.AddHours(-1));

        await h.FollowUps.RunAsync(default);
        h.Clock.Advance(TimeSpan.FromMinutes(31));
        Assert.Equal(1, (await h.FollowUps.RunAsync(default)).FollowUps);

        // The sender dead-letters an envelope past its expiresAt instead of sending it.
        var byNumber = (await h.QueuedAsync()).ToDictionary(m => m.Envelope.Id.Split(':')[3], m => m.Envelope);
        Assert.True(byNumber["1"].ExpiresAt <= h.Clock.GetUtcNow(), $"follow-up 1 expires at {byNumber["1"].ExpiresAt:O}");
        // The last has no next: the conversation's close, an idle period on, does not cut it short.
        Assert.True(byNumber["2"].ExpiresAt > h.Clock.GetUtcNow() + TimeSpan.FromMinutes(31), $"follow-up 2 expires at {byNumber["2"].ExpiresAt:O}");
    }

    [Fact]
    public async Task RunAsync_CustomerWritesAgain_TheCountStartsOver()
    {
        await using var h = await fixture.CreateHarnessAsync(s_now);
        await SeedAsync(h, 1, inbound: s_now.AddHours(-3), outbound: s_now.AddHours(-1));
        await h.FollowUps.RunAsync(default);
        h.Clock.Advance(TimeSpan.FromMinutes(31));
        await h.FollowUps.RunAsync(default);

        // The customer answers, the agent replies, the customer goes quiet again.
        var answered = s_now.AddMinutes(40);
        await h.ExecuteAsync("UPDATE cortex.conversations SET last_inbound_at = @in, last_outbound_at = @out", ("in", answered.UtcDateTime), ("out", answered.AddMinutes(1).UtcDateTime));
        h.Clock.Advance(TimeSpan.FromHours(1));
        var result = await h.FollowUps.RunAsync(default);

        Assert.Equal(1, result.FollowUps);
        Assert.Contains(await h.QueuedAsync(), m => m.Envelope.Id == $"followup:1:{answered.ToUnixTimeMilliseconds()}:1");
        Assert.Equal(3, (await h.QueuedAsync()).Count);
    }

    [Fact]
    public async Task RunAsync_QuietHoursMoveTheSendPastTheWindow_TemplateIsUsedAlthoughTheWindowIsOpenNow()
    {
        // 23:30 in São Paulo; the customer wrote at 07:30 local, so the window closes at 07:30 tomorrow, before quiet hours end at 08:00.
        var night = new DateTimeOffset(2026, 11, 21, 2, 30, 0, TimeSpan.Zero);
        await using var h = await fixture.CreateHarnessAsync(night);
        await SeedAsync(h, 1, inbound: night.AddHours(-16), outbound: night.AddHours(-15));

        await h.FollowUps.RunAsync(default);

        var queued = Assert.Single(await h.QueuedAsync());
        Assert.Equal(new DateTimeOffset(2026, 11, 21, 11, 0, 0, TimeSpan.Zero), queued.DueAt);
        Assert.Equal("followup_reminder", queued.Envelope.Template?.Name);
    }

    [Fact]
    public async Task RunAsync_IdleAcrossTheQuietHours_OneFollowUpAtTheirEndAndTheNextAnIdlePeriodAfterIt()
    {
        // 21:10 in São Paulo; the agent wrote at 20:40. Quiet hours run from 21:00 to 08:00.
        var evening = new DateTimeOffset(2026, 11, 21, 0, 10, 0, TimeSpan.Zero);
        var morning = new DateTimeOffset(2026, 11, 21, 11, 0, 0, TimeSpan.Zero);
        await using var h = await fixture.CreateHarnessAsync(evening);
        await SeedAsync(h, 1, inbound: evening.AddHours(-2), outbound: evening.AddMinutes(-30));

        // Every idle period of the night: one follow-up, held to 08:00. Its idle time counts from 08:00, so the night
        // adds no second one to go out with it, and the conversation is not closed before either was sent.
        var (followUps, closed) = (0, 0);
        for (; h.Clock.GetUtcNow() < morning; h.Clock.Advance(TimeSpan.FromMinutes(31)))
        {
            var run = await h.FollowUps.RunAsync(default);
            (followUps, closed) = (followUps + run.FollowUps, closed + run.Closed);
        }

        var queued = Assert.Single(await h.QueuedAsync());
        Assert.Equal(morning, queued.DueAt);
        Assert.Equal((1, 0), (followUps, closed));

        h.Clock.Advance(morning.AddMinutes(29) - h.Clock.GetUtcNow());
        Assert.Equal(0, (await h.FollowUps.RunAsync(default)).FollowUps);
        h.Clock.Advance(TimeSpan.FromMinutes(2));
        Assert.Equal(1, (await h.FollowUps.RunAsync(default)).FollowUps);
        Assert.Equal("open", await h.ScalarAsync<string>("SELECT status FROM cortex.conversations WHERE id = 1"));
    }

    [Fact]
    public async Task RunAsync_OutsideTheWindowWithoutAnApprovedTemplate_SkipsThatConversationAndKeepsItsCount()
    {
        await using var h = await fixture.CreateHarnessAsync(s_now);
        await h.ExecuteAsync(
            "INSERT INTO cortex.message_templates (tenant, key, body) VALUES ('clinic', 'followup.template', 'texto livre')");
        await SeedAsync(h, 1, inbound: s_now.AddHours(-30), outbound: s_now.AddHours(-29), tenant: "clinic");
        await SeedAsync(h, 2, inbound: s_now.AddHours(-30), outbound: s_now.AddHours(-29), tenant: "isp");

        var result = await h.FollowUps.RunAsync(default);

        // The clinic's override is not an approved template: its conversation waits, the other tenant's is followed up.
        Assert.Equal((1, 1), (result.FollowUps, result.Invalid));
        Assert.Equal("isp", Assert.Single(await h.QueuedAsync()).Envelope.Tenant);
        Assert.Equal(0, await h.ScalarAsync<int>("SELECT follow_ups_sent FROM cortex.conversations WHERE id = 1"));
        var skipped = Assert.Single(h.Logs.Lines, l => l.Contains("[2001]", StringComparison.Ordinal));
        Assert.Contains("cortex.message_templates row 'followup.template' of tenant 'clinic' must name an approved WhatsApp template", skipped, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunAsync_OutsideTheWindowWithTheDefaultRowNotApproved_NamesTheDefaultTenantsRow()
    {
        // The row's tenant is the empty name: the warning read "(tenant '' or '')".
        await using var h = await fixture.CreateHarnessAsync(s_now);
        await h.ExecuteAsync("UPDATE cortex.message_templates SET wa_name = NULL, wa_language = NULL WHERE tenant = '' AND key = 'followup.template'");
        await SeedAsync(h, 1, inbound: s_now.AddHours(-30), outbound: s_now.AddHours(-29));

        var result = await h.FollowUps.RunAsync(default);

        Assert.Equal(1, result.Invalid);
        var skipped = Assert.Single(h.Logs.Lines, l => l.Contains("[2001]", StringComparison.Ordinal));
        Assert.Contains("(cortex.message_templates row 'followup.template' of the default tenant must name an approved WhatsApp template (wa_name, wa_language): outside the 24-hour window WhatsApp refuses free text)", skipped, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunAsync_OptedOutCustomer_GetsNoFollowUpAndTheConversationIsClosed()
    {
        // The opted-out conversation was left out of every run: never followed up, so never out of follow-ups, and open
        // for good.
        await using var h = await fixture.CreateHarnessAsync(s_now);
        await SeedAsync(h, 1, inbound: s_now.AddHours(-3), outbound: s_now.AddHours(-1));
        await SeedAsync(h, 2, inbound: s_now.AddHours(-3), outbound: s_now.AddHours(-1));
        await h.ExecuteAsync("INSERT INTO cortex.opt_outs (phone) VALUES ('+5511900000001')");

        var result = await h.FollowUps.RunAsync(default);

        Assert.Equal((1, 1, 1), (result.FollowUps, result.Closed, result.OptedOut));
        Assert.Equal("+5511900000002", Assert.Single(await h.QueuedAsync()).Envelope.To);
        Assert.Equal("closed|cortex", await h.ScalarAsync<string>("SELECT status || '|' || closed_by FROM cortex.conversations WHERE id = 1"));
        Assert.Equal("open", await h.ScalarAsync<string>("SELECT status FROM cortex.conversations WHERE id = 2"));
    }

    [Fact]
    public async Task RunAsync_TwoReplicasAtTheSameTime_EachConversationFollowedUpOnce()
    {
        await using var h = await fixture.CreateHarnessAsync(s_now, new() { ["Cortex:Scheduler:BatchSize"] = "50" });
        await h.ExecuteAsync(
            """
            INSERT INTO cortex.conversations (id, phone, customer_name, last_inbound_at, last_outbound_at)
            SELECT i, '+55119' || lpad(i::text, 8, '0'), 'C' || i, @in, @out FROM generate_series(1, 1000) AS i
            """,
            ("in", s_now.AddHours(-3).UtcDateTime),
            ("out", s_now.AddHours(-1).UtcDateTime));
        var replica = h.Replica();

        var results = await Task.WhenAll(h.FollowUps.RunAsync(default), replica.FollowUps.RunAsync(default));

        var ids = (await h.QueuedAsync()).Select(m => m.Envelope.Id).ToList();
        Assert.Equal(1000, ids.Distinct().Count());
        Assert.Equal(1000, ids.Count);
        Assert.Equal(1000, results.Sum(r => r.FollowUps));
        Assert.Equal(1000L, await h.ScalarAsync<long>("SELECT count(*) FROM cortex.conversations WHERE follow_ups_sent = 1"));
    }

    private static Task SeedAsync(
        SchedulerHarness h, long id, DateTimeOffset? inbound, DateTimeOffset outbound, string status = "open", string name = "Cliente", string tenant = "") =>
        h.ExecuteAsync(
            "INSERT INTO cortex.conversations (id, tenant, phone, customer_name, status, last_inbound_at, last_outbound_at) VALUES (@id, @tenant, @phone, @name, @status, @in, @out)",
            ("id", id),
            ("tenant", tenant),
            ("phone", $"+55119{id:D8}"),
            ("name", name),
            ("status", status),
            ("in", (object?)inbound?.UtcDateTime ?? DBNull.Value),
            ("out", outbound.UtcDateTime));
}
