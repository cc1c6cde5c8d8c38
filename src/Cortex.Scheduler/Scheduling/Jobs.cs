using Cortex.Scheduler.Billing;
using Cortex.Scheduler.Campaigns;
using Cortex.Scheduler.FollowUps;
using Cortex.Scheduler.Metrics;
using Cortex.Scheduler.Outbox;
using Cortex.Shared.Redis;
using Microsoft.Extensions.Options;
using Quartz;

namespace Cortex.Scheduler.Scheduling;

/// <summary>Billing reminders for today (cron Cortex:Scheduler:Billing:Cron, default 09:00).</summary>
/// <remarks>
/// The job fires once a day, so a run cut by PostgreSQL or Redis going away would leave the rest of the day unwritten
/// until tomorrow's firing, which reminds of other due dates: those reminders would never go out. A rerun of the same day
/// is idempotent (ledger keys), so a transient failure is retried with backoff, for the same date, until the day is
/// written or <see cref="RetryFor"/> has passed.
/// </remarks>
[DisallowConcurrentExecution]
public sealed class BillingReminderJob(BillingReminders reminders, SchedulerMetrics metrics, TimeProvider timeProvider, ILogger<BillingReminderJob> logger)
    : CortexJob(metrics, timeProvider, logger)
{
    public const string JobName = "billing-reminders";

    /// <summary>How long a failed run is retried; past it the failure is reported and the next firing starts afresh.</summary>
    public static readonly TimeSpan RetryFor = TimeSpan.FromHours(2);

    private static readonly TimeSpan s_firstRetry = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan s_maxRetry = TimeSpan.FromMinutes(1);

    protected override string Name => JobName;

    protected override async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        var today = reminders.Today();
        var started = Clock.GetTimestamp();
        var delay = s_firstRetry;
        while (true)
        {
            try
            {
                var r = await reminders.RunAsync(today, cancellationToken);
                Log.BillingRun(logger, r.Today, r.Due, r.New, r.OptedOut, r.Invalid, r.Published);
                return r.Published;
            }
            catch (Exception ex) when (IsTransient(ex) && !cancellationToken.IsCancellationRequested && Clock.GetElapsedTime(started) + delay <= RetryFor)
            {
                if (RedisAcl.IsRefusal(ex))
                {
                    // An ACL narrowed while running: retried all the same, so the day is written once an operator restores it.
                    Log.BillingRunRefused(logger, today, ex.Message, delay);
                }
                else
                {
                    Log.BillingRunRetrying(logger, ex, today, delay);
                }

                await Task.Delay(delay, Clock, cancellationToken);
                delay = delay * 2 < s_maxRetry ? delay * 2 : s_maxRetry;
            }
        }
    }

    /// <summary>
    /// A server away or restarting, or a Redis ACL refusal an operator can lift; not a bug in a query, which would fail the
    /// same way every time.
    /// </summary>
    internal static bool IsTransient(Exception exception) =>
        exception is Npgsql.NpgsqlException { IsTransient: true } or StackExchange.Redis.RedisException or TimeoutException;
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
