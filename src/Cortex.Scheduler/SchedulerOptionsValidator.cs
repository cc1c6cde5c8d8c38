using Cortex.Scheduler.Scheduling;
using Cortex.Shared.Configuration;
using Cortex.Shared.Contract;
using Microsoft.Extensions.Options;
using Quartz;

namespace Cortex.Scheduler;

internal sealed class SchedulerOptionsValidator : IValidateOptions<SchedulerOptions>
{
    private static readonly string[] s_kinds = ["billing", "followup", "campaign"];

    public ValidateOptionsResult Validate(string? name, SchedulerOptions options)
    {
        var check = new OptionsCheck(SchedulerOptions.Section)
            .Require(IsZone(options.TimeZone), nameof(options.TimeZone), $"must be an IANA time zone such as America/Sao_Paulo or UTC, case included (was '{options.TimeZone}')")
            .Range(nameof(options.BatchSize), options.BatchSize, 1, 50_000)
            .Range(nameof(options.ExpireAfter), options.ExpireAfter, TimeSpan.FromMinutes(1), TimeSpan.FromDays(7))
            .Require(IsCron(options.OutboxRepairCron), nameof(options.OutboxRepairCron), CronMessage(options.OutboxRepairCron))
            .Require(!string.IsNullOrWhiteSpace(options.InstanceName), nameof(options.InstanceName), "must not be empty")
            .Range(nameof(options.ClusterCheckinInterval), options.ClusterCheckinInterval, TimeSpan.FromSeconds(1), TimeSpan.FromMinutes(5))
            .Require(
                options.ClusterCheckinMisfireThreshold >= options.ClusterCheckinInterval * 2,
                nameof(options.ClusterCheckinMisfireThreshold),
                $"must be at least twice {SchedulerOptions.Section}:ClusterCheckinInterval, or a live replica may be taken for dead")
            .Range(nameof(options.MisfireThreshold), options.MisfireThreshold, TimeSpan.FromSeconds(1), TimeSpan.FromHours(1))
            .Require(IsCron(options.Billing.Cron), "Billing:Cron", CronMessage(options.Billing.Cron))
            .Require(
                BillingOptions.ParseOffsets(options.Billing.Offsets) is { } offsets && offsets.All(o => o is >= -60 and <= 365),
                "Billing:Offsets",
                $"must be comma-separated whole days from -60 to 365, e.g. -3,0,1,3,7 (was '{options.Billing.Offsets}')")
            .Require(IsCron(options.FollowUps.Cron), "FollowUps:Cron", CronMessage(options.FollowUps.Cron))
            .Range("FollowUps:IdleTime", options.FollowUps.IdleTime, TimeSpan.FromMinutes(1), TimeSpan.FromDays(30))
            .Range("FollowUps:MaxFollowUps", options.FollowUps.MaxFollowUps, 1, 20)
            .Range("FollowUps:ServiceWindow", options.FollowUps.ServiceWindow, TimeSpan.Zero, TimeSpan.FromHours(24))
            .Require(IsCron(options.Campaigns.Cron), "Campaigns:Cron", CronMessage(options.Campaigns.Cron))
            .Require(IsTimeOfDay(options.QuietHours.Start), "QuietHours:Start", "must be a time of day from 00:00 to 23:59:59")
            .Require(IsTimeOfDay(options.QuietHours.End), "QuietHours:End", "must be a time of day from 00:00 to 23:59:59");
        QuietHoursWindow.TryFindZone(options.TimeZone ?? string.Empty, out var zone);
        CheckWindow(check, "QuietHours", options.QuietHours.Start, options.QuietHours.End, zone);
        for (var i = 0; i < options.QuietHours.Overrides.Count; i++)
        {
            var rule = options.QuietHours.Overrides[i];
            var key = $"QuietHours:Overrides:{i}";
            check.Require(rule.Tenant is not null || rule.Kind is not null, key, "needs a Tenant, a Kind or both")
                .Require(
                    rule.Tenant is null || EnvelopeCodec.IsTenant(rule.Tenant),
                    key + ":Tenant",
                    $"{EnvelopeCodec.TenantRule}, as a message's tenant (was '{rule.Tenant}'): no message's tenant could match it")
                .Require(rule.Kind is null || s_kinds.Contains(rule.Kind), key + ":Kind", $"must be one of {string.Join(", ", s_kinds)} (was '{rule.Kind}')")
                .Require(IsTimeOfDay(rule.Start), key + ":Start", "must be a time of day from 00:00 to 23:59:59")
                .Require(IsTimeOfDay(rule.End), key + ":End", "must be a time of day from 00:00 to 23:59:59");
            CheckWindow(check, key, rule.Start, rule.End, zone);
        }

        // Matching takes the first of equally specific rules: a second one for the same tenant and kind would never apply.
        var first = new Dictionary<(string?, string?), int>();
        for (var i = 0; i < options.QuietHours.Overrides.Count; i++)
        {
            var rule = options.QuietHours.Overrides[i];
            if ((rule.Tenant is not null || rule.Kind is not null) && !first.TryAdd((rule.Tenant, rule.Kind), i))
            {
                check.Require(
                    false,
                    $"QuietHours:Overrides:{i}",
                    $"is for the same Tenant and Kind ({(rule.Tenant is null ? "any tenant" : $"tenant '{rule.Tenant}'")}, {(rule.Kind is null ? "any kind" : $"kind '{rule.Kind}'")}) as {SchedulerOptions.Section}:QuietHours:Overrides:{first[(rule.Tenant, rule.Kind)]}, which would always win: keep one of them");
            }
        }

        foreach (var (key, cron) in new[] { (nameof(options.OutboxRepairCron), options.OutboxRepairCron), ("Billing:Cron", options.Billing.Cron), ("FollowUps:Cron", options.FollowUps.Cron), ("Campaigns:Cron", options.Campaigns.Cron) })
        {
            // Valid, but no date matches it (30 February): Quartz refused to schedule it, in a message without the key.
            check.Require(!IsCron(cron) || CronFireTimes.Next(cron!, zone ?? TimeZoneInfo.Utc, TimeProvider.System.GetUtcNow(), 1).Count > 0, key, $"never fires: no date from now on matches '{cron}'");
        }

        return check.ToResult();
    }

    private static bool IsCron(string? expression) => !string.IsNullOrWhiteSpace(expression) && CronExpression.TryParse(expression, out _);

    private static string CronMessage(string? expression) =>
        $"must be a Quartz cron expression with seconds, e.g. '0 0 9 * * ?' for 09:00 every day (was '{expression}')";

    private static bool IsTimeOfDay(TimeSpan value) => value >= TimeSpan.Zero && value < TimeSpan.FromDays(1);

    // Every message carries its quiet hours in the envelope's wire form, which the sender and CortexClient read with the
    // contract's rules: a window they refuse would fail every message it applies to, so it stops the process here.
    private static void CheckWindow(OptionsCheck check, string key, TimeSpan start, TimeSpan end, TimeZoneInfo? zone)
    {
        // Seconds are the wire form's finest unit: 21:00:00.5 would be carried as 21:00, or with an end of 21:00 as none.
        check.Require(!HasFraction(start), key + ":Start", $"must be whole seconds, HH:mm or HH:mm:ss, as messages carry it (was '{start}')")
            .Require(!HasFraction(end), key + ":End", $"must be whole seconds, HH:mm or HH:mm:ss, as messages carry it (was '{end}')");
        if (zone is null || start == end || !IsTimeOfDay(start) || !IsTimeOfDay(end) || HasFraction(start) || HasFraction(end))
        {
            return;
        }

        var window = new QuietHoursWindow(TimeOnly.FromTimeSpan(start), TimeOnly.FromTimeSpan(end), zone);
        var wire = window.ToString();
        var carried = QuietHoursWindow.TryParse(wire, out var read, out var error) && read.Start == window.Start && read.End == window.End;
        check.Require(carried, key, $"makes quiet hours '{wire}' that messages cannot carry: {error ?? "the envelope reads a different window"}");
    }

    private static bool HasFraction(TimeSpan value) => value.Ticks % TimeSpan.TicksPerSecond != 0;

    // The contract's rule for the zone quiet hours name (an exact IANA name), so that the windows made from it are ones
    // the sender reads: .NET alone also takes America//Sao_Paulo or, once its cache is filled, america/sao_paulo.
    private static bool IsZone(string? id) => !string.IsNullOrWhiteSpace(id) && QuietHoursWindow.TryFindZone(id, out _);
}
