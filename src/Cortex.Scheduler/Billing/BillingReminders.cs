using System.Globalization;
using System.Runtime.ExceptionServices;
using System.Threading.Channels;
using Cortex.Scheduler.Data;
using Cortex.Scheduler.Outbox;
using Cortex.Scheduler.Scheduling;
using Cortex.Scheduler.Templates;
using Cortex.Shared.Client;
using Cortex.Shared.Contract;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Cortex.Scheduler.Billing;

/// <summary>What one billing run did.</summary>
/// <remarks><see cref="Late"/>: charges whose reminder counts days from the day (D0, or a template with {days}) and could
/// go out only after it (the run came in the evening's quiet hours): not written.</remarks>
public sealed record BillingRunResult(DateOnly Today, int Due, int New, int OptedOut, int Invalid, int Published, int Late = 0, DateTimeOffset? LateSendTime = null);

/// <summary>A template billing needs that renders for no charge at all: missing, or broken whatever the row holds.</summary>
public sealed record BrokenBillingTemplate(string Tenant, string Key, string Reason)
{
    public override string ToString() =>
        $"template '{Key}' {(Tenant.Length == 0 ? "of the default tenant" : $"for tenant '{Tenant}'")}: {Reason}";
}

/// <summary>
/// The run wrote every reminder it could, but some charges need a template that cannot be rendered: their reminders are not
/// written, and the day is not done. Not a bad row (those are skipped and counted as invalid): every charge needing the
/// template would be skipped, and billing fires once a day, so the day must be run again once the template is fixed.
/// </summary>
public sealed class BillingTemplateException(DateOnly day, IReadOnlyList<BrokenBillingTemplate> templates, int charges)
    : InvalidOperationException(string.Create(
        CultureInfo.InvariantCulture,
        $"billing reminders for {day:yyyy-MM-dd}: {charges} charges got no reminder, since their template cannot be rendered (fix it in cortex.message_templates): {string.Join("; ", templates)}"))
{
    public DateOnly Day { get; } = day;

    public IReadOnlyList<BrokenBillingTemplate> Templates { get; } = templates;

    /// <summary>Charges whose reminder waits for a template.</summary>
    public int Charges { get; } = charges;
}

/// <summary>
/// Billing reminders for one day: every open charge whose due date is today minus an offset (D-3, D0, D+N) gets one
/// reminder with key billing:{chargeId}:{offset}:{dueDate}; paid, cancelled and opted-out charges get none. A rerun of
/// the same day, or two replicas running at once, insert nothing twice (the key is the ledger's primary key).
/// </summary>
/// <remarks>
/// A run is a pipeline of four stages (read, render, insert, publish), the database ones on a connection each, so that
/// PostgreSQL and .NET work at the same time on different pages: page N+1 is read while page N is rendered, page N-1 is
/// inserted into the ledger (committed) and page N-2 is claimed, pushed to Redis and marked enqueued
/// (<see cref="DispatchLedger.PublishInsertedAsync"/>). What a failure leaves is what it left before the pipeline:
/// <list type="bullet">
/// <item>Redis (or the claim) fails: the day is still read and written to the ledger in full, pending, for the outbox
/// repair to push once Redis is back; the run then throws the push's error.</item>
/// <item>Reading, rendering or inserting fails: the pages before it are still inserted and pushed, the stages before it
/// stop, and the run throws that error.</item>
/// </list>
/// </remarks>
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
        var counts = new Counts();
        var pages = Channel.CreateBounded<Page>(new BoundedChannelOptions(1) { SingleReader = true, SingleWriter = true });
        var rendered = Channel.CreateBounded<List<PreparedMessage>>(new BoundedChannelOptions(1) { SingleReader = true, SingleWriter = true });
        var inserted = Channel.CreateBounded<List<PreparedMessage>>(new BoundedChannelOptions(1) { SingleReader = true, SingleWriter = true });
        using var stopReading = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        using var stopRendering = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        Exception? failure = null;

        // A failed stage completes its output with the error (the next stage handles what it already has, then fails
        // too) and cancels the stages before it. The first error recorded is the cause; the others follow from it.
        // The publish stage never fails early (see PublishAsync), so nothing stops reading and inserting but PostgreSQL.
        async Task Stage(Func<Task> body, Action<Exception?> complete, params CancellationTokenSource[] upstream)
        {
            try
            {
                await body();
                complete(null);
            }
            catch (Exception ex)
            {
                Interlocked.CompareExchange(ref failure, ex, null);
                complete(ex);
                foreach (var stop in upstream)
                {
                    await stop.CancelAsync();
                }
            }
        }

        await Task.WhenAll(
            Stage(() => ReadAsync(today, settings, pages.Writer, stopReading.Token), e => pages.Writer.TryComplete(e)),
            Stage(() => RenderAsync(settings, quiet, templates, pages.Reader, rendered.Writer, counts, stopRendering.Token), e => rendered.Writer.TryComplete(e), stopReading),
            Stage(() => InsertAsync(rendered.Reader, inserted.Writer, counts, cancellationToken), e => inserted.Writer.TryComplete(e), stopRendering, stopReading),
            Stage(() => PublishAsync(inserted.Reader, counts, cancellationToken), _ => { }));
        if (failure is not null)
        {
            ExceptionDispatchInfo.Throw(failure);
        }

        // Rows of pages that were only partly new, and rows left pending by an earlier crash, this job's or another's.
        counts.Published += await ledger.PublishPendingAsync(settings.BatchSize, cancellationToken);
        if (counts.Templates.Values.Select(t => t.Broken).OfType<BrokenBillingTemplate>().ToList() is { Count: > 0 } broken)
        {
            // After the rest of the day is written and pushed: one tenant's broken override holds back only its own charges.
            throw new BillingTemplateException(today, broken, counts.Held);
        }

        return new BillingRunResult(today, counts.Due, counts.New, counts.OptedOut, counts.Invalid, counts.Published, counts.Late, counts.LateSendTime);
    }

    /// <summary>Stage 1: the due charges of each offset, one page at a time in id order.</summary>
    private async Task ReadAsync(DateOnly today, SchedulerOptions settings, ChannelWriter<Page> output, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        foreach (var offset in settings.Billing.ParsedOffsets)
        {
            var dueDate = today.AddDays(-offset);
            var after = long.MinValue;
            while (true)
            {
                var charges = await ReadPageAsync(connection, dueDate, after, settings.BatchSize, cancellationToken);
                await output.WriteAsync(new Page(offset, dueDate, charges), cancellationToken);
                if (charges.Count < settings.BatchSize)
                {
                    break;
                }

                after = charges[^1].Id;
            }
        }
    }

    /// <summary>Stage 2: renders each page into ledger rows (in memory; CPU only).</summary>
    private async Task RenderAsync(
        SchedulerOptions settings,
        QuietHours quiet,
        TemplateCatalog templates,
        ChannelReader<Page> input,
        ChannelWriter<List<PreparedMessage>> output,
        Counts counts,
        CancellationToken cancellationToken)
    {
        await foreach (var page in input.ReadAllAsync(cancellationToken))
        {
            await output.WriteAsync(Render(page, settings, quiet, templates, counts), cancellationToken);
        }
    }

    /// <summary>Stage 3: inserts each page's ledger rows (committed); passes on the pages whose rows were all new.</summary>
    private async Task InsertAsync(ChannelReader<List<PreparedMessage>> input, ChannelWriter<List<PreparedMessage>> output, Counts counts, CancellationToken cancellationToken)
    {
        NpgsqlConnection? connection = null;
        try
        {
            await foreach (var messages in input.ReadAllAsync(cancellationToken))
            {
                connection ??= await dataSource.OpenConnectionAsync(cancellationToken);
                var fresh = await DispatchLedger.InsertPreparedAsync(connection, messages, cancellationToken);
                counts.New += fresh;

                // A page only partly new (a rerun after a crash, a replica on the same day) is left to the final
                // PublishPendingAsync, which pushes what the ledger holds: only a wholly new page is known to hold ours.
                if (fresh > 0 && fresh == messages.Count)
                {
                    await output.WriteAsync(messages, cancellationToken);
                }
            }
        }
        finally
        {
            if (connection is not null)
            {
                await connection.DisposeAsync();
            }
        }
    }

    /// <summary>
    /// Stage 4: pushes each page of new rows to Redis and marks them enqueued. After a failure it pushes nothing more but
    /// keeps taking pages, so the stages before it still write the whole day to the ledger, and throws at the end.
    /// </summary>
    private async Task PublishAsync(ChannelReader<List<PreparedMessage>> input, Counts counts, CancellationToken cancellationToken)
    {
        NpgsqlConnection? connection = null;
        ExceptionDispatchInfo? failed = null;
        try
        {
            await foreach (var batch in input.ReadAllAsync(cancellationToken))
            {
                if (failed is not null)
                {
                    continue;
                }

                try
                {
                    connection ??= await dataSource.OpenConnectionAsync(cancellationToken);
                    counts.Published += await ledger.PublishInsertedAsync(connection, batch, cancellationToken);
                }
                catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
                {
                    // The batch's rows stay pending (its transaction rolled back); so do the next ones.
                    failed = ExceptionDispatchInfo.Capture(ex);
                }
            }
        }
        finally
        {
            if (connection is not null)
            {
                await connection.DisposeAsync();
            }
        }

        failed?.Throw();
    }

    private List<PreparedMessage> Render(Page page, SchedulerOptions settings, QuietHours quiet, TemplateCatalog templates, Counts counts)
    {
        var (offset, dueDate, charges) = page;
        var templateKey = offset < 0 ? "billing.before" : offset == 0 ? "billing.due" : "billing.overdue";
        var messages = new List<PreparedMessage>(charges.Count);
        var now = timeProvider.GetUtcNow();

        // The same for every charge of the page, or of the page and tenant: worked out once.
        var dueDateText = PtBr.Date(dueDate);
        var daysText = Math.Abs(offset).ToString(CultureInfo.InvariantCulture);
        var sendAtByTenant = new Dictionary<string, DateTimeOffset>(StringComparer.Ordinal);

        // A text that counts days from the day it is written for (the due day's "vence hoje", or a template with {days})
        // is wrong the next morning, beside that charge's next reminder (D0, then D+1 an hour later): such a reminder
        // ends with its day. One that names the due date ("vence em 23/11/2026") is right any day, and keeps ExpireAfter.
        var dayEnd = StartOf(dueDate.AddDays(offset + 1), settings.Zone);
        foreach (var charge in charges)
        {
            counts.Due++;
            if (charge.OptedOut)
            {
                counts.OptedOut++;
                continue;
            }

            if (!sendAtByTenant.TryGetValue(charge.Tenant, out var sendAt))
            {
                sendAt = quiet.NextAllowed(now, charge.Tenant, Kind);
                sendAtByTenant[charge.Tenant] = sendAt;
            }

            if (!counts.Templates.TryGetValue((charge.Tenant, templateKey), out var template))
            {
                template = CheckTemplate(templates, charge.Tenant, templateKey, dueDateText, daysText, settings, now);
                counts.Templates[(charge.Tenant, templateKey)] = template;
            }

            if (template.Broken is not null)
            {
                // Not skipped as invalid: the day stays owed and these are written once the template is fixed.
                counts.Held++;
                continue;
            }

            var sameDay = offset == 0 || template.CountsDays;
            if (sameDay && sendAt >= dayEnd)
            {
                // A run in the evening's quiet hours (a template fixed, a day resumed, a firing late after an outage).
                counts.Late++;
                counts.LateSendTime ??= sendAt;
                continue;
            }

            var key = $"billing:{charge.Id}:{offset}:{dueDate:yyyy-MM-dd}";
            Envelope Build() => templates.Get(charge.Tenant, templateKey).Apply(
                new Envelope
                {
                    Id = key,
                    To = charge.Phone,
                    Kind = Kind,
                    Tenant = charge.Tenant.Length == 0 ? null : charge.Tenant,
                    NotBefore = sendAt > now ? sendAt : null,
                    QuietHours = quiet.WindowFor(charge.Tenant, Kind),
                    ExpiresAt = sameDay ? Min(sendAt + settings.ExpireAfter, dayEnd) : sendAt + settings.ExpireAfter,
                },
                Variables(charge.CustomerName, PtBr.Currency(charge.Amount), dueDateText, daysText));

            if (RowPreparation.TryPrepare(logger, key, () => ledger.PrepareMessage(Build()), out var message))
            {
                messages.Add(message);
            }
            else
            {
                counts.Invalid++;
            }
        }

        return messages;
    }

    /// <summary>The first instant of <paramref name="day"/> in <paramref name="zone"/> (after the gap where daylight saving skips midnight).</summary>
    internal static DateTimeOffset StartOf(DateOnly day, TimeZoneInfo zone)
    {
        var local = day.ToDateTime(TimeOnly.MinValue);
        while (zone.IsInvalidTime(local))
        {
            local = local.AddMinutes(1);
        }

        return new DateTimeOffset(local, zone.GetUtcOffset(local)).ToUniversalTime();
    }

    private static DateTimeOffset Min(DateTimeOffset a, DateTimeOffset b) => a < b ? a : b;

    private static Func<string, string?> Variables(string name, string amount, string dueDate, string days) =>
        variable => variable switch
        {
            "name" => name,
            "amount" => amount,
            "dueDate" => dueDate,
            "days" => days,
            _ => null,
        };

    /// <summary>
    /// Renders the template for a made-up charge with every variable set: one that fails even then is the template's
    /// fault (missing, a variable billing does not have, a WhatsApp name or language the envelope refuses), not a row's.
    /// Notes whether it asks for <c>{days}</c>.
    /// </summary>
    private TemplateCheck CheckTemplate(
        TemplateCatalog templates, string tenant, string templateKey, string dueDateText, string daysText, SchedulerOptions settings, DateTimeOffset now)
    {
        var variables = Variables("Cliente", PtBr.Currency(100m), dueDateText, daysText);
        var countsDays = false;
        try
        {
            ledger.PrepareMessage(templates.Get(tenant, templateKey).Apply(
                new Envelope { Id = $"billing:template-check:{templateKey}", To = "+5511900000000", Kind = Kind, ExpiresAt = now + settings.ExpireAfter },
                variable =>
                {
                    countsDays |= variable == "days";
                    return variables(variable);
                }));
            return new TemplateCheck(null, countsDays);
        }
        catch (Exception ex) when (ex is TemplateException or InvalidEnvelopeException)
        {
            var reason = ex switch
            {
                UnrenderableMessageException { Blank: false } missing =>
                    $"it needs {{{missing.Variable}}}, which billing reminders do not have (they have {{name}}, {{amount}}, {{dueDate}} and {{days}})",
                InvalidEnvelopeException { Error: { } error } => $"it makes messages the sender refuses ({error})",
                _ => ex.Message,
            };
            return new TemplateCheck(new BrokenBillingTemplate(tenant, templateKey, reason), countsDays);
        }
    }

    private static async Task<List<DueCharge>> ReadPageAsync(NpgsqlConnection connection, DateOnly dueDate, long after, int batchSize, CancellationToken cancellationToken)
    {
        // Keyset pagination on the partial index charges_open_due (due_date, id) WHERE status = 'open'.
        await using var command = new NpgsqlCommand(
            $"""
            SELECT c.id, c.tenant, c.customer_name, c.phone, c.amount,
                   {OptOutSql.Exists("c.phone", "c.tenant")}
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

    /// <summary>A template as the run found it: why it cannot be rendered (null when it can), and whether it asks for {days}.</summary>
    private readonly record struct TemplateCheck(BrokenBillingTemplate? Broken, bool CountsDays);

    private sealed record Page(int Offset, DateOnly DueDate, List<DueCharge> Charges);

    /// <summary>Each field is written by one stage only and read after every stage has finished.</summary>
    private sealed class Counts
    {
        public int Due;
        public int New;
        public int OptedOut;
        public int Invalid;
        public int Published;
        public int Held;
        public int Late;
        public DateTimeOffset? LateSendTime;

        /// <summary>Each (tenant, template key) the run used, checked once.</summary>
        public readonly Dictionary<(string Tenant, string Key), TemplateCheck> Templates = [];
    }
}
