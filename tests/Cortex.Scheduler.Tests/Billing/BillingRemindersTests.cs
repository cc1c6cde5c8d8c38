using Cortex.Scheduler.Tests.Infrastructure;
using Cortex.Shared.Contract;

namespace Cortex.Scheduler.Tests.Billing;

/// <summary>Billing reminders against real PostgreSQL and Redis: who gets one, what it says, and that nobody gets two.</summary>
public sealed class BillingRemindersTests(SchedulerFixture fixture) : IClassFixture<SchedulerFixture>
{
    // 09:00 in São Paulo (UTC-3): the default cron's firing time; the local date is 2026-11-20.
    private static readonly DateTimeOffset s_morning = new(2026, 11, 20, 12, 0, 0, TimeSpan.Zero);
    private static readonly DateOnly s_today = new(2026, 11, 20);

    [Fact]
    public async Task RunAsync_OpenChargesAtEachOffset_OneReminderEachWithItsKey()
    {
        await using var h = await fixture.CreateHarnessAsync(s_morning);
        await SeedChargeAsync(h, 1, "2026-11-23");                       // D-3
        await SeedChargeAsync(h, 2, "2026-11-20");                       // D0
        await SeedChargeAsync(h, 3, "2026-11-19");                       // D+1
        await SeedChargeAsync(h, 4, "2026-11-13");                       // D+7
        await SeedChargeAsync(h, 5, "2026-11-22");                       // D-2: not an offset
        await SeedChargeAsync(h, 6, "2026-11-20", status: "paid");
        await SeedChargeAsync(h, 7, "2026-11-20", status: "cancelled");
        await SeedChargeAsync(h, 8, "2026-11-20", phone: "+5511900000008");
        await h.ExecuteAsync("INSERT INTO cortex.opt_outs (phone) VALUES ('+5511900000008')");

        var result = await h.Billing.RunAsync(s_today, default);

        var ids = (await h.QueuedAsync()).Select(m => m.Envelope.Id).Order().ToArray();
        Assert.Equal(["billing:1:-3:2026-11-23", "billing:2:0:2026-11-20", "billing:3:1:2026-11-19", "billing:4:7:2026-11-13"], ids);
        Assert.Equal((5, 4, 1, 4), (result.Due, result.New, result.OptedOut, result.Published));
    }

    [Fact]
    public async Task RunAsync_TenantOptOut_SkipsOnlyThatTenant()
    {
        await using var h = await fixture.CreateHarnessAsync(s_morning);
        await SeedChargeAsync(h, 1, "2026-11-20", tenant: "isp", phone: "+5511900000001");
        await SeedChargeAsync(h, 2, "2026-11-20", tenant: "clinic", phone: "+5511900000001");
        await h.ExecuteAsync("INSERT INTO cortex.opt_outs (tenant, phone) VALUES ('isp', '+5511900000001')");

        await h.Billing.RunAsync(s_today, default);

        var queued = Assert.Single(await h.QueuedAsync());
        Assert.Equal("clinic", queued.Envelope.Tenant);
    }

    [Fact]
    public async Task RunAsync_RendersNameAmountInReaisAndDueDate()
    {
        await using var h = await fixture.CreateHarnessAsync(s_morning);
        await SeedChargeAsync(h, 1, "2026-11-23", amount: 1234.5m, name: "Ana Souza");

        await h.Billing.RunAsync(s_today, default);

        var envelope = Assert.Single(await h.QueuedAsync()).Envelope;
        Assert.Equal("Olá Ana Souza, sua fatura de R$ 1.234,50 vence em 23/11/2026.", envelope.Text);
        Assert.Equal(("+5511900000001", "billing", Priority.Normal), (envelope.To, envelope.Kind, envelope.Priority));
        Assert.Equal(s_morning + TimeSpan.FromHours(12), envelope.ExpiresAt);
    }

    [Fact]
    public async Task RunAsync_TemplateWithWhatsAppName_SendsTheApprovedTemplateWithParameters()
    {
        await using var h = await fixture.CreateHarnessAsync(s_morning);
        await h.ExecuteAsync(
            """
            INSERT INTO cortex.message_templates (tenant, key, body, wa_name, wa_language, wa_parameters)
            VALUES ('isp', 'billing.due', 'unused', 'fatura_vence_hoje', 'pt_BR', '{name,amount,dueDate}')
            """);
        await SeedChargeAsync(h, 1, "2026-11-20", tenant: "isp", amount: 99.9m, name: "Bruno");
        await SeedChargeAsync(h, 2, "2026-11-20", tenant: "clinic", amount: 10m, name: "Carla");

        await h.Billing.RunAsync(s_today, default);

        var byTenant = (await h.QueuedAsync()).ToDictionary(m => m.Envelope.Tenant!, m => m.Envelope);
        Assert.Equal(new MessageTemplate("fatura_vence_hoje", "pt_BR", ["Bruno", "R$ 99,90", "20/11/2026"]), byTenant["isp"].Template, TemplateComparer.Instance);
        Assert.Null(byTenant["isp"].Text);
        Assert.Equal("Olá Carla, sua fatura de R$ 10,00 vence hoje (20/11/2026).", byTenant["clinic"].Text);
    }

    [Fact]
    public async Task RunAsync_SameDayAgain_EnqueuesNothingNew()
    {
        await using var h = await fixture.CreateHarnessAsync(s_morning);
        await SeedManyAsync(h, count: 250, dueDate: "2026-11-20");

        var first = await h.Billing.RunAsync(s_today, default);
        var second = await h.Billing.RunAsync(s_today, default);

        Assert.Equal((250, 250), (first.New, first.Published));
        Assert.Equal((250, 0, 0), (second.Due, second.New, second.Published));
        Assert.Equal(250, (await h.QueuedAsync()).Count);
    }

    [Fact]
    public async Task RunAsync_TwoReplicasAtTheSameTime_EveryReminderExactlyOnce()
    {
        await using var h = await fixture.CreateHarnessAsync(s_morning, new() { ["Cortex:Scheduler:BatchSize"] = "100" });
        await SeedManyAsync(h, count: 1000, dueDate: "2026-11-20");
        await SeedManyAsync(h, count: 1000, dueDate: "2026-11-23", firstId: 10_000);
        var replica = h.Replica();

        var results = await Task.WhenAll(h.Billing.RunAsync(s_today, default), replica.Billing.RunAsync(s_today, default));

        var ids = (await h.QueuedAsync()).Select(m => m.Envelope.Id).ToList();
        Assert.Equal(2000, ids.Count);
        Assert.Equal(2000, ids.Distinct().Count());
        Assert.Equal(2000, results.Sum(r => r.New));
        Assert.Equal(2000, results.Sum(r => r.Published));
    }

    [Fact]
    public async Task RunAsync_InsideQuietHours_WaitsInTheDelayedSetUntilTheWindowOpens()
    {
        // 06:30 in São Paulo: inside the default 21:00–08:00 quiet hours; the window opens at 08:00 local = 11:00 UTC.
        var dawn = new DateTimeOffset(2026, 11, 20, 9, 30, 0, TimeSpan.Zero);
        await using var h = await fixture.CreateHarnessAsync(dawn);
        await SeedChargeAsync(h, 1, "2026-11-20");

        await h.Billing.RunAsync(s_today, default);

        var queued = Assert.Single(await h.QueuedAsync());
        var opens = new DateTimeOffset(2026, 11, 20, 11, 0, 0, TimeSpan.Zero);
        Assert.Equal(opens, queued.DueAt);
        Assert.Equal(opens, queued.Envelope.NotBefore);
        Assert.Equal(opens + TimeSpan.FromHours(12), queued.Envelope.ExpiresAt);
        Assert.Equal("21:00-08:00 America/Sao_Paulo", queued.Envelope.QuietHours?.ToString());
    }

    [Fact]
    public async Task RunAsync_InTheEveningsQuietHours_WritesNoReminderThatCountsDaysForTheNextMorning()
    {
        // 22:30 in São Paulo: the window opens at 08:00 on the 21st. Then "vence hoje (20/11/2026)" is a day wrong, an
        // hour before that charge's D+1 reminder, and so is a tenant's "vence em 3 dias": not written, and counted. The
        // default D-3 text names the due date ("vence em 23/11/2026"), right on the 21st: it waits for the morning.
        var night = new DateTimeOffset(2026, 11, 21, 1, 30, 0, TimeSpan.Zero);
        await using var h = await fixture.CreateHarnessAsync(night);
        await h.ExecuteAsync("INSERT INTO cortex.message_templates (tenant, key, body) VALUES ('isp', 'billing.before', 'Olá {name}, sua fatura vence em {days} dias.')");
        await SeedChargeAsync(h, 1, "2026-11-20");
        await SeedChargeAsync(h, 2, "2026-11-23");
        await SeedChargeAsync(h, 3, "2026-11-23", tenant: "isp");

        var result = await h.Billing.RunAsync(s_today, default);

        var queued = Assert.Single(await h.QueuedAsync());
        var opens = new DateTimeOffset(2026, 11, 21, 11, 0, 0, TimeSpan.Zero);
        Assert.Equal(("billing:2:-3:2026-11-23", opens, opens + TimeSpan.FromHours(12)), (queued.Envelope.Id, queued.DueAt, queued.Envelope.ExpiresAt));
        Assert.Equal((3, 1, 2, 1), (result.Due, result.New, result.Late, result.Published));
        Assert.Equal(opens, result.LateSendTime);
    }

    [Fact]
    public async Task RunAsync_ExpireAfterReachingPastMidnight_ADueDayReminderExpiresAtTheEndOfTheDay()
    {
        // 20:00 in São Paulo, no quiet hours: 12 h of ExpireAfter would let a backlog send "vence hoje" until 08:00 on
        // the 21st. It expires at midnight local (03:00 UTC) instead. The D+1 text names the date and keeps its 12 h.
        var evening = new DateTimeOffset(2026, 11, 20, 23, 0, 0, TimeSpan.Zero);
        await using var h = await fixture.CreateHarnessAsync(evening, new() { ["Cortex:Scheduler:QuietHours:Start"] = "00:00", ["Cortex:Scheduler:QuietHours:End"] = "00:00" });
        await SeedChargeAsync(h, 1, "2026-11-20");
        await SeedChargeAsync(h, 2, "2026-11-19");

        await h.Billing.RunAsync(s_today, default);

        var expiry = (await h.QueuedAsync()).ToDictionary(m => m.Envelope.Id, m => m.Envelope.ExpiresAt);
        Assert.Equal(new DateTimeOffset(2026, 11, 21, 3, 0, 0, TimeSpan.Zero), expiry["billing:1:0:2026-11-20"]);
        Assert.Equal(evening + TimeSpan.FromHours(12), expiry["billing:2:1:2026-11-19"]);
    }

    [Fact]
    public void StartOf_ADayWhoseMidnightDaylightSavingSkips_IsItsFirstInstant()
    {
        // São Paulo's clocks went from 00:00 to 01:00 on 2018-11-04 (UTC-3 to UTC-2): that day began at 03:00 UTC.
        var saoPaulo = TimeZoneInfo.FindSystemTimeZoneById("America/Sao_Paulo");

        Assert.Equal(new DateTimeOffset(2018, 11, 4, 3, 0, 0, TimeSpan.Zero), Cortex.Scheduler.Billing.BillingReminders.StartOf(new DateOnly(2018, 11, 4), saoPaulo));
        Assert.Equal(new DateTimeOffset(2026, 11, 21, 3, 0, 0, TimeSpan.Zero), Cortex.Scheduler.Billing.BillingReminders.StartOf(new DateOnly(2026, 11, 21), saoPaulo));
    }

    [Fact]
    public async Task RunAsync_RedisDownAfterCommit_RowsStayPendingAndTheRepairPushesThemOnce()
    {
        await using var h = await fixture.CreateHarnessAsync(s_morning);
        await SeedManyAsync(h, count: 300, dueDate: "2026-11-20");
        await using var redis = await Cortex.Testing.RedisServer.StartAsync();
        using var connection = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(redis.Configuration + ",syncTimeout=1000");
        await using var broken = new SchedulerHarness(h.ConnectionString, connection, h.QueueName, h.Clock, h.Settings);
        await redis.KillAsync();

        await Assert.ThrowsAnyAsync<Exception>(() => broken.Billing.RunAsync(s_today, default));
        Assert.Equal(300L, await h.Ledger.CountPendingAsync(default));

        var repaired = await h.Ledger.PublishPendingAsync(100, default);

        Assert.Equal(300, repaired);
        Assert.Equal(0L, await h.Ledger.CountPendingAsync(default));
        Assert.Equal(300, (await h.QueuedAsync()).Select(m => m.Envelope.Id).Distinct().Count());
    }

    [Fact]
    public async Task RunAsync_RowThatMakesNoValidMessage_IsSkippedAndTheRestGoOut()
    {
        await using var h = await fixture.CreateHarnessAsync(s_morning);
        await SeedChargeAsync(h, 1, "2026-11-20");
        await SeedChargeAsync(h, 2, "2026-11-20");

        // A template over WhatsApp's 4,096-character limit once rendered for this customer only.
        await h.ExecuteAsync("UPDATE cortex.charges SET customer_name = repeat('x', 5000) WHERE id = 2");

        var result = await h.Billing.RunAsync(s_today, default);

        Assert.Equal(1, result.Invalid);
        Assert.Equal("billing:1:0:2026-11-20", Assert.Single(await h.QueuedAsync()).Envelope.Id);
    }

    // A NULL element in wa_parameters once threw out of the run, holding back every tenant's reminders: the other tenants'
    // go out. And a broken template is not a bad row: its charges, once skipped as invalid, ended the run as a success and
    // the day was done (billing fires once a day), so they were never reminded. Now the run fails and they wait for the fix.
    [Fact]
    public Task RunAsync_OneTenantsTemplateHasANullParameter_ItsRowsAreSkippedAndTheOtherTenantsGoOut() =>
        AssertBrokenOverrideHoldsOnlyItsChargesAsync("'{name,NULL,dueDate}'", "template 'billing.due' for tenant 'isp': template 'billing.due' has NULL as WhatsApp parameter 2");

    [Fact]
    public Task RunAsync_OneTenantsTemplateNamesAVariableBillingLacks_ItsChargesWaitForTheFixAndTheOtherTenantsGoOut() =>
        AssertBrokenOverrideHoldsOnlyItsChargesAsync("'{name,plan}'", "template 'billing.due' for tenant 'isp': it needs {plan}, which billing reminders do not have");

    [Fact]
    public async Task RunAsync_DueTemplateMissing_FailsNamingItAndTheOtherOffsetsGoOut()
    {
        await using var h = await fixture.CreateHarnessAsync(s_morning);
        await h.ExecuteAsync("UPDATE cortex.message_templates SET key = 'billing.due.old' WHERE tenant = '' AND key = 'billing.due'");
        await SeedChargeAsync(h, 1, "2026-11-23");                       // D-3: billing.before
        await SeedChargeAsync(h, 2, "2026-11-20");                       // D0: billing.due, missing
        await SeedChargeAsync(h, 3, "2026-11-20");

        var failed = await Assert.ThrowsAnyAsync<InvalidOperationException>(() => h.Billing.RunAsync(s_today, default));

        Assert.Contains(
            "2 charges got no reminder, since their template cannot be rendered (fix it in cortex.message_templates): template 'billing.due' of the default tenant: cortex.message_templates has no row for key 'billing.due' for the default tenant",
            failed.Message,
            StringComparison.Ordinal);
        Assert.Equal("billing:1:-3:2026-11-23", Assert.Single(await h.QueuedAsync()).Envelope.Id);

        await h.ExecuteAsync("UPDATE cortex.message_templates SET key = 'billing.due' WHERE tenant = '' AND key = 'billing.due.old'");
        var again = await h.Billing.RunAsync(s_today, default);

        Assert.Equal((2, 0), (again.New, again.Invalid));
        Assert.Equal(3, (await h.QueuedAsync()).Select(m => m.Envelope.Id).Distinct().Count());
    }

    [Fact]
    public async Task RunAsync_OneCustomersBlankNameInAWhatsAppParameter_OnlyThatRowIsSkipped()
    {
        // The template is fine, the row is not: skipped and counted as invalid, and the run (and the day) succeeds.
        await using var h = await fixture.CreateHarnessAsync(s_morning);
        await h.ExecuteAsync(
            """
            INSERT INTO cortex.message_templates (tenant, key, body, wa_name, wa_language, wa_parameters)
            VALUES ('isp', 'billing.due', 'unused', 'fatura_vence_hoje', 'pt_BR', '{name,amount}')
            """);
        await SeedChargeAsync(h, 1, "2026-11-20", tenant: "isp", name: " ");
        await SeedChargeAsync(h, 2, "2026-11-20", tenant: "isp");

        var result = await h.Billing.RunAsync(s_today, default);

        Assert.Equal(1, result.Invalid);
        Assert.Equal("billing:2:0:2026-11-20", Assert.Single(await h.QueuedAsync()).Envelope.Id);
    }

    internal static Task SeedChargeAsync(
        SchedulerHarness h, long id, string dueDate, string status = "open", string tenant = "", string? phone = null, decimal amount = 100m, string name = "Cliente") =>
        h.ExecuteAsync(
            "INSERT INTO cortex.charges (id, tenant, customer_name, phone, amount, due_date, status) VALUES (@id, @tenant, @name, @phone, @amount, @due::date, @status)",
            ("id", id),
            ("tenant", tenant),
            ("name", name),
            ("phone", phone ?? $"+55119{id:D8}"),
            ("amount", amount),
            ("due", dueDate),
            ("status", status));

    internal static Task SeedManyAsync(SchedulerHarness h, int count, string dueDate, long firstId = 1) =>
        h.ExecuteAsync(
            """
            INSERT INTO cortex.charges (id, customer_name, phone, amount, due_date)
            SELECT i, 'Cliente ' || i, '+55119' || lpad(i::text, 8, '0'), 50 + i % 100, @due::date
            FROM generate_series(@first, @first + @count - 1) AS i
            """,
            ("due", dueDate),
            ("first", firstId),
            ("count", (long)count));

    private async Task AssertBrokenOverrideHoldsOnlyItsChargesAsync(string parameters, string expected)
    {
        await using var h = await fixture.CreateHarnessAsync(s_morning);
        await h.ExecuteAsync(
            $"""
            INSERT INTO cortex.message_templates (tenant, key, body, wa_name, wa_language, wa_parameters)
            VALUES ('isp', 'billing.due', 'unused', 'fatura_vence_hoje', 'pt_BR', {parameters})
            """);
        await SeedChargeAsync(h, 1, "2026-11-20", tenant: "isp");
        await SeedChargeAsync(h, 2, "2026-11-20", tenant: "clinic");
        await SeedChargeAsync(h, 3, "2026-11-20", tenant: "isp");

        var failed = await Assert.ThrowsAnyAsync<InvalidOperationException>(() => h.Billing.RunAsync(s_today, default));

        Assert.Contains("billing reminders for 2026-11-20: 2 charges got no reminder", failed.Message, StringComparison.Ordinal);
        Assert.Contains(expected, failed.Message, StringComparison.Ordinal);
        Assert.Equal("clinic", Assert.Single(await h.QueuedAsync()).Envelope.Tenant);
        Assert.Equal(1L, await h.ScalarAsync<long>("SELECT count(*) FROM cortex.dispatch_ledger"));

        await h.ExecuteAsync("UPDATE cortex.message_templates SET wa_parameters = '{name,amount,dueDate}' WHERE tenant = 'isp'");
        var again = await h.Billing.RunAsync(s_today, default);

        Assert.Equal((3, 2, 0), (again.Due, again.New, again.Invalid));
        var ids = (await h.QueuedAsync()).Select(m => m.Envelope.Id).Order().ToArray();
        Assert.Equal(["billing:1:0:2026-11-20", "billing:2:0:2026-11-20", "billing:3:0:2026-11-20"], ids);
    }

    private sealed class TemplateComparer : IEqualityComparer<MessageTemplate?>
    {
        public static readonly TemplateComparer Instance = new();

        public bool Equals(MessageTemplate? x, MessageTemplate? y) =>
            x is not null && y is not null && x.Name == y.Name && x.Language == y.Language && x.Parameters.SequenceEqual(y.Parameters);

        public int GetHashCode(MessageTemplate? obj) => obj?.Name.GetHashCode(StringComparison.Ordinal) ?? 0;
    }
}
