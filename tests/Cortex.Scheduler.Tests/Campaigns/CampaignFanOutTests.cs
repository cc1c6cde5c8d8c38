using Cortex.Scheduler.Campaigns;
using Cortex.Scheduler.Tests.Infrastructure;
using Cortex.Shared.Contract;
using Microsoft.Extensions.Options;

namespace Cortex.Scheduler.Tests.Campaigns;

/// <summary>Campaign fan-out against real PostgreSQL and Redis, 100 recipients per batch.</summary>
public sealed class CampaignFanOutTests(SchedulerFixture fixture) : IClassFixture<SchedulerFixture>
{
    // 09:00:30 in São Paulo.
    private static readonly DateTimeOffset s_now = new(2026, 11, 23, 12, 0, 30, TimeSpan.Zero);
    private static readonly Dictionary<string, string?> s_smallBatches = new() { ["Cortex:Scheduler:BatchSize"] = "100" };
    private static readonly TimeZoneInfo s_saoPaulo = TimeZoneInfo.FindSystemTimeZoneById("America/Sao_Paulo");

    [Fact]
    public async Task RunAsync_DueOneShotCampaign_EveryRecipientOnceAtLowPriorityExceptOptedOut()
    {
        await using var h = await fixture.CreateHarnessAsync(s_now, s_smallBatches);
        var id = await SeedCampaignAsync(h, recipients: 350, runAt: s_now.AddMinutes(-1));
        await h.ExecuteAsync("INSERT INTO cortex.opt_outs (phone) VALUES ('+5511900000007')");

        var result = await h.Campaigns.RunAsync(default);

        var queued = await h.QueuedAsync();
        Assert.Equal(349, queued.Count);
        Assert.Equal(349, queued.Select(m => m.Envelope.Id).Distinct().Count());
        Assert.All(queued, m => Assert.Equal(Priority.Low, m.Envelope.Priority));
        Assert.DoesNotContain(queued, m => m.Envelope.To == "+5511900000007");
        var fire = s_now.AddMinutes(-1).ToUnixTimeMilliseconds();
        var first = Assert.Single(queued, m => m.Envelope.Id == $"campaign:{id}:{fire}:1").Envelope;
        Assert.Equal("Oi Pessoa 1, promoção Black Friday!", first.Text);
        Assert.Equal((1, 349, 1), (result.RunsStarted, result.Enqueued, result.Skipped));
        Assert.Equal("completed|350|349|1", await RunStateAsync(h, id));
        Assert.Equal("completed", await h.ScalarAsync<string>("SELECT status FROM cortex.campaigns WHERE id = @id", ("id", id)));
    }

    [Fact]
    public async Task RunAsync_CampaignQuietHoursOverride_EveryMessageCarriesItsWindowForTheSender()
    {
        // 09:00:30 is outside a campaign window of 20:00–09:00, so the messages go now; should the backlog still be
        // draining at 20:00, the window they carry makes the sender hold the rest until 09:00.
        await using var h = await fixture.CreateHarnessAsync(s_now, new Dictionary<string, string?>(s_smallBatches)
        {
            ["Cortex:Scheduler:QuietHours:Overrides:0:Kind"] = "campaign",
            ["Cortex:Scheduler:QuietHours:Overrides:0:Start"] = "20:00",
            ["Cortex:Scheduler:QuietHours:Overrides:0:End"] = "09:00",
        });
        await SeedCampaignAsync(h, recipients: 150, runAt: s_now.AddMinutes(-1));

        await h.Campaigns.RunAsync(default);

        var queued = await h.QueuedAsync();
        Assert.Equal(150, queued.Count);
        Assert.All(queued, m => Assert.Equal(("20:00-09:00 America/Sao_Paulo", null), (m.Envelope.QuietHours?.ToString(), m.Envelope.NotBefore)));
    }

    [Fact]
    public async Task RunAsync_NotDueYet_NothingStarts()
    {
        await using var h = await fixture.CreateHarnessAsync(s_now, s_smallBatches);
        await SeedCampaignAsync(h, recipients: 10, runAt: s_now.AddMinutes(5));

        var result = await h.Campaigns.RunAsync(default);

        Assert.Equal(0, result.RunsStarted);
        Assert.Empty(await h.QueuedAsync());
    }

    [Fact]
    public async Task RunAsync_ProcessDiesMidFanOut_NextRunResumesFromTheCursorWithNoDuplicateAndNoGap()
    {
        await using var h = await fixture.CreateHarnessAsync(s_now, s_smallBatches);
        var id = await SeedCampaignAsync(h, recipients: 1000, runAt: s_now.AddMinutes(-1));

        // Dies after committing its third batch to the ledger, before pushing it.
        var crashing = h.Replica(push => push == 3 ? throw new IOException("process killed") : Task.CompletedTask);
        await Assert.ThrowsAsync<IOException>(() => crashing.Campaigns.RunAsync(default));
        Assert.Equal(200, (await h.QueuedAsync()).Count);
        Assert.Equal("running|1000|300|0", await RunStateAsync(h, id));

        var resumed = await h.Campaigns.RunAsync(default);

        var ids = (await h.QueuedAsync()).Select(m => m.Envelope.Id).ToList();
        Assert.Equal(1000, ids.Count);
        Assert.Equal(1000, ids.Distinct().Count());
        Assert.Equal(0, resumed.RunsStarted);
        Assert.Equal("completed|1000|1000|0", await RunStateAsync(h, id));
    }

    [Fact]
    public async Task RunAsync_PausedBetweenBatches_StopsThenResumeFinishesTheRest()
    {
        await using var h = await fixture.CreateHarnessAsync(s_now, s_smallBatches);
        var id = await SeedCampaignAsync(h, recipients: 500, runAt: s_now.AddMinutes(-1));
        var pausing = h.Replica(async push =>
        {
            if (push == 2)
            {
                await h.ExecuteAsync("UPDATE cortex.campaigns SET status = 'paused' WHERE id = @id", ("id", id));
            }
        });

        await pausing.Campaigns.RunAsync(default);
        var whilePaused = await h.Campaigns.RunAsync(default);
        Assert.Equal(200, (await h.QueuedAsync()).Count);
        Assert.Equal(0, whilePaused.Enqueued);

        await h.ExecuteAsync("UPDATE cortex.campaigns SET status = 'active' WHERE id = @id", ("id", id));
        await h.Campaigns.RunAsync(default);

        Assert.Equal(500, (await h.QueuedAsync()).Select(m => m.Envelope.Id).Distinct().Count());
        Assert.Equal("completed|500|500|0", await RunStateAsync(h, id));
    }

    [Fact]
    public async Task RunAsync_CancelledBetweenBatches_RunEndsCancelledAndNothingMoreGoesOut()
    {
        await using var h = await fixture.CreateHarnessAsync(s_now, s_smallBatches);
        var id = await SeedCampaignAsync(h, recipients: 500, runAt: s_now.AddMinutes(-1));
        var cancelling = h.Replica(async push =>
        {
            if (push == 1)
            {
                await h.ExecuteAsync("UPDATE cortex.campaigns SET status = 'cancelled' WHERE id = @id", ("id", id));
            }
        });

        await cancelling.Campaigns.RunAsync(default);
        await h.Campaigns.RunAsync(default);

        Assert.Equal(100, (await h.QueuedAsync()).Count);
        Assert.Equal("cancelled|500|100|0", await RunStateAsync(h, id));
    }

    [Fact]
    public async Task RunAsync_TwoReplicasAtTheSameTime_EveryRecipientOnce()
    {
        await using var h = await fixture.CreateHarnessAsync(s_now, s_smallBatches);
        var id = await SeedCampaignAsync(h, recipients: 2000, runAt: s_now.AddMinutes(-1));
        var replica = h.Replica();

        await Task.WhenAll(h.Campaigns.RunAsync(default), replica.Campaigns.RunAsync(default));

        var ids = (await h.QueuedAsync()).Select(m => m.Envelope.Id).ToList();
        Assert.Equal(2000, ids.Count);
        Assert.Equal(2000, ids.Distinct().Count());
        Assert.Equal(1L, await h.ScalarAsync<long>("SELECT count(*) FROM cortex.campaign_runs WHERE campaign_id = @id", ("id", id)));
        Assert.Equal("completed|2000|2000|0", await RunStateAsync(h, id));
    }

    [Fact]
    public async Task RunAsync_CronCampaignAfterDowntime_FiresOnceForTheLatestMissedTime()
    {
        await using var h = await fixture.CreateHarnessAsync(s_now, s_smallBatches);

        // Daily at 09:00, created three days ago: the scheduler was down for the firings of the 21st and 22nd.
        var id = await SeedCampaignAsync(h, recipients: 5, cron: "0 0 9 * * ?", createdAt: s_now.AddDays(-3));

        var first = await h.Campaigns.RunAsync(default);
        var again = await h.Campaigns.RunAsync(default);
        h.Clock.Advance(TimeSpan.FromDays(1));
        var nextDay = await h.Campaigns.RunAsync(default);

        Assert.Equal([1, 0, 1], new[] { first.RunsStarted, again.RunsStarted, nextDay.RunsStarted });
        var fireTimes = await h.ScalarAsync<DateTime[]>("SELECT array_agg(fire_time ORDER BY fire_time) FROM cortex.campaign_runs WHERE campaign_id = @id", ("id", id));
        Assert.Equal([new DateTime(2026, 11, 23, 12, 0, 0, DateTimeKind.Utc), new DateTime(2026, 11, 24, 12, 0, 0, DateTimeKind.Utc)], fireTimes);
        Assert.Equal(10, (await h.QueuedAsync()).Count);
    }

    [Fact]
    public async Task RunAsync_CronEditedAfterTodaysRun_TheNewScheduleCountsFromTheEditAndTodayIsNotSentAgain()
    {
        await using var h = await fixture.CreateHarnessAsync(s_now, s_smallBatches);
        var id = await SeedCampaignAsync(h, recipients: 5, cron: "0 0 9 * * ?", createdAt: s_now.AddDays(-3));
        Assert.Equal(1, (await h.Campaigns.RunAsync(default)).RunsStarted);

        // 10:30: the operator moves the daily campaign to 10:00, from tomorrow on. Today's 10:00 was a firing of the new
        // cron since the last run, and every recipient got the campaign a second time.
        h.Clock.Advance(TimeSpan.FromMinutes(90));
        await h.ExecuteAsync("UPDATE cortex.campaigns SET cron = '0 0 10 * * ?' WHERE id = @id", ("id", id));
        Assert.True(await h.ScalarAsync<bool>("SELECT cron_changed_at IS NOT NULL FROM cortex.campaigns WHERE id = @id", ("id", id)));
        // The trigger stamps PostgreSQL's clock; the test's clock is fake: the stamp is set to it.
        await h.ExecuteAsync("UPDATE cortex.campaigns SET cron_changed_at = @at WHERE id = @id", ("at", h.Clock.GetUtcNow().UtcDateTime), ("id", id));

        var afterEdit = await h.Campaigns.RunAsync(default);
        h.Clock.Advance(TimeSpan.FromDays(1) - TimeSpan.FromMinutes(30));
        var tomorrow = await h.Campaigns.RunAsync(default);

        Assert.Equal([0, 1], new[] { afterEdit.RunsStarted, tomorrow.RunsStarted });
        var fireTimes = await h.ScalarAsync<DateTime[]>("SELECT array_agg(fire_time ORDER BY fire_time) FROM cortex.campaign_runs WHERE campaign_id = @id", ("id", id));
        Assert.Equal([new DateTime(2026, 11, 23, 12, 0, 0, DateTimeKind.Utc), new DateTime(2026, 11, 24, 13, 0, 0, DateTimeKind.Utc)], fireTimes);
        Assert.Equal(10, (await h.QueuedAsync()).Count);
    }

    [Fact]
    public async Task RunAsync_CronEditedToALaterTimeBeforeItCame_TodayIsNotSentAgainAndTomorrowIs()
    {
        await using var h = await fixture.CreateHarnessAsync(s_now, s_smallBatches);
        var id = await SeedCampaignAsync(h, recipients: 5, cron: "0 0 9 * * ?", createdAt: s_now.AddDays(-3));
        Assert.Equal(1, (await h.Campaigns.RunAsync(default)).RunsStarted);

        // 09:30: the operator moves the daily campaign to 10:00. Today's 10:00 came after the edit, and every recipient
        // got today's campaign a second time an hour after the first.
        h.Clock.Advance(TimeSpan.FromMinutes(30));
        await h.ExecuteAsync("UPDATE cortex.campaigns SET cron = '0 0 10 * * ?', cron_changed_at = @at WHERE id = @id", ("at", h.Clock.GetUtcNow().UtcDateTime), ("id", id));
        h.Clock.Advance(TimeSpan.FromMinutes(31));
        var atTen = await h.Campaigns.RunAsync(default);
        h.Clock.Advance(TimeSpan.FromDays(1));
        var tomorrow = await h.Campaigns.RunAsync(default);

        Assert.Equal([0, 1], new[] { atTen.RunsStarted, tomorrow.RunsStarted });
        var fireTimes = await h.ScalarAsync<DateTime[]>("SELECT array_agg(fire_time ORDER BY fire_time) FROM cortex.campaign_runs WHERE campaign_id = @id", ("id", id));
        Assert.Equal([new DateTime(2026, 11, 23, 12, 0, 0, DateTimeKind.Utc), new DateTime(2026, 11, 24, 13, 0, 0, DateTimeKind.Utc)], fireTimes);
        Assert.Equal(10, (await h.QueuedAsync()).Count);
    }

    [Theory]
    [InlineData("UTC", "America/Sao_Paulo", 3)]
    [InlineData("America/Sao_Paulo", "UTC", 0)]
    public async Task RunAsync_TimeZoneChangedAfterTodaysRun_EachDayIsSentOnce(string before, string after, int hoursAfterTheRun)
    {
        // 09:00 daily. Moved from UTC to São Paulo after today's 09:00 UTC run, today's 09:00 in São Paulo (12:00 UTC) was
        // a firing since the last run: every recipient got today's campaign twice. Moved the other way, tomorrow's 09:00
        // UTC (21 hours after today's run) must still go.
        var zoneBefore = TimeZoneInfo.FindSystemTimeZoneById(before);
        var start = new DateTimeOffset(2026, 11, 23, 9, 0, 30, zoneBefore.GetUtcOffset(new DateTime(2026, 11, 23, 12, 0, 0, DateTimeKind.Utc)));
        await using var h = await fixture.CreateHarnessAsync(start.ToUniversalTime(), new Dictionary<string, string?>(s_smallBatches) { ["Cortex:Scheduler:TimeZone"] = before });
        var id = await SeedCampaignAsync(h, recipients: 5, cron: "0 0 9 * * ?", createdAt: start.AddDays(-3));
        Assert.Equal(1, (await h.Campaigns.RunAsync(default)).RunsStarted);

        h.Clock.Advance(TimeSpan.FromHours(hoursAfterTheRun));
        await using var moved = new SchedulerHarness(h.ConnectionString, h.Redis, h.QueueName, h.Clock, new Dictionary<string, string?>(s_smallBatches) { ["Cortex:Scheduler:TimeZone"] = after });
        var started = new List<int>();
        for (var hour = 0; hour <= 48; hour++)
        {
            started.Add((await moved.Campaigns.RunAsync(default)).RunsStarted);
            h.Clock.Advance(TimeSpan.FromHours(1));
        }

        // The first run under the new zone is tomorrow's, and the day after has its own.
        Assert.Equal(2, started.Sum());
        var fireTimes = await h.ScalarAsync<DateTime[]>("SELECT array_agg(fire_time ORDER BY fire_time) FROM cortex.campaign_runs WHERE campaign_id = @id", ("id", id));
        var zoneAfter = TimeZoneInfo.FindSystemTimeZoneById(after);
        var nineOn24th = new DateTimeOffset(2026, 11, 24, 9, 0, 0, zoneAfter.GetUtcOffset(new DateTime(2026, 11, 24, 12, 0, 0, DateTimeKind.Utc)));
        Assert.Equal([start.AddSeconds(-30).UtcDateTime, nineOn24th.UtcDateTime, nineOn24th.AddDays(1).UtcDateTime], fireTimes);
        Assert.Equal(15, (await h.QueuedAsync()).Count);
    }

    [Fact]
    public async Task RunAsync_CronRunPausedAcrossItsNextFiring_EndsThereAndTheNewRunAloneReachesTheRest()
    {
        await using var h = await fixture.CreateHarnessAsync(s_now, s_smallBatches);
        var id = await SeedCampaignAsync(h, recipients: 500, cron: "0 0 9 * * ?", createdAt: s_now.AddDays(-1).AddMinutes(1));
        var pausing = h.Replica(async push =>
        {
            if (push == 2)
            {
                await h.ExecuteAsync("UPDATE cortex.campaigns SET status = 'paused' WHERE id = @id", ("id", id));
            }
        });
        await pausing.Campaigns.RunAsync(default);

        // Resumed the next day, after its next firing.
        h.Clock.Advance(TimeSpan.FromDays(1));
        await h.ExecuteAsync("UPDATE cortex.campaigns SET status = 'active' WHERE id = @id", ("id", id));
        var resumed = await h.Campaigns.RunAsync(default);

        // The first 200 recipients had the first run's message before the pause; each gets the next day's once, and
        // no recipient gets two messages of one day.
        var perRecipient = (await h.QueuedAsync()).GroupBy(m => m.Envelope.To).Select(g => g.Count()).ToList();
        Assert.Equal((500, 200), (perRecipient.Count, perRecipient.Count(n => n == 2)));
        Assert.Equal(1, resumed.RunsStarted);
        Assert.Equal(
            ["cancelled|500|200|0", "completed|500|500|0"],
            await h.ScalarAsync<string[]>(
                "SELECT array_agg(status || '|' || total || '|' || enqueued || '|' || skipped ORDER BY fire_time) FROM cortex.campaign_runs WHERE campaign_id = @id",
                ("id", id)));
    }

    [Fact]
    public async Task RunAsync_OneShotFiringMoreThanExpireAfterLate_NothingGoesOutAndTheRunEndsExpired()
    {
        // "Today only", due two days ago: the scheduler (or PostgreSQL) was down since. It went out to everyone, two days late.
        await using var h = await fixture.CreateHarnessAsync(s_now, s_smallBatches);
        var id = await SeedCampaignAsync(h, recipients: 250, runAt: s_now.AddDays(-2));

        var result = await h.Campaigns.RunAsync(default);
        var again = await h.Campaigns.RunAsync(default);

        Assert.Empty(await h.QueuedAsync());
        Assert.Equal(0L, await h.ScalarAsync<long>("SELECT count(*) FROM cortex.dispatch_ledger"));
        Assert.Equal((1, 0, 0), (result.RunsStarted, result.Enqueued, again.RunsStarted));
        Assert.Equal("expired|250|0|0", await RunStateAsync(h, id));
        Assert.Equal("completed", await h.ScalarAsync<string>("SELECT status FROM cortex.campaigns WHERE id = @id", ("id", id)));
        var warning = Assert.Single(h.Logs.Lines, l => l.Contains("[2021]", StringComparison.Ordinal));
        Assert.StartsWith("Warning ", warning, StringComparison.Ordinal);
        Assert.Contains($"Campaign {id} run 2026-11-21T12:00:30.0000000+00:00 expired", warning, StringComparison.Ordinal);
        Assert.Contains("is 2.00:00:00 past, more than ExpireAfter (12:00:00); 250 of 250 recipients are not fanned out", warning, StringComparison.Ordinal);
        Assert.DoesNotContain("+55", warning, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(719, "completed|20|20|0", 20)]
    [InlineData(721, "expired|20|0|0", 0)]
    public async Task RunAsync_OneShotFiringLate_FannedOutWithinExpireAfterOnly(int minutesLate, string run, int messages)
    {
        // No quiet hours: the send time is the fire time.
        await using var h = await fixture.CreateHarnessAsync(s_now, new Dictionary<string, string?>(s_smallBatches)
        {
            ["Cortex:Scheduler:QuietHours:Start"] = "00:00",
            ["Cortex:Scheduler:QuietHours:End"] = "00:00",
        });
        var id = await SeedCampaignAsync(h, recipients: 20, runAt: s_now.AddMinutes(-minutesLate));

        await h.Campaigns.RunAsync(default);

        var queued = await h.QueuedAsync();
        Assert.Equal(messages, queued.Count);
        Assert.All(queued, m => Assert.Equal((DateTimeOffset?)s_now.AddHours(12), m.Envelope.ExpiresAt));
        Assert.Equal(run, await RunStateAsync(h, id));
        Assert.Equal("completed", await h.ScalarAsync<string>("SELECT status FROM cortex.campaigns WHERE id = @id", ("id", id)));
    }

    [Fact]
    public async Task RunAsync_FiringInQuietHours_LateCountsFromTheirEndNotFromTheFireTime()
    {
        // ExpireAfter 6 h, quiet hours 21:00–08:00, now 09:00:30. Fired at 22:00 yesterday (11 h ago), its send time was
        // 08:00 today, an hour ago: it goes out. Fired at 20:00 yesterday, outside the quiet hours, it is 13 h late.
        await using var h = await fixture.CreateHarnessAsync(s_now, new Dictionary<string, string?>(s_smallBatches) { ["Cortex:Scheduler:ExpireAfter"] = "06:00:00" });
        var night = await SeedCampaignAsync(h, recipients: 150, runAt: new DateTimeOffset(2026, 11, 22, 22, 0, 0, TimeSpan.FromHours(-3)));
        var evening = await SeedCampaignAsync(h, recipients: 150, runAt: new DateTimeOffset(2026, 11, 22, 20, 0, 0, TimeSpan.FromHours(-3)));

        await h.Campaigns.RunAsync(default);

        var queued = await h.QueuedAsync();
        Assert.Equal(150, queued.Count);
        Assert.All(queued, m => Assert.StartsWith($"campaign:{night}:", m.Envelope.Id, StringComparison.Ordinal));
        Assert.Equal("completed|150|150|0", await RunStateAsync(h, night));
        Assert.Equal("expired|150|0|0", await RunStateAsync(h, evening));
        Assert.Contains(h.Logs.Lines, l => l.Contains("[2021]", StringComparison.Ordinal) && l.Contains($"Campaign {evening} run", StringComparison.Ordinal));
        Assert.DoesNotContain(h.Logs.Lines, l => l.Contains("[2021]", StringComparison.Ordinal) && l.Contains($"Campaign {night} run", StringComparison.Ordinal));
    }

    [Fact]
    public async Task RunAsync_FanOutCutByACrashAndResumedPastExpireAfter_WhatWentOutStaysAndTheRestIsNotFannedOut()
    {
        await using var h = await fixture.CreateHarnessAsync(s_now, s_smallBatches);
        var id = await SeedCampaignAsync(h, recipients: 500, runAt: s_now.AddMinutes(-1));

        // Dies after committing its second batch to the ledger, before pushing it; nothing runs again for two days.
        var crashing = h.Replica(push => push == 2 ? throw new IOException("process killed") : Task.CompletedTask);
        await Assert.ThrowsAsync<IOException>(() => crashing.Campaigns.RunAsync(default));
        Assert.Equal("running|500|200|0", await RunStateAsync(h, id));
        h.Clock.Advance(TimeSpan.FromDays(2));

        var resumed = await h.Campaigns.RunAsync(default);

        // The two committed batches go (the second pushed now, from the ledger), as they would have without the limit.
        var ids = (await h.QueuedAsync()).Select(m => m.Envelope.Id).ToList();
        Assert.Equal(200, ids.Distinct().Count());
        Assert.Equal(Enumerable.Range(1, 200).Select(r => $"campaign:{id}:{s_now.AddMinutes(-1).ToUnixTimeMilliseconds()}:{r}").Order(), ids.Order());
        Assert.Equal(200L, await h.ScalarAsync<long>("SELECT count(*) FROM cortex.dispatch_ledger"));
        Assert.Equal((0, 100), (resumed.Enqueued, resumed.Published));
        Assert.Equal("expired|500|200|0", await RunStateAsync(h, id));
        Assert.Equal("completed", await h.ScalarAsync<string>("SELECT status FROM cortex.campaigns WHERE id = @id", ("id", id)));
        Assert.Contains(
            h.Logs.Lines,
            l => l.Contains("[2021]", StringComparison.Ordinal) && l.Contains("300 of 500 recipients are not fanned out, and the 200 enqueued before are sent as usual", StringComparison.Ordinal));
    }

    [Fact]
    public async Task RunAsync_CronFiringExpiredInAnOutage_TheNextFiringGoesOut()
    {
        // Daily at 09:00; the scheduler is back at 22:00:30, 13 h after today's firing.
        await using var h = await fixture.CreateHarnessAsync(s_now.AddHours(13), s_smallBatches);
        var id = await SeedCampaignAsync(h, recipients: 5, cron: "0 0 9 * * ?", createdAt: s_now.AddDays(-3));

        var late = await h.Campaigns.RunAsync(default);
        h.Clock.Advance(TimeSpan.FromHours(11));
        var nextDay = await h.Campaigns.RunAsync(default);

        Assert.Equal([(1, 0), (1, 5)], new[] { (late.RunsStarted, late.Enqueued), (nextDay.RunsStarted, nextDay.Enqueued) });
        Assert.Equal(
            ["expired|5|0|0", "completed|5|5|0"],
            await h.ScalarAsync<string[]>(
                "SELECT array_agg(status || '|' || total || '|' || enqueued || '|' || skipped ORDER BY fire_time) FROM cortex.campaign_runs WHERE campaign_id = @id",
                ("id", id)));
        Assert.Equal("active", await h.ScalarAsync<string>("SELECT status FROM cortex.campaigns WHERE id = @id", ("id", id)));
        Assert.All(await h.QueuedAsync(), m => Assert.StartsWith($"campaign:{id}:{new DateTimeOffset(2026, 11, 24, 12, 0, 0, TimeSpan.Zero).ToUnixTimeMilliseconds()}:", m.Envelope.Id, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("0 0 20 * * ?", "expired|5|0|0")]
    [InlineData("0 0 22 * * ?", "completed|5|5|0")]
    public async Task NextFiringAsync_CronFiringMissed_IsTheFiringThePassStartsAndTheSendTimeItsExpiryCountsFrom(string cron, string run)
    {
        // What `cortex campaign resume` warns from. Yesterday's 20:00 is 13 h past; yesterday's 22:00 falls in the quiet
        // hours, so its send time is today's 08:00, an hour ago.
        await using var h = await fixture.CreateHarnessAsync(s_now, s_smallBatches);
        var id = await SeedCampaignAsync(h, recipients: 5, cron: cron, createdAt: s_now.AddDays(-2));
        var settings = h.Get<IOptions<SchedulerOptions>>().Value;

        var firing = await CampaignFanOut.NextFiringAsync(h.DataSource, id, settings, s_now, default);
        await h.Campaigns.RunAsync(default);

        Assert.NotNull(firing);
        Assert.False(firing.Started);
        Assert.Equal(firing.FireTime.UtcDateTime, await h.ScalarAsync<DateTime>("SELECT fire_time FROM cortex.campaign_runs WHERE campaign_id = @id", ("id", id)));
        Assert.Equal(run, await RunStateAsync(h, id));
        Assert.Equal(run.StartsWith("expired", StringComparison.Ordinal), s_now - firing.SendTime > settings.ExpireAfter);
        Assert.Null(await CampaignFanOut.NextFiringAsync(h.DataSource, id, settings, s_now, default));
    }

    [Fact]
    public async Task RunAsync_NumberListedTwiceInTheCampaign_GetsItOnceWithItsFirstRow()
    {
        // A feeder inserting recipients with SQL (docs/data-model.md) repeated a customer: rows 3 and 250 share a number,
        // in different batches, and so do 7 and 8 in one batch. Each row was a message of its own, under its own id.
        await using var h = await fixture.CreateHarnessAsync(s_now, s_smallBatches);
        var id = await SeedCampaignAsync(h, recipients: 300, runAt: s_now.AddMinutes(-1));
        await h.ExecuteAsync("UPDATE cortex.campaign_recipients SET phone = '+5511900000003', name = 'Outra' WHERE campaign_id = @id AND id = 250", ("id", id));
        await h.ExecuteAsync("UPDATE cortex.campaign_recipients SET phone = '+5511900000007' WHERE campaign_id = @id AND id = 8", ("id", id));

        var result = await h.Campaigns.RunAsync(default);

        var queued = await h.QueuedAsync();
        Assert.Equal(298, queued.Count);
        Assert.Equal(298, queued.Select(m => m.Envelope.To).Distinct().Count());
        Assert.Equal("Oi Pessoa 3, promoção Black Friday!", Assert.Single(queued, m => m.Envelope.To == "+5511900000003").Envelope.Text);
        Assert.Equal((298, 2), (result.Enqueued, result.Skipped));
        Assert.Equal("completed|300|298|2", await RunStateAsync(h, id));
    }

    [Fact]
    public async Task RunAsync_RecipientLackingATemplateVariable_IsSkippedNotSentHalfFilled()
    {
        await using var h = await fixture.CreateHarnessAsync(s_now, s_smallBatches);
        var id = await SeedCampaignAsync(h, recipients: 3, runAt: s_now.AddMinutes(-1));
        await h.ExecuteAsync("UPDATE cortex.campaign_recipients SET variables = '{\"promo\": null}' WHERE id = 2");
        await h.ExecuteAsync("UPDATE cortex.campaign_recipients SET variables = NULL WHERE id = 3");

        var result = await h.Campaigns.RunAsync(default);

        Assert.Equal("Oi Pessoa 1, promoção Black Friday!", Assert.Single(await h.QueuedAsync()).Envelope.Text);
        Assert.Equal((1, 2, 2), (result.Enqueued, result.Skipped, result.Invalid));
        Assert.Equal("completed|3|1|2", await RunStateAsync(h, id));
    }

    [Fact]
    public async Task RunAsync_OneCampaignWithAMissingTemplate_DoesNotHoldUpTheOthers()
    {
        await using var h = await fixture.CreateHarnessAsync(s_now, s_smallBatches);
        var broken = await SeedCampaignAsync(h, recipients: 5, runAt: s_now.AddMinutes(-2));
        await h.ExecuteAsync("UPDATE cortex.campaigns SET template_key = 'promo-typo' WHERE id = @id", ("id", broken));
        var good = await SeedCampaignAsync(h, recipients: 5, runAt: s_now.AddMinutes(-1));

        await h.Campaigns.RunAsync(default);
        Assert.Equal(5, (await h.QueuedAsync()).Count);
        Assert.Equal("running|5|0|0", await RunStateAsync(h, broken));

        // The default tenant is the empty name: the error read "(tenant '' or the default tenant '')".
        var blocked = Assert.Single(h.Logs.Lines, l => l.Contains("[2011]", StringComparison.Ordinal));
        Assert.Contains($"Campaign {broken} cannot be fanned out: cortex.message_templates has no row for key 'promo-typo' for the default tenant; it resumes", blocked, StringComparison.Ordinal);

        await h.ExecuteAsync("UPDATE cortex.campaigns SET template_key = 'promo' WHERE id = @id", ("id", broken));
        await h.Campaigns.RunAsync(default);

        Assert.Equal(10, (await h.QueuedAsync()).Select(m => m.Envelope.Id).Distinct().Count());
        Assert.Equal("completed|5|5|0", await RunStateAsync(h, good));
    }

    [Fact]
    public async Task RunAsync_TemplateMissingForATenantAndTheDefault_NamesBoth()
    {
        await using var h = await fixture.CreateHarnessAsync(s_now, s_smallBatches);
        var id = await SeedCampaignAsync(h, recipients: 1, runAt: s_now.AddMinutes(-1));
        await h.ExecuteAsync("UPDATE cortex.campaigns SET tenant = 'isp', template_key = 'promo-typo' WHERE id = @id", ("id", id));

        await h.Campaigns.RunAsync(default);

        var blocked = Assert.Single(h.Logs.Lines, l => l.Contains("[2011]", StringComparison.Ordinal));
        Assert.Contains($"Campaign {id} cannot be fanned out: cortex.message_templates has no row for key 'promo-typo' for tenant 'isp' nor for the default tenant; it resumes", blocked, StringComparison.Ordinal);
    }

    [Fact]
    public void LatestFireTime_SeveralMissedFirings_CollapseIntoTheLatest()
    {
        var since = new DateTimeOffset(2026, 11, 20, 12, 0, 0, TimeSpan.Zero);

        var latest = CampaignFanOut.LatestFireTime("0 0 9 * * ?", s_saoPaulo, since, since.AddDays(3).AddHours(2));
        var none = CampaignFanOut.LatestFireTime("0 0 9 * * ?", s_saoPaulo, since, since.AddHours(23));

        Assert.Equal(since.AddDays(3), latest);
        Assert.Null(none);
    }

    [Fact]
    public void LatestFireTime_EverySecondAfterAMonthDown_IsTheLastSecond()
    {
        var now = new DateTimeOffset(2026, 11, 20, 12, 0, 0, 500, TimeSpan.Zero);

        Assert.Equal(now.AddMilliseconds(-500), CampaignFanOut.LatestFireTime("* * * * * ?", s_saoPaulo, now.AddDays(-30), now));
    }

    [Fact]
    public void LatestFireTime_FrequentCronOfTheDaytimeActiveAgainAtNightAfterMonths_IsTodaysLastFiring()
    {
        // Every minute from 08:00 to 20:59, last run 200 days ago, now 22:00: 156,000 firings since. The walk stopped at
        // the 100,000th, months back; each pass then started another run of the campaign.
        var now = new DateTimeOffset(2026, 11, 20, 22, 0, 0, TimeSpan.FromHours(-3));

        var latest = CampaignFanOut.LatestFireTime("0 * 8-20 * * ?", s_saoPaulo, now.AddDays(-200), now);

        Assert.Equal(new DateTimeOffset(2026, 11, 20, 20, 59, 0, TimeSpan.FromHours(-3)), latest);
    }

    [Fact]
    public void LatestFireTime_EverySecondOfFebruaryOnlyAfterMonthsPaused_IsFebruarysLastSecond()
    {
        // 2.4 million firings between the last run and now, none in the last nine months: no walk reaches the answer.
        var now = new DateTimeOffset(2026, 11, 20, 22, 0, 0, TimeSpan.FromHours(-3));

        var latest = CampaignFanOut.LatestFireTime("* * * * 2 ?", s_saoPaulo, new DateTimeOffset(2026, 1, 10, 0, 0, 0, TimeSpan.FromHours(-3)), now);
        var none = CampaignFanOut.LatestFireTime("* * * * 2 ?", s_saoPaulo, new DateTimeOffset(2026, 3, 1, 0, 0, 0, TimeSpan.FromHours(-3)), now);

        Assert.Equal(new DateTimeOffset(2026, 2, 28, 23, 59, 59, TimeSpan.FromHours(-3)), latest);
        Assert.Null(none);
    }

    private static async Task<long> SeedCampaignAsync(SchedulerHarness h, int recipients, DateTimeOffset? runAt = null, string? cron = null, DateTimeOffset? createdAt = null)
    {
        await h.ExecuteAsync("INSERT INTO cortex.message_templates (key, body) VALUES ('promo', 'Oi {name}, promoção {promo}!') ON CONFLICT DO NOTHING");
        var id = await h.ScalarAsync<long>(
            "INSERT INTO cortex.campaigns (name, template_key, run_at, cron, created_at) VALUES ('bf', 'promo', @runAt, @cron, @created) RETURNING id",
            ("runAt", (object?)runAt?.UtcDateTime ?? DBNull.Value),
            ("cron", (object?)cron ?? DBNull.Value),
            ("created", (createdAt ?? s_now.AddDays(-1)).UtcDateTime));
        await h.ExecuteAsync(
            """
            INSERT INTO cortex.campaign_recipients (campaign_id, id, phone, name, variables)
            SELECT @id, i, '+55119' || lpad(i::text, 8, '0'), 'Pessoa ' || i, '{"promo": "Black Friday"}'::jsonb
            FROM generate_series(1, @n) AS i
            """,
            ("id", id),
            ("n", recipients));
        return id;
    }

    private static Task<string> RunStateAsync(SchedulerHarness h, long id) =>
        h.ScalarAsync<string>("SELECT status || '|' || total || '|' || enqueued || '|' || skipped FROM cortex.campaign_runs WHERE campaign_id = @id", ("id", id));
}
