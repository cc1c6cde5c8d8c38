using Cortex.Shared.Contract;
using Cortex.Shared.Queue;
using Cortex.Testing;
using Microsoft.Extensions.Options;

namespace Cortex.Shared.Tests.Queue;

public sealed class ClaimTests(RedisFixture redis) : IClassFixture<RedisFixture>
{
    private RedisMessageQueue NewQueue() =>
        new(redis.Connection, Options.Create(new QueueOptions { Name = RedisFixture.UniqueQueueName() }), TimeProvider.System);

    private static QueueMessage Message(string id) =>
        new(EnvelopeCodec.Serialize(new Envelope { Id = id, To = "+5511987654321", Text = "oi" }), Priority.Normal);

    [Fact]
    public async Task Claim_SameIdLeasedTwiceAtOnce_OnlyTheFirstLeaseMaySend()
    {
        var queue = NewQueue();
        await queue.EnqueueAsync([Message("dup"), Message("dup")]);
        var a = Assert.Single(await queue.LeaseAsync("pod-a", 1));
        var b = Assert.Single(await queue.LeaseAsync("pod-b", 1));

        Assert.Equal([ClaimResult.Claimed], await queue.ClaimAsync("pod-a", [new AckItem(a.LeaseId, "dup")]));
        Assert.Equal([ClaimResult.InFlightElsewhere], await queue.ClaimAsync("pod-b", [new AckItem(b.LeaseId, "dup")]));

        // Claiming again with the same lease is idempotent (a retry of the claim call after a timeout).
        Assert.Equal([ClaimResult.Claimed], await queue.ClaimAsync("pod-a", [new AckItem(a.LeaseId, "dup")]));
    }

    [Fact]
    public async Task Claim_AfterAck_ReportsAlreadySentAndAreSentTurnsTrue()
    {
        var queue = NewQueue();
        await queue.EnqueueAsync([Message("once"), Message("once")]);
        var first = Assert.Single(await queue.LeaseAsync("pod-a", 1));
        await queue.ClaimAsync("pod-a", [new AckItem(first.LeaseId, "once")]);
        Assert.False((await queue.AreSentAsync(["once"]))[0]);

        await queue.AckAsync("pod-a", [new AckItem(first.LeaseId, "once")]);
        var second = Assert.Single(await queue.LeaseAsync("pod-b", 1));

        Assert.True((await queue.AreSentAsync(["once"]))[0]);
        Assert.Equal([ClaimResult.AlreadySent], await queue.ClaimAsync("pod-b", [new AckItem(second.LeaseId, "once")]));
    }

    [Fact]
    public async Task Ack_OfACopySkippedAsAlreadySent_LeavesTheWindowCountingFromTheSend()
    {
        // The idempotency window counts from the send (message-format.md): a copy pushed later and skipped must not start
        // it again, or an id pushed again and again within each window would never be sent again.
        var queue = NewQueue();
        await queue.EnqueueAsync([Message("late-copy")]);
        var first = Assert.Single(await queue.LeaseAsync("pod-a", 1));
        await queue.ClaimAsync("pod-a", [new AckItem(first.LeaseId, "late-copy")]);
        await queue.AckAsync("pod-a", [new AckItem(first.LeaseId, "late-copy")]);

        // Most of the window has gone by (the marker's TTL is Redis's clock, so it is set rather than waited for).
        var db = redis.Connection.GetDatabase();
        await db.KeyExpireAsync(queue.Keys.Sent("late-copy"), TimeSpan.FromSeconds(30));
        await queue.EnqueueAsync([Message("late-copy")]);
        var copy = Assert.Single(await queue.LeaseAsync("pod-b", 1));
        Assert.Equal([ClaimResult.AlreadySent], await queue.ClaimAsync("pod-b", [new AckItem(copy.LeaseId, "late-copy")]));
        await queue.AckAsync("pod-b", [new AckItem(copy.LeaseId, "late-copy")]);

        var ttl = await db.KeyTimeToLiveAsync(queue.Keys.Sent("late-copy"));
        Assert.NotNull(ttl);
        Assert.InRange(ttl.Value, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30));
        Assert.Equal(0, (await queue.GetStatsAsync()).Leased);
    }

    [Fact]
    public async Task Claim_HolderLeaseGone_StaleClaimIsTakenOver()
    {
        var queue = NewQueue();
        await queue.EnqueueAsync([Message("retry-me"), Message("retry-me")]);
        var first = Assert.Single(await queue.LeaseAsync("pod-a", 1));
        await queue.ClaimAsync("pod-a", [new AckItem(first.LeaseId, "retry-me")]);

        // The holder failed and scheduled a retry: its lease is gone, so its claim no longer blocks anyone.
        await queue.ScheduleRetryAsync("pod-a", first, first.Payload, TimeProvider.System.GetUtcNow().AddHours(1));
        var second = Assert.Single(await queue.LeaseAsync("pod-b", 1));

        Assert.Equal([ClaimResult.Claimed], await queue.ClaimAsync("pod-b", [new AckItem(second.LeaseId, "retry-me")]));
    }

    [Fact]
    public async Task Claim_Batch_AnswersEachIdOnItsOwn()
    {
        var queue = NewQueue();
        await queue.EnqueueAsync([Message("sent"), Message("fresh"), Message("busy")]);
        var leased = await queue.LeaseAsync("pod-a", 3);
        var byId = leased.ToDictionary(m => EnvelopeCodec.Parse(m.Payload.Span).Envelope!.Id);
        await queue.ClaimAsync("pod-a", [new AckItem(byId["sent"].LeaseId, "sent")]);
        await queue.AckAsync("pod-a", [new AckItem(byId["sent"].LeaseId, "sent")]);
        await queue.ClaimAsync("pod-a", [new AckItem(byId["busy"].LeaseId, "busy")]);
        await queue.EnqueueAsync([Message("sent"), Message("fresh"), Message("busy")]);
        var again = (await queue.LeaseAsync("pod-b", 3)).ToDictionary(m => EnvelopeCodec.Parse(m.Payload.Span).Envelope!.Id);

        var claims = await queue.ClaimAsync("pod-b", [new AckItem(again["sent"].LeaseId, "sent"), new AckItem(again["fresh"].LeaseId, "fresh"), new AckItem(again["busy"].LeaseId, "busy")]);

        Assert.Equal([ClaimResult.AlreadySent, ClaimResult.Claimed, ClaimResult.InFlightElsewhere], claims);
    }
}

public sealed class LeaseReplayTests(RedisFixture redis) : IClassFixture<RedisFixture>
{
    private static QueueMessage Message(string id) =>
        new(EnvelopeCodec.Serialize(new Envelope { Id = id, To = "+5511987654321", Text = "oi" }), Priority.Normal);

    [Fact]
    public async Task LeaseAsync_SameTokenAfterLostReply_ReturnsTheSameBatchAndLeasesNothingNew()
    {
        var queue = new RedisMessageQueue(redis.Connection, Options.Create(new QueueOptions { Name = RedisFixture.UniqueQueueName() }), TimeProvider.System);
        await queue.EnqueueAsync([Message("a"), Message("b"), Message("c"), Message("d")]);

        // The first call ran in Redis but its reply was lost; the caller retries with the same token.
        var first = await queue.LeaseAsync("pod", 2, "request-1");
        var replay = await queue.LeaseAsync("pod", 2, "request-1");

        Assert.Equal(first.Select(m => m.LeaseId), replay.Select(m => m.LeaseId));
        Assert.Equal(first.Select(m => m.Payload.ToArray()), replay.Select(m => m.Payload.ToArray()));
        var stats = await queue.GetStatsAsync();
        Assert.Equal((2L, 2L), (stats.Ready, stats.Leased));

        var next = await queue.LeaseAsync("pod", 2, "request-2");
        Assert.Equal(2, next.Count);
        Assert.Empty(first.Select(m => m.LeaseId).Intersect(next.Select(m => m.LeaseId)));
    }

    [Fact]
    public async Task LeaseAsync_ReplayAfterALeaseIsGone_ReturnsOnlyTheLeasesStillHeld()
    {
        var queue = new RedisMessageQueue(redis.Connection, Options.Create(new QueueOptions { Name = RedisFixture.UniqueQueueName() }), TimeProvider.System);
        await queue.EnqueueAsync([Message("a"), Message("b")]);
        var first = await queue.LeaseAsync("pod", 2, "request-1");
        await queue.ReturnAsync("pod", [first[0].LeaseId]);

        var replay = await queue.LeaseAsync("pod", 2, "request-1");

        Assert.Equal([first[1].LeaseId], replay.Select(m => m.LeaseId));
    }
}
