using Cortex.Shared.Client;
using Cortex.Shared.Contract;
using Cortex.Shared.Queue;
using Cortex.Testing;
using Microsoft.Extensions.Options;

namespace Cortex.Shared.Tests.Client;

public class CortexClientTests(RedisFixture redis) : IClassFixture<RedisFixture>
{
    private readonly FakeTimeProvider _time = new();

    [Fact]
    public async Task EnqueueAsync_HighPriority_GoesToTheHighListStampedWithTheClock()
    {
        var (client, queue) = Create();

        await client.EnqueueAsync(Text("c-1", Priority.High));

        Assert.Equal(new QueueStats(1, 0, 0, 0, 0, 0, 0), await queue.GetStatsAsync());
        var envelope = await LeaseOneAsync(queue);
        Assert.Equal("c-1", envelope.Id);
        Assert.Equal(Priority.High, envelope.Priority);
        Assert.Equal(_time.GetUtcNow(), envelope.EnqueuedAt);
        Assert.Equal(0, envelope.Attempt);
    }

    [Fact]
    public async Task EnqueueAsync_EnqueuedAtAlreadySet_KeepsIt()
    {
        var (client, queue) = Create();
        var original = _time.GetUtcNow().AddMinutes(-3);

        await client.EnqueueAsync(Text("c-1") with { EnqueuedAt = original });

        Assert.Equal(original, (await LeaseOneAsync(queue)).EnqueuedAt);
    }

    [Fact]
    public async Task EnqueueAsync_NotBeforeAhead_GoesToDelayedAndIsReadyOnlyWhenDue()
    {
        var (client, queue) = Create();

        await client.EnqueueAsync(Text("c-1", Priority.High) with { NotBefore = _time.GetUtcNow().AddHours(1) });

        Assert.Equal(new QueueStats(0, 0, 0, 1, 0, 0, 0), await queue.GetStatsAsync());
        Assert.Equal(0, await queue.PromoteDueAsync());
        _time.Advance(TimeSpan.FromHours(1));
        Assert.Equal(1, await queue.PromoteDueAsync());
        Assert.Equal(new QueueStats(1, 0, 0, 0, 0, 0, 0), await queue.GetStatsAsync());
    }

    [Fact]
    public async Task EnqueueAsync_InvalidEnvelope_ThrowsNamingTheFieldAndEnqueuesNothing()
    {
        var (client, queue) = Create();

        var ex = await Assert.ThrowsAsync<InvalidEnvelopeException>(() => client.EnqueueAsync(Text("c-1") with { To = "12" }));

        Assert.Equal(-1, ex.Index);
        Assert.Equal("to", ex.Error!.Field);
        Assert.Contains("c-1", ex.Message, StringComparison.Ordinal);
        Assert.Equal(0, (await queue.GetStatsAsync()).Pending);
    }

    // A producer that cut an emoji in two had the half silently replaced with U+FFFD and sent to the customer.
    [Fact]
    public async Task EnqueueAsync_TextWithHalfOfAnEmoji_ThrowsInsteadOfSendingAReplacementCharacter()
    {
        var (client, queue) = Create();

        var ex = await Assert.ThrowsAsync<InvalidEnvelopeException>(() => client.EnqueueAsync(Text("c-1") with { Text = "Olá \ud83d" }));

        Assert.Equal(new EnvelopeError("text", "contains half of a character (a lone UTF-16 surrogate; was an emoji cut in two?)"), ex.Error);
        Assert.Equal(0, (await queue.GetStatsAsync()).Pending);
    }

    [Fact]
    public async Task EnqueueBatchAsync_MixedPriorities_GoToTheirListsInOrder()
    {
        var (client, queue) = Create();

        var count = await client.EnqueueBatchAsync(
        [
            Text("h-1", Priority.High),
            Text("n-1"),
            Text("l-1", Priority.Low),
            Text("n-2"),
            Text("later") with { NotBefore = _time.GetUtcNow().AddMinutes(30) },
        ]);

        Assert.Equal(5, count);
        Assert.Equal(new QueueStats(1, 2, 1, 1, 0, 0, 0), await queue.GetStatsAsync());
        var leased = await queue.LeaseAsync("a", 10);
        var ids = leased.Select(m => EnvelopeCodec.Parse(m.Payload.Span).Envelope!.Id).ToList();
        Assert.Equal(["h-1", "n-1", "n-2", "l-1"], ids);
        Assert.All(leased, m => Assert.Equal(_time.GetUtcNow(), EnvelopeCodec.Parse(m.Payload.Span).Envelope!.EnqueuedAt));
    }

    [Fact]
    public async Task EnqueueBatchAsync_OneInvalidEnvelope_ThrowsNamingIndexAndFieldAndEnqueuesNothing()
    {
        var (client, queue) = Create();

        var ex = await Assert.ThrowsAsync<InvalidEnvelopeException>(() => client.EnqueueBatchAsync(
        [
            Text("ok-1"),
            Text("ok-2") with { NotBefore = _time.GetUtcNow().AddMinutes(5) },
            Text("bad") with { Text = null, Template = new MessageTemplate("bill_due", "PT", []) },
            Text("ok-3"),
        ]));

        Assert.Equal(2, ex.Index);
        Assert.Equal("template.language", ex.Error!.Field);
        Assert.Contains("index 2", ex.Message, StringComparison.Ordinal);
        Assert.Contains("bad", ex.Message, StringComparison.Ordinal);
        Assert.Equal(0, (await queue.GetStatsAsync()).Pending);
    }

    [Fact]
    public async Task EnqueueBatchAsync_Empty_EnqueuesNothing()
    {
        var (client, queue) = Create();

        Assert.Equal(0, await client.EnqueueBatchAsync([]));

        Assert.Equal(0, (await queue.GetStatsAsync()).Pending);
    }

    private (CortexClient Client, RedisMessageQueue Queue) Create()
    {
        var queue = new RedisMessageQueue(redis.Connection, Options.Create(new QueueOptions { Name = RedisFixture.UniqueQueueName() }), _time);
        return (new CortexClient(queue, _time), queue);
    }

    private static Envelope Text(string id, Priority priority = Priority.Normal) =>
        new() { Id = id, To = "+5511987654321", Text = "Your bill is due on Friday.", Priority = priority };

    private static async Task<Envelope> LeaseOneAsync(RedisMessageQueue queue)
    {
        var leased = Assert.Single(await queue.LeaseAsync("a", 10));
        var parsed = EnvelopeCodec.Parse(leased.Payload.Span);
        Assert.True(parsed.IsValid, parsed.Error?.ToString());
        return parsed.Envelope!;
    }
}
