using System.Globalization;

namespace Cortex.Scheduler;

/// <summary>Configuration of the scheduler's jobs (section Cortex:Scheduler).</summary>
public sealed class SchedulerOptions
{
    public const string Section = "Cortex:Scheduler";

    /// <summary>IANA time zone of cron expressions, due dates and quiet hours.</summary>
    public string TimeZone { get; set; } = "America/Sao_Paulo";

    /// <summary>Apply pending database migrations at start (off when a `migrate` step runs before deploys).</summary>
    public bool ApplyMigrations { get; set; } = true;

    /// <summary>Rows read, rendered and written to the ledger per transaction.</summary>
    public int BatchSize { get; set; } = 5000;

    /// <summary>A scheduled message not sent within this time after its send time expires (dead-lettered as expired); a campaign firing not fanned out within it is not fanned out (run expired).</summary>
    public TimeSpan ExpireAfter { get; set; } = TimeSpan.FromHours(12);

    /// <summary>Cron of the outbox repair: pushes ledger rows committed but never pushed (a crash between the two).</summary>
    public string OutboxRepairCron { get; set; } = "30 * * * * ?";

    /// <summary>Quartz instance name; every replica with the same name and database forms one cluster.</summary>
    public string InstanceName { get; set; } = "cortex";

    /// <summary>How often a replica checks in with the cluster; a replica silent for longer than <see cref="ClusterCheckinMisfireThreshold"/> has its jobs recovered.</summary>
    public TimeSpan ClusterCheckinInterval { get; set; } = TimeSpan.FromSeconds(5);

    public TimeSpan ClusterCheckinMisfireThreshold { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>A trigger late by more than this (the scheduler was down) misfires and fires once on recovery.</summary>
    public TimeSpan MisfireThreshold { get; set; } = TimeSpan.FromMinutes(1);

    public BillingOptions Billing { get; set; } = new();

    public FollowUpOptions FollowUps { get; set; } = new();

    public CampaignOptions Campaigns { get; set; } = new();

    public QuietHoursOptions QuietHours { get; set; } = new();

    internal TimeZoneInfo Zone => TimeZoneInfo.FindSystemTimeZoneById(TimeZone);
}

/// <summary>Billing reminders: open charges due in D-3, D0 and overdue D+N.</summary>
public sealed class BillingOptions
{
    public bool Enabled { get; set; } = true;

    public string Cron { get; set; } = "0 0 9 * * ?";

    /// <summary>Days relative to the due date, comma-separated: -3 is three days before, 0 the due date, 5 five days overdue.</summary>
    public string Offsets { get; set; } = "-3,0,1,3,7";

    internal IReadOnlyList<int> ParsedOffsets => ParseOffsets(Offsets) ?? [];

    internal static int[]? ParseOffsets(string? value)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            return null;
        }

        var parts = value.Split(',', StringSplitOptions.TrimEntries);
        var offsets = new int[parts.Length];
        for (var i = 0; i < parts.Length; i++)
        {
            if (!int.TryParse(parts[i], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out offsets[i]))
            {
                return null;
            }
        }

        return [.. offsets.Distinct().Order()];
    }
}

/// <summary>Conversation follow-ups: a customer silent for <see cref="IdleTime"/> gets the next follow-up.</summary>
public sealed class FollowUpOptions
{
    public bool Enabled { get; set; } = true;

    public string Cron { get; set; } = "0 * * * * ?";

    /// <summary>Silence (since the last agent message or follow-up) before the next follow-up.</summary>
    public TimeSpan IdleTime { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary>Follow-ups per silence; after the last one and another idle period the conversation is closed.</summary>
    public int MaxFollowUps { get; set; } = 2;

    /// <summary>WhatsApp's customer-service window: free text only this long after the customer's last message.</summary>
    public TimeSpan ServiceWindow { get; set; } = TimeSpan.FromHours(24);
}

/// <summary>Campaign fan-out: due runs are found and fanned out in batches by this job.</summary>
public sealed class CampaignOptions
{
    public bool Enabled { get; set; } = true;

    public string Cron { get; set; } = "0 * * * * ?";
}

/// <summary>Hours when no message should reach a phone; a message due inside them gets notBefore at the window's end.</summary>
public sealed class QuietHoursOptions
{
    /// <summary>Local time the quiet hours start; equal to <see cref="End"/> means none.</summary>
    public TimeSpan Start { get; set; } = new(21, 0, 0);

    public TimeSpan End { get; set; } = new(8, 0, 0);

    /// <summary>Per tenant and/or kind (billing, followup, campaign): the most specific match wins.</summary>
    public List<QuietHoursOverride> Overrides { get; set; } = [];
}

/// <summary>Quiet hours for one tenant, one kind, or one kind of one tenant.</summary>
public sealed class QuietHoursOverride
{
    public string? Tenant { get; set; }

    public string? Kind { get; set; }

    public TimeSpan Start { get; set; }

    public TimeSpan End { get; set; }
}
