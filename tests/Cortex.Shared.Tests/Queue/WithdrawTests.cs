using Cortex.Shared.Contract;
using Cortex.Shared.Queue;
using Cortex.Testing;
using Microsoft.Extensions.Options;

namespace Cortex.Shared.Tests.Queue;

/// <summary>
/// A producer withdrawing messages it no longer wants sent (the scheduler, for a held message whose reason went away in
/// the night): wherever the message waits, no consumer sends it, and asking again answers the same.
/// </summary>
public sealed class WithdrawTests(RedisFixture redis) : IClassFixture<RedisFixture>
{
    private readonly FakeTimeProvider _time = new(TimeProvider.System.GetUtcNow());

    [Fact]
    public async Task WithdrawAsync_Delayed_TakesItOutAndAnswersTheSameWhenAskedAgain()
    {
        var queue = NewQueue();
        var held = Message("held", _time.GetUtcNow().AddHours(8));
        await queue.EnqueueAsync([held, Message("kept", _time.GetUtcNow().AddHours(8))]);

        Assert.True(Assert.Single(await queue.WithdrawAsync([new WithdrawItem("held", held)])));
        Assert.Equal(1, (await queue.GetStatsAsync()).Delayed);

        // The caller stopped before recording it, and asks again: still withdrawn, not "too late".
        Assert.True(Assert.Single(await queue.WithdrawAsync([new WithdrawItem("held", held)])));
    }

    [Fact]
    public async Task WithdrawAsync_AlreadyPromotedToReady_ItsClaimIsRefusedAndItsLeaseReleased()
    {
        // The check ran after the message was promoted: it waited in ready behind others. It used to be "too late".
        var queue = NewQueue();
        var held = Message("held", _time.GetUtcNow().AddMinutes(1));
        await queue.EnqueueAsync([held]);
        _time.Advance(TimeSpan.FromMinutes(2));
        Assert.Equal(1, await queue.PromoteDueAsync());

        Assert.True(Assert.Single(await queue.WithdrawAsync([new WithdrawItem("held", held)])));
        var leased = Assert.Single(await queue.LeaseAsync("pod", 10));

        Assert.Equal([ClaimResult.Withdrawn], await queue.ClaimAsync("pod", [new AckItem(leased.LeaseId, "held")]));
        Assert.Equal(new QueueStats(0, 0, 0, 0, 0, 0, 1), await queue.GetStatsAsync());
        Assert.False(Assert.Single(await queue.AreSentAsync(["held"])));
        Assert.True(Assert.Single(await queue.WithdrawAsync([new WithdrawItem("held", held)])));
    }

    [Fact]
    public async Task WithdrawAsync_SentOrBeingSent_TooLate()
    {
        var queue = NewQueue();
        var sent = Message("sent");
        var sending = Message("sending");
        await queue.EnqueueAsync([sent, sending]);
        var leased = (await queue.LeaseAsync("pod", 2)).ToDictionary(m => EnvelopeCodec.Parse(m.Payload.Span).Envelope!.Id);
        var items = new[] { new AckItem(leased["sent"].LeaseId, "sent"), new AckItem(leased["sending"].LeaseId, "sending") };
        await queue.ClaimAsync("pod", items);
        await queue.AckAsync("pod", [items[0]]);

        Assert.Equal([false, false], (await queue.WithdrawAsync([new WithdrawItem("sent", sent), new WithdrawItem("sending", sending)])).ToList());

        // The send in flight goes on and is recorded as sent.
        Assert.Equal([ClaimResult.Claimed], await queue.ClaimAsync("pod", [items[1]]));
        Assert.True(Assert.Single(await queue.AreSentAsync(["sent"])));
    }

    [Fact]
    public async Task WithdrawAsync_RetryPendingAfterAFailedSend_TheRetryIsNotSent()
    {
        // A send that failed left its claim behind, its lease gone to the retry schedule: not in flight, so withdrawn.
        var queue = NewQueue();
        var message = Message("retried");
        await queue.EnqueueAsync([message]);
        var leased = Assert.Single(await queue.LeaseAsync("pod", 1));
        await queue.ClaimAsync("pod", [new AckItem(leased.LeaseId, "retried")]);
        var retry = EnvelopeCodec.Serialize(new Envelope { Id = "retried", To = "+5511987654321", Text = "oi", Attempt = 1 });
        await queue.ScheduleRetryAsync("pod", leased, retry, _time.GetUtcNow().AddMinutes(5));

        Assert.True(Assert.Single(await queue.WithdrawAsync([new WithdrawItem("retried", message)])));

        _time.Advance(TimeSpan.FromMinutes(6));
        Assert.Equal(1, await queue.PromoteDueAsync());
        var again = Assert.Single(await queue.LeaseAsync("pod", 1));
        Assert.Equal([ClaimResult.Withdrawn], await queue.ClaimAsync("pod", [new AckItem(again.LeaseId, "retried")]));
    }

    private RedisMessageQueue NewQueue() =>
        new(redis.Connection, Options.Create(new QueueOptions { Name = RedisFixture.UniqueQueueName() }), _time);

    private static QueueMessage Message(string id, DateTimeOffset? notBefore = null) =>
        new(EnvelopeCodec.Serialize(new Envelope { Id = id, To = "+5511987654321", Text = "oi" }), Priority.Normal, notBefore);
}
