using Cortex.Scheduler.Billing;
using Cortex.Scheduler.Campaigns;
using Cortex.Scheduler.FollowUps;
using Cortex.Scheduler.Metrics;
using Cortex.Scheduler.Outbox;
using Microsoft.Extensions.Options;
using Quartz;

namespace Cortex.Scheduler.Scheduling;

/// <summary>Billing reminders for today (cron Cortex:Scheduler:Billing:Cron, default 09:00).</summary>
[DisallowConcurrentExecution]
public sealed class BillingReminderJob(BillingReminders reminders, SchedulerMetrics metrics, TimeProvider timeProvider, ILogger<BillingReminderJob> logger)
    : CortexJob(metrics, timeProvider, logger)
{
    public const string JobName = "billing-reminders";

    protected override string Name => JobName;

    protected override async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        var r = await reminders.RunAsync(reminders.Today(), cancellationToken);
        Log.BillingRun(logger, r.Today, r.Due, r.New, r.OptedOut, r.Invalid, r.Published);
        return r.Published;
    }
}

/// <summary>Conversation follow-ups (cron Cortex:Scheduler:FollowUps:Cron, default every minute).</summary>
[DisallowConcurrentExecution]
public sealed class FollowUpJob(ConversationFollowUps followUps, SchedulerMetrics metrics, TimeProvider timeProvider, ILogger<FollowUpJob> logger)
    : CortexJob(metrics, timeProvider, logger)
{
    public const string JobName = "conversation-follow-ups";

    protected override string Name => JobName;

    protected override async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        var r = await followUps.RunAsync(cancellationToken);
        if (r.FollowUps + r.Closed + r.Invalid + r.Published > 0)
        {
            Log.FollowUpRun(logger, r.FollowUps, r.Closed, r.Invalid, r.Published);
        }

        return r.Published;
    }
}

/// <summary>Campaign runs: start the due ones and fan out the running ones (cron Cortex:Scheduler:Campaigns:Cron, default every minute).</summary>
[DisallowConcurrentExecution]
public sealed class CampaignJob(CampaignFanOut fanOut, SchedulerMetrics metrics, TimeProvider timeProvider, ILogger<CampaignJob> logger)
    : CortexJob(metrics, timeProvider, logger)
{
    public const string JobName = "campaigns";

    protected override string Name => JobName;

    protected override async Task<int> RunAsync(CancellationToken cancellationToken) => (await fanOut.RunAsync(cancellationToken)).Published;
}

/// <summary>Pushes ledger rows that were committed but never pushed (cron Cortex:Scheduler:OutboxRepairCron).</summary>
[DisallowConcurrentExecution]
public sealed class OutboxRepairJob(DispatchLedger ledger, IOptions<SchedulerOptions> options, SchedulerMetrics metrics, TimeProvider timeProvider, ILogger<OutboxRepairJob> logger)
    : CortexJob(metrics, timeProvider, logger)
{
    public const string JobName = "outbox-repair";

    protected override string Name => JobName;

    protected override async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        var published = await ledger.PublishPendingAsync(options.Value.BatchSize, cancellationToken);
        if (published > 0)
        {
            Log.OutboxRepaired(logger, published);
        }

        return published;
    }
}
