using Npgsql;
using NpgsqlTypes;

namespace Cortex.LoadTests;

/// <summary>
/// What make demo puts in PostgreSQL, as the ISP's own systems would: charges, conversations, opt-outs and a campaign.
/// Every group that must get nothing is recognisable afterwards (charge status, due date and opt-outs; conversation id
/// ranges; recipient opt-outs), so the demo can prove that none of it reached the gateway.
/// </summary>
internal sealed record DemoSeedSummary(
    int ChargesToRemind,
    int Paid,
    int Cancelled,
    int OtherDay,
    int OptedOutCharges,
    int InsideWindow,
    int SecondFollowUps,
    int OutsideWindow,
    int NeverWrote,
    int ToClose,
    int OptedOutConversations,
    int NotIdle,
    long CampaignId,
    int Recipients,
    int OptedOutRecipients)
{
    public int Charges => ChargesToRemind + Paid + Cancelled + OtherDay + OptedOutCharges;

    public int FollowUpsDue => InsideWindow + OutsideWindow + NeverWrote;

    public int Conversations => FollowUpsDue + ToClose + OptedOutConversations + NotIdle;

    public int OptOuts => OptedOutCharges + OptedOutConversations + OptedOutRecipients;
}

/// <summary>Seeds the demo data with set-based SQL (generate_series): 20,000 charges take well under a second.</summary>
internal static class DemoSeed
{
    public const string Tenant = "isp-demo";
    public const string CampaignTemplateKey = "campaign.upgrade_1giga";

    /// <summary>The billing offsets the demo configures (the scheduler's defaults): D-3, D0, D+1, D+3, D+7.</summary>
    public static readonly int[] Offsets = [-3, 0, 1, 3, 7];

    // Conversation id ranges, one per group, so the verification can tell them apart after the pass.
    public const long InsideWindowIds = 100_000;
    public const long OutsideWindowIds = 200_000;
    public const long NeverWroteIds = 300_000;

    /// <summary>Conversations with ids from here up must get no follow-up: the ones to close, opted out, or not idle.</summary>
    public const long NoFollowUpIds = 800_000;
    private const long OptedOutConversationIds = 850_000;
    private const long NotIdleIds = 900_000;

    private static readonly string[] s_firstNames =
    [
        "Ana", "Bruno", "Carla", "Diego", "Elisa", "Fábio", "Gabriela", "Heitor", "Isabela", "João", "Larissa", "Marcos",
        "Mariana", "Rafael", "Juliana", "Lucas", "Patrícia", "Thiago", "Fernanda", "Rodrigo", "Camila", "Gustavo",
        "Beatriz", "Felipe", "Aline", "Eduardo", "Renata", "Vinícius", "Letícia", "André", "Débora", "Márcio",
    ];

    private static readonly string[] s_lastNames =
    [
        "Silva", "Santos", "Oliveira", "Souza", "Rodrigues", "Ferreira", "Alves", "Pereira", "Lima", "Gomes", "Costa",
        "Ribeiro", "Martins", "Carvalho", "Almeida", "Lopes", "Soares", "Fernandes", "Vieira", "Barbosa", "Araújo", "Conceição",
    ];

    // Monthly prices of the ISP's plans; the plan names below go with the campaign's variables.
    private static readonly decimal[] s_prices = [79.90m, 99.90m, 109.90m, 129.90m, 149.90m, 199.90m];
    private static readonly string[] s_plans = ["Fibra 100 Mega", "Fibra 300 Mega", "Fibra 500 Mega"];

    // Due dates that are not reminder days: due = today - offset, with none of these offsets in Offsets.
    private static readonly int[] s_otherOffsets = [-10, -5, -2, -1, 2, 4, 5, 10, 15, 30];

    /// <summary>Empties the demo's tables (the database is the demo's own, like its Redis) and seeds them for <paramref name="today"/>.</summary>
    public static async Task<DemoSeedSummary> SeedAsync(NpgsqlDataSource dataSource, DateOnly today, DateTimeOffset now, int count, CancellationToken cancellationToken = default)
    {
        var summary = new DemoSeedSummary(
            ChargesToRemind: count,
            Paid: Math.Max(1, count / 25),
            Cancelled: Math.Max(1, count / 100),
            OtherDay: Math.Max(1, count / 50),
            OptedOutCharges: Math.Max(1, count / 100),
            InsideWindow: 100,
            SecondFollowUps: 20,
            OutsideWindow: 60,
            NeverWrote: 20,
            ToClose: 10,
            OptedOutConversations: 5,
            NotIdle: 50,
            CampaignId: 0,
            Recipients: Math.Max(40, count / 10),
            OptedOutRecipients: Math.Max(40, count / 10) / 40);

        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await ExecuteAsync(
            connection,
            $"""
            TRUNCATE cortex.dispatch_ledger, cortex.campaign_runs, cortex.campaign_recipients, cortex.campaigns,
                     cortex.conversations, cortex.charges, cortex.opt_outs RESTART IDENTITY;
            DELETE FROM cortex.message_templates WHERE tenant = '{Tenant}';
            """,
            cancellationToken);

        // Charges: one shuffled id sequence over every group, so each page the job reads mixes them. The opted-out
        // group is open and due on a reminder day: only cortex.opt_outs (half for every tenant, half for this one) stops it.
        await ExecuteAsync(
            connection,
            """
            WITH groups AS (
                SELECT g, 'remind' AS grp FROM generate_series(1, @remind) g
                UNION ALL SELECT g, 'paid' FROM generate_series(1, @paid) g
                UNION ALL SELECT g, 'cancelled' FROM generate_series(1, @cancelled) g
                UNION ALL SELECT g, 'other_day' FROM generate_series(1, @other_day) g
                UNION ALL SELECT g, 'opted_out' FROM generate_series(1, @opted_out) g
            ), numbered AS (
                SELECT n, g, grp, '+55119' || (10000000 + (n * 7919) % 30000000)::text AS phone
                FROM (SELECT row_number() OVER (ORDER BY md5(grp || ':' || g)) AS n, g, grp FROM groups) s
            ), charges AS (
                INSERT INTO cortex.charges (id, tenant, customer_name, phone, amount, due_date, status)
                SELECT 100000 + n, @tenant,
                       @first[1 + abs(hashtext('f' || n)) % cardinality(@first)] || ' ' || @last[1 + abs(hashtext('l' || n)) % cardinality(@last)],
                       phone,
                       @prices[1 + abs(hashtext('p' || n)) % cardinality(@prices)],
                       @today - CASE WHEN grp = 'other_day' THEN @other_offsets[1 + g % cardinality(@other_offsets)]
                                     ELSE @offsets[1 + g % cardinality(@offsets)] END,
                       CASE grp WHEN 'paid' THEN 'paid' WHEN 'cancelled' THEN 'cancelled' ELSE 'open' END
                FROM numbered
            )
            INSERT INTO cortex.opt_outs (tenant, phone, reason)
            SELECT CASE WHEN g % 2 = 0 THEN '' ELSE @tenant END, phone, 'respondeu SAIR'
            FROM numbered WHERE grp = 'opted_out'
            """,
            cancellationToken,
            P("remind", summary.ChargesToRemind),
            P("paid", summary.Paid),
            P("cancelled", summary.Cancelled),
            P("other_day", summary.OtherDay),
            P("opted_out", summary.OptedOutCharges),
            P("tenant", Tenant),
            P("first", s_firstNames),
            P("last", s_lastNames),
            P("prices", s_prices),
            P("today", today),
            P("offsets", Offsets),
            P("other_offsets", s_otherOffsets));

        // Conversations, times relative to now. Idle = the agent (or a follow-up) spoke last, over 30 minutes ago.
        await ExecuteAsync(
            connection,
            """
            INSERT INTO cortex.conversations (id, tenant, phone, customer_name, last_inbound_at, last_outbound_at)
            SELECT id, @tenant, '+55119' || (40000000 + (id * 7919) % 30000000)::text,
                   @first[1 + abs(hashtext('f' || id)) % cardinality(@first)] || ' ' || @last[1 + abs(hashtext('l' || id)) % cardinality(@last)],
                   inbound, outbound
            FROM (
                -- Inside the 24-hour window: the customer wrote 1 to 20 hours ago, the agent answered, silence since.
                SELECT @inside_ids + g AS id, @now - interval '1 hour' - (g * 11 % 1140) * interval '1 minute' AS inbound,
                       @now - interval '1 hour' - (g * 11 % 1140) * interval '1 minute' + (2 + g % 15) * interval '1 minute' AS outbound
                FROM generate_series(1, @inside) g
                UNION ALL
                -- Outside it: the customer wrote 2 to 5 days ago.
                SELECT @outside_ids + g, @now - interval '2 days' - g * interval '1 hour',
                       @now - interval '2 days' - g * interval '1 hour' + interval '10 minutes'
                FROM generate_series(1, @outside) g
                UNION ALL
                -- The agent wrote first (a proactive message) and the customer never answered: no window at all.
                SELECT @never_ids + g, NULL, @now - interval '3 hours' - g * interval '1 minute'
                FROM generate_series(1, @never) g
                UNION ALL
                -- Two follow-ups already sent and another idle period passed: the job closes these, sends nothing.
                SELECT @close_ids + g, @now - interval '5 hours', @now - interval '5 hours' + interval '5 minutes'
                FROM generate_series(1, @close) g
                UNION ALL
                -- Idle inside the window, but the customer opted out: no follow-up either.
                SELECT @opted_ids + g, @now - interval '3 hours', @now - interval '3 hours' + interval '5 minutes'
                FROM generate_series(1, @opted) g
                UNION ALL
                -- Not idle: the agent answered 10 minutes ago, or the customer spoke last (the agent owes the answer).
                SELECT @not_idle_ids + g,
                       CASE WHEN g % 2 = 0 THEN @now - interval '1 hour' ELSE @now - interval '15 minutes' END,
                       CASE WHEN g % 2 = 0 THEN @now - interval '10 minutes' ELSE @now - interval '2 hours' END
                FROM generate_series(1, @not_idle) g
            ) c;
            UPDATE cortex.conversations SET follow_ups_sent = 1, follow_up_anchor = last_inbound_at, last_follow_up_at = @now - interval '35 minutes'
            WHERE id BETWEEN @inside_ids + 1 AND @inside_ids + @second;
            UPDATE cortex.conversations SET follow_ups_sent = 2, follow_up_anchor = last_inbound_at, last_follow_up_at = @now - interval '40 minutes'
            WHERE id BETWEEN @close_ids + 1 AND @close_ids + @close;
            INSERT INTO cortex.opt_outs (tenant, phone, reason)
            SELECT '', phone, 'respondeu SAIR' FROM cortex.conversations WHERE id BETWEEN @opted_ids + 1 AND @opted_ids + @opted;
            -- A few more not-idle ones were already closed yesterday.
            UPDATE cortex.conversations SET status = 'closed', closed_at = @now - interval '1 day'
            WHERE id > @not_idle_ids AND id % 5 = 0;
            """,
            cancellationToken,
            P("tenant", Tenant),
            P("first", s_firstNames),
            P("last", s_lastNames),
            P("now", now),
            P("inside_ids", InsideWindowIds),
            P("inside", summary.InsideWindow),
            P("second", summary.SecondFollowUps),
            P("outside_ids", OutsideWindowIds),
            P("outside", summary.OutsideWindow),
            P("never_ids", NeverWroteIds),
            P("never", summary.NeverWrote),
            P("close_ids", NoFollowUpIds),
            P("close", summary.ToClose),
            P("opted_ids", OptedOutConversationIds),
            P("opted", summary.OptedOutConversations),
            P("not_idle_ids", NotIdleIds),
            P("not_idle", summary.NotIdle));

        // A one-shot campaign due a minute ago. Marketing outside the 24-hour window must be an approved template.
        await ExecuteAsync(
            connection,
            """
            INSERT INTO cortex.message_templates (tenant, key, body, wa_name, wa_language, wa_parameters)
            VALUES (@tenant, @key, 'Olá {name}! Seu plano {plan} pode virar {offer} por {price}/mês, sem taxa de instalação. Responda SIM para trocar.',
                    'upgrade_fibra', 'pt_BR', '{name,offer,price}')
            """,
            cancellationToken,
            P("tenant", Tenant),
            P("key", CampaignTemplateKey));
        long campaignId;
        await using (var command = new NpgsqlCommand(
            """
            INSERT INTO cortex.campaigns (tenant, name, template_key, run_at)
            VALUES (@tenant, 'Upgrade para Fibra 1 Giga', @key, @now - interval '1 minute')
            RETURNING id
            """,
            connection))
        {
            command.Parameters.Add(P("tenant", Tenant));
            command.Parameters.Add(P("key", CampaignTemplateKey));
            command.Parameters.Add(P("now", now));
            campaignId = (long)(await command.ExecuteScalarAsync(cancellationToken))!;
        }

        await ExecuteAsync(
            connection,
            """
            INSERT INTO cortex.campaign_recipients (campaign_id, id, phone, name, variables)
            SELECT @campaign, r, '+55119' || (70000000 + (r * 7919) % 20000000)::text,
                   @first[1 + abs(hashtext('f' || r)) % cardinality(@first)],
                   jsonb_build_object('plan', @plans[1 + r % cardinality(@plans)], 'offer', 'Fibra 1 Giga', 'price', 'R$ 129,90')
            FROM generate_series(1, @recipients) r;
            INSERT INTO cortex.opt_outs (tenant, phone, reason)
            SELECT '', phone, 'pediu para não receber ofertas' FROM cortex.campaign_recipients
            WHERE campaign_id = @campaign AND id % 40 = 0;
            ANALYZE cortex.charges;
            ANALYZE cortex.conversations;
            ANALYZE cortex.campaign_recipients;
            ANALYZE cortex.opt_outs;
            """,
            cancellationToken,
            P("campaign", campaignId),
            P("first", s_firstNames),
            P("plans", s_plans),
            P("recipients", summary.Recipients));

        await transaction.CommitAsync(cancellationToken);
        return summary with { CampaignId = campaignId };
    }

    private static NpgsqlParameter<T> P<T>(string name, T value) => new(name, value);

    private static NpgsqlParameter<DateTime> P(string name, DateTimeOffset value) =>
        new(name, NpgsqlDbType.TimestampTz) { TypedValue = value.UtcDateTime };

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql, CancellationToken cancellationToken, params NpgsqlParameter[] parameters)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        command.Parameters.AddRange(parameters);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }
}
