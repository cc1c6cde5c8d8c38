namespace Cortex.Scheduler.Tests;

/// <summary>Each bad value is reported with its full key, so the process stops at start naming it.</summary>
public class SchedulerOptionsValidatorTests
{
    [Fact]
    public void Validate_Defaults_AreValid()
    {
        Assert.True(new SchedulerOptionsValidator().Validate(null, new SchedulerOptions()).Succeeded);
    }

    [Theory]
    [InlineData("Cortex:Scheduler:TimeZone must be an IANA time zone", "TimeZone", "America/Sao_Paolo")]
    [InlineData("Cortex:Scheduler:Billing:Cron must be a Quartz cron expression", "Billing:Cron", "0 9 * * *")]
    [InlineData("Cortex:Scheduler:Billing:Cron never fires: no date from now on matches '0 0 9 30 2 ?'", "Billing:Cron", "0 0 9 30 2 ?")]
    [InlineData("Cortex:Scheduler:Billing:Offsets must be comma-separated whole days", "Billing:Offsets", "-3, D0")]
    [InlineData("Cortex:Scheduler:Billing:Offsets must be comma-separated whole days", "Billing:Offsets", "400")]
    [InlineData("Cortex:Scheduler:FollowUps:Cron must be a Quartz cron expression", "FollowUps:Cron", "")]
    [InlineData("Cortex:Scheduler:OutboxRepairCron must be a Quartz cron expression", "OutboxRepairCron", "every minute")]
    public void Validate_BadValue_NamesTheKey(string expected, string key, string value)
    {
        var options = new SchedulerOptions();
        switch (key)
        {
            case "TimeZone": options.TimeZone = value; break;
            case "Billing:Cron": options.Billing.Cron = value; break;
            case "Billing:Offsets": options.Billing.Offsets = value; break;
            case "FollowUps:Cron": options.FollowUps.Cron = value; break;
            default: options.OutboxRepairCron = value; break;
        }

        var result = new SchedulerOptionsValidator().Validate(null, options);

        Assert.Contains(result.Failures!, f => f.StartsWith(expected, StringComparison.Ordinal));
    }

    [Fact]
    public void Validate_CheckinThresholdBelowTwiceTheInterval_IsRejected()
    {
        var options = new SchedulerOptions { ClusterCheckinInterval = TimeSpan.FromSeconds(10), ClusterCheckinMisfireThreshold = TimeSpan.FromSeconds(15) };

        var result = new SchedulerOptionsValidator().Validate(null, options);

        Assert.Contains(result.Failures!, f => f.StartsWith("Cortex:Scheduler:ClusterCheckinMisfireThreshold must be at least twice", StringComparison.Ordinal));
    }

    [Fact]
    public void Validate_QuietHoursOverrideWithUnknownKindOrNoTarget_NamesTheEntry()
    {
        var options = new SchedulerOptions();
        options.QuietHours.Overrides.Add(new QuietHoursOverride { Kind = "billings", Start = new(20, 0, 0), End = new(8, 0, 0) });
        options.QuietHours.Overrides.Add(new QuietHoursOverride { Start = new(20, 0, 0), End = new(25, 0, 0) });

        var failures = new SchedulerOptionsValidator().Validate(null, options).Failures!.ToList();

        Assert.Contains("Cortex:Scheduler:QuietHours:Overrides:0:Kind must be one of billing, followup, campaign (was 'billings')", failures);
        Assert.Contains("Cortex:Scheduler:QuietHours:Overrides:1 needs a Tenant, a Kind or both", failures);
        Assert.Contains("Cortex:Scheduler:QuietHours:Overrides:1:End must be a time of day from 00:00 to 23:59:59", failures);
    }

    // A message's tenant follows the envelope's rule (lower case, no spaces), so "ISP Sul" was accepted here and then
    // matched no message: that tenant's customers got the default quiet hours without a word.
    [Theory]
    [InlineData("ISP Sul")]
    [InlineData("Isp_sul")]
    [InlineData("")]
    [InlineData("isp sul")]
    public void Validate_QuietHoursOverrideTenantNoMessageCanHave_NamesTheKey(string tenant)
    {
        var options = new SchedulerOptions();
        options.QuietHours.Overrides.Add(new QuietHoursOverride { Tenant = tenant, Kind = "billing", Start = new(20, 0, 0), End = new(8, 0, 0) });

        var failures = new SchedulerOptionsValidator().Validate(null, options).Failures!.ToList();

        var failure = Assert.Single(failures);
        Assert.Equal(
            $"Cortex:Scheduler:QuietHours:Overrides:0:Tenant must be 1 to 64 characters of a-z, 0-9, '_', '.', '-', as a message's tenant (was '{tenant}'): no message's tenant could match it",
            failure);
    }

    [Fact]
    public void Validate_QuietHoursOverrideTenantOf65Characters_NamesTheKey()
    {
        var options = new SchedulerOptions();
        options.QuietHours.Overrides.Add(new QuietHoursOverride { Tenant = new string('t', 65), Start = new(20, 0, 0), End = new(8, 0, 0) });

        var failures = new SchedulerOptionsValidator().Validate(null, options).Failures!.ToList();

        Assert.StartsWith("Cortex:Scheduler:QuietHours:Overrides:0:Tenant must be 1 to 64 characters", Assert.Single(failures), StringComparison.Ordinal);
    }

    // The first of two equally specific rules wins, so the second (an edit appended below the old rule) never applied.
    [Fact]
    public void Validate_TwoOverridesForTheSameTenantAndKind_NamesBothKeys()
    {
        var options = new SchedulerOptions();
        options.QuietHours.Overrides.Add(new QuietHoursOverride { Tenant = "isp_sul", Kind = "billing", Start = new(20, 0, 0), End = new(8, 0, 0) });
        options.QuietHours.Overrides.Add(new QuietHoursOverride { Kind = "campaign", Start = new(19, 0, 0), End = new(9, 0, 0) });
        options.QuietHours.Overrides.Add(new QuietHoursOverride { Tenant = "isp_sul", Kind = "billing", Start = new(22, 0, 0), End = new(7, 0, 0) });
        options.QuietHours.Overrides.Add(new QuietHoursOverride { Kind = "campaign", Start = new(18, 0, 0), End = new(9, 0, 0) });

        var failures = new SchedulerOptionsValidator().Validate(null, options).Failures!.ToList();

        Assert.Equal(
            [
                "Cortex:Scheduler:QuietHours:Overrides:2 is for the same Tenant and Kind (tenant 'isp_sul', kind 'billing') as Cortex:Scheduler:QuietHours:Overrides:0, which would always win: keep one of them",
                "Cortex:Scheduler:QuietHours:Overrides:3 is for the same Tenant and Kind (any tenant, kind 'campaign') as Cortex:Scheduler:QuietHours:Overrides:1, which would always win: keep one of them",
            ],
            failures);
    }

    [Fact]
    public void Validate_OverridesOfOneTenantForEachSpecificity_AreValid()
    {
        var options = new SchedulerOptions();
        options.QuietHours.Overrides.Add(new QuietHoursOverride { Tenant = "isp_sul", Kind = "billing", Start = new(20, 0, 0), End = new(8, 0, 0) });
        options.QuietHours.Overrides.Add(new QuietHoursOverride { Tenant = "isp_sul", Start = new(22, 0, 0), End = new(7, 0, 0) });
        options.QuietHours.Overrides.Add(new QuietHoursOverride { Kind = "billing", Start = new(21, 0, 0), End = new(9, 0, 0) });
        options.QuietHours.Overrides.Add(new QuietHoursOverride { Tenant = "isp.norte-2", Kind = "billing", Start = new(21, 0, 0), End = new(9, 0, 0) });

        var result = new SchedulerOptionsValidator().Validate(null, options);

        Assert.True(result.Succeeded, result.FailureMessage);
    }

    // .NET takes these, the envelope contract does not: each quiet-hours message would fail in CortexClient. The case is
    // refused even once .NET's zone cache, which ignores case, holds the zone.
    [Theory]
    [InlineData("America//Sao_Paulo")]
    [InlineData("america/sao_paulo")]
    [InlineData("localtime")]
    [InlineData("posix/America/Sao_Paulo")]
    [InlineData("utc")] // .NET takes it for UTC; the contract's rule, one for every name, does not

    public void Validate_TimeZoneTheEnvelopeContractRefuses_NamesTheKey(string zone)
    {
        _ = TimeZoneInfo.GetSystemTimeZones();

        var result = new SchedulerOptionsValidator().Validate(null, new SchedulerOptions { TimeZone = zone });

        Assert.Contains($"Cortex:Scheduler:TimeZone must be an IANA time zone such as America/Sao_Paulo or UTC, case included (was '{zone}')", result.Failures!);
    }

    // Messages carry their window to the second: 21:00:00.5 was written as 21:00, so a window ending at 21:00 became
    // '21:00-21:00', which the contract refuses, and one ending elsewhere silently moved.
    [Fact]
    public void Validate_QuietHoursWithAFractionOfASecond_NamesTheKey()
    {
        var options = new SchedulerOptions();
        options.QuietHours.Start = new TimeSpan(0, 21, 0, 0, 500);
        options.QuietHours.End = new TimeSpan(21, 0, 0);
        options.QuietHours.Overrides.Add(new QuietHoursOverride { Kind = "campaign", Start = new(20, 0, 0), End = TimeSpan.FromHours(8.0001) });

        var failures = new SchedulerOptionsValidator().Validate(null, options).Failures!.ToList();

        Assert.Contains("Cortex:Scheduler:QuietHours:Start must be whole seconds, HH:mm or HH:mm:ss, as messages carry it (was '21:00:00.5000000')", failures);
        Assert.Contains(failures, f => f.StartsWith("Cortex:Scheduler:QuietHours:Overrides:0:End must be whole seconds", StringComparison.Ordinal));
        Assert.Equal(2, failures.Count);
    }

    [Fact]
    public void Validate_QuietHoursInWholeSecondsAndAnExactZone_AreValid()
    {
        var options = new SchedulerOptions { TimeZone = "Etc/UTC" };
        options.QuietHours.Start = new TimeSpan(21, 30, 15);
        options.QuietHours.Overrides.Add(new QuietHoursOverride { Tenant = "isp-sul", Start = new(22, 0, 0), End = new(7, 0, 0) });

        Assert.True(new SchedulerOptionsValidator().Validate(null, options).Succeeded);
    }

    [Fact]
    public void Offsets_AreParsedSortedAndDeduplicated()
    {
        Assert.Equal([-3, 0, 7], new BillingOptions { Offsets = " 7, 0,-3,0 " }.ParsedOffsets);
    }
}
