namespace Cortex.Scheduler;

/// <summary>The scheduler's log messages, source-generated with stable event ids. Never a phone number or a secret.</summary>
internal static partial class Log
{
    [LoggerMessage(2001, LogLevel.Warning, "Skipped {Key}: the source row does not make a valid message ({Reason})")]
    public static partial void InvalidRow(ILogger logger, string key, string reason);

    [LoggerMessage(2002, LogLevel.Information, "Billing reminders for {Today:yyyy-MM-dd}: {Due} due, {New} new, {OptedOut} opted out, {Invalid} invalid, {Published} pushed to Redis")]
    public static partial void BillingRun(ILogger logger, DateOnly today, int due, int @new, int optedOut, int invalid, int published);

    [LoggerMessage(2003, LogLevel.Information, "Follow-ups: {Sent} sent, {Closed} conversations closed, {Invalid} invalid, {Published} pushed to Redis")]
    public static partial void FollowUpRun(ILogger logger, int sent, int closed, int invalid, int published);

    [LoggerMessage(2004, LogLevel.Information, "Campaign {CampaignId} run {FireTime:O}: {Enqueued} of {Total} recipients fanned out, {Skipped} skipped, status {Status}")]
    public static partial void CampaignProgress(ILogger logger, long campaignId, DateTimeOffset fireTime, int enqueued, int total, int skipped, string status);

    [LoggerMessage(2005, LogLevel.Information, "Outbox repair pushed {Published} ledger rows that were committed but not pushed")]
    public static partial void OutboxRepaired(ILogger logger, int published);

    [LoggerMessage(2019, LogLevel.Information, "Withdrew {Count} messages before they were sent, no longer wanted ({Reasons}); their ledger rows say withdrawn")]
    public static partial void Withdrawn(ILogger logger, int count, string reasons);

    [LoggerMessage(2006, LogLevel.Error, "Job {Job} failed; committed ledger rows stay pending and are pushed by the next run")]
    public static partial void JobFailed(ILogger logger, Exception exception, string job);

    [LoggerMessage(2007, LogLevel.Information, "Applied migration {Version} {Name}")]
    public static partial void MigrationApplied(ILogger logger, int version, string name);

    [LoggerMessage(2009, LogLevel.Debug, "Job {Job} fired for {ScheduledFireTime:O} on {InstanceId}")]
    public static partial void JobFired(ILogger logger, string job, DateTimeOffset? scheduledFireTime, string instanceId);

    [LoggerMessage(2010, LogLevel.Warning, "Campaign {CampaignId} has a cron expression Quartz cannot parse; it will not run until it is fixed")]
    public static partial void BadCampaignCron(ILogger logger, long campaignId);

    [LoggerMessage(2011, LogLevel.Error, "Campaign {CampaignId} cannot be fanned out: {Reason}; it resumes where it stopped once this is fixed")]
    public static partial void CampaignBlocked(ILogger logger, long campaignId, string reason);

    [LoggerMessage(2008, LogLevel.Information, "Job {Job} stopped by shutdown; it resumes from its committed progress on the next run")]
    public static partial void JobInterrupted(ILogger logger, string job);

    [LoggerMessage(2012, LogLevel.Warning, "Billing reminders for {Today:yyyy-MM-dd} failed on a transient fault; the same day is run again in {Delay}")]
    public static partial void BillingRunRetrying(ILogger logger, Exception exception, DateOnly today, TimeSpan delay);

    [LoggerMessage(2014, LogLevel.Error, "Billing reminders for {Today:yyyy-MM-dd}: Redis refused a push: {Refusal}. The Redis user Cortex authenticates as lacks a permission the scheduler needs (see k8s/redis/users.acl); the same day is run again in {Delay}")]
    public static partial void BillingRunRefused(ILogger logger, DateOnly today, string refusal, TimeSpan delay);

    [LoggerMessage(2015, LogLevel.Error, "Job {Job}: Redis refused a push: {Refusal}. The Redis user Cortex authenticates as lacks a permission the scheduler needs (see k8s/redis/users.acl); committed ledger rows stay pending and are pushed by the next run once it has it")]
    public static partial void JobRefused(ILogger logger, string job, string refusal);

    [LoggerMessage(2013, LogLevel.Information, "Job {Job} recovering the firing of {ScheduledFireTime:O} cut by the death of its node, on {InstanceId}")]
    public static partial void JobRecovering(ILogger logger, string job, DateTimeOffset? scheduledFireTime, string instanceId);

    [LoggerMessage(2016, LogLevel.Information, "Billing reminders for {Day:yyyy-MM-dd}: resuming the day, which a run cut by a shutdown, a crash or a refused PostgreSQL login left unfinished")]
    public static partial void BillingDayResumed(ILogger logger, DateOnly day);

    [LoggerMessage(2017, LogLevel.Warning, "Billing reminders for {Day:yyyy-MM-dd} stay owed, since PostgreSQL could not be told otherwise ({Reason}): a scheduler node runs the day again once it can, and the ledger skips what is already written")]
    public static partial void BillingDayStillOwed(ILogger logger, DateOnly day, string reason);

    [LoggerMessage(2020, LogLevel.Error, "Billing reminders for {Day:yyyy-MM-dd}: {Charges} charges got no reminder, since their template cannot be rendered: {Templates}. Fix it in cortex.message_templates: the day stays owed and is run again at {RetryAt:O}, and every minute after, until it is written or the day is over")]
    public static partial void BillingTemplatesBroken(ILogger logger, DateOnly day, int charges, string templates, DateTimeOffset retryAt);

    [LoggerMessage(2018, LogLevel.Warning, "Campaign {CampaignId} run {FireTime:O} was still going when the run of {NextFireTime:O} started, and ends cancelled with {Enqueued} of {Total} recipients fanned out: the others get the newer run only")]
    public static partial void CampaignRunSuperseded(ILogger logger, long campaignId, DateTimeOffset fireTime, DateTimeOffset nextFireTime, int enqueued, int total);

    [LoggerMessage(2021, LogLevel.Warning, "Campaign {CampaignId} run {FireTime:O} expired: its send time {SendTime:O} is {Late} past, more than ExpireAfter ({ExpireAfter}); {NotFannedOut} of {Total} recipients are not fanned out, and the {Enqueued} enqueued before are sent as usual")]
    public static partial void CampaignRunExpired(ILogger logger, long campaignId, DateTimeOffset fireTime, DateTimeOffset sendTime, TimeSpan late, TimeSpan expireAfter, int notFannedOut, int total, int enqueued);

    [LoggerMessage(2022, LogLevel.Warning, "Billing reminders for {Today:yyyy-MM-dd}: {Late} charges got no reminder, since it could go out only at {SendTime:O} (the end of the quiet hours), after the day, and its text counts days from the day (the due day's \"vence hoje\", or a template with days). Reminders that name the due date are written as usual")]
    public static partial void BillingRunTooLate(ILogger logger, DateOnly today, int late, DateTimeOffset sendTime);
}
