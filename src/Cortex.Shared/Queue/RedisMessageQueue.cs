using System.Globalization;
using Cortex.Shared.Contract;
using Cortex.Shared.Redis;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Cortex.Shared.Queue;

/// <summary>The reliable queue on Redis: ready lists per priority, a delayed set, per-consumer lease hashes and a dead-letter list.</summary>
public sealed class RedisMessageQueue : IMessageQueue
{
    private const byte RedeliveryMark = 30;
    private const int MaxLeaseBatch = 1000;

    /// <summary>
    /// What one lease call may carry, in payload bytes (at least one message is always leased): a hostile producer's
    /// huge payloads reach a consumer one at a time instead of a batch at once. Valid envelopes are at most
    /// <see cref="Contract.EnvelopeLimits.MaxEnvelopeBytes"/>, so with ordinary traffic the batch size is what limits.
    /// </summary>
    public const int MaxLeaseBytes = 1 << 20;
    private const int EnqueueChunk = 1000;
    private static readonly RedisValue s_sentMarker = "1";

    // The longest a sent marker is kept for a message's expiry: the longest idempotency window allowed.
    private static readonly TimeSpan s_maxSentMarkerLifetime = TimeSpan.FromDays(30);

    private readonly IConnectionMultiplexer _connection;
    private readonly QueueOptions _options;
    private readonly TimeProvider _time;
    private readonly PriorityScheduler _scheduler;

    // The highest lease id this process has been given. Redis may lose its last writes (the AOF fsync window, a
    // failover) and with them the sequence's last increments, while this process still holds those ids and acks them
    // later; each lease asks for ids above this one, so an old ack never removes a new message's lease.
    private long _highestLeaseId;

    public RedisMessageQueue(IConnectionMultiplexer connection, IOptions<QueueOptions> options, TimeProvider timeProvider)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(timeProvider);
        _connection = connection;
        _options = options.Value;
        _time = timeProvider;
        Keys = new QueueKeys(_options.Name);
        _scheduler = new PriorityScheduler(_options.HighWeight, _options.NormalWeight, _options.LowWeight);
    }

    public QueueKeys Keys { get; }

    private IDatabase Db => _connection.GetDatabase();

    private long NowMs => _time.GetUtcNow().ToUnixTimeMilliseconds();

    private RedisKey[] ReadyKeys => [Keys.ReadyHigh, Keys.ReadyNormal, Keys.ReadyLow];

    public async Task EnqueueAsync(IReadOnlyList<QueueMessage> messages, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(messages);
        cancellationToken.ThrowIfCancellationRequested();
        if (messages.Count == 0)
        {
            return;
        }

        var now = _time.GetUtcNow();
        var ready = new List<RedisValue>[3];
        var delayed = new List<SortedSetEntry>();
        foreach (var message in messages)
        {
            // Refused before anything is pushed: in the delayed set, a digit that names no ready list stopped every
            // promotion once due, after the pushes of the messages due later, which were then pushed again every sweep.
            if (message.Priority is < Priority.High or > Priority.Low)
            {
                throw new ArgumentOutOfRangeException(nameof(messages), message.Priority, "a message's priority must be High, Normal or Low; nothing was pushed");
            }

            if (message.NotBefore is { } notBefore && notBefore > now)
            {
                delayed.Add(new SortedSetEntry(DelayedMember(message.Priority, message.Payload.Span), notBefore.ToUnixTimeMilliseconds()));
            }
            else
            {
                (ready[(int)message.Priority] ??= []).Add(message.Payload.ToArray());
            }
        }

        var batch = Db.CreateBatch();
        var pushes = new List<Push>();
        for (var p = 0; p < 3; p++)
        {
            if (ready[p] is not { } values)
            {
                continue;
            }

            // LPUSH puts the first value furthest from the consuming (right) end, so order is kept.
            foreach (var chunk in values.Chunk(EnqueueChunk))
            {
                var key = Keys.Ready((Priority)p);
                pushes.Add(new(key, "list", chunk.Length, batch.ListLeftPushAsync(key, chunk)));
            }
        }

        foreach (var chunk in delayed.Chunk(EnqueueChunk))
        {
            pushes.Add(new(Keys.Delayed, "zset", chunk.Length, batch.SortedSetAddAsync(Keys.Delayed, chunk)));
        }

        batch.Execute();
        try
        {
            await Task.WhenAll(pushes.Select(push => push.Task));
        }
        catch (RedisServerException ex) when (QueueScripts.IsMistypedKey(ex))
        {
            if (await NameMistypedKeyAsync(pushes, messages.Count) is { } named)
            {
                throw named;
            }

            throw;
        }
    }

    private sealed record Push(RedisKey Key, string Type, int Count, Task Task);

    // The refusal that names the key and says what went in (QueueScripts.NameMistyped) is worded by Redis, so it stays a
    // RedisServerException every caller already classifies: StackExchange.Redis 1.2.6 lets no other code create one.
    // Null when Redis cannot be asked (an ACL user without EVALSHA or TYPE, or Redis gone since).
    private async Task<RedisServerException?> NameMistypedKeyAsync(List<Push> pushes, int total)
    {
        var refused = pushes.Where(push => push.Task.Exception?.InnerException is { } ex && QueueScripts.IsMistypedKey(ex)).ToList();
        var notPushed = refused.Sum(push => push.Count);
        var keys = string.Join(", ", refused.Select(push => push.Key.ToString()).Distinct());
        var outcome = notPushed == total ? "nothing was pushed" : $"{notPushed} of the {total} messages were not pushed (bound for {keys}), the others were";
        try
        {
            await QueueScripts.NameMistyped.EvaluateAsync(_connection, Db, [refused[0].Key], [refused[0].Type, outcome]);
        }
        catch (RedisServerException named) when (QueueScripts.IsMistypedKey(named))
        {
            return named;
        }
        catch (RedisException)
        {
        }

        return null;
    }

    public async Task<LeaseBatch> LeaseAsync(string consumerId, int max, string? requestToken = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(consumerId);
        ArgumentOutOfRangeException.ThrowIfLessThan(max, 1);
        cancellationToken.ThrowIfCancellationRequested();
        var (high, normal, low) = _scheduler.NextQuotas(Math.Min(max, MaxLeaseBatch));
        var result = (RedisResult[])(await QueueScripts.Lease.EvaluateAsync(
            _connection,
            Db,
            [Keys.ReadyHigh, Keys.ReadyNormal, Keys.ReadyLow, Keys.Leases(consumerId), Keys.LeaseSequence, Keys.Consumers, Keys.LastLease(consumerId), Keys.Paused, Keys.Dead],
            [consumerId, NowMs, high, normal, low, requestToken ?? Guid.NewGuid().ToString("N"), MaxLeaseBytes, EnvelopeLimits.MaxEnvelopeBytes, _time.GetUtcNow().ToString("O", CultureInfo.InvariantCulture), Interlocked.Read(ref _highestLeaseId)]))!;
        if (result.Length == 0)
        {
            return LeaseBatch.Empty;
        }

        var oversized = Array.ConvertAll((RedisResult[])result[0]!, size => (int)size);
        var leased = new LeasedMessage[(result.Length - 1) / 3];
        for (var i = 0; i < leased.Length; i++)
        {
            var leaseId = (long)result[(3 * i) + 1];
            var priority = (Priority)(int)result[(3 * i) + 2];
            var raw = (byte[])result[(3 * i) + 3]!;
            leased[i] = Unwrap(leaseId, priority, raw);
        }

        RaiseHighestLeaseId(leased.Length == 0 ? 0 : leased[^1].LeaseId);

        return new LeaseBatch(leased, oversized);
    }

    private void RaiseHighestLeaseId(long leaseId)
    {
        var seen = Interlocked.Read(ref _highestLeaseId);
        while (leaseId > seen)
        {
            var before = Interlocked.CompareExchange(ref _highestLeaseId, leaseId, seen);
            if (before == seen)
            {
                return;
            }

            seen = before;
        }
    }

    public Task SetPausedAsync(string? reason) =>
        reason is null ? Db.KeyDeleteAsync(Keys.Paused) : Db.StringSetAsync(Keys.Paused, reason.Length == 0 ? "paused" : reason);

    public async Task<string?> GetPausedAsync() => await Db.StringGetAsync(Keys.Paused) is { IsNull: false } reason ? (string?)reason : null;

    public async Task<bool[]> AreSentAsync(IReadOnlyList<string> messageIds)
    {
        ArgumentNullException.ThrowIfNull(messageIds);
        if (messageIds.Count == 0)
        {
            return [];
        }

        var keys = new RedisKey[messageIds.Count];
        for (var i = 0; i < keys.Length; i++)
        {
            keys[i] = Keys.Sent(messageIds[i]);
        }

        var values = await Db.StringGetAsync(keys);
        var sent = new bool[values.Length];
        for (var i = 0; i < values.Length; i++)
        {
            // A send claim ("owner|lease") is not a send; only the ack's "1" is.
            sent[i] = values[i] == s_sentMarker;
        }

        return sent;
    }

    public async Task<ClaimResult[]> ClaimAsync(string consumerId, IReadOnlyList<AckItem> items)
    {
        ArgumentException.ThrowIfNullOrEmpty(consumerId);
        ArgumentNullException.ThrowIfNull(items);
        if (items.Count == 0)
        {
            return [];
        }

        var keys = new RedisKey[items.Count];
        var args = new RedisValue[items.Count + 2];
        args[0] = (long)_options.IdempotencyWindow.TotalMilliseconds;
        args[1] = Keys.LeasesPrefix;
        for (var i = 0; i < items.Count; i++)
        {
            keys[i] = Keys.Sent(items[i].MessageId);
            args[i + 2] = string.Create(CultureInfo.InvariantCulture, $"{consumerId}|{items[i].LeaseId}");
        }

        var result = (RedisResult[])(await QueueScripts.Claim.EvaluateAsync(_connection, Db, keys, args))!;
        var claims = new ClaimResult[result.Length];
        for (var i = 0; i < result.Length; i++)
        {
            claims[i] = (ClaimResult)(int)result[i];
        }

        return claims;
    }

    public async Task<int> AckAsync(string consumerId, IReadOnlyList<AckItem> items)
    {
        ArgumentException.ThrowIfNullOrEmpty(consumerId);
        ArgumentNullException.ThrowIfNull(items);
        if (items.Count == 0)
        {
            return 0;
        }

        var keys = new RedisKey[items.Count + 1];
        var args = new RedisValue[2 * items.Count];
        keys[0] = Keys.Leases(consumerId);
        var now = _time.GetUtcNow();
        for (var i = 0; i < items.Count; i++)
        {
            keys[i + 1] = Keys.Sent(items[i].MessageId);
            args[2 * i] = items[i].LeaseId;
            args[(2 * i) + 1] = (long)SentMarkerLifetime(items[i].ExpiresAt, now).TotalMilliseconds;
        }

        return (int)await QueueScripts.Ack.EvaluateAsync(_connection, Db, keys, args);
    }

    /// <summary>
    /// How long an id stays marked sent: the idempotency window, or until the message expires when that is later. A copy
    /// of the id (a producer's push repeated after a lost reply, the scheduler's push repeated after a crash before its
    /// commit) can wait longer than the window: behind a queue paused over a weekend, a day-long gateway outage. Past the
    /// window it was sent again, though it had not expired; past its expiry it is dead-lettered as expired unsent. At most
    /// <see cref="s_maxSentMarkerLifetime"/>, so an expiry years ahead does not keep a marker for years. A withdrawn id's
    /// marker lives as long, for the same copies.
    /// </summary>
    private TimeSpan SentMarkerLifetime(DateTimeOffset? expiresAt, DateTimeOffset now)
    {
        var window = _options.IdempotencyWindow;
        if (expiresAt is not { } expiry || expiry - now <= window)
        {
            return window;
        }

        // A minute past the expiry, for the senders' clocks reading a little behind the one that acked it.
        var untilExpired = expiry - now + TimeSpan.FromMinutes(1);
        return untilExpired < s_maxSentMarkerLifetime ? untilExpired : TimeSpan.FromTicks(Math.Max(window.Ticks, s_maxSentMarkerLifetime.Ticks));
    }

    public Task<bool> ScheduleRetryAsync(string consumerId, LeasedMessage message, ReadOnlyMemory<byte> payload, DateTimeOffset dueAt)
    {
        ArgumentNullException.ThrowIfNull(message);
        return MoveToDelayedAsync(consumerId, message.LeaseId, DelayedMember(message.Priority, payload.Span), dueAt);
    }

    public Task<bool> DeferAsync(string consumerId, LeasedMessage message, DateTimeOffset dueAt)
    {
        ArgumentNullException.ThrowIfNull(message);
        return MoveToDelayedAsync(consumerId, message.LeaseId, DelayedMember(message.Priority, message.Payload.Span), dueAt);
    }

    private async Task<bool> MoveToDelayedAsync(string consumerId, long leaseId, byte[] member, DateTimeOffset dueAt)
    {
        ArgumentException.ThrowIfNullOrEmpty(consumerId);
        var moved = await QueueScripts.Retry.EvaluateAsync(
            _connection, Db, [Keys.Leases(consumerId), Keys.Delayed], [leaseId, dueAt.ToUnixTimeMilliseconds(), member]);
        return (int)moved == 1;
    }

    public async Task<bool> DeadLetterAsync(string consumerId, LeasedMessage message, DeadLetterEntry entry) =>
        await DeadLetterAsync(consumerId, [new DeadLetterItem(message, entry)]) == 1;

    public async Task<int> DeadLetterAsync(string consumerId, IReadOnlyList<DeadLetterItem> items)
    {
        ArgumentException.ThrowIfNullOrEmpty(consumerId);
        ArgumentNullException.ThrowIfNull(items);
        if (items.Count == 0)
        {
            return 0;
        }

        var args = new RedisValue[2 * items.Count];
        for (var i = 0; i < items.Count; i++)
        {
            var (message, entry) = items[i];
            ArgumentNullException.ThrowIfNull(message);
            ArgumentNullException.ThrowIfNull(entry);
            args[2 * i] = message.LeaseId;
            args[(2 * i) + 1] = entry.ToStored(message.Payload.Span);
        }

        return (int)await QueueScripts.DeadLetter.EvaluateAsync(_connection, Db, [Keys.Leases(consumerId), Keys.Dead], args);
    }

    public async Task<int> ReturnAsync(string consumerId, IReadOnlyList<long>? leaseIds = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(consumerId);
        var args = leaseIds is null ? [] : leaseIds.Select(id => (RedisValue)id).ToArray();
        if (leaseIds is { Count: 0 })
        {
            return 0;
        }

        return (int)await QueueScripts.Return.EvaluateAsync(
            _connection, Db, [Keys.Leases(consumerId), Keys.ReadyHigh, Keys.ReadyNormal, Keys.ReadyLow], args);
    }

    public async Task<bool> ReturnToBackAsync(string consumerId, long leaseId)
    {
        ArgumentException.ThrowIfNullOrEmpty(consumerId);
        return (int)await QueueScripts.ReturnToBack.EvaluateAsync(
            _connection, Db, [Keys.Leases(consumerId), Keys.ReadyHigh, Keys.ReadyNormal, Keys.ReadyLow], [leaseId]) == 1;
    }

    public Task<IReadOnlyList<string>?> RefusedConsumerCommandsAsync() => RedisAcl.RefusedAsync(_connection, ConsumerNeeds());

    public Task<IReadOnlyList<string>?> RefusedProducerCommandsAsync() => RedisAcl.RefusedAsync(_connection, ProducerNeeds());

    /// <summary>
    /// Every command a producer runs on this queue's keys: the pushes (ready, or delayed for a later notBefore), the
    /// scheduler's withdrawal of held messages no longer wanted, and the queue metrics' reads.
    /// </summary>
    internal IEnumerable<RedisCommandNeed> ProducerNeeds()
    {
        (RedisKey Key, string Commands)[] needs =
        [
            (Keys.ReadyHigh, "LPUSH LLEN LINDEX"),
            (Keys.ReadyNormal, "LPUSH LLEN LINDEX"),
            (Keys.ReadyLow, "LPUSH LLEN LINDEX"),
            (Keys.Delayed, "ZADD ZCARD ZREM"),
            (Keys.Sent("*"), "GET SET"),
            (Keys.Consumers, "ZRANGE ZCOUNT"),
            (Keys.Leases("*"), "HLEN HEXISTS"),
            (Keys.Dead, "LLEN"),
            (Keys.Paused, "GET"),
        ];
        return Expand(needs);
    }

    /// <summary>
    /// Every command a consumer runs on this queue's keys, inside the scripts and outside them, with the queue metrics'
    /// reads: leasing, claims, acks, retries, dead letters, returns, promotion, recovery of dead consumers and the
    /// heartbeat. A "*" stands for any consumer or message id: to the check it is a key name like another.
    /// </summary>
    internal IEnumerable<RedisCommandNeed> ConsumerNeeds()
    {
        (RedisKey Key, string Commands)[] needs =
        [
            (Keys.ReadyHigh, "RPOP RPUSH LPUSH LLEN LINDEX TYPE"),
            (Keys.ReadyNormal, "RPOP RPUSH LPUSH LLEN LINDEX TYPE"),
            (Keys.ReadyLow, "RPOP RPUSH LPUSH LLEN LINDEX TYPE"),
            (Keys.Leases("*"), "HGET HSET HDEL HEXISTS HKEYS HGETALL HLEN DEL TYPE"),
            (Keys.LeaseSequence, "INCRBY SET GET TYPE"),
            (Keys.LastLease("*"), "GET SET DEL"),
            (Keys.Consumers, "ZADD ZREM ZRANGE ZRANGEBYSCORE ZCOUNT"),
            (Keys.Paused, "GET"),
            (Keys.Delayed, "ZADD ZREM ZRANGEBYSCORE ZCARD"),
            (Keys.Dead, "LPUSH LLEN TYPE"),
            (Keys.Sent("*"), "GET SET"),
        ];
        return Expand(needs);
    }

    private static IEnumerable<RedisCommandNeed> Expand((RedisKey Key, string Commands)[] needs) =>
        needs.SelectMany(n => n.Commands.Split(' ').Select(command => new RedisCommandNeed(command, n.Key)));

    public async Task<IReadOnlyList<long>> LeaseIdsAsync(string consumerId)
    {
        ArgumentException.ThrowIfNullOrEmpty(consumerId);
        return Array.ConvertAll(await Db.HashKeysAsync(Keys.Leases(consumerId)), field => (long)field);
    }

    public Task HeartbeatAsync(string consumerId)
    {
        ArgumentException.ThrowIfNullOrEmpty(consumerId);
        return Db.SortedSetAddAsync(Keys.Consumers, consumerId, NowMs);
    }

    public async Task<bool> HoldsLeaseAsync(string consumerId, long leaseId)
    {
        ArgumentException.ThrowIfNullOrEmpty(consumerId);
        return (int)await QueueScripts.HoldsLease.EvaluateAsync(
            _connection, Db, [Keys.Consumers, Keys.Leases(consumerId)], [consumerId, NowMs, leaseId]) == 1;
    }

    public async Task<int> RemoveConsumerAsync(string consumerId)
    {
        var returned = await ReturnAsync(consumerId);
        await Db.SortedSetRemoveAsync(Keys.Consumers, consumerId);
        await Db.KeyDeleteAsync(Keys.LastLease(consumerId));
        return returned;
    }

    public async Task<int> PromoteDueAsync(int limit = 1000)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        return (int)await QueueScripts.Promote.EvaluateAsync(
            _connection, Db, [Keys.Delayed, Keys.ReadyHigh, Keys.ReadyNormal, Keys.ReadyLow], [NowMs, Math.Min(limit, MaxLeaseBatch)]);
    }

    public async Task<bool[]> WithdrawAsync(IReadOnlyList<WithdrawItem> items)
    {
        ArgumentNullException.ThrowIfNull(items);
        if (items.Count == 0)
        {
            return [];
        }

        var keys = new RedisKey[items.Count + 1];
        var args = new RedisValue[(2 * items.Count) + 1];
        keys[0] = Keys.Delayed;
        args[0] = Keys.LeasesPrefix;
        var now = _time.GetUtcNow();
        for (var i = 0; i < items.Count; i++)
        {
            var (id, message, expiresAt) = items[i];
            keys[i + 1] = Keys.Sent(id);
            args[(2 * i) + 1] = DelayedMember(message.Priority, message.Payload.Span);
            args[(2 * i) + 2] = (long)SentMarkerLifetime(expiresAt, now).TotalMilliseconds;
        }

        var result = (RedisResult[])(await QueueScripts.Withdraw.EvaluateAsync(_connection, Db, keys, args))!;
        return [.. result.Select(r => (int)r == 1)];
    }

    public Task<RecoveryResult> RecoverAsync() => RecoverAsync([]);

    public Task<RecoveryResult> RecoverConsumerAsync(string consumerId)
    {
        ArgumentException.ThrowIfNullOrEmpty(consumerId);
        return RecoverAsync([consumerId]);
    }

    private async Task<RecoveryResult> RecoverAsync(RedisValue[] owner)
    {
        var now = _time.GetUtcNow();
        var deadline = now.ToUnixTimeMilliseconds() - (long)_options.ConsumerTimeout.TotalMilliseconds;
        var result = (RedisResult[])(await QueueScripts.Recover.EvaluateAsync(
            _connection,
            Db,
            [Keys.Consumers, Keys.ReadyHigh, Keys.ReadyNormal, Keys.ReadyLow, Keys.Dead],
            [deadline, _options.MaxDeliveries, Keys.LeasesPrefix, now.ToString("O", CultureInfo.InvariantCulture), 16, .. owner]))!;
        return new RecoveryResult((int)result[0], (int)result[1], (int)result[2]);
    }

    public async Task<QueueStats> GetStatsAsync()
    {
        var r = (RedisResult[])(await QueueScripts.Stats.EvaluateAsync(
            _connection,
            Db,
            [Keys.ReadyHigh, Keys.ReadyNormal, Keys.ReadyLow, Keys.Delayed, Keys.Dead, Keys.Consumers],
            [Keys.LeasesPrefix, LiveConsumerDeadline()]))!;
        return new QueueStats((long)r[0], (long)r[1], (long)r[2], (long)r[3], (long)r[4], (long)r[5], (long)r[6]);
    }

    public async Task<OldestReady?> GetOldestReadyAsync()
    {
        var now = _time.GetUtcNow();
        OldestReady? oldest = null;
        foreach (var tail in await GetReadyTailsAsync())
        {
            if (tail.EnqueuedAt is { } at)
            {
                var since = WaitingSince(at, tail.NotBefore, now);
                oldest = oldest is null ? new(at, since) : new(Min(oldest.EnqueuedAt, at), Min(oldest.WaitingSince, since));
            }
        }

        return oldest;
    }

    public async Task<IReadOnlyList<ReadyTail>> GetReadyTailsAsync()
    {
        var tails = (RedisResult[])(await QueueScripts.OldestReady.EvaluateAsync(
            _connection,
            Db,
            [Keys.ReadyHigh, Keys.ReadyNormal, Keys.ReadyLow],
            []))!;
        var found = new List<ReadyTail>(tails.Length);
        for (var i = 0; i < tails.Length; i++)
        {
            if ((byte[]?)tails[i] is { } raw)
            {
                // One read of the payload; a malformed one still tells its push time, read on its own.
                var payload = Unwrap(0, (Priority)i, raw).Payload.Span;
                var envelope = EnvelopeCodec.Parse(payload).Envelope;
                found.Add(envelope is null
                    ? new ReadyTail((Priority)i, null, EnvelopeCodec.TryReadEnqueuedAt(payload), null)
                    : new ReadyTail((Priority)i, envelope.Id, envelope.EnqueuedAt, envelope.NotBefore));
            }
        }

        return found;
    }

    // When a message could first have been sent: its push, or its notBefore when later. The sender moves notBefore to the
    // end of the quiet hours it holds a message for, so a campaign held overnight is due at 08:00, not behind since 20:00.
    // Not after now: a tail pushed early (its notBefore still ahead) is not late, and the sender moves it to the delayed set.
    private static DateTimeOffset WaitingSince(DateTimeOffset enqueuedAt, DateTimeOffset? notBefore, DateTimeOffset now) =>
        notBefore is not { } due || due <= enqueuedAt ? enqueuedAt : Min(due, now);

    private static DateTimeOffset Min(DateTimeOffset a, DateTimeOffset b) => a < b ? a : b;

    private long LiveConsumerDeadline() =>
        _time.GetUtcNow().ToUnixTimeMilliseconds() - (long)_options.ConsumerTimeout.TotalMilliseconds;

    public async Task<IReadOnlyList<DeadLetterEntry>> GetDeadLettersAsync(long start = 0, long count = 100)
    {
        var values = await Db.ListRangeAsync(Keys.Dead, start, start + count - 1);
        var entries = new List<DeadLetterEntry>(values.Length);
        foreach (var value in values)
        {
            var entry = DeadLetterEntry.FromJson((byte[])value!);
            entries.Add(entry ?? new DeadLetterEntry { Reason = "unreadable", Detail = "dead-letter entry is not valid JSON", Payload = value });
        }

        return entries;
    }

    private static byte[] DelayedMember(Priority priority, ReadOnlySpan<byte> payload)
    {
        var member = new byte[payload.Length + 1];
        member[0] = (byte)('0' + (int)priority);
        payload.CopyTo(member.AsSpan(1));
        return member;
    }

    // Items put back by crash recovery start with "\30<deliveries>\30", 1 to 9 digits as the scripts read it (QueueScripts'
    // unwrap); everything else is a producer's payload as pushed.
    private static LeasedMessage Unwrap(long leaseId, Priority priority, byte[] raw)
    {
        if (raw.Length > 2 && raw[0] == RedeliveryMark)
        {
            var end = Array.IndexOf(raw, RedeliveryMark, 1);
            if (end is > 1 and <= 10 && int.TryParse(raw.AsSpan(1, end - 1), NumberStyles.None, CultureInfo.InvariantCulture, out var deliveries))
            {
                return new LeasedMessage(leaseId, priority, raw.AsMemory(end + 1), deliveries);
            }
        }

        return new LeasedMessage(leaseId, priority, raw, 0);
    }
}
