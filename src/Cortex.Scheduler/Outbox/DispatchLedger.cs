using System.Text;
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
    /// <summary>Builds the ledger row of a message: validated by the same rules the sender applies, with enqueuedAt stamped.</summary>
    public LedgerEntry Prepare(Envelope envelope)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        var stamped = envelope with { EnqueuedAt = timeProvider.GetUtcNow() };
        var payload = EnvelopeCodec.Serialize(stamped);
        if (EnvelopeCodec.Parse(payload).Error is { } error)
        {
            throw new InvalidEnvelopeException(error, -1, envelope.Id);
        }

        return new LedgerEntry(envelope.Id, envelope.Kind ?? string.Empty, envelope.Tenant ?? string.Empty, envelope.Priority, envelope.NotBefore, Encoding.UTF8.GetString(payload));
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
        command.Parameters.Add(new NpgsqlParameter<string[]>("keys", NpgsqlDbType.Array | NpgsqlDbType.Text) { TypedValue = keys });
        command.Parameters.Add(new NpgsqlParameter<string[]>("kinds", NpgsqlDbType.Array | NpgsqlDbType.Text) { TypedValue = kinds });
        command.Parameters.Add(new NpgsqlParameter<string[]>("tenants", NpgsqlDbType.Array | NpgsqlDbType.Text) { TypedValue = tenants });
        command.Parameters.Add(new NpgsqlParameter<short[]>("priorities", NpgsqlDbType.Array | NpgsqlDbType.Smallint) { TypedValue = priorities });
        command.Parameters.Add(new NpgsqlParameter<DateTime?[]>("not_before", NpgsqlDbType.Array | NpgsqlDbType.TimestampTz) { TypedValue = notBefore });
        command.Parameters.Add(new NpgsqlParameter<string[]>("payloads", NpgsqlDbType.Array | NpgsqlDbType.Text) { TypedValue = payloads });
        return await command.ExecuteNonQueryAsync(cancellationToken);
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

            await queue.EnqueueAsync(messages, cancellationToken);

            // Redis has the batch: commit even if cancellation arrives now, or the batch is pushed twice.
            await transaction.CommitAsync(CancellationToken.None);
            total += messages.Count;
        }
    }

    /// <summary>How many rows are committed but not yet pushed.</summary>
    public async Task<long> CountPendingAsync(CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("SELECT count(*) FROM cortex.dispatch_ledger WHERE status = 'pending'");
        return (long)(await command.ExecuteScalarAsync(cancellationToken))!;
    }
}
