using Cortex.Scheduler.Outbox;
using Cortex.Scheduler.Scheduling;
using Cortex.Scheduler.Templates;
using Cortex.Shared.Client;
using Cortex.Shared.Contract;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Cortex.Scheduler.Billing;

/// <summary>What one billing run did.</summary>
public sealed record BillingRunResult(DateOnly Today, int Due, int New, int OptedOut, int Invalid, int Published);

/// <summary>
/// Billing reminders for one day: every open charge whose due date is today minus an offset (D-3, D0, D+N) gets one
/// reminder with key billing:{chargeId}:{offset}:{dueDate}; paid, cancelled and opted-out charges get none. A rerun of
/// the same day, or two replicas running at once, insert nothing twice (the key is the ledger's primary key).
/// </summary>
public sealed class BillingReminders(
    NpgsqlDataSource dataSource,
    DispatchLedger ledger,
    IOptions<SchedulerOptions> options,
    TimeProvider timeProvider,
    ILogger<BillingReminders> logger)
{
    public const string Kind = "billing";

    /// <summary>The local date of now in the scheduler's time zone.</summary>
    public DateOnly Today() => DateOnly.FromDateTime(TimeZoneInfo.ConvertTime(timeProvider.GetUtcNow(), options.Value.Zone).DateTime);

    /// <summary>Writes the reminders due on <paramref name="today"/> to the ledger and pushes them to Redis.</summary>
    public async Task<BillingRunResult> RunAsync(DateOnly today, CancellationToken cancellationToken)
    {
        var settings = options.Value;
        var quiet = new QuietHours(settings.QuietHours, settings.Zone);
        var templates = await TemplateCatalog.LoadAsync(dataSource, cancellationToken);
        int due = 0, inserted = 0, optedOut = 0, invalid = 0;
        foreach (var offset in settings.Billing.ParsedOffsets)
        {
            var dueDate = today.AddDays(-offset);
            var templateKey = offset < 0 ? "billing.before" : offset == 0 ? "billing.due" : "billing.overdue";
            var after = long.MinValue;
            while (true)
            {
                await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
                var page = await ReadPageAsync(connection, dueDate, after, settings.BatchSize, cancellationToken);
                var entries = new List<LedgerEntry>(page.Count);
                var now = timeProvider.GetUtcNow();
                foreach (var charge in page)
                {
                    due++;
                    if (charge.OptedOut)
                    {
                        optedOut++;
                        continue;
                    }

                    var key = $"billing:{charge.Id}:{offset}:{dueDate:yyyy-MM-dd}";
                    var sendAt = quiet.NextAllowed(now, charge.Tenant, Kind);
                    var renderer = templates.Get(charge.Tenant, templateKey);
                    var envelope = renderer.Apply(
                        new Envelope
                        {
                            Id = key,
                            To = charge.Phone,
                            Kind = Kind,
                            Tenant = charge.Tenant.Length == 0 ? null : charge.Tenant,
                            NotBefore = sendAt > now ? sendAt : null,
                            ExpiresAt = sendAt + settings.ExpireAfter,
                        },
                        name => name switch
                        {
                            "name" => charge.CustomerName,
                            "amount" => PtBr.Currency(charge.Amount),
                            "dueDate" => PtBr.Date(dueDate),
                            "days" => Math.Abs(offset).ToString(System.Globalization.CultureInfo.InvariantCulture),
                            _ => null,
                        });
                    try
                    {
                        entries.Add(ledger.Prepare(envelope));
                    }
                    catch (InvalidEnvelopeException ex)
                    {
                        // Bad source data (a view may bypass the table's checks): skipped and named, never sent half-right.
                        invalid++;
                        Log.InvalidRow(logger, key, ex.Error?.ToString() ?? ex.Message);
                    }
                }

                inserted += await DispatchLedger.InsertAsync(connection, entries, cancellationToken);
                if (page.Count < settings.BatchSize)
                {
                    break;
                }

                after = page[^1].Id;
            }
        }

        var published = await ledger.PublishPendingAsync(settings.BatchSize, cancellationToken);
        return new BillingRunResult(today, due, inserted, optedOut, invalid, published);
    }

    private static async Task<List<DueCharge>> ReadPageAsync(NpgsqlConnection connection, DateOnly dueDate, long after, int batchSize, CancellationToken cancellationToken)
    {
        // Keyset pagination on the partial index charges_open_due (due_date, id) WHERE status = 'open'.
        await using var command = new NpgsqlCommand(
            """
            SELECT c.id, c.tenant, c.customer_name, c.phone, c.amount,
                   EXISTS (SELECT 1 FROM cortex.opt_outs o WHERE o.phone = c.phone AND o.tenant IN ('', c.tenant))
            FROM cortex.charges c
            WHERE c.status = 'open' AND c.due_date = @due AND c.id > @after
            ORDER BY c.id
            LIMIT @batch
            """,
            connection);
        command.Parameters.AddWithValue("due", dueDate);
        command.Parameters.AddWithValue("after", after);
        command.Parameters.AddWithValue("batch", batchSize);
        var page = new List<DueCharge>(batchSize);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            page.Add(new DueCharge(reader.GetInt64(0), reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetDecimal(4), reader.GetBoolean(5)));
        }

        return page;
    }

    private sealed record DueCharge(long Id, string Tenant, string CustomerName, string Phone, decimal Amount, bool OptedOut);
}
