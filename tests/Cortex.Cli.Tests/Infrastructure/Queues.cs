using Cortex.Shared.Contract;
using Cortex.Shared.Queue;
using Cortex.Testing;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Cortex.Cli.Tests.Infrastructure;

/// <summary>The real queue as a sender uses it, and dead letters seeded exactly as the sender writes them.</summary>
public static class Queues
{
    /// <summary>The product's queue over <paramref name="redis"/>, on the CLI's clock: what a sender would do, in the test.</summary>
    public static RedisMessageQueue Sender(IConnectionMultiplexer redis, CliDriver cli) =>
        new(redis, Options.Create(new QueueOptions { Name = cli.QueueName! }), cli.Time);

    public static byte[] Payload(string id, string to = "+5511987654321", Priority priority = Priority.Normal, string? kind = null, DateTimeOffset? expiresAt = null, int attempt = 0) =>
        EnvelopeCodec.Serialize(new Envelope { Id = id, To = to, Text = "Olá " + id, Priority = priority, Kind = kind, ExpiresAt = expiresAt, Attempt = attempt });

    /// <summary>Pushes a dead letter as the DeadLetter script does (LPUSH of the entry's header line and the payload's bytes); returns the stored bytes.</summary>
    public static async Task<byte[]> DeadLetterAsync(IConnectionMultiplexer redis, QueueKeys keys, string reason, byte[] payload, DateTimeOffset deadAt, string? id = null, string? kind = null, int attempts = 0, string? lastError = null)
    {
        var entry = DeadLetterEntry.Create(reason, reason == DeadLetterReasons.InvalidEnvelope ? "txt: unknown field (check its spelling; fields are camelCase)" : "detail of " + reason, payload, deadAt) with
        {
            MessageId = id,
            Kind = kind,
            Attempts = attempts,
            Deliveries = 1,
            LastError = lastError,
        };
        var stored = entry.ToStored(payload);
        await redis.GetDatabase().ListLeftPushAsync(keys.Dead, stored);
        return stored;
    }

    /// <summary>Takes a message the way a sender does: lease, then claim its id. Returns the lease and the claim's answer.</summary>
    public static async Task<(LeasedMessage Lease, ClaimResult Claim)> LeaseAndClaimAsync(RedisMessageQueue queue, string consumer)
    {
        var lease = Assert.Single(await queue.LeaseAsync(consumer, 1));
        var envelope = EnvelopeCodec.Parse(lease.Payload.Span).Envelope!;
        var claim = Assert.Single(await queue.ClaimAsync(consumer, [new AckItem(lease.LeaseId, envelope.Id)]));
        return (lease, claim);
    }

    public static FakeTimeProvider Clock() => new(new DateTimeOffset(2026, 11, 22, 12, 0, 0, TimeSpan.Zero));
}
