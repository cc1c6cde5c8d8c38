using System.Text;
using Cortex.Scheduler.Data;
using Cortex.Shared.Client;
using Cortex.Shared.Contract;
using Cortex.Shared.Queue;
using Npgsql;
using NpgsqlTypes;

namespace Cortex.Scheduler.Outbox;

/// <summary>
/// The transactional outbox. Jobs write ledger rows in the same transaction as the decision to send
/// (<see cref="InsertAsync"/>: a key already present is skipped, so a rerun adds nothing); the publisher then
/// pushes pending rows to Redis and marks them enqueued (<see cref="PublishPendingAsync"/>). A crash between the
/// two leaves rows pending, and the next publish (any job's, or the repair job's) pushes them.
/// </summary>
public sealed class DispatchLedger(NpgsqlDataSource dataSource, IMessageQueue queue, TimeProvider timeProvider)
{
    private const int PushChunk = 1000;

    /// <summary>How far either side of now a held message's send time may be for <see cref="WithdrawUnwantedAsync"/> to check it.</summary>
    public static readonly TimeSpan HeldCheckWindow = TimeSpan.FromMinutes(10);

    /// <summary>
    /// How far before the push of the next message in a ready list <see cref="WithdrawUnwantedAsync"/> also looks for rows
    /// still waiting there: a row's <c>enqueued_at</c> is PostgreSQL's time at the start of its push's transaction, and a
    /// publisher whose push waited on Redis lands behind the pushes of another that began later. At most a twentieth of
    /// <see cref="BacklogCheckLimit"/> of them a list (5,000, a publish batch by default), the latest first: the rows just
    /// before the next message's were pushed around it, and those long before it are sent.
    /// </summary>
    public static readonly TimeSpan BacklogCheckMargin = TimeSpan.FromMinutes(2);

    /// <summary>How long a push already sent may still be answered after a stop before it is given up (<see cref="AwaitPushAsync"/>).</summary>
    private static readonly TimeSpan s_pushAnswerAfterStop = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Cancelled when the Redis connection watchdog finds the shared connection dead: a push sent on it will never be
    /// answered, so the stop does not give it <see cref="s_pushAnswerAfterStop"/>.
    /// </summary>
    internal CancellationToken ConnectionDead { get; init; }

    /// <summary>
    /// At most this many rows of a waiting backlog are checked a run (<see cref="WithdrawUnwantedAsync"/>), the first
    /// pushed first: those are sent next. A longer backlog's later rows are checked as it drains.
    /// </summary>
    public int BacklogCheckLimit { get; init; } = 100_000;

    /// <summary>
    /// A backlog row pushed longer ago than this is checked only while its message has not expired: the queue's
    /// idempotency window, after which the sent marker of a message with no later <c>expiresAt</c> is gone, so that Redis
    /// could no longer tell it delivered then from still waiting, and withdrawing it would record a delivered message as
    /// withdrawn. The marker of a message expiring later lives until it expires (<see cref="AckItem.ExpiresAt"/>).
    /// </summary>
    public TimeSpan BacklogCheckHorizon { get; init; } = TimeSpan.FromHours(24);

    /// <summary>
    /// No backlog row pushed longer ago than this is read: the scheduler's messages expire <c>ExpireAfter</c> (at most 7
    /// days) after a send time less than a day after their push (the end of quiet hours), so the longest default is 8 days.
    /// Rows older than <see cref="BacklogCheckHorizon"/> are read only when a backlog waits that long (a queue paused
    /// over a weekend), and kept only while they have not expired.
    /// </summary>
    public TimeSpan BacklogCheckReach { get; init; } = TimeSpan.FromDays(8);

    /// <summary>Builds the ledger row of a message: validated by the same rules the sender applies, with enqueuedAt stamped.</summary>
    public LedgerEntry Prepare(Envelope envelope)
    {
        var message = PrepareMessage(envelope);
        return new LedgerEntry(message.Key, message.Kind, message.Tenant, message.Priority, message.NotBefore, Encoding.UTF8.GetString(message.Payload));
    }

    /// <summary><see cref="Prepare"/>, with the payload kept as the UTF-8 bytes that are stored and pushed (never decoded to a string).</summary>
    internal PreparedMessage PrepareMessage(Envelope envelope)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        var stamped = envelope with { EnqueuedAt = timeProvider.GetUtcNow() };
        if (!EnvelopeCodec.TrySerialize(stamped, out var payload, out var error))
        {
            throw new InvalidEnvelopeException(error, -1, envelope.Id);
        }

        return new PreparedMessage(envelope.Id, envelope.Kind ?? string.Empty, envelope.Tenant ?? string.Empty, envelope.Priority, envelope.NotBefore, payload);
    }

    /// <summary>Inserts the rows whose key is new, inside the caller's transaction; returns how many were new.</summary>
    public static async Task<int> InsertAsync(NpgsqlConnection connection, IReadOnlyList<LedgerEntry> entries, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(entries);
        if (entries.Count == 0)
        {
            return 0;
        }

        var keys = new string[entries.Count];
        var kinds = new string[entries.Count];
        var tenants = new string[entries.Count];
        var priorities = new short[entries.Count];
        var notBefore = new DateTime?[entries.Count];
        var payloads = new string[entries.Count];
        for (var i = 0; i < entries.Count; i++)
        {
            var e = entries[i];
            (keys[i], kinds[i], tenants[i], priorities[i], payloads[i]) = (e.Key, e.Kind, e.Tenant, (short)e.Priority, e.Payload);
            notBefore[i] = e.NotBefore?.UtcDateTime;
        }

        await using var command = new NpgsqlCommand(
            """
            INSERT INTO cortex.dispatch_ledger (key, kind, tenant, priority, not_before, payload)
            SELECT * FROM unnest(@keys, @kinds, @tenants, @priorities, @not_before, @payloads)
            ON CONFLICT (key) DO NOTHING
            """,
            connection);
        AddColumns(command, keys, kinds, tenants, priorities, notBefore);
        command.Parameters.Add(new NpgsqlParameter<string[]>("payloads", NpgsqlDbType.Array | NpgsqlDbType.Text) { TypedValue = payloads });
        return await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>
    /// <see cref="InsertAsync"/> for prepared messages: the same rows, with the UTF-8 payloads sent as they are and turned
    /// into text by PostgreSQL (which checks the encoding), instead of decoded to strings here and encoded again by Npgsql.
    /// Autocommit when the caller has no transaction open; returns how many were new.
    /// </summary>
    internal static async Task<int> InsertPreparedAsync(NpgsqlConnection connection, IReadOnlyList<PreparedMessage> messages, CancellationToken cancellationToken)
    {
        if (messages.Count == 0)
        {
            return 0;
        }

        var keys = new string[messages.Count];
        var kinds = new string[messages.Count];
        var tenants = new string[messages.Count];
        var priorities = new short[messages.Count];
        var notBefore = new DateTime?[messages.Count];
        var payloads = new byte[messages.Count][];
        for (var i = 0; i < messages.Count; i++)
        {
            var m = messages[i];
            (keys[i], kinds[i], tenants[i], priorities[i], payloads[i]) = (m.Key, m.Kind, m.Tenant, (short)m.Priority, m.Payload);
            notBefore[i] = m.NotBefore?.UtcDateTime;
        }

        await using var command = new NpgsqlCommand(
            """
            INSERT INTO cortex.dispatch_ledger (key, kind, tenant, priority, not_before, payload)
            SELECT k, kd, t, p, nb, convert_from(pl, 'UTF8')
            FROM unnest(@keys, @kinds, @tenants, @priorities, @not_before, @payloads) AS u(k, kd, t, p, nb, pl)
            ON CONFLICT (key) DO NOTHING
            """,
            connection);
        AddColumns(command, keys, kinds, tenants, priorities, notBefore);
        command.Parameters.Add(new NpgsqlParameter<byte[][]>("payloads", NpgsqlDbType.Array | NpgsqlDbType.Bytea) { TypedValue = payloads });
        return await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>
    /// Pushes rows this process has just inserted, all of them new (<see cref="InsertPreparedAsync"/>
    /// returned their count), in one transaction, and returns how many it pushed. The claim is <see cref="PublishPendingAsync"/>'s:
    /// pending rows locked FOR UPDATE SKIP LOCKED, marked enqueued, committed only after Redis accepted the push. The rows are
    /// found by key instead of by age, and their payloads are pushed from memory (they are the stored ones: this process inserted
    /// every one of these keys) instead of read back. A row another publisher holds or has pushed already is skipped: it is that
    /// publisher's to push.
    /// </summary>
    internal async Task<int> PublishInsertedAsync(NpgsqlConnection connection, IReadOnlyList<PreparedMessage> messages, CancellationToken cancellationToken)
    {
        if (messages.Count == 0)
        {
            return 0;
        }

        var keys = new string[messages.Count];
        for (var i = 0; i < keys.Length; i++)
        {
            keys[i] = messages[i].Key;
        }

        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using var command = new NpgsqlCommand(
            """
            UPDATE cortex.dispatch_ledger l SET status = 'enqueued', enqueued_at = now()
            FROM (SELECT d.key, k.i FROM unnest(@keys) WITH ORDINALITY AS k(key, i)
                  JOIN cortex.dispatch_ledger d ON d.key = k.key
                  WHERE d.status = 'pending'
                  FOR UPDATE OF d SKIP LOCKED) claimed
            WHERE l.key = claimed.key
            RETURNING claimed.i
            """,
            connection,
            transaction);
        command.Parameters.Add(new NpgsqlParameter<string[]>("keys", NpgsqlDbType.Array | NpgsqlDbType.Text) { TypedValue = keys });
        var claimed = new bool[messages.Count];
        var count = 0;
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                claimed[reader.GetInt64(0) - 1] = true;
                count++;
            }
        }

        if (count == 0)
        {
            return 0;
        }

        // Pushed in pieces: lists of this size stay off the large object heap, here and in the queue's own copies. Every
        // piece or none, whatever a stop does: one between two pieces would leave the first pushed and the batch uncommitted.
        var pushes = new List<Task>();
        var batch = new List<QueueMessage>(PushChunk);
        for (var i = 0; i < messages.Count; i++)
        {
            if (!claimed[i])
            {
                continue;
            }

            var m = messages[i];
            batch.Add(new QueueMessage(m.Payload, m.Priority, m.NotBefore));
            if (batch.Count == PushChunk)
            {
                pushes.Add(queue.EnqueueAsync(batch, CancellationToken.None));
                batch = new List<QueueMessage>(PushChunk);
            }
        }

        if (batch.Count > 0)
        {
            pushes.Add(queue.EnqueueAsync(batch, CancellationToken.None));
        }

        await AwaitPushAsync(Task.WhenAll(pushes), TimeProvider.System, ConnectionDead, cancellationToken);

        // Redis has the batch: commit even if cancellation arrives now, or the batch is pushed twice.
        await transaction.CommitAsync(CancellationToken.None);
        return count;
    }

    /// <summary>
    /// Waits for Redis to answer a push. A stop does not end the wait at once: a push Redis answers within
    /// <see cref="s_pushAnswerAfterStop"/> is committed, so a stop adds no copy. One it does not answer by then (a
    /// connection that died without failing; StackExchange.Redis 1.2.6 puts no timeout on async calls) is given up:
    /// the batch is not committed and is pushed again later under the same message ids. A push answered between the
    /// stop and this wait's noticing it counts as answered. The grace runs on <paramref name="time"/> (real time outside
    /// tests: it is about a network that does not answer), and ends once the connection is known dead
    /// (<paramref name="connectionDead"/>): then the push is given up at the stop.
    /// </summary>
    internal static async Task AwaitPushAsync(Task push, TimeProvider time, CancellationToken connectionDead, CancellationToken cancellationToken)
    {
        try
        {
            await push.WaitAsync(cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            try
            {
                await push.WaitAsync(s_pushAnswerAfterStop, time, connectionDead);
            }
            catch (Exception ex) when (ex is TimeoutException || (ex is OperationCanceledException && connectionDead.IsCancellationRequested))
            {
                throw new OperationCanceledException("stopped while Redis did not answer a push", cancellationToken);
            }
        }
    }

    /// <summary>
    /// Pushes every pending row to Redis, <paramref name="batchSize"/> rows per transaction, and returns how many it pushed.
    /// Each batch is claimed with FOR UPDATE SKIP LOCKED and marked enqueued in the same transaction that is committed
    /// only after Redis accepted the push, so concurrent publishers never push the same row; a crash after the push and
    /// before the commit re-pushes that batch later, and the sender's idempotency on the message id absorbs it.
    /// </summary>
    public async Task<int> PublishPendingAsync(int batchSize, CancellationToken cancellationToken)
    {
        var total = 0;
        while (true)
        {
            await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
            await using var command = new NpgsqlCommand(
                """
                UPDATE cortex.dispatch_ledger l SET status = 'enqueued', enqueued_at = now()
                FROM (SELECT key FROM cortex.dispatch_ledger WHERE status = 'pending'
                      ORDER BY created_at LIMIT @batch FOR UPDATE SKIP LOCKED) claimed
                WHERE l.key = claimed.key
                RETURNING l.priority, l.not_before, l.payload
                """,
                connection);
            command.Parameters.AddWithValue("batch", batchSize);
            var messages = new List<QueueMessage>(batchSize);
            await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
            {
                while (await reader.ReadAsync(cancellationToken))
                {
                    DateTimeOffset? notBefore = reader.IsDBNull(1) ? null : new DateTimeOffset(reader.GetDateTime(1), TimeSpan.Zero);
                    messages.Add(new QueueMessage(Encoding.UTF8.GetBytes(reader.GetString(2)), (Priority)reader.GetInt16(0), notBefore));
                }
            }

            if (messages.Count == 0)
            {
                return total;
            }

            await AwaitPushAsync(queue.EnqueueAsync(messages, cancellationToken), TimeProvider.System, ConnectionDead, cancellationToken);

            // Redis has the batch: commit even if cancellation arrives now, or the batch is pushed twice.
            await transaction.CommitAsync(CancellationToken.None);
            total += messages.Count;
        }
    }

    /// <summary>
    /// Withdraws messages not yet sent whose reason to send is gone: an opt-out, the charge paid, cancelled or moved to
    /// another due date, the customer writing, the conversation closed, the campaign cancelled, or a newer firing of it
    /// started (an earlier firing's message still waiting then, behind a paused queue or an outage longer than the cron's
    /// period, reached its recipient seconds before the newer one: the same campaign twice). A newer firing that ended
    /// expired counts only for the recipients it fanned out before (up to its cursor): it sent the others nothing, and
    /// their older message, withdrawn, left them with neither. Two sets of pushed rows are checked against their sources.
    /// Held rows whose send time is within <see cref="HeldCheckWindow"/> either side of now: a message held for quiet hours
    /// waits in the delayed set until morning, and is checked near its send time only, so a night's campaign is read a few
    /// times, not every minute. And the rows of a backlog waiting in the ready lists: for each list, those of its priority
    /// pushed since the next message to go from it (its own row's push, or its enqueue stamp for one the ledger does not
    /// have; the few around it within <see cref="BacklogCheckMargin"/> too), at most <see cref="BacklogCheckLimit"/> of them,
    /// the first pushed first. A campaign sent at the gateway's pace, or a morning's reminders, waits there for minutes or
    /// hours. Rows already sent stay enqueued in the ledger; anchored at what waits, the window moves on as the backlog
    /// drains, and is not filled with them (anchored at the backlog's oldest enqueue stamp, a run's messages, all stamped
    /// within seconds, kept it at the run's start: past its first 100,000 messages nothing more was checked). Each message
    /// no longer wanted is withdrawn (<see cref="IMessageQueue.WithdrawAsync"/>: out of the delayed set, and its id marked
    /// so that the sender drops it wherever it waits) and its row marked withdrawn with its reason. One already sent, or
    /// being sent, is left: too late.
    /// </summary>
    public async Task<IReadOnlyList<Withdrawal>> WithdrawUnwantedAsync(CancellationToken cancellationToken)
    {
        var now = timeProvider.GetUtcNow();
        var tails = await queue.GetReadyTailsAsync();
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var command = new NpgsqlCommand(
            $"""
            SELECT key, kind, priority, payload, reason, (payload::jsonb ->> 'expiresAt')::timestamptz FROM (
                SELECT l.key, l.kind, l.priority, l.payload, coalesce(l.not_before, l.enqueued_at) AS due, CASE
                    WHEN {OptOutSql.Exists("(l.payload::jsonb ->> 'to')", "l.tenant")} THEN 'opted out'
                    WHEN split_part(l.key, ':', 1) = 'billing' AND NOT EXISTS (
                        SELECT 1 FROM cortex.charges c WHERE c.id = split_part(l.key, ':', 2)::bigint AND c.status = 'open')
                        THEN 'charge no longer open'
                    WHEN split_part(l.key, ':', 1) = 'billing' AND NOT EXISTS (
                        SELECT 1 FROM cortex.charges c WHERE c.id = split_part(l.key, ':', 2)::bigint
                            AND to_char(c.due_date, 'YYYY-MM-DD') = split_part(l.key, ':', 4))
                        THEN 'due date changed'
                    WHEN split_part(l.key, ':', 1) = 'followup' AND NOT EXISTS (
                        SELECT 1 FROM cortex.conversations c WHERE c.id = split_part(l.key, ':', 2)::bigint
                            AND (c.status = 'open' OR c.closed_by = 'cortex')
                            AND coalesce(floor(extract(epoch FROM c.last_inbound_at) * 1000), 0) = split_part(l.key, ':', 3)::numeric)
                        THEN 'conversation closed or the customer wrote'
                    WHEN split_part(l.key, ':', 1) = 'campaign' AND EXISTS (
                        SELECT 1 FROM cortex.campaigns c WHERE c.id = split_part(l.key, ':', 2)::bigint AND c.status = 'cancelled')
                        THEN 'campaign cancelled'
                    WHEN split_part(l.key, ':', 1) = 'campaign' AND EXISTS (
                        SELECT 1 FROM cortex.campaign_runs r WHERE r.campaign_id = split_part(l.key, ':', 2)::bigint
                            AND floor(extract(epoch FROM r.fire_time) * 1000) > split_part(l.key, ':', 3)::numeric
                            AND (r.status <> 'expired' OR r.cursor >= split_part(l.key, ':', 4)::bigint))
                        THEN 'a newer firing of the campaign started'
                END AS reason
                FROM (
                    SELECT * FROM cortex.dispatch_ledger
                    WHERE status = 'enqueued' AND not_before BETWEEN @from AND @to
                    UNION ALL
                    (SELECT backlog.* FROM (
                        SELECT t.priority, greatest(pushed.at, @reach) AS since
                        FROM unnest(@tail_priorities, @tail_keys, @tail_stamps) AS t(priority, key, stamp)
                        CROSS JOIN LATERAL (SELECT coalesce((SELECT d.enqueued_at FROM cortex.dispatch_ledger d WHERE d.key = t.key), t.stamp) AS at) pushed
                        WHERE pushed.at IS NOT NULL) next
                     CROSS JOIN LATERAL (
                        (SELECT * FROM cortex.dispatch_ledger d
                         WHERE d.status = 'enqueued' AND d.priority = next.priority AND d.enqueued_at >= next.since
                           AND (d.not_before IS NULL OR d.not_before NOT BETWEEN @from AND @to)
                           AND (d.enqueued_at >= @horizon OR (d.payload::jsonb ->> 'expiresAt')::timestamptz > @now)
                         ORDER BY d.enqueued_at LIMIT @backlog_limit)
                        UNION ALL
                        (SELECT * FROM cortex.dispatch_ledger d
                         WHERE d.status = 'enqueued' AND d.priority = next.priority
                           AND d.enqueued_at >= greatest(next.since - @margin, @reach) AND d.enqueued_at < next.since
                           AND (d.not_before IS NULL OR d.not_before NOT BETWEEN @from AND @to)
                           AND (d.enqueued_at >= @horizon OR (d.payload::jsonb ->> 'expiresAt')::timestamptz > @now)
                         ORDER BY d.enqueued_at DESC LIMIT @margin_limit)) backlog
                     ORDER BY backlog.enqueued_at LIMIT @backlog_limit)) l) checked
            WHERE reason IS NOT NULL
            ORDER BY due
            """,
            connection);
        command.Parameters.AddWithValue("from", (now - HeldCheckWindow).UtcDateTime);
        command.Parameters.AddWithValue("to", (now + HeldCheckWindow).UtcDateTime);
        command.Parameters.Add(new NpgsqlParameter<short[]>("tail_priorities", NpgsqlDbType.Array | NpgsqlDbType.Smallint) { TypedValue = [.. tails.Select(t => (short)t.Priority)] });
        command.Parameters.Add(new NpgsqlParameter<string?[]>("tail_keys", NpgsqlDbType.Array | NpgsqlDbType.Text) { TypedValue = [.. tails.Select(t => t.Id)] });
        command.Parameters.Add(new NpgsqlParameter<DateTime?[]>("tail_stamps", NpgsqlDbType.Array | NpgsqlDbType.TimestampTz) { TypedValue = [.. tails.Select(t => t.EnqueuedAt?.UtcDateTime)] });
        command.Parameters.AddWithValue("now", now.UtcDateTime);
        command.Parameters.AddWithValue("horizon", (now - BacklogCheckHorizon).UtcDateTime);
        command.Parameters.AddWithValue("reach", (now - (BacklogCheckReach > BacklogCheckHorizon ? BacklogCheckReach : BacklogCheckHorizon)).UtcDateTime);
        command.Parameters.AddWithValue("margin", BacklogCheckMargin);
        command.Parameters.AddWithValue("margin_limit", BacklogCheckLimit / 20);
        command.Parameters.AddWithValue("backlog_limit", BacklogCheckLimit);
        // Streamed a piece at a time: a held campaign of 200,000 cancelled overnight was read whole into memory (124 MiB
        // of heap for 100,000), past what the scheduler's pod may use. The ledger is updated on a second connection
        // while this one reads.
        await using var updates = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var withdrawn = new List<Withdrawal>();
        var piece = new List<(Withdrawal Row, WithdrawItem Item)>(PushChunk);
        var more = true;
        while (more)
        {
            more = await reader.ReadAsync(cancellationToken);
            if (more)
            {
                var message = new QueueMessage(Encoding.UTF8.GetBytes(reader.GetString(3)), (Priority)reader.GetInt16(2));
                var expiresAt = reader.IsDBNull(5) ? (DateTimeOffset?)null : reader.GetFieldValue<DateTimeOffset>(5);
                piece.Add((new Withdrawal(reader.GetString(0), reader.GetString(1), reader.GetString(4)), new WithdrawItem(reader.GetString(0), message, expiresAt)));
            }

            if (piece.Count == PushChunk || (!more && piece.Count > 0))
            {
                withdrawn.AddRange(await WithdrawAsync(updates, piece));
                piece.Clear();
            }
        }

        return withdrawn;
    }

    // Out of Redis first: a row marked withdrawn whose message is then sent would say the opposite of what happened. A run
    // stopped before the update below leaves the row enqueued; the next run asks again and records it. In pieces, as
    // pushes are: a campaign cancelled while 100,000 of its messages wait is one script per piece, not one script holding
    // Redis for all of them.
    private async Task<List<Withdrawal>> WithdrawAsync(NpgsqlConnection connection, List<(Withdrawal Row, WithdrawItem Item)> piece)
    {
        var removed = await queue.WithdrawAsync([.. piece.Select(u => u.Item)]);
        var withdrawn = piece.Where((_, i) => removed[i]).Select(u => u.Row).ToList();
        if (withdrawn.Count > 0)
        {
            await using var update = new NpgsqlCommand(
                """
                UPDATE cortex.dispatch_ledger l SET status = 'withdrawn', withdrawn_reason = w.reason
                FROM unnest(@keys, @reasons) AS w(key, reason)
                WHERE l.key = w.key AND l.status = 'enqueued'
                """,
                connection);
            update.Parameters.Add(new NpgsqlParameter<string[]>("keys", NpgsqlDbType.Array | NpgsqlDbType.Text) { TypedValue = [.. withdrawn.Select(w => w.Key)] });
            update.Parameters.Add(new NpgsqlParameter<string[]>("reasons", NpgsqlDbType.Array | NpgsqlDbType.Text) { TypedValue = [.. withdrawn.Select(w => w.Reason)] });
            await update.ExecuteNonQueryAsync(CancellationToken.None);
        }

        return withdrawn;
    }

    private static void AddColumns(NpgsqlCommand command, string[] keys, string[] kinds, string[] tenants, short[] priorities, DateTime?[] notBefore)
    {
        command.Parameters.Add(new NpgsqlParameter<string[]>("keys", NpgsqlDbType.Array | NpgsqlDbType.Text) { TypedValue = keys });
        command.Parameters.Add(new NpgsqlParameter<string[]>("kinds", NpgsqlDbType.Array | NpgsqlDbType.Text) { TypedValue = kinds });
        command.Parameters.Add(new NpgsqlParameter<string[]>("tenants", NpgsqlDbType.Array | NpgsqlDbType.Text) { TypedValue = tenants });
        command.Parameters.Add(new NpgsqlParameter<short[]>("priorities", NpgsqlDbType.Array | NpgsqlDbType.Smallint) { TypedValue = priorities });
        command.Parameters.Add(new NpgsqlParameter<DateTime?[]>("not_before", NpgsqlDbType.Array | NpgsqlDbType.TimestampTz) { TypedValue = notBefore });
    }

    /// <summary>How many rows are committed but not yet pushed.</summary>
    public async Task<long> CountPendingAsync(CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("SELECT count(*) FROM cortex.dispatch_ledger WHERE status = 'pending'");
        return (long)(await command.ExecuteScalarAsync(cancellationToken))!;
    }
}

/// <summary>A message taken out of the queue before it was sent (held, or waiting in a backlog): its ledger key, kind, and why.</summary>
public sealed record Withdrawal(string Key, string Kind, string Reason);

/// <summary>A ledger row as prepared, its payload the UTF-8 JSON envelope (a class: a page of them is a list of references, off the large object heap).</summary>
internal sealed record PreparedMessage(string Key, string Kind, string Tenant, Priority Priority, DateTimeOffset? NotBefore, byte[] Payload);
