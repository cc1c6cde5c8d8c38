using System.CommandLine;
using System.Globalization;
using Cortex.Cli.Files;
using Cortex.Cli.Hosting;
using Cortex.Cli.Output;
using Cortex.Scheduler;
using Cortex.Scheduler.Campaigns;
using Cortex.Scheduler.Scheduling;
using Cortex.Scheduler.Templates;
using Cortex.Shared.Contract;
using Cortex.Shared.Privacy;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Npgsql;
using NpgsqlTypes;
using Quartz;

namespace Cortex.Cli.Campaigns;

/// <summary>cortex campaign create | pause | resume | status: the rows of cortex.campaigns the scheduler's campaign job reads.</summary>
internal static class CampaignCommands
{
    private const string StatusHelp = """
        --json prints an array of campaigns: id, name, tenant, templateKey, status (active, paused, cancelled,
        completed), runAt or cron, createdAt, recipients, and runs (newest first): fireTime, status (running,
        completed, cancelled, expired), total, enqueued, skipped, progressPercent ((enqueued + skipped) / total, null
        when total is 0), startedAt, finishedAt. A run is expired when its firing was still not fanned out
        Cortex:Scheduler:ExpireAfter after its send time (the scheduler was down, or the campaign paused): the rest
        of its recipients get nothing; what it had enqueued is sent.
        """;

    /// <summary>How far in the past --run-at may be: "now", typed a moment ago. Further back is a mistake (a year, a month).</summary>
    private static readonly TimeSpan s_runAtLate = TimeSpan.FromMinutes(5);

    public static Command Create(CliConsole console, GlobalOptions global, Dictionary<Command, string> epilogues)
    {
        var campaign = new Command("campaign", "Create, pause, resume and follow campaigns");
        campaign.Add(CreateCommand(console, global, epilogues));
        campaign.Add(ChangeStatus(console, global, "pause", "Pause an active campaign: its running fan-out stops before the next batch", from: "active", to: "paused"));
        campaign.Add(ChangeStatus(console, global, "resume", "Resume a paused campaign: its fan-out continues where it stopped (a firing already more than Cortex:Scheduler:ExpireAfter past its send time ends expired instead, with a warning)", from: "paused", to: "active"));
        campaign.Add(Status(console, global, epilogues));
        return campaign;
    }

    private static Command CreateCommand(CliConsole console, GlobalOptions global, Dictionary<Command, string> epilogues)
    {
        var name = new Option<string>("--name") { Description = "Campaign name, for people", Required = true };
        var template = new Option<string>("--template") { Description = "Key in cortex.message_templates: the --tenant's row, else the default tenant's", Required = true, HelpName = "key" };
        var runAt = new Option<string?>("--run-at") { Description = "One-shot: when to send, ISO-8601 with offset (at most 5 minutes past: now)", HelpName = "iso" };
        var cron = new Option<string?>("--cron") { Description = "Recurring: Quartz cron with seconds, in the scheduler's time zone, e.g. \"0 0 10 1 * ?\"; its next fire times are printed", HelpName = "expr" };
        var tenant = new Option<string?>("--tenant") { Description = "Tenant (a-z 0-9 _ . -); default none" };
        var recipients = new Option<string?>("--recipients") { Description = "CSV of recipients: phone,name[,variables-json]", HelpName = "file.csv" };
        var command = new Command("create", "Create a campaign (and its recipients, in one transaction); prints its id") { name, template, runAt, cron, tenant, recipients };
        epilogues[command] = RecipientsFile.Help;
        command.SetAction((parse, ct) =>
        {
            var at = Input.Instant(parse.GetValue(runAt), "--run-at");
            var expression = parse.GetValue(cron);
            if ((at is null) == (expression is null))
            {
                throw CliException.Usage("give exactly one of --run-at (one-shot) and --cron (recurring)");
            }

            if (expression is not null && !CronExpression.TryParse(expression, out _))
            {
                throw CliException.Usage($"--cron: '{expression}' is not a Quartz cron expression (with seconds: \"0 0 10 1 * ?\" is 10:00 on the 1st)");
            }

            // A cron no date matches (30 February) was created, active, and never sent anything.
            var now = console.TimeProvider.GetUtcNow();
            if (expression is not null && CronFireTimes.Next(expression, TimeZoneInfo.Utc, now, 1).Count == 0)
            {
                throw CliException.Usage($"--cron: '{expression}' never fires: no date from now on matches it");
            }

            // A run-at in the past (a wrong year or month) was taken, and the campaign went out at the scheduler's next pass.
            if (at is { } when && when < now - s_runAtLate)
            {
                throw CliException.Usage(
                    $"--run-at: {when.ToString("yyyy-MM-dd'T'HH:mm:ssK", CultureInfo.InvariantCulture)} has passed (it is {now.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture)}): the campaign would go out at once, at the scheduler's next pass. To send it now, give the current time");
            }

            var tenantName = parse.GetValue(tenant) ?? string.Empty;
            if (tenantName.Length > 0 && !EnvelopeCodec.IsTenant(tenantName))
            {
                throw CliException.Usage("--tenant: " + EnvelopeCodec.TenantRule);
            }

            var campaignName = parse.GetRequiredValue(name);
            var templateKey = parse.GetRequiredValue(template);
            var path = parse.GetValue(recipients);
            return CliHost.RunAsync(
                global.Context(console, parse),
                Needs.Postgres,
                async (services, token) =>
                {
                    var list = path is null ? [] : await ReadRecipientsAsync(path, token);
                    if (list.FirstOrDefault(r => !r.WrittenWithPlus) is { } bare)
                    {
                        // A CRM export in national format (11987654321) reads as another country's number (+1 198…): say so.
                        await console.Error.WriteLineAsync(
                            $"warning: {list.Count(r => !r.WrittenWithPlus):N0} phone(s) have no '+', the first on line {bare.Line}: each is taken to start with its country code ({PhoneMask.Mask(bare.Phone)}); a number without it (11987654321 for +5511987654321) would reach another country");
                    }

                    if (list.FirstOrDefault(r => r.NameInVariables) is { } named)
                    {
                        // The fan-out takes {name} from the name cell only: a "name" in the variables was dropped without a word.
                        await console.Error.WriteLineAsync(
                            $"warning: {list.Count(r => r.NameInVariables):N0} row(s) have a \"name\" key in their variables, the first on line {named.Line}: it is not used; {{name}} is the name cell");
                    }

                    var dataSource = services.GetRequiredService<NpgsqlDataSource>();
                    await CheckTemplateAsync(console, dataSource, tenantName, templateKey, path ?? string.Empty, list, token);
                    var (id, answerLost) = await InsertAsync(dataSource, campaignName, templateKey, tenantName, at, expression, list, token);
                    if (answerLost)
                    {
                        await console.Error.WriteLineAsync($"the connection to PostgreSQL was lost during the commit; PostgreSQL was asked again and campaign {id} is there: created once, do not create it again");
                    }

                    await console.Out.WriteLineAsync(id.ToString(CultureInfo.InvariantCulture));
                    await console.Error.WriteLineAsync($"created campaign {id} '{campaignName}' with {list.Count} recipient(s), {(at is { } a ? "one-shot at " + a.ToString("O", CultureInfo.InvariantCulture) : Cron(services, expression!))}, active");
                    return ExitCodes.Success;
                },
                ct);
        });
        return command;
    }

    /// <summary>The cron and its next fire times in the scheduler's time zone, so that a cron that fires elsewhere than meant shows.</summary>
    private static string Cron(IServiceProvider services, string expression)
    {
        var zoneName = services.GetRequiredService<IOptions<SchedulerOptions>>().Value.TimeZone;
        var zone = TimeZoneInfo.FindSystemTimeZoneById(zoneName);
        var next = CronFireTimes.Next(expression, zone, services.GetRequiredService<TimeProvider>().GetUtcNow(), 3)
            .Select(t => t.ToString("yyyy-MM-dd'T'HH:mm:sszzz", CultureInfo.InvariantCulture));
        return $"cron {expression} (next, {zoneName}: {string.Join(", ", next)})";
    }

    private static async Task<List<Recipient>> ReadRecipientsAsync(string path, CancellationToken cancellationToken)
    {
        await using var file = await InputFile.OpenAsync(path, InputLimits.MaxRecipientsFileBytes, cancellationToken);
        return await RecipientsFile.ReadAsync(file, cancellationToken);
    }

    // Each row is rendered as the fan-out will render it: one it cannot send (a name with a tab in a WhatsApp parameter, a
    // variable the template needs and the row lacks) stops the file here, naming its line. The fan-out skipped such rows
    // with a warning in the scheduler's log, and the campaign read "completed" with recipients who never got it. Without the
    // template, a warning: the campaign waits at its first batch until it is added, and the rows are checked then.
    private static async Task CheckTemplateAsync(CliConsole console, NpgsqlDataSource dataSource, string tenant, string key, string path, List<Recipient> recipients, CancellationToken cancellationToken)
    {
        MessageRenderer renderer;
        try
        {
            renderer = (await TemplateCatalog.LoadAsync(dataSource, cancellationToken)).Get(tenant, key);
        }
        catch (MissingTemplateException)
        {
            // The default tenant is the empty name: quoted, it read "for tenant '' nor the default tenant ''".
            var whose = tenant.Length == 0 ? "the default tenant" : $"tenant '{tenant}' nor for the default tenant";
            await console.Error.WriteLineAsync(
                $"warning: cortex.message_templates has no template '{key}' for {whose}: the campaign will wait at its first batch (error 2011) until the template is added");
            return;
        }

        foreach (var r in recipients)
        {
            if (CampaignFanOut.WhyUnsendable(renderer, tenant, r.Phone, r.Name, r.VariablesJson) is { } why)
            {
                throw new CliException(ExitCodes.StoppedOnBadInput, $"{path}: line {r.Line}: {why}; the scheduler would skip this recipient (template '{key}'), nothing was inserted");
            }
        }
    }

    /// <summary>
    /// Inserts the campaign and its recipients in one transaction. Returns its id, and whether the answer to the commit was
    /// lost and the commit found by asking again: a lost answer said only "unreachable", and the operator who ran the
    /// command again created the campaign twice, so every recipient got it twice.
    /// </summary>
    private static async Task<(long Id, bool AnswerLost)> InsertAsync(
        NpgsqlDataSource dataSource, string name, string templateKey, string tenant, DateTimeOffset? runAt, string? cron, List<Recipient> recipients, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        long id;
        Transaction written;
        await using (var insert = new NpgsqlCommand(
            "INSERT INTO cortex.campaigns (tenant, name, template_key, run_at, cron) VALUES (@tenant, @name, @key, @runAt, @cron) RETURNING id, pg_current_xact_id()::text, pg_backend_pid()",
            connection,
            transaction))
        {
            insert.Parameters.AddWithValue("tenant", tenant);
            insert.Parameters.AddWithValue("name", name);
            insert.Parameters.AddWithValue("key", templateKey);
            insert.Parameters.Add(new NpgsqlParameter<DateTime?>("runAt", NpgsqlDbType.TimestampTz) { TypedValue = runAt?.UtcDateTime });
            insert.Parameters.Add(new NpgsqlParameter<string?>("cron", NpgsqlDbType.Text) { TypedValue = cron });
            await using var row = await insert.ExecuteReaderAsync(cancellationToken);
            await row.ReadAsync(cancellationToken);
            id = row.GetInt64(0);
            written = new Transaction(row.GetString(1), row.GetInt32(2));
        }

        // The campaign and all its recipients commit together: the campaign job never sees it half-filled.
        await using (var copy = await connection.BeginBinaryImportAsync(
            "COPY cortex.campaign_recipients (campaign_id, id, phone, name, variables) FROM STDIN (FORMAT BINARY)", cancellationToken))
        {
            foreach (var r in recipients)
            {
                await copy.StartRowAsync(cancellationToken);
                await copy.WriteAsync(id, NpgsqlDbType.Bigint, cancellationToken);
                await copy.WriteAsync(r.Id, NpgsqlDbType.Bigint, cancellationToken);
                await copy.WriteAsync(r.Phone, NpgsqlDbType.Text, cancellationToken);
                await copy.WriteAsync(r.Name, NpgsqlDbType.Text, cancellationToken);
                if (r.VariablesJson is null)
                {
                    await copy.WriteNullAsync(cancellationToken);
                }
                else
                {
                    await copy.WriteAsync(r.VariablesJson, NpgsqlDbType.Jsonb, cancellationToken);
                }
            }

            await copy.CompleteAsync(cancellationToken);
        }

        try
        {
            try
            {
                await transaction.CommitAsync(cancellationToken);
                return (id, false);
            }
            catch (NpgsqlException ex) when (!cancellationToken.IsCancellationRequested && (ex is not PostgresException || connection.FullState != System.Data.ConnectionState.Open))
            {
                // The COMMIT may have reached PostgreSQL, or not: asked on a new connection, by the transaction's id.
                await connection.DisposeAsync();
                var cause = ex.InnerException?.Message ?? ex.Message;
                return await OutcomeAsync(dataSource, written, cancellationToken) switch
                {
                    true => (id, true),
                    false => throw CliException.Unavailable(
                        $"the connection to PostgreSQL was lost before the commit ({cause}): the campaign was not created and nothing was written; run the command again"),
                    null => throw new CliException(
                        ExitCodes.Partial,
                        $"the connection to PostgreSQL was lost during the commit ({cause}), and PostgreSQL could not be asked whether campaign {id} was created. Do not run the command again yet: once PostgreSQL answers, run 'cortex campaign status {id}', after ending the old session if it is still open (SELECT pg_terminate_backend({written.Session})), or the campaign may still be created when its COMMIT arrives"),
                };
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw new CliException(
                ExitCodes.Cancelled,
                $"interrupted during the commit: campaign {id} may have been created. Before running the command again, run 'cortex campaign status {id}', after ending the old session if it is still open (SELECT pg_terminate_backend({written.Session}))");
        }
    }

    /// <summary>
    /// Whether the transaction committed (true) or not (false), by <c>pg_xact_status</c> on new connections; null when
    /// PostgreSQL cannot be asked for about 10 s. While its session still holds it open (a COMMIT that may still be on its
    /// way), the answer is not final: after about 5 s the session is ended, which a role may do to its own sessions, and a
    /// COMMIT that comes later finds it gone.
    /// </summary>
    private static async Task<bool?> OutcomeAsync(NpgsqlDataSource dataSource, Transaction written, CancellationToken cancellationToken)
    {
        for (var attempt = 0; attempt < 50; attempt++)
        {
            try
            {
                await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
                await using var status = new NpgsqlCommand("SELECT pg_xact_status(@xid::xid8)", connection);
                status.Parameters.AddWithValue("xid", written.Id);
                switch (await status.ExecuteScalarAsync(cancellationToken) as string)
                {
                    case "committed":
                        return true;
                    case "aborted":
                        return false;
                }

                if (attempt >= 25)
                {
                    await using var end = new NpgsqlCommand("SELECT pg_terminate_backend(@pid)", connection);
                    end.Parameters.AddWithValue("pid", written.Session);
                    await end.ExecuteScalarAsync(cancellationToken);
                }
            }
            catch (NpgsqlException)
            {
                // PostgreSQL away, restarting or full, or the session's end refused: asked again until the time is up.
            }

            await Task.Delay(TimeSpan.FromMilliseconds(200), cancellationToken);
        }

        return null;
    }

    /// <summary>A transaction as PostgreSQL names it: its id (<c>xid8</c>, as text) and its session's backend process.</summary>
    private sealed record Transaction(string Id, int Session);

    private static Command ChangeStatus(CliConsole console, GlobalOptions global, string verb, string description, string from, string to)
    {
        var id = new Argument<long>("id") { Description = "Campaign id" };
        var command = new Command(verb, description) { id };
        command.SetAction((parse, ct) => CliHost.RunAsync(
            global.Context(console, parse),
            Needs.Postgres,
            async (services, token) =>
            {
                var campaignId = parse.GetRequiredValue(id);
                await using var update = services.GetRequiredService<NpgsqlDataSource>().CreateCommand(
                    """
                    WITH before AS (SELECT status FROM cortex.campaigns WHERE id = @id FOR UPDATE)
                    UPDATE cortex.campaigns c SET status = CASE WHEN before.status = @from THEN @to ELSE c.status END
                    FROM before WHERE c.id = @id
                    RETURNING before.status
                    """);
                update.Parameters.AddWithValue("id", campaignId);
                update.Parameters.AddWithValue("from", from);
                update.Parameters.AddWithValue("to", to);
                var before = (string?)await update.ExecuteScalarAsync(token);
                if (before is null)
                {
                    await console.Error.WriteLineAsync($"no campaign {campaignId}");
                    return ExitCodes.Partial;
                }

                if (before == to)
                {
                    await console.Out.WriteLineAsync($"campaign {campaignId} is already {to}");
                    return ExitCodes.Success;
                }

                if (before != from)
                {
                    await console.Error.WriteLineAsync($"campaign {campaignId} is {before}: only {(from == "active" ? "an active" : "a paused")} campaign can be {(verb == "pause" ? "paused" : "resumed")}");
                    return ExitCodes.Partial;
                }

                await console.Out.WriteLineAsync($"campaign {campaignId}: {from} → {to}");
                if (to == "active")
                {
                    await WarnIfExpiredAsync(console, services, campaignId, token);
                }

                return ExitCodes.Success;
            },
            ct));
        return command;
    }

    // Resumed as asked; but a firing already more than ExpireAfter past its send time is ended expired by the scheduler's
    // next pass, which fans none of it out: the operator who resumed it expected it to go out. ExpireAfter, the time zone
    // and the quiet hours are the scheduler's own keys (Cortex:Scheduler), read and validated as the scheduler does.
    private static async Task WarnIfExpiredAsync(CliConsole console, IServiceProvider services, long campaignId, CancellationToken cancellationToken)
    {
        var settings = services.GetRequiredService<IOptions<SchedulerOptions>>().Value;
        var now = services.GetRequiredService<TimeProvider>().GetUtcNow();
        var firing = await CampaignFanOut.NextFiringAsync(services.GetRequiredService<NpgsqlDataSource>(), campaignId, settings, now, cancellationToken);
        if (firing is null || now - firing.SendTime <= settings.ExpireAfter)
        {
            return;
        }

        var zone = TimeZoneInfo.FindSystemTimeZoneById(settings.TimeZone);
        string Local(DateTimeOffset time) => TimeZoneInfo.ConvertTime(time, zone).ToString("yyyy-MM-dd'T'HH:mm:sszzz", CultureInfo.InvariantCulture);
        var quiet = firing.SendTime == firing.FireTime ? string.Empty : $", {Local(firing.SendTime)} after the quiet hours";
        var sent = firing.Enqueued > 0 ? $"; the {firing.Enqueued:N0} enqueued before are sent" : string.Empty;
        var then = firing.Cron is null
            ? "The one-shot campaign then becomes completed; to send it still, create it again with the recipients who got nothing"
            : CronFireTimes.Next(firing.Cron, zone, now, 1) is [var next]
                ? $"The campaign goes on at its next firing, {Local(next)}"
                : "Its cron fires no more";
        await console.Error.WriteLineAsync(
            $"warning: campaign {campaignId}'s firing of {Local(firing.FireTime)} is {Terminal.Age(now - firing.SendTime)} past its send time{quiet}, more than Cortex:Scheduler:ExpireAfter ({Terminal.Age(settings.ExpireAfter)}): the scheduler's next pass ends it expired, and {Math.Max(firing.Total - firing.Enqueued - firing.Skipped, 0):N0} of its {firing.Total:N0} recipients get nothing{sent}. {then}.");
    }

    private static Command Status(CliConsole console, GlobalOptions global, Dictionary<Command, string> epilogues)
    {
        var id = new Argument<long?>("id") { Description = "One campaign (default: all)", Arity = ArgumentArity.ZeroOrOne };
        var json = new Option<bool>("--json") { Description = "Print a JSON array" };
        var command = new Command("status", "Status, schedule, recipients and per-run progress of one campaign or all") { id, json };
        epilogues[command] = StatusHelp;
        command.SetAction((parse, ct) => CliHost.RunAsync(
            global.Context(console, parse),
            Needs.Postgres,
            async (services, token) =>
            {
                var campaignId = parse.GetValue(id);
                var campaigns = await CampaignStatus.ReadAsync(services.GetRequiredService<NpgsqlDataSource>(), campaignId, token);
                if (campaignId is { } one && campaigns.Count == 0)
                {
                    await console.Error.WriteLineAsync($"no campaign {one}");
                    return ExitCodes.Partial;
                }

                if (parse.GetValue(json))
                {
                    CampaignStatus.WriteJson(console, campaigns);
                }
                else if (campaigns.Count == 0)
                {
                    await console.Out.WriteLineAsync("no campaigns");
                }
                else
                {
                    CampaignStatus.WriteTables(console, campaigns);
                }

                return ExitCodes.Success;
            },
            ct));
        return command;
    }
}
