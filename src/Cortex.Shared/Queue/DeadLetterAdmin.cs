using System.Runtime.CompilerServices;
using System.Text.Json;
using Cortex.Shared.Contract;
using Cortex.Shared.Redis;
using StackExchange.Redis;

namespace Cortex.Shared.Queue;

/// <summary>One dead letter as read from the list: its position, its exact stored bytes and the parsed entry (null when unreadable).</summary>
/// <param name="Index">Position counted from the newest entry (0) when it was read; it shifts as senders dead-letter more.</param>
/// <param name="Raw">The entry exactly as stored: requeue and purge remove this value and nothing else.</param>
/// <param name="Entry">The parsed entry, or null when the stored value is not a dead-letter JSON object.</param>
public sealed record DeadLetterRecord(long Index, ReadOnlyMemory<byte> Raw, DeadLetterEntry? Entry)
{
    /// <summary>Whether the entry carries a payload to push back (an unreadable one does not).</summary>
    public bool HasPayload => Entry is { Payload.Length: > 0 } or { PayloadBase64.Length: > 0 };

    /// <summary>The payload to push back: the original bytes (a new copy each call), or empty when the entry carries none.</summary>
    public byte[] Payload() => HasPayload ? Entry!.PayloadBytes() : [];
}

/// <summary>
/// Operator actions on the dead-letter list: read it page by page, requeue entries to the ready list their payload names,
/// purge them. Each entry moves atomically (one script removes exactly its stored bytes and, only if that removed
/// something, pushes the payload), so an entry requeued or purged by someone else meanwhile is skipped, never doubled.
/// </summary>
public sealed class DeadLetterAdmin
{
    /// <summary>
    /// Most entries read per round trip. Small, because a page's size is learnt from the page before it: a page that
    /// follows one of smaller entries (ordinary dead letters, then a flood of oversized payloads) can hold this many of any
    /// size. So a page holds at most this many times the largest entry.
    /// </summary>
    public const int PageSize = 16;

    /// <summary>
    /// About how many stored bytes a page holds. An entry is as big as its payload, and the lease keeps an oversized
    /// payload whole (a megabyte, or whatever a producer pushed). A reader's first page is one entry; each next page asks
    /// for as many entries as this holds at the size of the last page's largest, 1 to <see cref="PageSize"/>. So a reader
    /// holds about this much at once, or one entry when a single one is bigger, except on a page that follows one of
    /// smaller entries: up to <see cref="PageSize"/> entries of any size. Readers go page by page and never hold the whole
    /// list, which a flood of bad input or a long outage can make bigger than a pod or a laptop has memory for.
    /// </summary>
    public const int PageBytes = 4 << 20;

    private const int ScriptChunk = 100;

    // Entries are removed from the tail end (LREM count -1): callers work oldest first, so each removal finds its entry
    // near where it looks first instead of walking the whole list. The payload goes where producers push (LPUSH), so a
    // requeued message waits behind what is already ready, exactly as a fresh enqueue would.
    // KEYS: dead, ready high, normal, low   ARGV: (priority index, entry, payload) per entry
    // The push follows the removal, so a push refused (an ACL, a ready list written with SET) would lose the entry: both
    // are asked before the first removal.
    private static readonly RedisScript s_requeue = new(QueueScripts.Permitted + QueueScripts.Mistyped + """
        if not (permitted('LPUSH', KEYS[2], 'x') and permitted('LPUSH', KEYS[3], 'x') and permitted('LPUSH', KEYS[4], 'x')) then
          return redis.error_reply('NOPERM this user may not run LPUSH on the ready lists a requeue writes')
        end
        local mistake = mistyped('list', KEYS[2], KEYS[3], KEYS[4])
        if mistake then return redis.error_reply('WRONGTYPE ' .. mistake .. '; nothing was requeued') end
        local out = {}
        for i = 1, #ARGV, 3 do
          local moved = 0
          if redis.call('LREM', KEYS[1], -1, ARGV[i + 1]) > 0 then
            redis.call('LPUSH', KEYS[2 + tonumber(ARGV[i])], ARGV[i + 2])
            moved = 1
          end
          out[#out + 1] = moved
        end
        return out
        """);

    // KEYS: dead   ARGV: entries
    private static readonly RedisScript s_purge = new("""
        local out = {}
        for i = 1, #ARGV do
          out[i] = redis.call('LREM', KEYS[1], -1, ARGV[i])
        end
        return out
        """);

    private readonly IConnectionMultiplexer _connection;

    public DeadLetterAdmin(IConnectionMultiplexer connection, QueueKeys keys)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(keys);
        _connection = connection;
        Keys = keys;
    }

    public QueueKeys Keys { get; }

    private IDatabase Db => _connection.GetDatabase();

    /// <summary>How many entries the dead-letter list holds.</summary>
    public Task<long> CountAsync() => Db.ListLengthAsync(Keys.Dead);

    /// <summary>
    /// Reads the list newest first, at most <paramref name="pageSize"/> entries and about <see cref="PageBytes"/> per round
    /// trip, without changing it.
    /// </summary>
    public async IAsyncEnumerable<DeadLetterRecord> ReadNewestFirstAsync(int pageSize = PageSize, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(pageSize, 1);
        var (start, size) = (0L, 1);
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var page = await Db.ListRangeAsync(Keys.Dead, start, start + size - 1);
            for (var i = 0; i < page.Length; i++)
            {
                yield return Read(start + i, page[i]);
            }

            if (page.Length < size)
            {
                yield break;
            }

            (start, size) = (start + page.Length, NextPageSize(page, pageSize));
        }
    }

    /// <summary>
    /// Every entry that <paramref name="match"/> accepts, oldest first. Read from the tail: senders push new dead letters
    /// at the head, so they do not shift what is still to read. This holds every match in memory: the CLI and the admin
    /// endpoint act page by page instead (<see cref="ActOldestFirstAsync"/>).
    /// </summary>
    public async Task<IReadOnlyList<DeadLetterRecord>> FindOldestFirstAsync(Func<DeadLetterRecord, bool> match, int pageSize = PageSize, CancellationToken cancellationToken = default)
    {
        var found = new List<DeadLetterRecord>();
        await ActOldestFirstAsync(
            match,
            (page, _) =>
            {
                found.AddRange(page);
                return Task.FromResult(new bool[page.Count]);
            },
            pageSize,
            cancellationToken: cancellationToken);
        return found;
    }

    /// <summary>
    /// Acts on every entry that <paramref name="match"/> accepts, oldest first, a page (at most <paramref name="pageSize"/>
    /// entries, about <see cref="PageBytes"/>) at a time: each page's matches go to <paramref name="act"/>
    /// (<see cref="RequeueAsync"/> or <see cref="PurgeAsync"/>) before the next page is read, so memory holds one page,
    /// never every match. The admin endpoint runs inside a sender pod, whose limit is 256 MiB: holding every match of a
    /// requeue after a long outage (every reminder of a day, say) could take more than that, and the pod would be killed
    /// with nothing requeued. Pages are read from the tail, where senders do not write (they push at the head); the entries
    /// a page's act removed are counted out of the next page's offset.
    /// <para>
    /// Only the entries there when it starts are read: what is dead-lettered meanwhile lands at the head, past them.
    /// Otherwise a requeue would meet again, and requeue again, the messages it had just requeued and a sender had
    /// dead-lettered again (an oversized payload comes back within a lease), lap after lap. At most <paramref name="limit"/> matches go to <paramref name="act"/>, the oldest. Returns how
    /// many matched (within the limit) and how many were moved or removed. Another operator removing entries at the same
    /// time shifts what is read by as many: a page can skip that many entries, which a second run acts on, and the walk
    /// can reach as many entries that arrived after it started.
    /// </para>
    /// </summary>
    public async Task<(int Matched, int Done)> ActOldestFirstAsync(
        Func<DeadLetterRecord, bool> match,
        Func<IReadOnlyList<DeadLetterRecord>, CancellationToken, Task<bool[]>> act,
        int pageSize = PageSize,
        int limit = int.MaxValue,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(match);
        ArgumentNullException.ThrowIfNull(act);
        ArgumentOutOfRangeException.ThrowIfLessThan(pageSize, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(limit);
        var length = await CountAsync();
        var size = 1;
        long kept = 0;
        var (matched, done) = (0, 0);
        while (matched < limit && length - kept - done > 0)
        {
            cancellationToken.ThrowIfCancellationRequested();

            // LRANGE returns the page head to tail; walk it backwards, oldest first.
            var ask = Math.Min(size, length - kept - done);
            var page = await Db.ListRangeAsync(Keys.Dead, -(kept + ask), -(kept + 1));
            var found = new List<DeadLetterRecord>();
            for (var i = page.Length - 1; i >= 0 && matched + found.Count < limit; i--)
            {
                var record = Read(length - done - 1 - (kept + (page.Length - 1 - i)), page[i]);
                if (match(record))
                {
                    found.Add(record);
                }
            }

            var removed = found.Count == 0 ? 0 : (await act(found, cancellationToken)).Count(r => r);
            matched += found.Count;
            done += removed;
            kept += page.Length - removed;
            if (page.Length < ask)
            {
                break;
            }

            size = NextPageSize(page, pageSize);
        }

        return (matched, done);
    }

    /// <summary>How many entries <paramref name="match"/> accepts, read page by page as <see cref="ActOldestFirstAsync"/> reads.</summary>
    public async Task<int> CountMatchingAsync(Func<DeadLetterRecord, bool> match, CancellationToken cancellationToken = default) =>
        (await ActOldestFirstAsync(match, static (page, _) => Task.FromResult(new bool[page.Count]), cancellationToken: cancellationToken)).Matched;

    /// <summary>
    /// Moves each entry's payload back to the ready list of its priority, atomically per entry. Returns, per record, whether
    /// it moved: false when the entry was no longer in the list (requeued or purged meanwhile) or carries no payload. A
    /// message starts over (<see cref="StartOver"/>): it gets the whole retry schedule again.
    /// </summary>
    public async Task<bool[]> RequeueAsync(IReadOnlyList<DeadLetterRecord> records, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(records);
        var moved = new bool[records.Count];
        var candidates = Enumerable.Range(0, records.Count).Where(i => records[i].HasPayload).ToArray();
        foreach (var chunk in candidates.Chunk(ScriptChunk))
        {
            cancellationToken.ThrowIfCancellationRequested();
            var args = new RedisValue[chunk.Length * 3];
            for (var j = 0; j < chunk.Length; j++)
            {
                var record = records[chunk[j]];
                var payload = StartOver(record.Payload());
                args[3 * j] = (int)PriorityOf(payload);
                args[(3 * j) + 1] = Stored(record);
                args[(3 * j) + 2] = payload;
            }

            var result = (RedisResult[])(await s_requeue.EvaluateAsync(_connection, Db, [Keys.Dead, Keys.ReadyHigh, Keys.ReadyNormal, Keys.ReadyLow], args))!;
            for (var j = 0; j < chunk.Length; j++)
            {
                moved[chunk[j]] = (int)result[j] == 1;
            }
        }

        return moved;
    }

    /// <summary>Removes each entry for good. Returns, per record, whether it was still there to remove.</summary>
    public async Task<bool[]> PurgeAsync(IReadOnlyList<DeadLetterRecord> records, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(records);
        var removed = new bool[records.Count];
        for (var offset = 0; offset < records.Count; offset += ScriptChunk)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var count = Math.Min(ScriptChunk, records.Count - offset);
            var args = new RedisValue[count];
            for (var j = 0; j < count; j++)
            {
                args[j] = Stored(records[offset + j]);
            }

            var result = (RedisResult[])(await s_purge.EvaluateAsync(_connection, Db, [Keys.Dead], args))!;
            for (var j = 0; j < count; j++)
            {
                removed[offset + j] = (int)result[j] > 0;
            }
        }

        return removed;
    }

    /// <summary>
    /// The payload a requeue pushes: the dead letter's, with its failed attempts forgotten (<c>attempt</c> 0), so that the
    /// message gets the whole retry schedule again once its cause is fixed. Requeued with its count, a message that ran out
    /// of retries in an outage had one try left, and went back to the dead-letter list on the first failure after it. Its
    /// id, text, <c>enqueuedAt</c> and <c>lastError</c> are kept. A payload that is not a valid envelope, or has no failed
    /// attempt, goes back byte for byte.
    /// </summary>
    public static byte[] StartOver(byte[] payload) =>
        EnvelopeCodec.Parse(payload).Envelope is { Attempt: > 0 } envelope ? EnvelopeCodec.Serialize(envelope with { Attempt = 0 }) : payload;

    /// <summary>
    /// The ready list a payload belongs in, as producers choose it: the envelope's priority. A payload that is not a valid
    /// envelope still names its priority when that field can be read; otherwise normal, where a raw LPUSH usually goes.
    /// </summary>
    public static Priority PriorityOf(ReadOnlySpan<byte> payload)
    {
        if (EnvelopeCodec.Parse(payload).Envelope is { } envelope)
        {
            return envelope.Priority;
        }

        try
        {
            var reader = new Utf8JsonReader(payload);
            if (reader.Read() && reader.TokenType == JsonTokenType.StartObject)
            {
                while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                {
                    var isPriority = reader.ValueTextEquals("priority"u8);
                    reader.Read();
                    if (isPriority)
                    {
                        return reader.TokenType == JsonTokenType.String && PriorityNames.TryParse(reader.GetString(), out var priority) ? priority : Priority.Normal;
                    }

                    reader.Skip();
                }
            }
        }
        catch (JsonException)
        {
            // Not JSON at all: it was pushed raw, most likely to the normal list.
        }
        catch (InvalidOperationException)
        {
            // Not UTF-8 text: the same.
        }

        return Priority.Normal;
    }

    /// <summary>
    /// The next page's size: as many entries as fit in <see cref="PageBytes"/> at the size of the last page's largest,
    /// 1 to <paramref name="max"/>.
    /// </summary>
    private static int NextPageSize(RedisValue[] page, int max)
    {
        var largest = 1;
        foreach (var value in page)
        {
            largest = Math.Max(largest, ((byte[])value!).Length);
        }

        return Math.Clamp(PageBytes / largest, 1, max);
    }

    // The entry's bytes as read: the array itself when the record holds all of it (as read from the list), not a copy of
    // a megabyte per entry.
    private static byte[] Stored(DeadLetterRecord record) =>
        System.Runtime.InteropServices.MemoryMarshal.TryGetArray(record.Raw, out var segment) && segment is { Offset: 0, Array: { } array } && array.Length == segment.Count
            ? array
            : record.Raw.ToArray();

    private static DeadLetterRecord Read(long index, RedisValue value)
    {
        var raw = (byte[])value!;
        return new DeadLetterRecord(index, raw, DeadLetterEntry.FromJson(raw));
    }
}
