using System.Globalization;
using Cortex.Cli.Output;
using Npgsql;
using Spectre.Console;

namespace Cortex.Cli.Campaigns;

/// <summary>A campaign as status shows it, with its runs newest first.</summary>
internal sealed record CampaignInfo(long Id, string Name, string Tenant, string TemplateKey, string Status, DateTimeOffset? RunAt, string? Cron, DateTimeOffset CreatedAt, long Recipients, List<CampaignRun> Runs);

/// <summary>One firing of a campaign and how far its fan-out got.</summary>
internal sealed record CampaignRun(DateTimeOffset FireTime, string Status, int Total, int Enqueued, int Skipped, DateTimeOffset StartedAt, DateTimeOffset? FinishedAt)
{
    /// <summary>(enqueued + skipped) / total, in percent; null when the run had no recipients.</summary>
    public double? Progress => Total == 0 ? null : Math.Round(100.0 * (Enqueued + Skipped) / Total, 1);
}

/// <summary>Reads and prints campaign status from cortex.campaigns, campaign_recipients and campaign_runs.</summary>
internal static class CampaignStatus
{
    public static async Task<List<CampaignInfo>> ReadAsync(NpgsqlDataSource dataSource, long? id, CancellationToken cancellationToken)
    {
        var campaigns = new List<CampaignInfo>();
        await using (var command = dataSource.CreateCommand(
            """
            SELECT c.id, c.name, c.tenant, c.template_key, c.status, c.run_at, c.cron, c.created_at,
                   (SELECT count(*) FROM cortex.campaign_recipients r WHERE r.campaign_id = c.id)
            FROM cortex.campaigns c
            WHERE @id::bigint IS NULL OR c.id = @id
            ORDER BY c.id
            """))
        {
            command.Parameters.Add(new NpgsqlParameter<long?>("id", NpgsqlTypes.NpgsqlDbType.Bigint) { TypedValue = id });
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                campaigns.Add(new CampaignInfo(
                    reader.GetInt64(0),
                    reader.GetString(1),
                    reader.GetString(2),
                    reader.GetString(3),
                    reader.GetString(4),
                    reader.IsDBNull(5) ? null : Utc(reader.GetDateTime(5)),
                    reader.IsDBNull(6) ? null : reader.GetString(6),
                    Utc(reader.GetDateTime(7)),
                    reader.GetInt64(8),
                    []));
            }
        }

        if (campaigns.Count == 0)
        {
            return campaigns;
        }

        var byId = campaigns.ToDictionary(c => c.Id);
        await using (var command = dataSource.CreateCommand(
            """
            SELECT campaign_id, fire_time, status, total, enqueued, skipped, started_at, finished_at
            FROM cortex.campaign_runs
            WHERE campaign_id = ANY(@ids)
            ORDER BY campaign_id, fire_time DESC
            """))
        {
            command.Parameters.AddWithValue("ids", campaigns.Select(c => c.Id).ToArray());
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                byId[reader.GetInt64(0)].Runs.Add(new CampaignRun(
                    Utc(reader.GetDateTime(1)),
                    reader.GetString(2),
                    reader.GetInt32(3),
                    reader.GetInt32(4),
                    reader.GetInt32(5),
                    Utc(reader.GetDateTime(6)),
                    reader.IsDBNull(7) ? null : Utc(reader.GetDateTime(7))));
            }
        }

        return campaigns;
    }

    public static void WriteJson(CliConsole console, List<CampaignInfo> campaigns) => Terminal.WriteJson(console, w =>
    {
        w.WriteStartArray();
        foreach (var c in campaigns)
        {
            w.WriteStartObject();
            w.WriteNumber("id", c.Id);
            w.WriteString("name", c.Name);
            w.WriteString("tenant", c.Tenant);
            w.WriteString("templateKey", c.TemplateKey);
            w.WriteString("status", c.Status);
            w.WriteTime("runAt", c.RunAt);
            w.WriteString("cron", c.Cron);
            w.WriteTime("createdAt", c.CreatedAt);
            w.WriteNumber("recipients", c.Recipients);
            w.WriteStartArray("runs");
            foreach (var r in c.Runs)
            {
                w.WriteStartObject();
                w.WriteTime("fireTime", r.FireTime);
                w.WriteString("status", r.Status);
                w.WriteNumber("total", r.Total);
                w.WriteNumber("enqueued", r.Enqueued);
                w.WriteNumber("skipped", r.Skipped);
                if (r.Progress is { } p)
                {
                    w.WriteNumber("progressPercent", p);
                }
                else
                {
                    w.WriteNull("progressPercent");
                }

                w.WriteTime("startedAt", r.StartedAt);
                w.WriteTime("finishedAt", r.FinishedAt);
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }

        w.WriteEndArray();
    });

    public static void WriteTables(CliConsole console, List<CampaignInfo> campaigns)
    {
        var output = Terminal.Out(console);
        var table = Terminal.Table("Id", "Name", "Tenant", "Template", "Status", "Schedule", "Recipients", "Last run").NoWrap(0);
        table.Columns[6].RightAligned();
        foreach (var c in campaigns)
        {
            var last = c.Runs.FirstOrDefault();
            table.Row(
                N(c.Id),
                c.Name,
                c.Tenant.Length == 0 ? "–" : c.Tenant,
                c.TemplateKey,
                c.Status,
                c.RunAt is { } at ? "once at " + Terminal.Time(at) : "cron " + c.Cron,
                N(c.Recipients),
                last is null ? "none yet" : $"{last.Status} {Percent(last)}");
        }

        output.Write(table);
        foreach (var c in campaigns.Where(c => c.Runs.Count > 0))
        {
            var runs = Terminal.Table("Fire time", "Status", "Total", "Enqueued", "Skipped", "Progress", "Finished");
            for (var i = 2; i <= 5; i++)
            {
                runs.Columns[i].RightAligned();
            }

            runs.Title = new TableTitle(Markup.Escape($"campaign {c.Id} '{c.Name}': runs"));
            foreach (var r in c.Runs)
            {
                runs.Row(Terminal.Time(r.FireTime), r.Status, N(r.Total), N(r.Enqueued), N(r.Skipped), Percent(r), Terminal.Time(r.FinishedAt));
            }

            output.Write(runs);
        }
    }

    private static string Percent(CampaignRun run) =>
        run.Progress is { } p ? p.ToString("0.0", CultureInfo.InvariantCulture) + "%" : "–";

    private static string N(long value) => value.ToString("N0", CultureInfo.InvariantCulture);

    private static DateTimeOffset Utc(DateTime value) => new(DateTime.SpecifyKind(value, DateTimeKind.Utc));
}
