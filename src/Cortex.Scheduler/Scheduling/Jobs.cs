using Cortex.Scheduler.Billing;
using Cortex.Scheduler.Campaigns;
using Cortex.Scheduler.FollowUps;
using Cortex.Scheduler.Outbox;
using Microsoft.Extensions.Options;
using Quartz;

namespace Cortex.Scheduler.Scheduling;

/// <summary>Billing reminders for today (cron Cortex:Scheduler:Billing:Cron, default 09:00).</summary>
[DisallowConcurrentExecution]
public sealed class BillingReminderJob(BillingReminders reminders, ILogger<BillingReminderJob> logger) : CortexJob(logger)
{
    public const string JobName = "billing-reminders";

    protected override string Name => JobName;

    protected override async Task RunAsync(CancellationToken cancellationToken)
    {
        var r = await reminders.RunAsync(reminders.Today(), cancellationToken);
        Log.BillingRun(logger, r.Today, r.Due, r.New, r.OptedOut, r.Invalid, r.Published);
    }
}

/// <summary>Conversation follow-ups (cron Cortex:Scheduler:FollowUps:Cron, default every minute).</summary>
[DisallowConcurrentExecution]
public sealed class FollowUpJob(ConversationFollowUps followUps, ILogger<FollowUpJob> logger) : CortexJob(logger)
{
    public const string JobName = "conversation-follow-ups";

    protected override string Name => JobName;

    protected override async Task RunAsync(CancellationToken cancellationToken)
    {
        var r = await followUps.RunAsync(cancellationToken);
        if (r.FollowUps + r.Closed + r.Invalid + r.Published > 0)
        {
            Log.FollowUpRun(logger, r.FollowUps, r.Closed, r.Invalid, r.Published);
        }
    }
}

/// <summary>Campaign runs: start the due ones and fan out the running ones (cron Cortex:Scheduler:Campaigns:Cron, default every minute).</summary>
[DisallowConcurrentExecution]
public sealed class CampaignJob(CampaignFanOut fanOut, ILogger<CampaignJob> logger) : CortexJob(logger)
{
    public const string JobName = "campaigns";

    protected override string Name => JobName;

    protected override Task RunAsync(CancellationToken cancellationToken) => fanOut.RunAsync(cancellationToken);
}

/// <summary>Pushes ledger rows that were committed but never pushed (cron Cortex:Scheduler:OutboxRepairCron).</summary>
[DisallowConcurrentExecution]
public sealed class OutboxRepairJob(DispatchLedger ledger, IOptions<SchedulerOptions> options, ILogger<OutboxRepairJob> logger) : CortexJob(logger)
{
    public const string JobName = "outbox-repair";

    protected override string Name => JobName;

    protected override async Task RunAsync(CancellationToken cancellationToken)
    {
        var published = await ledger.PublishPendingAsync(options.Value.BatchSize, cancellationToken);
        if (published > 0)
        {
            Log.OutboxRepaired(logger, published);
        }
    }
}
