using System.Text.Json;
using Cortex.Scheduler.Data;
using Cortex.Scheduler.Outbox;
using Cortex.Scheduler.Scheduling;
using Cortex.Scheduler.Templates;
using Cortex.Shared.Contract;
using Microsoft.Extensions.Options;
using Npgsql;
using Quartz;

namespace Cortex.Scheduler.Campaigns;

/// <summary>What one campaign pass did.</summary>
public sealed record CampaignRunResult(int RunsStarted, int Enqueued, int Skipped, int Invalid, int Published);

/// <summary>
/// A campaign firing as the next pass takes it: its fire time; its send time, from which ExpireAfter counts (the fire
/// time, or the end of the quiet hours it falls in); whether its run has started; its recipients and how many of them
/// were enqueued and skipped so far; the campaign's cron, null for a one-shot.
/// </summary>
public sealed record CampaignFiring(DateTimeOffset FireTime, DateTimeOffset SendTime, bool Started, int Total, int Enqueued, int Skipped, string? Cron);

/// <summary>
/// Starts the campaign runs that are due (a one-shot campaign at run_at; a cron campaign at its latest fire time, once
/// even after downtime) and fans each running run out in batches, in recipient id order (keyset pagination). Every batch
/// commits its ledger rows together with the run's cursor, so a crash resumes after the last committed batch; pause and
/// cancel are read before every batch, and so is lateness: a firing more than ExpireAfter past its send time ends
/// expired, its rest not fanned out. Keys are campaign:{campaignId}:{fireTime, Unix ms}:{recipientId}; priority low.
/// </summary>
public sealed class CampaignFanOut(
    NpgsqlDataSource dataSource,
    DispatchLedger ledger,
    IOptions<SchedulerOptions> options,
    TimeProvider timeProvider,
    ILogger<CampaignFanOut> logger)
{
    public const string Kind = "campaign";

    /// <summary>Starts due runs and fans out every running one until it completes, is paused or cancelled.</summary>
    public async Task<CampaignRunResult> RunAsync(CancellationToken cancellationToken)
    {
        var settings = options.Value;
        var started = await StartDueRunsAsync(settings, cancellationToken);
        var templates = await TemplateCatalog.LoadAsync(dataSource, cancellationToken);
        var quiet = new QuietHours(settings.QuietHours, settings.Zone);
        var totals = new Totals();
        foreach (var (campaignId, fireTime) in await RunningAsync(cancellationToken))
        {
            try
            {
                while (await FanOutBatchAsync(campaignId, fireTime, templates, quiet, settings, totals, cancellationToken))
                {
                    totals.Published += await ledger.PublishPendingAsync(settings.BatchSize, cancellationToken);
                }
            }
            catch (MissingTemplateException ex)
            {
                // One campaign with a template typo must not hold up the others; it stays running and resumes once fixed.
                Log.CampaignBlocked(logger, campaignId, ex.Message);
            }
        }

        totals.Published += await ledger.PublishPendingAsync(settings.BatchSize, cancellationToken);
        return new CampaignRunResult(started, totals.Enqueued, totals.Skipped, totals.Invalid, totals.Published);
    }

    private async Task<int> StartDueRunsAsync(SchedulerOptions settings, CancellationToken cancellationToken)
    {
        var now = timeProvider.GetUtcNow();
        var due = new List<(long Id, DateTimeOffset FireTime)>();
        await using (var command = dataSource.CreateCommand(
            """
            SELECT c.id, c.run_at, c.cron, greatest(c.created_at, c.cron_changed_at, last.fire_time), last.fire_time
            FROM cortex.campaigns c
            CROSS JOIN LATERAL (SELECT max(fire_time) AS fire_time FROM cortex.campaign_runs r WHERE r.campaign_id = c.id) last
            WHERE c.status = 'active'
              AND (c.cron IS NOT NULL OR (c.run_at <= @now AND last.fire_time IS NULL))
            """))
        {
            command.Parameters.AddWithValue("now", now.UtcDateTime);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                var id = reader.GetInt64(0);
                if (!reader.IsDBNull(1))
                {
                    due.Add((id, new DateTimeOffset(reader.GetDateTime(1), TimeSpan.Zero)));
                }
                else if (!CronExpression.TryParse(reader.GetString(2), out _))
                {
                    Log.BadCampaignCron(logger, id);
                }
                else if (DueCronFiring(reader.GetString(2), settings.Zone, new DateTimeOffset(reader.GetDateTime(3), TimeSpan.Zero), reader.IsDBNull(4) ? null : new DateTimeOffset(reader.GetDateTime(4), TimeSpan.Zero), now) is { } fire)
                {
                    due.Add((id, fire));
                }
            }
        }

        var started = 0;
        foreach (var (id, fireTime) in due)
        {
            await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken);

            // The primary key (campaign, fire time) makes a run start once however many replicas see it due.
            await using (var insert = new NpgsqlCommand(
                """
                INSERT INTO cortex.campaign_runs (campaign_id, fire_time, total)
                SELECT @id, @fire, count(*) FROM cortex.campaign_recipients WHERE campaign_id = @id
                ON CONFLICT DO NOTHING
                """,
                connection))
            {
                insert.Parameters.AddWithValue("id", id);
                insert.Parameters.AddWithValue("fire", fireTime.UtcDateTime);
                if (await insert.ExecuteNonQueryAsync(cancellationToken) == 0)
                {
                    continue;
                }
            }

            var superseded = await SupersedeAsync(connection, id, fireTime, cancellationToken);
            await transaction.CommitAsync(cancellationToken);
            started++;
            foreach (var (oldFireTime, enqueued, total) in superseded)
            {
                Log.CampaignRunSuperseded(logger, id, oldFireTime, fireTime, enqueued, total);
            }
        }

        return started;
    }

    // A run still going when a newer firing of its campaign starts (paused, or held by a missing template, across the
    // next firing) ends there: fanned out beside the new run, every recipient after its cursor would get the campaign
    // twice within a minute, under two message ids. The newer firing is the one that counts, as missed firings collapse
    // into the latest. Waits for a batch another replica is fanning out of it to commit.
    private static async Task<List<(DateTimeOffset FireTime, int Enqueued, int Total)>> SupersedeAsync(
        NpgsqlConnection connection, long campaignId, DateTimeOffset fireTime, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(
            """
            UPDATE cortex.campaign_runs SET status = 'cancelled', updated_at = now(), finished_at = now()
            WHERE campaign_id = @id AND fire_time < @fire AND status = 'running'
            RETURNING fire_time, enqueued, total
            """,
            connection);
        command.Parameters.AddWithValue("id", campaignId);
        command.Parameters.AddWithValue("fire", fireTime.UtcDateTime);
        var superseded = new List<(DateTimeOffset, int, int)>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            superseded.Add((new DateTimeOffset(reader.GetDateTime(0), TimeSpan.Zero), reader.GetInt32(1), reader.GetInt32(2)));
        }

        return superseded;
    }

    /// <summary>
    /// The firing of a cron campaign a pass starts now: its latest after <paramref name="since"/> (creation, the last cron
    /// edit or the last run's firing, whichever is latest), unless that is the last run's own firing moved by a change of
    /// schedule; null when none is due.
    /// </summary>
    private static DateTimeOffset? DueCronFiring(string cron, TimeZoneInfo zone, DateTimeOffset since, DateTimeOffset? lastRun, DateTimeOffset now) =>
        LatestFireTime(cron, zone, since, now) is { } fire && !IsTheLastRunMoved(cron, zone, lastRun, fire) ? fire : null;

    /// <summary>
    /// The firing the next pass fans out for <paramref name="campaignId"/> once it is active: the one it starts (a
    /// one-shot's <c>run_at</c> with no run yet, a cron's latest firing since its last run), else its run still going;
    /// null when neither, or no such campaign. For <c>cortex campaign resume</c>, which says when that firing is already
    /// more than ExpireAfter past its send time: the pass would end it expired at once.
    /// </summary>
    public static async Task<CampaignFiring?> NextFiringAsync(
        NpgsqlDataSource dataSource, long campaignId, SchedulerOptions settings, DateTimeOffset now, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(dataSource);
        ArgumentNullException.ThrowIfNull(settings);
        await using var command = dataSource.CreateCommand(
            """
            SELECT c.run_at, c.cron, c.tenant, greatest(c.created_at, c.cron_changed_at, last.fire_time), last.fire_time,
                   running.fire_time, running.total, running.enqueued, running.skipped,
                   (SELECT count(*) FROM cortex.campaign_recipients WHERE campaign_id = c.id)
            FROM cortex.campaigns c
            CROSS JOIN LATERAL (SELECT max(fire_time) AS fire_time FROM cortex.campaign_runs r WHERE r.campaign_id = c.id) last
            LEFT JOIN LATERAL (
                SELECT fire_time, total, enqueued, skipped FROM cortex.campaign_runs r
                WHERE r.campaign_id = c.id AND r.status = 'running' ORDER BY fire_time DESC LIMIT 1) running ON true
            WHERE c.id = @id
            """);
        command.Parameters.AddWithValue("id", campaignId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            return null;
        }

        DateTimeOffset? runAt = reader.IsDBNull(0) ? null : new DateTimeOffset(reader.GetDateTime(0), TimeSpan.Zero);
        var cron = reader.IsDBNull(1) ? null : reader.GetString(1);
        var tenant = reader.GetString(2);
        DateTimeOffset? lastRun = reader.IsDBNull(4) ? null : new DateTimeOffset(reader.GetDateTime(4), TimeSpan.Zero);
        var due = runAt is { } at
            ? (at <= now && lastRun is null ? at : null)
            : cron is not null ? DueCronFiring(cron, settings.Zone, new DateTimeOffset(reader.GetDateTime(3), TimeSpan.Zero), lastRun, now) : null;
        var quiet = new QuietHours(settings.QuietHours, settings.Zone);
        if (due is { } fire)
        {
            return new CampaignFiring(fire, quiet.NextAllowed(fire, tenant, Kind), Started: false, (int)reader.GetInt64(9), Enqueued: 0, Skipped: 0, cron);
        }

        if (!reader.IsDBNull(5))
        {
            var running = new DateTimeOffset(reader.GetDateTime(5), TimeSpan.Zero);
            return new CampaignFiring(running, quiet.NextAllowed(running, tenant, Kind), Started: true, reader.GetInt32(6), reader.GetInt32(7), reader.GetInt32(8), cron);
        }

        return null;
    }

    /// <summary>
    /// Whether <paramref name="fire"/> is the firing the campaign's last run already made, moved by a change of schedule:
    /// the last run is nearer to it than to the firing before it. Under an unchanged schedule the last run is itself a
    /// firing, the one before <paramref name="fire"/> or an earlier one, and this is never so. A <c>TimeZone</c> change
    /// moves every firing (São Paulo's 09:00 is three hours after UTC's), and a cron edited before its new time came
    /// (09:00 moved to 10:00 at 09:30, after today's run) puts today's firing an hour after the run that made it: each
    /// was a second run of the day, every recipient getting the campaign twice under other message ids. Such a firing is
    /// skipped; the next one runs. One moved by more than half the period is taken for the next, as the schedule says.
    /// </summary>
    internal static bool IsTheLastRunMoved(string cron, TimeZoneInfo zone, DateTimeOffset? lastRun, DateTimeOffset fire)
    {
        if (lastRun is not { } last || last >= fire)
        {
            return false;
        }

        // No firing from as far before the last run as the new one is after it (firings fall on whole seconds): the
        // one before is further away.
        var expression = new CronExpression(cron, zone);
        return expression.GetNextValidTimeAfter(last - (fire - last) - TimeSpan.FromSeconds(1)) == fire;
    }

    /// <summary>The latest fire time of <paramref name="cron"/> after <paramref name="since"/> and at or before <paramref name="now"/>: missed firings collapse into one.</summary>
    internal static DateTimeOffset? LatestFireTime(string cron, TimeZoneInfo zone, DateTimeOffset since, DateTimeOffset now)
    {
        if (!CronExpression.TryParse(cron, out _))
        {
            return null;
        }

        var expression = new CronExpression(cron, zone);
        if (expression.GetNextValidTimeAfter(since) is not { } first || first > now)
        {
            return null;
        }

        // Bisection on the instant after which a firing still comes by now: true at `since`, false at `now`. Once the two
        // are a second apart (Quartz fires on whole seconds), the next firing after the lower is the latest, and nothing
        // is walked: about 40 steps whatever the cron and the downtime. Walking forward from `since` with a cap on the
        // steps stopped at an old firing of a frequent cron active again after months: each pass then started one more
        // run, and every recipient got the campaign once per run.
        var (low, high) = (since, now);
        while (high - low > TimeSpan.FromSeconds(1))
        {
            var middle = low + ((high - low) / 2);
            if (expression.GetNextValidTimeAfter(middle) is { } next && next <= now)
            {
                low = middle;
            }
            else
            {
                high = middle;
            }
        }

        return expression.GetNextValidTimeAfter(low);
    }

    private async Task<List<(long CampaignId, DateTimeOffset FireTime)>> RunningAsync(CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(
            "SELECT campaign_id, fire_time FROM cortex.campaign_runs WHERE status = 'running' ORDER BY started_at, campaign_id");
        var runs = new List<(long, DateTimeOffset)>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            runs.Add((reader.GetInt64(0), new DateTimeOffset(reader.GetDateTime(1), TimeSpan.Zero)));
        }

        return runs;
    }

    /// <summary>
    /// One batch in one transaction; false when the run is finished, paused, cancelled, expired or another replica holds it.
    /// A firing is sent no later than a scheduled message is: once its send time (the fire time, or the end of the quiet
    /// hours it falls in) is more than ExpireAfter past, the rest is not fanned out and the run ends <c>expired</c>. Fanned
    /// out whenever the scheduler got to it, a "today only" campaign went to everyone two days late after an outage, and a
    /// fan-out cut by a crash sent its rest days after its start. What was enqueued before stays queued.
    /// </summary>
    private async Task<bool> FanOutBatchAsync(
        long campaignId, DateTimeOffset fireTime, TemplateCatalog templates, QuietHours quiet, SchedulerOptions settings, Totals totals, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        RunState? run;
        await using (var command = new NpgsqlCommand(
            """
            SELECT r.cursor, r.total, r.enqueued, r.skipped, c.status, c.tenant, c.template_key, c.run_at IS NOT NULL
            FROM cortex.campaign_runs r JOIN cortex.campaigns c ON c.id = r.campaign_id
            WHERE r.campaign_id = @id AND r.fire_time = @fire AND r.status = 'running'
            FOR UPDATE OF r SKIP LOCKED
            """,
            connection))
        {
            command.Parameters.AddWithValue("id", campaignId);
            command.Parameters.AddWithValue("fire", fireTime.UtcDateTime);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            run = await reader.ReadAsync(cancellationToken)
                ? new RunState(reader.GetInt64(0), reader.GetInt32(1), reader.GetInt32(2), reader.GetInt32(3), reader.GetString(4), reader.GetString(5), reader.GetString(6), reader.GetBoolean(7))
                : null;
        }

        if (run is null || run.CampaignStatus == "paused")
        {
            return false;
        }

        if (run.CampaignStatus is "cancelled" or "completed")
        {
            await FinishAsync(connection, campaignId, fireTime, "cancelled", run, cancellationToken);
            await transaction.CommitAsync(cancellationToken);
            Log.CampaignProgress(logger, campaignId, fireTime, run.Enqueued, run.Total, run.Skipped, "cancelled");
            return false;
        }

        // Checked before the template: an expired firing ends even while its template is missing.
        var now = timeProvider.GetUtcNow();
        var firingSendTime = quiet.NextAllowed(fireTime, run.Tenant, Kind);
        if (now - firingSendTime > settings.ExpireAfter)
        {
            await FinishAsync(connection, campaignId, fireTime, "expired", run, cancellationToken);
            await transaction.CommitAsync(cancellationToken);
            Log.CampaignRunExpired(
                logger, campaignId, fireTime, firingSendTime, now - firingSendTime, settings.ExpireAfter, Math.Max(run.Total - run.Enqueued - run.Skipped, 0), run.Total, run.Enqueued);
            return false;
        }

        var renderer = templates.Get(run.Tenant, run.TemplateKey);
        var sendAt = quiet.NextAllowed(now, run.Tenant, Kind);
        var recipients = await ReadRecipientsAsync(connection, campaignId, run.Cursor, settings.BatchSize, cancellationToken);
        var entries = new List<LedgerEntry>(recipients.Count);
        var skipped = 0;
        foreach (var r in recipients)
        {
            // Opted out, or listed again under a higher id (one number, two rows): its first listing is the one sent.
            if (r.OptedOut || r.ListedBefore)
            {
                skipped++;
                continue;
            }

            var key = $"campaign:{campaignId}:{fireTime.ToUnixTimeMilliseconds()}:{r.Id}";
            if (ledger.TryPrepare(logger, key, () => renderer.Apply(
                    new Envelope
                    {
                        Id = key,
                        To = r.Phone,
                        Kind = Kind,
                        Tenant = run.Tenant.Length == 0 ? null : run.Tenant,
                        Priority = Priority.Low,
                        NotBefore = sendAt > now ? sendAt : null,
                        QuietHours = quiet.WindowFor(run.Tenant, Kind),
                        ExpiresAt = sendAt + settings.ExpireAfter,
                    },
                    name => Variable(name, r.Name, r.Variables)),
                out var entry))
            {
                entries.Add(entry);
            }
            else
            {
                skipped++;
                totals.Invalid++;
            }
        }

        var inserted = await DispatchLedger.InsertAsync(connection, entries, cancellationToken);
        var done = recipients.Count < settings.BatchSize;
        var progressed = run with
        {
            Cursor = recipients.Count == 0 ? run.Cursor : recipients[^1].Id,
            Enqueued = run.Enqueued + inserted,
            Skipped = run.Skipped + skipped,
        };
        if (done)
        {
            await FinishAsync(connection, campaignId, fireTime, "completed", progressed, cancellationToken);
        }
        else
        {
            await using var update = new NpgsqlCommand(
                "UPDATE cortex.campaign_runs SET cursor = @cursor, enqueued = @enqueued, skipped = @skipped, updated_at = now() WHERE campaign_id = @id AND fire_time = @fire",
                connection);
            AddProgress(update, campaignId, fireTime, progressed);
            await update.ExecuteNonQueryAsync(cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
        totals.Enqueued += inserted;
        totals.Skipped += skipped;
        if (done)
        {
            Log.CampaignProgress(logger, campaignId, fireTime, progressed.Enqueued, progressed.Total, progressed.Skipped, "completed");
        }

        return !done;
    }

    private static async Task FinishAsync(NpgsqlConnection connection, long campaignId, DateTimeOffset fireTime, string status, RunState run, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(
            """
            UPDATE cortex.campaign_runs SET cursor = @cursor, enqueued = @enqueued, skipped = @skipped, status = @status,
                   updated_at = now(), finished_at = now()
            WHERE campaign_id = @id AND fire_time = @fire;
            UPDATE cortex.campaigns SET status = 'completed' WHERE id = @id AND status = 'active' AND run_at IS NOT NULL AND @status IN ('completed', 'expired');
            """,
            connection);
        AddProgress(command, campaignId, fireTime, run);
        command.Parameters.AddWithValue("status", status);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private static void AddProgress(NpgsqlCommand command, long campaignId, DateTimeOffset fireTime, RunState run)
    {
        command.Parameters.AddWithValue("id", campaignId);
        command.Parameters.AddWithValue("fire", fireTime.UtcDateTime);
        command.Parameters.AddWithValue("cursor", run.Cursor);
        command.Parameters.AddWithValue("enqueued", run.Enqueued);
        command.Parameters.AddWithValue("skipped", run.Skipped);
    }

    private static async Task<List<Recipient>> ReadRecipientsAsync(NpgsqlConnection connection, long campaignId, long after, int batchSize, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(
            $"""
            SELECT r.id, r.phone, r.name, r.variables::text,
                   {OptOutSql.Exists("r.phone", "c.tenant")},
                   EXISTS (SELECT 1 FROM cortex.campaign_recipients d WHERE d.campaign_id = r.campaign_id AND d.phone = r.phone AND d.id < r.id)
            FROM cortex.campaign_recipients r JOIN cortex.campaigns c ON c.id = r.campaign_id
            WHERE r.campaign_id = @id AND r.id > @after
            ORDER BY r.id
            LIMIT @batch
            """,
            connection);
        command.Parameters.AddWithValue("id", campaignId);
        command.Parameters.AddWithValue("after", after);
        command.Parameters.AddWithValue("batch", batchSize);
        var recipients = new List<Recipient>(batchSize);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            recipients.Add(new Recipient(reader.GetInt64(0), reader.GetString(1), reader.GetString(2), reader.IsDBNull(3) ? null : ParseVariables(reader.GetString(3)), reader.GetBoolean(4), reader.GetBoolean(5)));
        }

        return recipients;
    }

    /// <summary>
    /// Why the fan-out would skip a recipient (the template cannot be filled from its row, or the message it makes breaks the
    /// envelope's rules: a name with a tab in a WhatsApp parameter), as "field: reason"; null when it would be sent. For
    /// <c>cortex campaign create</c>, which refuses such a file before anything is stored: the fan-out skipped those rows
    /// with a warning, and the campaign said "completed" with recipients who never got it.
    /// </summary>
    public static string? WhyUnsendable(MessageRenderer renderer, string tenant, string phone, string name, string? variablesJson)
    {
        ArgumentNullException.ThrowIfNull(renderer);
        var variables = variablesJson is null ? null : ParseVariables(variablesJson);
        try
        {
            var envelope = renderer.Apply(
                new Envelope { Id = "campaign:0:0:0", To = phone, Kind = Kind, Tenant = tenant.Length == 0 ? null : tenant, Priority = Priority.Low },
                key => Variable(key, name, variables));
            return EnvelopeCodec.TrySerialize(envelope, out _, out var error) ? null : error.ToString();
        }
        catch (TemplateException ex)
        {
            return ex.Message;
        }
    }

    private static string? Variable(string key, string name, Dictionary<string, string>? variables) =>
        key == "name" ? name : variables?.GetValueOrDefault(key);

    private static Dictionary<string, string>? ParseVariables(string json)
    {
        using var document = JsonDocument.Parse(json);
        if (document.RootElement.ValueKind != JsonValueKind.Object)
        {
            return null;
        }

        var variables = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var property in document.RootElement.EnumerateObject())
        {
            // A JSON null is a missing variable (the message is refused), not the text "null".
            if (property.Value.ValueKind != JsonValueKind.Null)
            {
                variables[property.Name] = property.Value.ValueKind == JsonValueKind.String ? property.Value.GetString()! : property.Value.GetRawText();
            }
        }

        return variables;
    }

    private sealed record RunState(long Cursor, int Total, int Enqueued, int Skipped, string CampaignStatus, string Tenant, string TemplateKey, bool OneShot);

    private sealed record Recipient(long Id, string Phone, string Name, Dictionary<string, string>? Variables, bool OptedOut, bool ListedBefore);

    private sealed class Totals
    {
        public int Enqueued { get; set; }

        public int Skipped { get; set; }

        public int Invalid { get; set; }

        public int Published { get; set; }
    }
}
