using System.Globalization;
using System.Text.Json;
using Cortex.Cli.Tests.Infrastructure;
using Cortex.LoadTests;
using Npgsql;

namespace Cortex.Cli.Tests.Campaigns;

[Collection(DatabaseCollection.Name)]
public sealed class CampaignCommandsTests(CliFixture fixture) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cortex-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData("name", "+5511900000001,Ana\n+5511900000002,\"Fulano\tde Tal\"\n", "line 2: template.parameters[0]: ")]
    [InlineData("name", "+5511900000001,Ana\n+5511900000002,\"Fulano\n de Tal\"\n", "line 2: template.parameters[0]: ")]
    [InlineData("name,desconto", "+5511900000001,Ana,\"{\"\"desconto\"\": \"\"10%\"\"}\"\n+5511900000002,Bruno\n", "line 2: template 'promo.wa' needs {desconto}, which this row does not have")]
    public async Task Create_RecipientTheFanOutCouldNotSend_ExitsThreeNamingItsLineAndInsertsNothing(string waParameters, string csv, string expected)
    {
        // Rows the scheduler would skip, each with a warning in its own log, were taken: the campaign then read "completed"
        // while those recipients never got it. A WhatsApp template parameter may hold no tab, new line or 5 spaces in a row.
        var cli = await DatabaseAsync();
        await cli.ExecuteAsync(
            "INSERT INTO cortex.message_templates (key, body, wa_name, wa_language, wa_parameters) VALUES ('promo.wa', '', 'promo_fibra', 'pt_BR', @parameters)",
            ("parameters", waParameters.Split(',')));

        var result = await cli.RunAsync("campaign", "create", "--name", "X", "--template", "promo.wa", "--run-at", "2026-11-27T10:00:00Z", "--recipients", Write(csv));

        Assert.True(result.ExitCode == 3, result.ToString());
        Assert.Contains(expected, result.Error, StringComparison.Ordinal);
        Assert.Contains("nothing was inserted", result.Error, StringComparison.Ordinal);
        Assert.Equal(0L, await cli.ScalarAsync<long>("SELECT count(*) FROM cortex.campaigns"));
    }

    // A database with a campaign template the recipients files here can fill: {name} only.
    private async Task<CliDriver> DatabaseAsync()
    {
        var cli = await fixture.DatabaseAsync();
        await cli.ExecuteAsync("INSERT INTO cortex.message_templates (key, body) VALUES ('promo', 'Oi {name|cliente}!')");
        return cli;
    }

    [Fact]
    public async Task Create_OneShotWithRecipients_InsertsTheCampaignAndEveryRecipientAndPrintsTheId()
    {
        var cli = await DatabaseAsync();
        var file = Write("phone,name,variables\n+5511900000001,Ana,\"{\"\"promo\"\": \"\"30% off\"\"}\"\n5521900000002,\"Bruno, o filho\"\n+5531900000003,,\"{\"\"name\"\": \"\"Carla\"\"}\"\n");

        var result = await cli.RunAsync("campaign", "create", "--name", "Black Friday", "--template", "promo", "--tenant", "isp", "--run-at", "2026-11-27T10:00:00-03:00", "--recipients", file);

        Assert.True(result.ExitCode == 0, result.ToString());
        var id = long.Parse(result.Out.Trim(), CultureInfo.InvariantCulture);
        Assert.Equal("Black Friday|promo|isp|active", await cli.ScalarAsync<string>(
            "SELECT name || '|' || template_key || '|' || tenant || '|' || status FROM cortex.campaigns WHERE id = @id", ("id", id)));
        Assert.Equal(new DateTime(2026, 11, 27, 13, 0, 0, DateTimeKind.Utc), await cli.ScalarAsync<DateTime>("SELECT run_at FROM cortex.campaigns WHERE id = @id", ("id", id)));
        Assert.Null(await cli.ScalarAsync<string>("SELECT cron FROM cortex.campaigns WHERE id = @id", ("id", id)));
        Assert.Equal(
            "1|+5511900000001|Ana|{\"promo\": \"30% off\"};2|+5521900000002|Bruno, o filho|;3|+5531900000003||{\"name\": \"Carla\"}",
            await cli.ScalarAsync<string>(
                "SELECT string_agg(id || '|' || phone || '|' || name || '|' || coalesce(variables::text, ''), ';' ORDER BY id) FROM cortex.campaign_recipients WHERE campaign_id = @id", ("id", id)));

        // Row 2's phone was written without '+': taken as international, with a warning, since a national number
        // (11987654321) reads as another country's.
        Assert.Contains("warning: 1 phone(s) have no '+', the first on line 3: each is taken to start with its country code (+55*******0002)", result.Error, StringComparison.Ordinal);

        // Row 3 put its name in the variables, where the fan-out does not look: {name} is the name cell, blank here.
        Assert.Contains("warning: 1 row(s) have a \"name\" key in their variables, the first on line 4: it is not used; {name} is the name cell", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Create_Cron_StoresTheCronAndWarnsWhenTheTemplateIsMissing()
    {
        var cli = await DatabaseAsync();

        var result = await cli.RunAsync("campaign", "create", "--name", "Mensal", "--template", "promo.monthly", "--cron", "0 0 10 1 * ?");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("warning: cortex.message_templates has no template 'promo.monthly' for the default tenant: the campaign will wait at its first batch (error 2011)", result.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("''", result.Error, StringComparison.Ordinal);
        Assert.Contains(
            "cron 0 0 10 1 * ? (next, America/Sao_Paulo: 2026-12-01T10:00:00-03:00, 2027-01-01T10:00:00-03:00, 2027-02-01T10:00:00-03:00), active",
            result.Error,
            StringComparison.Ordinal);
        Assert.Equal("0 0 10 1 * ?", await cli.ScalarAsync<string>("SELECT cron FROM cortex.campaigns"));
        Assert.Equal(0L, await cli.ScalarAsync<long>("SELECT count(*) FROM cortex.campaign_recipients"));
    }

    [Fact]
    public async Task Create_TemplateMissingForANamedTenant_WarnsNamingItAndTheDefaultTenant()
    {
        // The default tenant is the empty name: the warning quoted it as "nor the default tenant ''".
        var cli = await DatabaseAsync();

        var result = await cli.RunAsync("campaign", "create", "--name", "Mensal", "--template", "promo.monthly", "--tenant", "isp", "--cron", "0 0 10 1 * ?");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("warning: cortex.message_templates has no template 'promo.monthly' for tenant 'isp' nor for the default tenant: the campaign will wait", result.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("''", result.Error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("+5511900000001,Ana\n+5511900000002,Bruno\n+551190,Carla\n", "line 3: phone: ")]
    [InlineData("telefone,nome\n+5511900000001,Ana\n", "line 1: phone: 'telefone' is not E.164: '+', then 8 to 15 digits, not starting with 0 (a header row is taken as one only when its first cell is 'phone')")]
    [InlineData("+5511900000001,Ana\n+5511900000002,Bruno,\"[1,2]\"\n", "line 2: variables: must be a JSON object")]
    [InlineData("+5511900000001,Ana\n+5511900000002,Bruno,{not json}\n", "line 2: variables: invalid JSON: 'n' is an invalid start of a property name. Expected a '\"'.; nothing was inserted")]
    [InlineData("+5511900000001,Ana,{},extra\n", "line 1: expected phone,name[,variables] but the row has 4 cells")]
    [InlineData("+5511900000001,\"Ana\n", "line 1: a quoted field is never closed")]
    [InlineData("+5511900000001,Ana\n5511900000001,Ana de novo\n", "line 2: phone: +55*******0001 is already on line 1; it would get the campaign twice")]
    [InlineData("", "no recipients in the file")]
    public async Task Create_BadRecipientLine_ExitsThreeAndInsertsNothing(string csv, string expected)
    {
        var cli = await DatabaseAsync();

        var result = await cli.RunAsync("campaign", "create", "--name", "X", "--template", "promo", "--run-at", "2026-11-27T10:00:00Z", "--recipients", Write(csv));

        Assert.True(result.ExitCode == 3, result.ToString());
        Assert.Contains(expected, result.Error, StringComparison.Ordinal);
        Assert.Contains("nothing was inserted", result.Error, StringComparison.Ordinal);
        Assert.Empty(result.Out);
        Assert.Equal(0L, await cli.ScalarAsync<long>("SELECT count(*) FROM cortex.campaigns"));
    }

    [Fact]
    public async Task Create_RunAtAMomentAgo_IsTakenAsNow()
    {
        var cli = await DatabaseAsync();

        var result = await cli.RunAsync("campaign", "create", "--name", "Agora", "--template", "promo", "--run-at", "2026-11-22T08:56:00-03:00");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal(1L, await cli.ScalarAsync<long>("SELECT count(*) FROM cortex.campaigns"));
    }

    [Theory]
    [InlineData("exactly one of --run-at (one-shot) and --cron", "--run-at", "2026-11-27T10:00:00Z", "--cron", "0 0 10 1 * ?")]
    [InlineData("exactly one of --run-at (one-shot) and --cron")]
    [InlineData("--cron: '0 0 25 * * ?' is not a Quartz cron expression", "--cron", "0 0 25 * * ?")]
    [InlineData("--run-at: '2026-11-27 10:00' is not an ISO-8601 instant with an offset", "--run-at", "2026-11-27 10:00")]
    [InlineData("--run-at: 2025-11-27T10:00:00-03:00 has passed (it is 2026-11-22T12:00:00Z): the campaign would go out at once", "--run-at", "2025-11-27T10:00:00-03:00")]
    [InlineData("--run-at: 2026-11-22T11:54:59+00:00 has passed", "--run-at", "2026-11-22T11:54:59Z")]
    [InlineData("--cron: '0 0 10 30 2 ?' never fires: no date from now on matches it", "--cron", "0 0 10 30 2 ?")]
    [InlineData("--cron: '0 0 10 1 1 ? 2020' never fires", "--cron", "0 0 10 1 1 ? 2020")]
    [InlineData("--tenant: must be 1 to 64 characters", "--tenant", "ISP Sul", "--cron", "0 0 10 1 * ?")]
    public async Task Create_BadOptions_ExitsTwoAndInsertsNothing(string expected, params string[] options)
    {
        var cli = await DatabaseAsync();

        var result = await cli.RunAsync(["campaign", "create", "--name", "X", "--template", "promo", .. options]);

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains(expected, result.Error, StringComparison.Ordinal);
        Assert.Equal(0L, await cli.ScalarAsync<long>("SELECT count(*) FROM cortex.campaigns"));
    }

    [Fact]
    public async Task PauseResume_ChangeTheStatusTheFanOutReads()
    {
        var cli = await DatabaseAsync();
        var id = await CreateAsync(cli);

        var paused = await cli.RunAsync("campaign", "pause", id);
        var statusPaused = await cli.ScalarAsync<string>("SELECT status FROM cortex.campaigns");
        var pausedAgain = await cli.RunAsync("campaign", "pause", id);
        var resumed = await cli.RunAsync("campaign", "resume", id);

        Assert.True(paused.ExitCode == 0, paused.ToString());
        Assert.Equal($"campaign {id}: active → paused" + Environment.NewLine, paused.Out);
        Assert.Equal("paused", statusPaused);
        Assert.Equal(0, pausedAgain.ExitCode);
        Assert.Contains("already paused", pausedAgain.Out, StringComparison.Ordinal);
        Assert.Equal(0, resumed.ExitCode);
        Assert.Equal("active", await cli.ScalarAsync<string>("SELECT status FROM cortex.campaigns"));
    }

    [Fact]
    public async Task PauseResume_FinishedOrMissingCampaign_ExitsOneAndChangesNothing()
    {
        var cli = await DatabaseAsync();
        var id = await CreateAsync(cli);
        await cli.ExecuteAsync("UPDATE cortex.campaigns SET status = 'completed'");

        var resume = await cli.RunAsync("campaign", "resume", id);
        var pause = await cli.RunAsync("campaign", "pause", id);
        var missing = await cli.RunAsync("campaign", "pause", "999");

        Assert.Equal(1, resume.ExitCode);
        Assert.Contains($"campaign {id} is completed: only a paused campaign can be resumed", resume.Error, StringComparison.Ordinal);
        Assert.Equal(1, pause.ExitCode);
        Assert.Equal("completed", await cli.ScalarAsync<string>("SELECT status FROM cortex.campaigns"));
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains("no campaign 999", missing.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Resume_RunPausedLongerThanExpireAfter_ResumesAndWarnsThatTheRunEndsExpired()
    {
        // A one-shot paused on the 20th at 10:00 after 80 of its 200 recipients, resumed two days later: resume said
        // "paused → active" and nothing more, and the scheduler's next pass ended the run expired.
        var cli = await DatabaseAsync();
        var id = await CreateAsync(cli);
        await cli.ExecuteAsync(
            """
            UPDATE cortex.campaigns SET run_at = '2026-11-20 13:00Z', status = 'paused' WHERE id = @id;
            INSERT INTO cortex.campaign_runs (campaign_id, fire_time, status, total, enqueued, skipped) VALUES (@id, '2026-11-20 13:00Z', 'running', 200, 70, 10);
            """,
            ("id", long.Parse(id, CultureInfo.InvariantCulture)));

        var resumed = await cli.RunAsync("campaign", "resume", id);

        Assert.True(resumed.ExitCode == 0, resumed.ToString());
        Assert.Equal($"campaign {id}: paused → active" + Environment.NewLine, resumed.Out);
        Assert.Equal("active", await cli.ScalarAsync<string>("SELECT status FROM cortex.campaigns"));
        Assert.Equal(
            $"warning: campaign {id}'s firing of 2026-11-20T10:00:00-03:00 is 1d 23h past its send time, more than Cortex:Scheduler:ExpireAfter (12h 0m): the scheduler's next pass ends it expired, and 120 of its 200 recipients get nothing; the 70 enqueued before are sent. The one-shot campaign then becomes completed; to send it still, create it again with the recipients who got nothing." + Environment.NewLine,
            resumed.Error);

        // The CLI reads the scheduler's ExpireAfter: at three days the run still goes on, and nothing is said.
        await cli.ExecuteAsync("UPDATE cortex.campaigns SET status = 'paused'");
        cli.Environment["Cortex__Scheduler__ExpireAfter"] = "3.00:00:00";
        var withinLimit = await cli.RunAsync("campaign", "resume", id);
        Assert.True(withinLimit.ExitCode == 0, withinLimit.ToString());
        Assert.Empty(withinLimit.Error);
    }

    [Theory]
    [InlineData("0 0 20 * * ?", "warning: campaign {0}'s firing of 2026-11-21T20:00:00-03:00 is 13h 0m past its send time, more than Cortex:Scheduler:ExpireAfter (12h 0m): the scheduler's next pass ends it expired, and 2 of its 2 recipients get nothing. The campaign goes on at its next firing, 2026-11-22T20:00:00-03:00.")]
    [InlineData("0 0 22 * * ?", "")]
    public async Task Resume_CronFiringMissedWhilePaused_WarnsWhenTheScheduleWouldStartItAlreadyExpired(string cron, string expected)
    {
        // Paused since before yesterday's firing, resumed at 09:00: the scheduler starts a run for the firing it missed and
        // ends it expired when that firing's send time is more than 12 h past. At 20:00 that is 13 h; at 22:00, in the
        // quiet hours, it is today's 08:00, an hour ago, and the run goes out.
        var cli = await DatabaseAsync();
        var created = await cli.RunAsync("campaign", "create", "--name", "Diária", "--template", "promo", "--cron", cron, "--recipients", Write("+5511900000001,Ana\n+5511900000002,Bruno\n"));
        Assert.True(created.ExitCode == 0, created.ToString());
        var id = created.Out.Trim();
        await cli.ExecuteAsync("UPDATE cortex.campaigns SET status = 'paused', created_at = '2026-11-20 12:00Z'");

        var resumed = await cli.RunAsync("campaign", "resume", id);

        Assert.True(resumed.ExitCode == 0, resumed.ToString());
        Assert.Equal("active", await cli.ScalarAsync<string>("SELECT status FROM cortex.campaigns"));
        Assert.Equal(expected.Length == 0 ? string.Empty : string.Format(CultureInfo.InvariantCulture, expected, id) + Environment.NewLine, resumed.Error);
    }

    [Fact]
    public async Task Status_ShowsScheduleRecipientsAndPerRunProgress()
    {
        var cli = await DatabaseAsync();
        var id = await CreateAsync(cli, "+5511900000001,Ana\n+5511900000002,Bruno\n");
        await cli.ExecuteAsync(
            """
            INSERT INTO cortex.campaign_runs (campaign_id, fire_time, status, total, enqueued, skipped, finished_at) VALUES
                (@id, '2026-11-01 13:00Z', 'completed', 200, 190, 10, '2026-11-01 13:05Z'),
                (@id, '2026-12-01 13:00Z', 'running', 200, 50, 10, NULL)
            """,
            ("id", long.Parse(id, CultureInfo.InvariantCulture)));

        var table = await cli.RunAsync("campaign", "status");
        var json = await cli.RunAsync("campaign", "status", id, "--json");

        Assert.True(table.ExitCode == 0, table.ToString());
        Assert.Contains("running 30.0%", table.Out, StringComparison.Ordinal);
        Assert.Contains("100.0%", table.Out, StringComparison.Ordinal);
        Assert.DoesNotContain("5511900000001", table.Out, StringComparison.Ordinal);
        using var document = JsonDocument.Parse(json.Out);
        var campaign = Assert.Single(document.RootElement.EnumerateArray());
        Assert.Equal("active", campaign.GetProperty("status").GetString());
        Assert.Equal(2, campaign.GetProperty("recipients").GetInt64());
        Assert.Equal(new DateTimeOffset(2026, 11, 27, 13, 0, 0, TimeSpan.Zero), campaign.GetProperty("runAt").GetDateTimeOffset());
        var runs = campaign.GetProperty("runs").EnumerateArray().ToList();
        Assert.Equal(["running", "completed"], runs.Select(r => r.GetProperty("status").GetString()));
        Assert.Equal((200, 50, 10, 30.0), (runs[0].GetProperty("total").GetInt32(), runs[0].GetProperty("enqueued").GetInt32(), runs[0].GetProperty("skipped").GetInt32(), runs[0].GetProperty("progressPercent").GetDouble()));
        Assert.Equal(JsonValueKind.Null, runs[0].GetProperty("finishedAt").ValueKind);
    }

    [Fact]
    public async Task Status_ExpiredRun_SaysExpiredWithHowFarItGot()
    {
        // The scheduler gave up on the firing two days late, after 80 of 200 (docs/data-model.md, campaigns).
        var cli = await DatabaseAsync();
        var id = await CreateAsync(cli, "+5511900000001,Ana\n");
        await cli.ExecuteAsync(
            """
            INSERT INTO cortex.campaign_runs (campaign_id, fire_time, status, total, enqueued, skipped, finished_at)
            VALUES (@id, '2026-11-27 13:00Z', 'expired', 200, 70, 10, '2026-11-29 13:00Z');
            UPDATE cortex.campaigns SET status = 'completed' WHERE id = @id;
            """,
            ("id", long.Parse(id, CultureInfo.InvariantCulture)));

        var table = await cli.RunAsync("campaign", "status");
        var json = await cli.RunAsync("campaign", "status", id, "--json");
        var help = await cli.RunAsync("campaign", "status", "--help");

        Assert.True(table.ExitCode == 0, table.ToString());
        Assert.Contains("expired 40.0%", table.Out, StringComparison.Ordinal);
        using var document = JsonDocument.Parse(json.Out);
        var run = Assert.Single(Assert.Single(document.RootElement.EnumerateArray()).GetProperty("runs").EnumerateArray());
        Assert.Equal(("expired", 70, 40.0), (run.GetProperty("status").GetString(), run.GetProperty("enqueued").GetInt32(), run.GetProperty("progressPercent").GetDouble()));
        Assert.Contains("completed, cancelled, expired)", help.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Status_UnknownId_ExitsOne()
    {
        var cli = await DatabaseAsync();

        var result = await cli.RunAsync("campaign", "status", "42");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("no campaign 42", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Create_AnswerToTheCommitLost_AsksAgainAndSaysTheCampaignWasCreatedSoNobodyCreatesItTwice()
    {
        // The COMMIT reaches PostgreSQL, and the connection is lost before its answer comes back.
        var cli = await DatabaseAsync();
        await using var proxy = new LoopbackProxy(new NpgsqlConnectionStringBuilder(cli.Postgres).Port);
        proxy.CutWhenClientSends("COMMIT\0"u8.ToArray(), CutMode.Deliver);

        var result = await ThroughAsync(proxy, cli, "+5511900000001,Ana\n+5521900000002,Bruno\n");

        // Before: "PostgreSQL is unreachable", exit 69, and the campaign with its recipients committed all the same.
        Assert.True(result.ExitCode == 0, result.ToString());
        var id = long.Parse(result.Out.Trim(), CultureInfo.InvariantCulture);
        Assert.Contains($"campaign {id} is there: created once, do not create it again", result.Error, StringComparison.Ordinal);
        Assert.Equal(1L, await cli.ScalarAsync<long>("SELECT count(*) FROM cortex.campaigns"));
        Assert.Equal(2L, await cli.ScalarAsync<long>("SELECT count(*) FROM cortex.campaign_recipients WHERE campaign_id = @id", ("id", id)));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Create_CommitNeverArrived_SaysNothingWasCreatedAndToRunItAgain(bool networkSilent)
    {
        // The connection closes before the COMMIT gets through; or the network stops carrying anything, both ends left
        // open: the old session then holds its transaction, the COMMIT could still arrive, and the CLI gives up waiting
        // for the answer after 2 s. It ends that session, so that its answer is final: a COMMIT that comes later finds it
        // gone.
        var cli = await DatabaseAsync();
        await using var proxy = new LoopbackProxy(new NpgsqlConnectionStringBuilder(cli.Postgres).Port);
        proxy.CutWhenClientSends("COMMIT\0"u8.ToArray(), networkSilent ? CutMode.Silence : CutMode.Drop);

        var result = await ThroughAsync(proxy, cli, "+5511900000001,Ana\n", commandTimeout: "00:00:02");

        Assert.True(result.ExitCode == 69, result.ToString());
        Assert.Contains("the campaign was not created and nothing was written; run the command again", result.Error, StringComparison.Ordinal);
        Assert.Equal(0L, await cli.ScalarAsync<long>("SELECT count(*) FROM cortex.campaigns"));
        Assert.Equal(0L, await cli.ScalarAsync<long>("SELECT count(*) FROM cortex.campaign_recipients"));
        Assert.Equal(0L, await cli.ScalarAsync<long>(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND state = 'idle in transaction'"));
    }

    private Task<CliResult> ThroughAsync(LoopbackProxy proxy, CliDriver cli, string recipients, string? commandTimeout = null)
    {
        var driver = new CliDriver(cli.Time) { Postgres = new NpgsqlConnectionStringBuilder(cli.Postgres) { Port = proxy.Port }.ConnectionString };
        if (commandTimeout is not null)
        {
            driver.Environment["Cortex__Postgres__CommandTimeout"] = commandTimeout;
        }

        return driver.RunAsync("campaign", "create", "--name", "Promo", "--template", "promo", "--run-at", "2026-11-27T10:00:00-03:00", "--recipients", Write(recipients));
    }

    private async Task<string> CreateAsync(CliDriver cli, string? recipients = null)
    {
        string[] args = ["campaign", "create", "--name", "Promo", "--template", "promo", "--run-at", "2026-11-27T10:00:00-03:00"];
        var result = await cli.RunAsync(recipients is null ? args : [.. args, "--recipients", Write(recipients)]);
        Assert.True(result.ExitCode == 0, result.ToString());
        return result.Out.Trim();
    }

    private string Write(string content)
    {
        var path = Path.Combine(_dir, Guid.NewGuid().ToString("N") + ".csv");
        File.WriteAllText(path, content);
        return path;
    }
}
