using Cortex.Scheduler.Data;
using Cortex.Scheduler.Outbox;
using Cortex.Scheduler.Scheduling;
using Cortex.Scheduler.Templates;
using Cortex.Shared.Contract;
using Microsoft.Extensions.Options;
using Npgsql;
using NpgsqlTypes;

namespace Cortex.Scheduler.FollowUps;

/// <summary>What one follow-up run did: <paramref name="Closed"/> counts the conversations closed, <paramref name="OptedOut"/> those of them closed because the customer opted out.</summary>
public sealed record FollowUpRunResult(int FollowUps, int Closed, int OptedOut, int Invalid, int Published);

/// <summary>
/// Follows up conversations where the agent spoke last and the customer has been silent for the idle time: the next
/// follow-up (key followup:{conversationId}:{customer's last message, Unix ms}:{n}) up to the maximum, then, after one more
/// idle period, the conversation is closed. The count restarts when the customer writes again. Inside WhatsApp's
/// 24-hour window the follow-up is free text (followup.text); outside it, an approved template (followup.template).
/// An opted-out customer gets none. Follow-ups go at high priority.
/// </summary>
public sealed class ConversationFollowUps(
    NpgsqlDataSource dataSource,
    DispatchLedger ledger,
    IOptions<SchedulerOptions> options,
    TimeProvider timeProvider,
    ILogger<ConversationFollowUps> logger)
{
    public const string Kind = "followup";

    /// <summary>Sends the follow-ups due now and closes the conversations that ran out of them.</summary>
    public async Task<FollowUpRunResult> RunAsync(CancellationToken cancellationToken)
    {
        var settings = options.Value;
        var followUps = settings.FollowUps;
        var quiet = new QuietHours(settings.QuietHours, settings.Zone);
        var templates = await TemplateCatalog.LoadAsync(dataSource, cancellationToken);
        int sent = 0, closed = 0, optedOut = 0, invalid = 0;
        var after = long.MinValue;
        while (true)
        {
            var now = timeProvider.GetUtcNow();
            await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
            var page = await ReadPageAsync(connection, now - followUps.IdleTime, after, settings.BatchSize, cancellationToken);
            var entries = new List<LedgerEntry>(page.Count);
            var updates = new List<(long Id, int Sent, bool Close, DateTimeOffset At)>(page.Count);
            foreach (var c in page)
            {
                // Out of follow-ups, or opted out (no follow-up will ever go): Cortex is done with it, and closes it.
                if (c.Sent >= followUps.MaxFollowUps || c.OptedOut)
                {
                    updates.Add((c.Id, c.Sent, true, now));
                    continue;
                }

                var n = c.Sent + 1;
                var anchor = c.LastInboundAt?.ToUnixTimeMilliseconds() ?? 0;
                var key = $"followup:{c.Id}:{anchor}:{n}";
                var sendAt = quiet.NextAllowed(now, c.Tenant, Kind);
                var windowEnd = c.LastInboundAt + followUps.ServiceWindow;
                var insideWindow = windowEnd is { } end && sendAt < end;

                // Not sent by the time the next follow-up is decided (an idle period after this one's send time: Redis or
                // the gateway away, a paused queue), it expires then, or the customer got both seconds apart once sending
                // resumed. The last has no next: late as it may be, it still goes (the conversation's close does not
                // withdraw it). Free text after the window closes would be refused by WhatsApp: it expires then too.
                var expireAfter = n < followUps.MaxFollowUps && followUps.IdleTime < settings.ExpireAfter ? followUps.IdleTime : settings.ExpireAfter;
                var expiresAt = sendAt + expireAfter;
                if (insideWindow && windowEnd < expiresAt)
                {
                    expiresAt = windowEnd.Value;
                }

                Envelope Build()
                {
                    var renderer = templates.Get(c.Tenant, insideWindow ? "followup.text" : "followup.template");
                    if (!insideWindow && !renderer.IsWhatsAppTemplate)
                    {
                        // The row it used, which is the one to fix: "(tenant '' or '')" named the default tenant twice,
                        // as an empty name.
                        var row = renderer.Tenant.Length == 0 ? "of the default tenant" : $"of tenant '{renderer.Tenant}'";
                        throw new TemplateException(
                            $"cortex.message_templates row '{renderer.Key}' {row} must name an approved WhatsApp template (wa_name, wa_language): outside the 24-hour window WhatsApp refuses free text");
                    }

                    return renderer.Apply(
                        new Envelope
                        {
                            Id = key,
                            To = c.Phone,
                            Kind = Kind,
                            Tenant = c.Tenant.Length == 0 ? null : c.Tenant,

                            // A customer in a live conversation is waiting: ahead of reminders and campaigns.
                            Priority = Priority.High,
                            NotBefore = sendAt > now ? sendAt : null,
                            QuietHours = quiet.WindowFor(c.Tenant, Kind),
                            ExpiresAt = expiresAt,
                        },
                        name => name switch
                        {
                            "name" => c.CustomerName,
                            "followUp" => n.ToString(System.Globalization.CultureInfo.InvariantCulture),
                            _ => null,
                        });
                }

                if (ledger.TryPrepare(logger, key, Build, out var entry))
                {
                    entries.Add(entry);
                    // Its idle time counts from when it goes out: a follow-up held to the end of the quiet hours must not
                    // let the next one be decided, and held with it, while the first waits.
                    updates.Add((c.Id, n, false, sendAt));
                }
                else
                {
                    // The conversation keeps its count: once the template or the row is fixed, this follow-up goes out.
                    invalid++;
                }
            }

            await DispatchLedger.InsertAsync(connection, entries, cancellationToken);
            await UpdateAsync(connection, updates, now, cancellationToken);
            await transaction.CommitAsync(cancellationToken);
            sent += entries.Count;
            closed += updates.Count(u => u.Close);
            optedOut += page.Count(c => c.OptedOut);
            if (page.Count < settings.BatchSize)
            {
                break;
            }

            after = page[^1].Id;
        }

        var published = await ledger.PublishPendingAsync(settings.BatchSize, cancellationToken);
        return new FollowUpRunResult(sent, closed, optedOut, invalid, published);
    }

    private static async Task<List<Conversation>> ReadPageAsync(NpgsqlConnection connection, DateTimeOffset idleCutoff, long after, int batchSize, CancellationToken cancellationToken)
    {
        // Waiting on the customer (the agent or a follow-up spoke last) for longer than the idle time. Rows another
        // replica is processing are skipped, and a follow-up count belongs to the customer's last message (anchor).
        await using var command = new NpgsqlCommand(
            $"""
            SELECT c.id, c.tenant, c.phone, c.customer_name, c.last_inbound_at,
                   CASE WHEN c.follow_up_anchor IS NOT DISTINCT FROM c.last_inbound_at THEN c.follow_ups_sent ELSE 0 END,
                   {OptOutSql.Exists("c.phone", "c.tenant")}
            FROM cortex.conversations c
            WHERE c.status = 'open'
              AND c.last_outbound_at <= @cutoff
              AND (c.last_inbound_at IS NULL OR c.last_inbound_at < c.last_outbound_at)
              AND (c.follow_up_anchor IS DISTINCT FROM c.last_inbound_at OR coalesce(c.last_follow_up_at, '-infinity') <= @cutoff)
              AND c.id > @after
            ORDER BY c.id
            LIMIT @batch
            FOR UPDATE OF c SKIP LOCKED
            """,
            connection);
        command.Parameters.AddWithValue("cutoff", idleCutoff.UtcDateTime);
        command.Parameters.AddWithValue("after", after);
        command.Parameters.AddWithValue("batch", batchSize);
        var page = new List<Conversation>(batchSize);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            DateTimeOffset? lastInbound = reader.IsDBNull(4) ? null : new DateTimeOffset(reader.GetDateTime(4), TimeSpan.Zero);
            page.Add(new Conversation(reader.GetInt64(0), reader.GetString(1), reader.GetString(2), reader.GetString(3), lastInbound, reader.GetInt32(5), reader.GetBoolean(6)));
        }

        return page;
    }

    private static async Task UpdateAsync(NpgsqlConnection connection, List<(long Id, int Sent, bool Close, DateTimeOffset At)> updates, DateTimeOffset now, CancellationToken cancellationToken)
    {
        if (updates.Count == 0)
        {
            return;
        }

        await using var command = new NpgsqlCommand(
            """
            UPDATE cortex.conversations c
            SET follow_ups_sent = u.sent,
                follow_up_anchor = c.last_inbound_at,
                last_follow_up_at = CASE WHEN u.close THEN c.last_follow_up_at ELSE u.at END,
                status = CASE WHEN u.close THEN 'closed' ELSE c.status END,
                closed_at = CASE WHEN u.close THEN @now ELSE c.closed_at END,
                closed_by = CASE WHEN u.close THEN 'cortex' END
            FROM unnest(@ids, @sent, @close, @at) AS u(id, sent, close, at)
            WHERE c.id = u.id
            """,
            connection);
        command.Parameters.AddWithValue("now", now.UtcDateTime);
        command.Parameters.Add(new NpgsqlParameter<long[]>("ids", NpgsqlDbType.Array | NpgsqlDbType.Bigint) { TypedValue = [.. updates.Select(u => u.Id)] });
        command.Parameters.Add(new NpgsqlParameter<int[]>("sent", NpgsqlDbType.Array | NpgsqlDbType.Integer) { TypedValue = [.. updates.Select(u => u.Sent)] });
        command.Parameters.Add(new NpgsqlParameter<bool[]>("close", NpgsqlDbType.Array | NpgsqlDbType.Boolean) { TypedValue = [.. updates.Select(u => u.Close)] });
        command.Parameters.Add(new NpgsqlParameter<DateTime[]>("at", NpgsqlDbType.Array | NpgsqlDbType.TimestampTz) { TypedValue = [.. updates.Select(u => u.At.UtcDateTime)] });
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private sealed record Conversation(long Id, string Tenant, string Phone, string CustomerName, DateTimeOffset? LastInboundAt, int Sent, bool OptedOut);
}
