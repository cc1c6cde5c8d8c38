using System.Text;
using Cortex.Shared.Contract;
using Cortex.Shared.Queue;
using Cortex.Testing;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Cortex.Shared.Tests.Queue;

public class RedisMessageQueueTests(RedisFixture redis) : IClassFixture<RedisFixture>
{
    private static readonly TimeSpan s_consumerTimeout = TimeSpan.FromSeconds(10);

    private readonly FakeTimeProvider _time = new();

    [Fact]
    public async Task EnqueueLeaseAck_OneMessage_LeavesNothingPendingAndMarksItSent()
    {
        var queue = CreateQueue();

        await queue.EnqueueAsync([Message("m1")]);
        await AssertStats(queue, normal: 1);
        Assert.False(Assert.Single(await queue.AreSentAsync(["m1"])));

        var leased = Assert.Single(await queue.LeaseAsync("a", 10));
        Assert.Equal("m1", Text(leased));
        Assert.Equal(Priority.Normal, leased.Priority);
        Assert.False(leased.IsRedelivery);
        await AssertStats(queue, leased: 1, consumers: 1);

        Assert.Equal(0, await queue.AckAsync("a", [new AckItem(leased.LeaseId, "m1")]));

        await AssertStats(queue, consumers: 1);
        var sent = await queue.AreSentAsync(["m1", "m2"]);
        Assert.Equal([true, false], sent);
        Assert.Empty(await queue.LeaseAsync("a", 10));
    }

    [Fact]
    public async Task AckAsync_SentMarker_LivesForTheIdempotencyWindow()
    {
        var queue = CreateQueue(o => o.IdempotencyWindow = TimeSpan.FromMinutes(10));
        await queue.EnqueueAsync([Message("m1")]);
        var leased = await queue.LeaseAsync("a", 1);

        await queue.AckAsync("a", [new AckItem(leased[0].LeaseId, "m1")]);

        // The marker's TTL is Redis's own clock, so read the TTL rather than wait for it.
        var ttl = await redis.Connection.GetDatabase().KeyTimeToLiveAsync(queue.Keys.Sent("m1"));
        Assert.NotNull(ttl);
        Assert.InRange(ttl.Value, TimeSpan.FromMinutes(9), TimeSpan.FromMinutes(10));
    }

    [Fact]
    public async Task LeaseAsync_WithinOnePriority_IsFifo()
    {
        var queue = CreateQueue();
        await queue.EnqueueAsync([Message("m1"), Message("m2"), Message("m3")]);
        await queue.EnqueueAsync([Message("m4"), Message("m5")]);

        var first = await queue.LeaseAsync("a", 2);
        var rest = await queue.LeaseAsync("a", 10);

        Assert.Equal(["m1", "m2"], first.Select(Text));
        Assert.Equal(["m3", "m4", "m5"], rest.Select(Text));
    }

    [Fact]
    public async Task LeaseAsync_MoreReadyThanMax_TakesAtMostMaxAndRecordsTheLeases()
    {
        var queue = CreateQueue();
        await queue.EnqueueAsync(Enumerable.Range(1, 10).Select(i => Message("m" + i)).ToList());

        var leased = await queue.LeaseAsync("a", 4);

        Assert.Equal(4, leased.Count);
        Assert.Equal(4, leased.Select(m => m.LeaseId).Distinct().Count());
        await AssertStats(queue, normal: 6, leased: 4, consumers: 1);
        var hash = await redis.Connection.GetDatabase().HashKeysAsync(queue.Keys.Leases("a"));
        Assert.Equal(leased.Select(m => m.LeaseId).Order(), hash.Select(k => (long)k).Order());
    }

    [Fact]
    public async Task LeaseAsync_RedisLostItsLastWrites_NewLeasesGetIdsTheOldAcksCannotRemove()
    {
        var queue = CreateQueue();
        var db = redis.Connection.GetDatabase();
        await queue.EnqueueAsync([Message("m1"), Message("m2"), Message("m3"), Message("m4"), Message("m5")]);
        var held = await queue.LeaseAsync("a", 2);

        // Redis restarts without the last second of writes (appendfsync everysec): the sequence's increment and the lease
        // are gone, and the messages are back in ready, while the consumer still holds those ids and will ack them.
        await db.KeyDeleteAsync(queue.Keys.Leases("a"));
        await db.StringSetAsync(queue.Keys.LeaseSequence, (long)held[0].LeaseId - 1);
        var next = await queue.LeaseAsync("a", 3);

        // The acks of the messages sent before the restart are written after it.
        await queue.AckAsync("a", [.. held.Select(m => new AckItem(m.LeaseId, "m?"))]);

        Assert.DoesNotContain(next, m => held.Any(h => h.LeaseId == m.LeaseId));
        var hash = await db.HashKeysAsync(queue.Keys.Leases("a"));
        Assert.Equal(next.Select(m => m.LeaseId).Order(), hash.Select(k => (long)k).Order());
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(50)]
    public async Task LeaseAsync_AllPrioritiesBacklogged_SplitsSixThreeOneWithoutStarvingLow(int batch)
    {
        var queue = CreateQueue();
        foreach (var priority in new[] { Priority.High, Priority.Normal, Priority.Low })
        {
            await queue.EnqueueAsync(Enumerable.Range(0, 1000).Select(i => Message($"{priority}-{i}", priority)).ToList());
        }

        var counts = new int[3];
        var total = 0;
        while (total < 1000)
        {
            var leased = await queue.LeaseAsync("a", Math.Min(batch, 1000 - total));
            foreach (var m in leased)
            {
                counts[(int)m.Priority]++;
            }

            total += leased.Count;

            // Smooth weighted round robin gives low one slot in every ten, whatever the batch size.
            Assert.True(counts[(int)Priority.Low] >= total / 10, $"low starved: {counts[(int)Priority.Low]} of {total}");
        }

        // Weights 6:3:1 repeat exactly every 10 picks, and 1000 picks are 100 whole cycles.
        Assert.Equal([600, 300, 100], counts);
        await AssertStats(queue, high: 400, normal: 700, low: 900, leased: 1000, consumers: 1);
    }

    [Fact]
    public async Task LeaseAsync_HighEmpty_FillsItsQuotaFromNormalThenLow()
    {
        var queue = CreateQueue();
        await queue.EnqueueAsync(Enumerable.Range(0, 20).Select(i => Message("n" + i, Priority.Normal)).ToList());
        await queue.EnqueueAsync(Enumerable.Range(0, 20).Select(i => Message("l" + i, Priority.Low)).ToList());

        var leased = await queue.LeaseAsync("a", 10);

        // Quotas 6/3/1: high's 6 go to normal first, so normal 9 and low 1.
        Assert.Equal(9, leased.Count(m => m.Priority == Priority.Normal));
        Assert.Equal(1, leased.Count(m => m.Priority == Priority.Low));
        await AssertStats(queue, normal: 11, low: 19, leased: 10, consumers: 1);
    }

    [Fact]
    public async Task LeaseAsync_OnlyLowHasWork_FillsTheWholeBatch()
    {
        var queue = CreateQueue();
        await queue.EnqueueAsync(Enumerable.Range(0, 20).Select(i => Message("l" + i, Priority.Low)).ToList());

        var leased = await queue.LeaseAsync("a", 10);

        Assert.Equal(Enumerable.Range(0, 10).Select(i => "l" + i), leased.Select(Text));
        await AssertStats(queue, low: 10, leased: 10, consumers: 1);
    }

    [Fact]
    public async Task EnqueueAsync_NotBeforeInFuture_WaitsInDelayedUntilTheClockPassesIt()
    {
        var queue = CreateQueue();
        var now = _time.GetUtcNow();

        await queue.EnqueueAsync(
        [
            Message("later", Priority.High, now.AddMinutes(10)),
            Message("sooner", Priority.High, now.AddMinutes(5)),
            Message("past", Priority.Low, now.AddMinutes(-1)),
        ]);
        await AssertStats(queue, low: 1, delayed: 2);

        Assert.Equal(0, await queue.PromoteDueAsync());
        _time.Advance(TimeSpan.FromMinutes(5) - TimeSpan.FromMilliseconds(1));
        Assert.Equal(0, await queue.PromoteDueAsync());
        await AssertStats(queue, low: 1, delayed: 2);

        _time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(1, await queue.PromoteDueAsync());
        await AssertStats(queue, high: 1, low: 1, delayed: 1);

        var leased = await queue.LeaseAsync("a", 1);
        Assert.Equal("sooner", Text(Assert.Single(leased)));
        Assert.Equal(Priority.High, leased[0].Priority);
    }

    [Fact]
    public async Task PromoteDueAsync_SeveralDue_EarliestIsLeasedFirstAheadOfOlderReadyWork()
    {
        var queue = CreateQueue();
        var now = _time.GetUtcNow();
        await queue.EnqueueAsync(
        [
            Message("third", nb: now.AddMinutes(3)),
            Message("first", nb: now.AddMinutes(1)),
            Message("second", nb: now.AddMinutes(2)),
        ]);
        await queue.EnqueueAsync([Message("ready")]);

        _time.Advance(TimeSpan.FromMinutes(3));
        Assert.Equal(3, await queue.PromoteDueAsync());
        await AssertStats(queue, normal: 4);

        // Due messages are already late, so they go to the consuming end.
        var leased = await queue.LeaseAsync("a", 10);
        Assert.Equal(["first", "second", "third", "ready"], leased.Select(Text));
    }

    [Theory]
    [InlineData(3)]
    [InlineData(-1)]
    public async Task EnqueueAsync_PriorityOutsideTheThree_RefusedWithNothingPushedAndPromotionGoesOn(int priority)
    {
        // A caller's enum cast from a number (the scheduler reads the ledger's smallint column) can be any value. Pushed to
        // the delayed set, its digit named no ready list: every promotion of the set failed on it once due, after pushing
        // the messages due later than it, which stayed in the set and were pushed again on every sweep.
        var queue = CreateQueue();
        var now = _time.GetUtcNow();
        await queue.EnqueueAsync([Message("first", Priority.Normal, now.AddMinutes(2))]);

        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => queue.EnqueueAsync(
            [Message("undefined", (Priority)priority, now.AddMinutes(1)), Message("with-it", Priority.High, now.AddMinutes(1))]));
        await AssertStats(queue, delayed: 1);

        _time.Advance(TimeSpan.FromMinutes(3));
        Assert.Equal(1, await queue.PromoteDueAsync());
        Assert.Equal(0, await queue.PromoteDueAsync());
        await AssertStats(queue, normal: 1);
    }

    [Fact]
    public async Task PromoteDueAsync_Limit_MovesAtMostThatMany()
    {
        var queue = CreateQueue();
        var now = _time.GetUtcNow();
        await queue.EnqueueAsync(Enumerable.Range(0, 5).Select(i => Message("d" + i, nb: now.AddSeconds(i + 1))).ToList());
        _time.Advance(TimeSpan.FromMinutes(1));

        Assert.Equal(2, await queue.PromoteDueAsync(limit: 2));

        await AssertStats(queue, normal: 2, delayed: 3);
        Assert.Equal(["d0", "d1"], (await queue.LeaseAsync("a", 10)).Select(Text));
    }

    [Fact]
    public async Task ScheduleRetryAsync_LeasedMessage_MovesToDelayedWithTheNewPayload()
    {
        var queue = CreateQueue();
        await queue.EnqueueAsync([Message("attempt-0", Priority.High)]);
        var leased = Assert.Single(await queue.LeaseAsync("a", 1));

        var moved = await queue.ScheduleRetryAsync("a", leased, Encoding.UTF8.GetBytes("attempt-1"), _time.GetUtcNow().AddMinutes(5));

        Assert.True(moved);
        await AssertStats(queue, delayed: 1, consumers: 1);
        Assert.Empty(await queue.LeaseAsync("a", 1));

        _time.Advance(TimeSpan.FromMinutes(5));
        Assert.Equal(1, await queue.PromoteDueAsync());
        var retried = Assert.Single(await queue.LeaseAsync("a", 1));
        Assert.Equal("attempt-1", Text(retried));
        Assert.Equal(Priority.High, retried.Priority);
        Assert.False(retried.IsRedelivery);
    }

    [Fact]
    public async Task DeferAsync_LeasedMessage_MovesToDelayedUnchanged()
    {
        var queue = CreateQueue();
        await queue.EnqueueAsync([Message("m1", Priority.Low)]);
        var leased = Assert.Single(await queue.LeaseAsync("a", 1));

        Assert.True(await queue.DeferAsync("a", leased, _time.GetUtcNow().AddSeconds(30)));
        await AssertStats(queue, delayed: 1, consumers: 1);

        _time.Advance(TimeSpan.FromSeconds(30));
        await queue.PromoteDueAsync();
        var again = Assert.Single(await queue.LeaseAsync("a", 1));
        Assert.Equal("m1", Text(again));
        Assert.Equal(Priority.Low, again.Priority);
    }

    [Fact]
    public async Task DeadLetterAsync_LeasedMessage_StoresReasonAttemptsAndTheExactPayload()
    {
        var queue = CreateQueue();
        const string payload = """{"version":1,"id":"c-1","to":"+5511987654321","text":"Olá 😀 \"x\"\u0000"}""";
        await queue.EnqueueAsync([Message(payload)]);
        var leased = Assert.Single(await queue.LeaseAsync("a", 1));
        var entry = DeadLetterEntry.Create(DeadLetterReasons.RetriesExhausted, "gateway 503 after 4 attempts", leased.Payload.Span, _time.GetUtcNow()) with
        {
            Attempts = 4,
            MessageId = "c-1",
            Kind = "billing_reminder",
            LastError = "503 Service Unavailable",
        };

        Assert.True(await queue.DeadLetterAsync("a", leased, entry));

        await AssertStats(queue, dead: 1, consumers: 1);
        var dead = Assert.Single(await queue.GetDeadLettersAsync());
        Assert.Equal("retries_exhausted", dead.Reason);
        Assert.Equal("gateway 503 after 4 attempts", dead.Detail);
        Assert.Equal(4, dead.Attempts);
        Assert.Equal("c-1", dead.MessageId);
        Assert.Equal("billing_reminder", dead.Kind);
        Assert.Equal("503 Service Unavailable", dead.LastError);
        Assert.Equal(_time.GetUtcNow(), dead.DeadAt);
        Assert.Equal(payload, dead.Payload);
        Assert.Null(dead.PayloadBase64);
        Assert.Equal(Encoding.UTF8.GetBytes(payload), dead.PayloadBytes());
    }

    [Fact]
    public async Task DeadLetterAsync_InvalidUtf8Payload_KeepsTheBytesAsBase64()
    {
        var queue = CreateQueue();
        byte[] payload = [0x7B, 0xFF, 0xFE, 0x00, 0xC3, 0x28, 0x7D];
        await queue.EnqueueAsync([new QueueMessage(payload, Priority.Normal)]);
        var leased = Assert.Single(await queue.LeaseAsync("a", 1));
        Assert.Equal(payload, leased.Payload.ToArray());

        var entry = DeadLetterEntry.Create(DeadLetterReasons.InvalidEnvelope, "$: invalid JSON: not valid UTF-8", leased.Payload.Span, _time.GetUtcNow());
        Assert.True(await queue.DeadLetterAsync("a", leased, entry));

        var dead = Assert.Single(await queue.GetDeadLettersAsync());
        Assert.Null(dead.Payload);
        Assert.Equal(Convert.ToBase64String(payload), dead.PayloadBase64);
        Assert.Equal(payload, dead.PayloadBytes());
    }

    // A hostile producer's payload costs the dead-letter list its own size and a header, whatever bytes it holds. Stored as
    // a JSON string, control characters took six bytes each (\u0001) and bytes that are not UTF-8 a third more (base64).
    [Theory]
    [InlineData(0x01)]
    [InlineData(0xFF)]
    public async Task DeadLetterAsync_PayloadOfBytesJsonWouldEscape_IsStoredAtItsOwnSizeByteForByte(byte fill)
    {
        var queue = CreateQueue();
        var payload = new byte[60_000];
        payload.AsSpan().Fill(fill);
        await queue.EnqueueAsync([new QueueMessage(payload, Priority.Normal)]);
        var leased = Assert.Single(await queue.LeaseAsync("a", 1));
        var entry = DeadLetterEntry.Create(DeadLetterReasons.InvalidEnvelope, "invalid JSON", leased.Payload.Span, _time.GetUtcNow());

        Assert.True(await queue.DeadLetterAsync("a", leased, entry));

        var stored = (byte[])(await redis.Connection.GetDatabase().ListGetByIndexAsync(queue.Keys.Dead, 0))!;
        Assert.InRange(stored.Length, payload.Length, payload.Length + 200);
        Assert.Equal(payload, stored[^payload.Length..]);
        var dead = Assert.Single(await queue.GetDeadLettersAsync());
        Assert.Equal((DeadLetterReasons.InvalidEnvelope, "invalid JSON"), (dead.Reason, dead.Detail));
        Assert.Equal(payload, dead.PayloadBytes());
    }

    [Fact]
    public async Task GetDeadLettersAsync_SeveralEntries_NewestFirst()
    {
        var queue = CreateQueue();
        await queue.EnqueueAsync([Message("m1"), Message("m2")]);
        var leased = await queue.LeaseAsync("a", 2);

        foreach (var m in leased)
        {
            await queue.DeadLetterAsync("a", m, DeadLetterEntry.Create(DeadLetterReasons.Permanent, "rejected", m.Payload.Span, _time.GetUtcNow()));
        }

        Assert.Equal(["m2", "m1"], (await queue.GetDeadLettersAsync()).Select(d => d.Payload));
        Assert.Equal(["m1"], (await queue.GetDeadLettersAsync(start: 1, count: 1)).Select(d => d.Payload));
    }

    [Fact]
    public async Task ReturnAsync_AllLeases_PutsThemBackAtTheFrontInOriginalOrderWithoutCountingADelivery()
    {
        var queue = CreateQueue();
        await queue.EnqueueAsync([Message("m1"), Message("m2"), Message("m3"), Message("m4"), Message("m5")]);
        await queue.LeaseAsync("a", 3);

        Assert.Equal(3, await queue.ReturnAsync("a"));

        await AssertStats(queue, normal: 5, consumers: 1);
        var again = await queue.LeaseAsync("b", 5);
        Assert.Equal(["m1", "m2", "m3", "m4", "m5"], again.Select(Text));
        Assert.All(again, m => Assert.False(m.IsRedelivery));
    }

    [Fact]
    public async Task ReturnAsync_SomeLeases_ReturnsOnlyThose()
    {
        var queue = CreateQueue();
        await queue.EnqueueAsync([Message("m1"), Message("m2"), Message("m3")]);
        var leased = await queue.LeaseAsync("a", 3);

        Assert.Equal(2, await queue.ReturnAsync("a", [leased[0].LeaseId, leased[2].LeaseId]));

        await AssertStats(queue, normal: 2, leased: 1, consumers: 1);
        Assert.Equal(["m1", "m3"], (await queue.LeaseAsync("b", 5)).Select(Text));
        Assert.Equal(0, await queue.ReturnAsync("a", [leased[0].LeaseId]));
    }

    [Fact]
    public async Task ReturnToBackAsync_OneLease_PutsItBehindEverythingWaitingWithoutCountingADelivery()
    {
        var queue = CreateQueue();
        await queue.EnqueueAsync([Message("m1"), Message("m2"), Message("m3")]);
        var leased = await queue.LeaseAsync("a", 1);

        Assert.True(await queue.ReturnToBackAsync("a", leased[0].LeaseId));

        await AssertStats(queue, normal: 3, consumers: 1);
        var again = await queue.LeaseAsync("b", 3);
        Assert.Equal(["m2", "m3", "m1"], again.Select(Text));
        Assert.All(again, m => Assert.False(m.IsRedelivery));
        Assert.False(await queue.ReturnToBackAsync("a", leased[0].LeaseId));
    }

    [Fact]
    public async Task RemoveConsumerAsync_WithLeases_ReturnsThemAndForgetsTheConsumer()
    {
        var queue = CreateQueue();
        await queue.EnqueueAsync([Message("h1", Priority.High), Message("n1"), Message("l1", Priority.Low)]);
        await queue.LeaseAsync("a", 3);
        await AssertStats(queue, leased: 3, consumers: 1);

        Assert.Equal(3, await queue.RemoveConsumerAsync("a"));

        await AssertStats(queue, high: 1, normal: 1, low: 1);
    }

    [Fact]
    public async Task LeaseIdsAsync_AfterSomeLeasesEnded_NamesExactlyThoseStillInTheConsumersHash()
    {
        var queue = CreateQueue();
        await queue.EnqueueAsync([Message("m1"), Message("m2"), Message("m3"), Message("m4")]);
        var mine = await queue.LeaseAsync("a", 3);
        var theirs = await queue.LeaseAsync("b", 1);
        await queue.AckAsync("a", [new AckItem(mine[1].LeaseId, "m2")]);

        Assert.Equal([mine[0].LeaseId, mine[2].LeaseId], (await queue.LeaseIdsAsync("a")).Order());
        Assert.Equal([theirs[0].LeaseId], await queue.LeaseIdsAsync("b"));
        Assert.Empty(await queue.LeaseIdsAsync("nobody"));
    }

    [Fact]
    public async Task RecoverAsync_ConsumerStoppedHeartbeating_ReturnsItsLeasesButLeavesLiveConsumersAlone()
    {
        var queue = CreateQueue();
        await queue.EnqueueAsync([Message("m1"), Message("m2"), Message("m3"), Message("m4"), Message("m5")]);
        var crashed = await queue.LeaseAsync("a", 3);

        // Just inside the timeout a is still alive.
        _time.Advance(s_consumerTimeout - TimeSpan.FromMilliseconds(1));
        Assert.Equal(new RecoveryResult(0, 0, 0), await queue.RecoverAsync());

        _time.Advance(TimeSpan.FromMilliseconds(1));
        var live = await queue.LeaseAsync("b", 2);
        await AssertStats(queue, leased: 5, consumers: 2);

        Assert.Equal(new RecoveryResult(3, 0, 1), await queue.RecoverAsync());

        await AssertStats(queue, normal: 3, leased: 2, consumers: 1);
        var redelivered = await queue.LeaseAsync("c", 10);
        Assert.Equal(crashed.Select(Text).Order(), redelivered.Select(Text).Order());
        Assert.All(redelivered, m =>
        {
            Assert.Equal(1, m.PreviousDeliveries);
            Assert.True(m.IsRedelivery);
        });

        // b's leases were never touched: it can still ack them.
        Assert.Equal(0, await queue.AckAsync("b", live.Select(m => new AckItem(m.LeaseId, Text(m))).ToList()));
    }

    [Fact]
    public async Task HoldsLeaseAsync_AfterAnotherConsumerRecoveredIt_FalseWhileOthersStayTrue()
    {
        var queue = CreateQueue();
        await queue.EnqueueAsync([Message("m1"), Message("m2")]);
        var silenced = Assert.Single(await queue.LeaseAsync("a", 1));
        var live = Assert.Single(await queue.LeaseAsync("b", 1));
        Assert.True(await queue.HoldsLeaseAsync("a", silenced.LeaseId));

        // a's heartbeat goes stale; b's ask renews b's.
        _time.Advance(s_consumerTimeout + TimeSpan.FromMilliseconds(1));
        Assert.True(await queue.HoldsLeaseAsync("b", live.LeaseId));
        Assert.Equal(new RecoveryResult(1, 0, 1), await queue.RecoverAsync());

        Assert.False(await queue.HoldsLeaseAsync("a", silenced.LeaseId));
        Assert.False(await queue.HoldsLeaseAsync("b", silenced.LeaseId));
        Assert.True(await queue.HoldsLeaseAsync("b", live.LeaseId));
    }

    [Fact]
    public async Task HoldsLeaseAsync_AsksWithAStaleHeartbeat_RenewsItSoTheLeaseIsNotRecovered()
    {
        var queue = CreateQueue();
        await queue.EnqueueAsync([Message("m1")]);
        var leased = Assert.Single(await queue.LeaseAsync("a", 1));

        _time.Advance(s_consumerTimeout - TimeSpan.FromMilliseconds(1));
        Assert.True(await queue.HoldsLeaseAsync("a", leased.LeaseId));
        _time.Advance(s_consumerTimeout - TimeSpan.FromMilliseconds(1));

        // Its answer is good for a consumer timeout: the send that follows it is not taken from under it.
        Assert.Equal(new RecoveryResult(0, 0, 0), await queue.RecoverAsync());
        await AssertStats(queue, leased: 1, consumers: 1);
    }

    [Fact]
    public async Task RecoverAsync_ConsumerKeepsHeartbeating_KeepsItsLeases()
    {
        var queue = CreateQueue();
        await queue.EnqueueAsync([Message("m1")]);
        await queue.LeaseAsync("a", 1);

        for (var i = 0; i < 5; i++)
        {
            _time.Advance(TimeSpan.FromSeconds(5));
            await queue.HeartbeatAsync("a");
            Assert.Equal(new RecoveryResult(0, 0, 0), await queue.RecoverAsync());
        }

        await AssertStats(queue, leased: 1, consumers: 1);
    }

    [Fact]
    public async Task RecoverAsync_AfterMaxDeliveriesCrashes_DeadLettersTheMessageAsPoison()
    {
        var queue = CreateQueue(o => o.MaxDeliveries = 3);
        const string payload = """{"version":1,"id":"boom","to":"+5511987654321","text":"hi"}""";
        await queue.EnqueueAsync([Message(payload, Priority.High)]);

        for (var delivery = 1; delivery <= 2; delivery++)
        {
            var leased = Assert.Single(await queue.LeaseAsync("c" + delivery, 10));
            Assert.Equal(delivery - 1, leased.PreviousDeliveries);
            Assert.Equal(payload, Text(leased));
            _time.Advance(s_consumerTimeout);
            Assert.Equal(new RecoveryResult(1, 0, 1), await queue.RecoverAsync());
            await AssertStats(queue, high: 1);
        }

        Assert.Equal(2, Assert.Single(await queue.LeaseAsync("c3", 10)).PreviousDeliveries);
        _time.Advance(s_consumerTimeout);
        Assert.Equal(new RecoveryResult(0, 1, 1), await queue.RecoverAsync());

        await AssertStats(queue, dead: 1);
        Assert.Empty(await queue.LeaseAsync("c4", 10));
        var dead = Assert.Single(await queue.GetDeadLettersAsync());
        Assert.Equal(DeadLetterReasons.Poison, dead.Reason);
        Assert.Equal(3, dead.Deliveries);
        Assert.Equal("boom", dead.MessageId);
        Assert.Contains("leased 3 times", dead.Detail, StringComparison.Ordinal);
        Assert.Equal(_time.GetUtcNow(), dead.DeadAt);
        Assert.Equal(payload, dead.Payload);
    }

    [Fact]
    public async Task RecoverAsync_PoisonPayloadIsNotJson_StillDeadLetteredWithoutAnId()
    {
        var queue = CreateQueue(o => o.MaxDeliveries = 1);
        const string payload = "this is not json {";
        await queue.EnqueueAsync([Message(payload, Priority.Normal)]);
        Assert.Single(await queue.LeaseAsync("crashing", 10));
        _time.Advance(s_consumerTimeout);

        Assert.Equal(new RecoveryResult(0, 1, 1), await queue.RecoverAsync());

        var dead = Assert.Single(await queue.GetDeadLettersAsync());
        Assert.Equal((DeadLetterReasons.Poison, null, payload), (dead.Reason, dead.MessageId, dead.Payload));
    }

    [Fact]
    public async Task RecoverAsync_PoisonPayloadNotUtf8_KeepsItsBytes()
    {
        var queue = CreateQueue(o => o.MaxDeliveries = 1);
        byte[] payload = [0x7B, 0xFF, 0x22, 0x0A, 0xC3, 0x28, 0x7D];
        await queue.EnqueueAsync([new QueueMessage(payload, Priority.Normal)]);
        Assert.Single(await queue.LeaseAsync("crashing", 10));
        _time.Advance(s_consumerTimeout);

        Assert.Equal(new RecoveryResult(0, 1, 1), await queue.RecoverAsync());

        var dead = Assert.Single(await queue.GetDeadLettersAsync());
        Assert.Equal((DeadLetterReasons.Poison, 1), (dead.Reason, dead.Deliveries));
        Assert.Equal(payload, dead.PayloadBytes());
    }

    [Theory]
    [InlineData("1e400")]
    [InlineData("-1e400")]
    [InlineData("nan")]
    [InlineData("2500")]
    public async Task RecoverAsync_PoisonPayloadWithAnAttemptNoEnvelopeHas_IsDeadLetteredOnceWithAttemptsZero(string attempt)
    {
        // Lua's cjson reads 1e400 as infinity and "nan" as NaN, and refuses to write either: the script stopped after
        // the messages before it were pushed back, and every sweep pushed them again.
        var queue = CreateQueue(o => o.MaxDeliveries = 1);
        var payload = Encoding.UTF8.GetBytes("{\"version\":1,\"id\":\"p1\",\"attempt\":" + attempt + "}");
        await queue.EnqueueAsync([Message("m1"), new QueueMessage(payload, Priority.Normal)]);
        Assert.Equal(2, (await queue.LeaseAsync("crashing", 10)).Count);
        _time.Advance(s_consumerTimeout);

        Assert.Equal(new RecoveryResult(0, 2, 1), await queue.RecoverAsync());
        Assert.Equal(new RecoveryResult(0, 0, 0), await queue.RecoverAsync());

        var dead = (await queue.GetDeadLettersAsync()).Single(d => d.MessageId == "p1");
        Assert.Equal((DeadLetterReasons.Poison, 0), (dead.Reason, dead.Attempts));
        Assert.Equal(payload, dead.PayloadBytes());
        await AssertStats(queue, dead: 2);
    }

    [Theory]
    [InlineData("1e400")]
    [InlineData("nan")]
    [InlineData("-1")]
    [InlineData(" 1")]
    [InlineData("0x10")]
    [InlineData("1234567890")]
    public async Task RecoverAsync_PayloadPushedWithARedeliveryHeaderThatIsNoCount_ReadAsThePayloadAndTheSweepGoesOn(string forged)
    {
        // Anyone who can LPUSH can write Cortex's redelivery header. The recovery read "1e400" as infinity and "nan" as NaN,
        // and stopped writing them: the leases before it were pushed back on every sweep (the ready list grew by them
        // each time), the dead consumer was never removed, and the consumers after it were never recovered.
        var queue = CreateQueue();
        var db = redis.Connection.GetDatabase();
        var raw = Encoding.UTF8.GetBytes("\u001e" + forged + "\u001e{\"version\":1,\"id\":\"forged\"}");
        await queue.EnqueueAsync([Message("m1")]);
        await db.ListLeftPushAsync(queue.Keys.ReadyNormal, raw);
        Assert.Equal(2, (await queue.LeaseAsync("crashed", 10)).Count);
        _time.Advance(s_consumerTimeout);

        Assert.Equal(new RecoveryResult(2, 0, 1), await queue.RecoverAsync());
        Assert.Equal(new RecoveryResult(0, 0, 0), await queue.RecoverAsync());

        var again = await queue.LeaseAsync("b", 10);
        Assert.Equal(2, again.Count);
        Assert.All(again, m => Assert.Equal(1, m.PreviousDeliveries));
        Assert.Equal(raw, again.Single(m => Text(m) != "m1").Payload.ToArray());
    }

    [Theory]
    [InlineData("1e400")]
    [InlineData("nan")]
    public async Task LeaseAsync_OversizedPayloadPushedWithARedeliveryHeaderThatIsNoCount_DeadLetteredReadably(string forged)
    {
        // Written as "deliveries":inf, the entry could not be read back: `cortex dlq` and the admin endpoints showed it as
        // unreadable.
        var queue = CreateQueue();
        var db = redis.Connection.GetDatabase();
        await db.ListLeftPushAsync(queue.Keys.ReadyNormal, "\u001e" + forged + "\u001e" + new string('x', EnvelopeLimits.MaxEnvelopeBytes + 1));

        var leased = await queue.LeaseAsync("a", 10);

        Assert.Single(leased.Oversized);
        var dead = Assert.Single(await queue.GetDeadLettersAsync());
        Assert.Equal((DeadLetterReasons.InvalidEnvelope, 1), (dead.Reason, dead.Deliveries));
    }

    // A producer that writes a queue key with another command than Cortex's made the lease fail with WRONGTYPE after
    // its pops, and Redis keeps a script's writes up to its error: what it popped was lost, on every retry.
    [Theory]
    [InlineData("ready low a string")]
    [InlineData("dead a string")]
    [InlineData("own leases a string")]
    [InlineData("lease-seq a hash")]
    [InlineData("lease-seq not a number")]
    public async Task LeaseAsync_AQueueKeyOfTheWrongType_NamesItAndTakesNothing(string mistake)
    {
        var queue = CreateQueue();
        var db = redis.Connection.GetDatabase();
        await queue.EnqueueAsync([Message("h1", Priority.High), Message("n1"), Message("n2")]);
        await db.ListLeftPushAsync(queue.Keys.ReadyNormal, new string('x', EnvelopeLimits.MaxEnvelopeBytes + 1));
        RedisKey key = mistake switch
        {
            "ready low a string" => queue.Keys.ReadyLow,
            "dead a string" => queue.Keys.Dead,
            "own leases a string" => queue.Keys.Leases("a"),
            _ => queue.Keys.LeaseSequence,
        };
        if (mistake == "lease-seq a hash")
        {
            await db.HashSetAsync(key, "f", "v");
        }
        else
        {
            await db.StringSetAsync(key, "set by mistake");
        }

        var error = await Assert.ThrowsAsync<RedisServerException>(() => queue.LeaseAsync("a", 10));

        Assert.StartsWith($"WRONGTYPE {key}", error.Message, StringComparison.Ordinal);
        Assert.Equal((1, 3), (await db.ListLengthAsync(queue.Keys.ReadyHigh), await db.ListLengthAsync(queue.Keys.ReadyNormal)));

        // The operator moves the key aside: everything is leased (the oversized one dead-lettered), nothing was lost.
        await db.KeyDeleteAsync(key);
        var leased = await queue.LeaseAsync("a", 10);
        Assert.Equal(["h1", "n1", "n2"], leased.Select(Text).Order());
        Assert.Single(leased.Oversized);
        await AssertStats(queue, leased: 3, dead: 1, consumers: 1);
    }

    [Fact]
    public async Task RecoverConsumerAsync_HeartbeatFresh_ReturnsThatConsumersLeasesAloneCountingADelivery()
    {
        var queue = CreateQueue();
        await queue.EnqueueAsync([Message("a1"), Message("a2"), Message("b1"), Message("c1", Priority.Low)]);
        Assert.Equal(2, (await queue.LeaseAsync("a", 2)).Count);
        Assert.Single(await queue.LeaseAsync("b", 1));

        Assert.Equal(new RecoveryResult(2, 0, 1), await queue.RecoverConsumerAsync("a"));

        await AssertStats(queue, normal: 2, low: 1, leased: 1, consumers: 1);
        var again = await queue.LeaseAsync("a-restarted", 10);
        Assert.Equal(["a1", "a2", "c1"], again.Select(Text).Order());
        Assert.All(again.Where(m => Text(m) != "c1"), m => Assert.Equal(1, m.PreviousDeliveries));
        Assert.Equal(new RecoveryResult(0, 0, 0), await queue.RecoverConsumerAsync("nobody"));

        // A consumer that holds nothing is not a recovery, even with a ready list of the wrong type to push to.
        await redis.Connection.GetDatabase().StringSetAsync(queue.Keys.ReadyHigh, "set by mistake");
        Assert.Equal(new RecoveryResult(0, 0, 0), await queue.RecoverConsumerAsync("a-restarted-again"));
    }

    [Fact]
    public async Task EnqueueAsync_AReadyListOfTheWrongType_NamesItAndSaysWhatWentIn()
    {
        // Redis's own refusal of the LPUSH names no key, and the batch's other pushes go in regardless.
        var queue = CreateQueue();
        var db = redis.Connection.GetDatabase();
        await db.StringSetAsync(queue.Keys.ReadyNormal, "set by mistake");
        var later = _time.GetUtcNow().AddHours(1);

        var error = await Assert.ThrowsAsync<RedisServerException>(
            () => queue.EnqueueAsync([Message("h1", Priority.High), Message("n1"), Message("n2"), Message("d1", Priority.Normal, later)]));

        Assert.Equal(
            $"WRONGTYPE {queue.Keys.ReadyNormal} is a string, not a list; 2 of the 4 messages were not pushed (bound for {queue.Keys.ReadyNormal}), the others were",
            error.Message);
        Assert.True(QueueScripts.IsMistypedKey(error));
        Assert.Equal((1L, 1L), (await db.ListLengthAsync(queue.Keys.ReadyHigh), await db.SortedSetLengthAsync(queue.Keys.Delayed)));

        var alone = await Assert.ThrowsAsync<RedisServerException>(() => queue.EnqueueAsync([Message("n3")]));
        Assert.Equal($"WRONGTYPE {queue.Keys.ReadyNormal} is a string, not a list; nothing was pushed", alone.Message);
    }

    [Fact]
    public async Task PromoteDueAsync_AReadyListOfTheWrongType_NamesItAndPushesNothingTwice()
    {
        // Promotion pushed the due messages bound for the lists before the mistyped one, failed there and kept them in
        // the delayed set too: every sweep pushed them again.
        var queue = CreateQueue();
        var db = redis.Connection.GetDatabase();
        var due = _time.GetUtcNow().AddMinutes(1);
        await queue.EnqueueAsync([Message("n1", Priority.Normal, due), Message("l1", Priority.Low, due.AddSeconds(1))]);
        await db.StringSetAsync(queue.Keys.ReadyLow, "set by mistake");
        _time.Advance(TimeSpan.FromMinutes(2));

        for (var sweep = 0; sweep < 2; sweep++)
        {
            var error = await Assert.ThrowsAsync<RedisServerException>(() => queue.PromoteDueAsync());
            Assert.StartsWith($"WRONGTYPE {queue.Keys.ReadyLow}", error.Message, StringComparison.Ordinal);
        }

        Assert.Equal(0, await db.ListLengthAsync(queue.Keys.ReadyNormal));
        await db.KeyDeleteAsync(queue.Keys.ReadyLow);
        Assert.Equal(2, await queue.PromoteDueAsync());
        await AssertStats(queue, normal: 1, low: 1);
    }

    [Fact]
    public async Task RecoverAsync_AReadyListOfTheWrongType_NamesItAndPushesNothingTwice()
    {
        var queue = CreateQueue();
        var db = redis.Connection.GetDatabase();
        await queue.EnqueueAsync([Message("n1"), Message("l1", Priority.Low)]);
        Assert.Equal(2, (await queue.LeaseAsync("crashing", 10)).Count);
        await db.StringSetAsync(queue.Keys.ReadyLow, "set by mistake");
        _time.Advance(s_consumerTimeout);

        for (var sweep = 0; sweep < 2; sweep++)
        {
            var error = await Assert.ThrowsAsync<RedisServerException>(() => queue.RecoverAsync());
            Assert.StartsWith($"WRONGTYPE {queue.Keys.ReadyLow}", error.Message, StringComparison.Ordinal);
        }

        Assert.Equal(0, await db.ListLengthAsync(queue.Keys.ReadyNormal));
        await db.KeyDeleteAsync(queue.Keys.ReadyLow);
        Assert.Equal(new RecoveryResult(2, 0, 1), await queue.RecoverAsync());
        await AssertStats(queue, normal: 1, low: 1);
    }

    [Fact]
    public async Task AckAsync_AfterTheLeaseWasRecovered_ReportsItLostAndDoesNotDuplicate()
    {
        var queue = CreateQueue();
        await queue.EnqueueAsync([Message("m1"), Message("m2")]);
        var stalled = await queue.LeaseAsync("a", 2);
        _time.Advance(s_consumerTimeout);
        await queue.RecoverAsync();

        var lost = await queue.AckAsync("a", [new AckItem(stalled[0].LeaseId, "m1")]);

        Assert.Equal(1, lost);
        await AssertStats(queue, normal: 2);

        // The late ack still records the send, so the redelivered copy can be recognised as sent.
        var sent = await queue.AreSentAsync(["m1", "m2"]);
        Assert.Equal([true, false], sent);
    }

    [Fact]
    public async Task ScheduleRetryDeferAndDeadLetter_OnALostLease_DoNothing()
    {
        var queue = CreateQueue();
        await queue.EnqueueAsync([Message("m1")]);
        var stalled = Assert.Single(await queue.LeaseAsync("a", 1));
        _time.Advance(s_consumerTimeout);
        await queue.RecoverAsync();

        Assert.False(await queue.ScheduleRetryAsync("a", stalled, Encoding.UTF8.GetBytes("m1-retry"), _time.GetUtcNow().AddMinutes(5)));
        Assert.False(await queue.DeferAsync("a", stalled, _time.GetUtcNow().AddMinutes(5)));
        Assert.False(await queue.DeadLetterAsync("a", stalled, DeadLetterEntry.Create(DeadLetterReasons.Permanent, "x", stalled.Payload.Span, _time.GetUtcNow())));
        Assert.Equal(0, await queue.ReturnAsync("a", [stalled.LeaseId]));

        await AssertStats(queue, normal: 1);
    }

    [Fact]
    public async Task Scripts_AfterScriptFlush_AreReloadedTransparently()
    {
        var queue = CreateQueue();
        await queue.EnqueueAsync([Message("m1"), Message("m2")]);
        var first = await queue.LeaseAsync("a", 1);
        await queue.AckAsync("a", [new AckItem(first[0].LeaseId, "m1")]);
        using var admin = await ConnectionMultiplexer.ConnectAsync(redis.Server.Configuration + ",allowAdmin=true");
        var server = admin.GetServer(admin.GetEndPoints()[0]);

        // As after a Redis restart or failover: the server no longer knows the scripts.
        await server.ScriptFlushAsync();
        Assert.False(await server.ScriptExistsAsync(QueueScripts.Lease.Source));
        var second = await queue.LeaseAsync("a", 1);
        Assert.Equal("m2", Text(Assert.Single(second)));
        Assert.True(await server.ScriptExistsAsync(QueueScripts.Lease.Source));

        await server.ScriptFlushAsync();
        Assert.Equal(0, await queue.AckAsync("a", [new AckItem(second[0].LeaseId, "m2")]));

        await server.ScriptFlushAsync();
        await AssertStats(queue, consumers: 1);
    }

    [Fact]
    public async Task LeaseAsync_LargeBacklog_NeverReturnsMoreThanRequestedAndDrainsEverything()
    {
        const int total = 100_000;
        const int batch = 500;
        var queue = CreateQueue();
        var payload = new byte[64];
        await queue.EnqueueAsync(Enumerable.Range(0, total).Select(_ => new QueueMessage(payload, Priority.Normal)).ToList());
        await AssertStats(queue, normal: total);

        var drained = 0;
        long lastLeaseId = 0;
        while (true)
        {
            var leased = await queue.LeaseAsync("a", batch);
            if (leased.Count == 0)
            {
                break;
            }

            Assert.InRange(leased.Count, 1, batch);
            Assert.True(leased[0].LeaseId > lastLeaseId);
            lastLeaseId = leased[^1].LeaseId;
            drained += leased.Count;
            Assert.Equal(0, await queue.AckAsync("a", leased.Select((m, i) => new AckItem(m.LeaseId, $"m{drained}-{i}")).ToList()));

            // Nothing accumulates on the consumer's side: in-flight work is bounded by the batch size.
            var stats = await queue.GetStatsAsync();
            Assert.Equal(0, stats.Leased);
            Assert.Equal(total - drained, stats.ReadyNormal);
        }

        Assert.Equal(total, drained);
        await AssertStats(queue, consumers: 1);
    }

    [Fact]
    public async Task LeaseAsync_MaxAboveTheBatchCap_TakesAtMostOneThousand()
    {
        var queue = CreateQueue();
        await queue.EnqueueAsync(Enumerable.Range(0, 1500).Select(i => Message("m" + i)).ToList());

        var leased = await queue.LeaseAsync("a", 5000);

        Assert.Equal(1000, leased.Count);
        await AssertStats(queue, normal: 500, leased: 1000, consumers: 1);
    }

    [Fact]
    public async Task DeadLetterAsync_Batch_WritesEveryEntryInOneCallInOrderAndSkipsALostLease()
    {
        var queue = CreateQueue();
        await queue.EnqueueAsync([Message("m1"), Message("m2"), Message("m3")]);
        var stalled = Assert.Single(await queue.LeaseAsync("a", 1));
        _time.Advance(s_consumerTimeout);
        await queue.RecoverAsync();
        var leased = await queue.LeaseAsync("b", 3);
        Assert.Equal(["m1", "m2", "m3"], leased.Select(Text));

        // Consumer a's lease on m1 is gone (recovered, now b's): its entry must not be written.
        var items = leased.Take(2).Select(m => new DeadLetterItem(m, DeadLetterEntry.Create(DeadLetterReasons.InvalidEnvelope, "bad " + Text(m), m.Payload.Span, _time.GetUtcNow())))
            .Prepend(new DeadLetterItem(stalled, DeadLetterEntry.Create(DeadLetterReasons.InvalidEnvelope, "stale", stalled.Payload.Span, _time.GetUtcNow())))
            .ToList();
        Assert.Equal(2, await queue.DeadLetterAsync("b", items));

        Assert.Equal(["bad m2", "bad m1"], (await queue.GetDeadLettersAsync()).Select(d => d.Detail));
        await AssertStats(queue, leased: 1, dead: 2, consumers: 1);

        // A retry of the same call (its reply lost to a connection cut) writes nothing twice.
        Assert.Equal(0, await queue.DeadLetterAsync("b", items));
        await AssertStats(queue, leased: 1, dead: 2, consumers: 1);
    }

    [Fact]
    public async Task LeaseAsync_PayloadsAtTheEnvelopeLimit_ComeASlicePerCallWithinTheByteBudget()
    {
        var queue = CreateQueue();
        var largest = new byte[EnvelopeLimits.MaxEnvelopeBytes];
        largest.AsSpan().Fill((byte)'x');
        await queue.EnqueueAsync([.. Enumerable.Range(0, 40).Select(_ => new QueueMessage(largest, Priority.Normal)), Message("small")]);

        // A producer's largest valid payloads reach a consumer a bounded slice at a time, never a whole batch at once.
        var sizes = new List<int>();
        while (await queue.LeaseAsync("a", 100) is { Count: > 0 } leased)
        {
            Assert.Empty(leased.Oversized);
            Assert.True(leased.Sum(m => m.Payload.Length) <= RedisMessageQueue.MaxLeaseBytes + largest.Length, "a lease went over the budget by more than one message");
            sizes.Add(leased.Count);
            await queue.AckAsync("a", leased.Select((m, i) => new AckItem(m.LeaseId, $"x{sizes.Count}-{i}")).ToList());
        }

        var perCall = RedisMessageQueue.MaxLeaseBytes / EnvelopeLimits.MaxEnvelopeBytes;
        Assert.Equal([perCall, perCall, 40 - (2 * perCall) + 1], sizes);
        await AssertStats(queue, consumers: 1);
    }

    [Fact]
    public async Task LeaseAsync_PayloadsOverTheEnvelopeLimit_AreDeadLetteredInRedisByteForByteAndNeverLeased()
    {
        var queue = CreateQueue();
        var megabyte = Encoding.UTF8.GetBytes("{\"id\":\"big-1\",\"text\":\"" + new string('m', 1024 * 1024) + "\"}");
        var notUtf8 = new byte[EnvelopeLimits.MaxEnvelopeBytes + 1];
        notUtf8.AsSpan().Fill(0xFF);
        await queue.EnqueueAsync([new QueueMessage(megabyte, Priority.Normal), new QueueMessage(notUtf8, Priority.Normal), Message("m1")]);

        // The megabyte uses up one call's byte budget (it bounds Redis's work too); the next call takes the rest. Only the
        // sendable message reaches the consumer; the others are in the dead-letter list already.
        var first = await queue.LeaseAsync("a", 10);
        var second = await queue.LeaseAsync("a", 10);

        Assert.Empty(first);
        Assert.Equal([megabyte.Length], first.Oversized);
        Assert.Equal("m1", Text(Assert.Single(second)));
        Assert.Equal([notUtf8.Length], second.Oversized);
        await AssertStats(queue, leased: 1, dead: 2, consumers: 1);
        var dead = await queue.GetDeadLettersAsync();
        foreach (var (entry, payload) in dead.Zip([notUtf8, megabyte]))
        {
            Assert.Equal(DeadLetterReasons.InvalidEnvelope, entry.Reason);
            Assert.Equal(EnvelopeCodec.Parse(payload).Error!.ToString(), entry.Detail);
            Assert.Equal(payload, entry.PayloadBytes());
            Assert.Equal(1, entry.Deliveries);
            Assert.Equal(_time.GetUtcNow(), entry.DeadAt);
        }

        Assert.NotNull(dead[0].PayloadBase64);
        Assert.NotNull(dead[1].Payload);

        // Nothing is lost: requeued, each goes back exactly as it was pushed.
        var admin = new DeadLetterAdmin(redis.Connection, queue.Keys);
        var requeued = await admin.RequeueAsync(await admin.FindOldestFirstAsync(_ => true));
        Assert.Equal([true, true], requeued);
        var ready = await redis.Connection.GetDatabase().ListRangeAsync(queue.Keys.ReadyNormal);
        Assert.Equal([notUtf8, megabyte], ready.Select(v => (byte[])v!));
    }

    [Fact]
    public async Task LeaseAsync_OversizedPayloadWhoseHolderDied_KeepsItsDeliveryCountWithoutTheHeader()
    {
        var queue = CreateQueue();
        var oversized = Encoding.UTF8.GetBytes(new string('x', EnvelopeLimits.MaxEnvelopeBytes + 10));

        // As recovery puts a message back after its consumer died twice: the count in front of the payload.
        await redis.Connection.GetDatabase().ListLeftPushAsync(queue.Keys.ReadyHigh, "\u001e2\u001e"u8.ToArray().Concat(oversized).ToArray());

        var batch = await queue.LeaseAsync("a", 10);

        Assert.Empty(batch);
        Assert.Equal([oversized.Length], batch.Oversized);
        var entry = Assert.Single(await queue.GetDeadLettersAsync());
        Assert.Equal(3, entry.Deliveries);
        Assert.Equal(oversized, entry.PayloadBytes());
    }

    [Fact]
    public async Task LeaseAsync_RetriedAfterALostReply_ReportsTheSameDeadLettersWithoutWritingThemTwice()
    {
        var queue = CreateQueue();
        var oversized = new byte[EnvelopeLimits.MaxEnvelopeBytes + 1];
        await queue.EnqueueAsync([new QueueMessage(oversized, Priority.Normal), Message("m1")]);

        var first = await queue.LeaseAsync("a", 10, "request-1");
        var retried = await queue.LeaseAsync("a", 10, "request-1");

        Assert.Equal([oversized.Length], retried.Oversized);
        Assert.Equal(first.Select(m => m.LeaseId), retried.Select(m => m.LeaseId));
        await AssertStats(queue, leased: 1, dead: 1, consumers: 1);
    }

    [Fact]
    public async Task LeaseAsync_ReplyLost_ItsBatchCanBeAskedForAgainForADay()
    {
        // A retry after Redis was away for hours (the caller retries until it answers) must still find the batch: kept
        // 10 minutes, the record was gone and the batch stayed in the live consumer's hash, unsent, until it stopped.
        var queue = CreateQueue();
        await queue.EnqueueAsync([Message("m1")]);

        await queue.LeaseAsync("a", 10, "request-1");

        var kept = await redis.Connection.GetDatabase().KeyTimeToLiveAsync(queue.Keys.LastLease("a"));
        Assert.InRange(kept!.Value, TimeSpan.FromHours(23), TimeSpan.FromHours(24));
    }

    [Fact]
    public async Task LeaseAsync_WhilePaused_LeasesNothingButKeepsTheConsumerAliveAndResumesInOrder()
    {
        var queue = CreateQueue();
        await queue.EnqueueAsync([Message("m1"), Message("m2")]);

        await queue.SetPausedAsync("maintenance");

        Assert.Equal("maintenance", await queue.GetPausedAsync());
        Assert.Empty(await queue.LeaseAsync("a", 10));
        await AssertStats(queue, normal: 2, consumers: 1);

        await queue.SetPausedAsync(null);

        Assert.Null(await queue.GetPausedAsync());
        Assert.Equal(["m1", "m2"], (await queue.LeaseAsync("a", 10)).Select(Text));
    }

    [Fact]
    public async Task GetOldestReadyAsync_HeldUntilItsNotBefore_IsDueFromThenNotFromItsPush()
    {
        var queue = CreateQueue();
        var now = _time.GetUtcNow();
        var quiet = new QuietHoursWindow(new TimeOnly(21, 0), TimeOnly.FromDateTime(now.UtcDateTime.AddMinutes(-30)), TimeZoneInfo.FindSystemTimeZoneById("Etc/UTC"));

        // Pushed 12 h ago and never held (the senders were down all night): late since its push, whatever its quiet hours.
        var stuck = new Envelope { Id = "s", To = "+5511987654321", Text = "oi", QuietHours = quiet, EnqueuedAt = now.AddHours(-12) };

        // Pushed 11 h ago and held by the sender for quiet hours that ended 30 minutes ago: its notBefore says when.
        var held = stuck with { Id = "h", EnqueuedAt = now.AddHours(-11), NotBefore = now.AddMinutes(-30) };

        // Pushed an hour ago for a notBefore an hour ahead, straight into a ready list: not late at all.
        var early = new Envelope { Id = "e", To = "+5511987654321", Text = "oi", EnqueuedAt = now.AddHours(-1), NotBefore = now.AddHours(1) };
        await queue.EnqueueAsync(
        [
            new(EnvelopeCodec.Serialize(stuck), Priority.High),
            new(EnvelopeCodec.Serialize(held), Priority.Normal),
            new(EnvelopeCodec.Serialize(early), Priority.Low),
        ]);

        // The push time still leads the scheduler's backlog check; the time due is what the age alert reads.
        Assert.Equal(new OldestReady(now.AddHours(-12), now.AddHours(-12)), await queue.GetOldestReadyAsync());
        await queue.LeaseAsync("a", 1); // high first
        Assert.Equal(new OldestReady(now.AddHours(-11), now.AddMinutes(-30)), await queue.GetOldestReadyAsync());
        await queue.LeaseAsync("a", 1);
        Assert.Equal(new OldestReady(now.AddHours(-1), now), await queue.GetOldestReadyAsync());
        await queue.LeaseAsync("a", 1);
        Assert.Null(await queue.GetOldestReadyAsync());
    }

    private RedisMessageQueue CreateQueue(Action<QueueOptions>? configure = null)
    {
        var options = new QueueOptions { Name = RedisFixture.UniqueQueueName(), ConsumerTimeout = s_consumerTimeout };
        configure?.Invoke(options);
        return new RedisMessageQueue(redis.Connection, Options.Create(options), _time);
    }

    private static QueueMessage Message(string payload, Priority priority = Priority.Normal, DateTimeOffset? nb = null) =>
        new(Encoding.UTF8.GetBytes(payload), priority, nb);

    private static string Text(LeasedMessage message) => Encoding.UTF8.GetString(message.Payload.Span);

    private static async Task AssertStats(
        RedisMessageQueue queue, long high = 0, long normal = 0, long low = 0, long delayed = 0, long leased = 0, long dead = 0, long consumers = 0) =>
        Assert.Equal(new QueueStats(high, normal, low, delayed, leased, dead, consumers), await queue.GetStatsAsync());
}
