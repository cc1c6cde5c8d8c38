using System.Globalization;
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
/// The job fires once a day, so a run cut before the day is written would leave the rest of it unwritten until tomorrow's
/// firing, which reminds of other due dates: those reminders would never go out. A rerun of the same day is idempotent
/// (ledger keys), so:
/// <list type="bullet">
/// <item>a transient failure (PostgreSQL or Redis away) is retried with backoff, in the run, until the day is written or
/// <see cref="RetryFor"/> has passed;</item>
/// <item>the day is owed in Quartz's store from the start of the run to its end (<see cref="OwedDays"/>), so a run cut by
/// a shutdown, a crash or a refused PostgreSQL login is run again by a scheduler node once one can, as long as the day
/// lasts.</item>
/// <item>a template that cannot be rendered (missing, or broken for every charge) fails the run once the rest of the day
/// is written, and the day stays owed, run again every <see cref="TemplateRetry"/>: once the template is fixed, its
/// charges get their reminders the same day (skipping them as invalid rows would have lost them).</item>
/// </list>
/// </remarks>
[DisallowConcurrentExecution]
public sealed class BillingReminderJob(BillingReminders reminders, SchedulerMetrics metrics, TimeProvider timeProvider, ILogger<BillingReminderJob> logger)
    : CortexJob(metrics, timeProvider, logger)
{
    public const string JobName = "billing-reminders";

    /// <summary>How long a failed run is retried; past it the failure is reported and the next firing starts afresh.</summary>
    public static readonly TimeSpan RetryFor = TimeSpan.FromHours(2);

    /// <summary>How often a day held up by a template that cannot be rendered is run again, until the day is over.</summary>
    public static readonly TimeSpan TemplateRetry = TimeSpan.FromMinutes(1);

    private static readonly TimeSpan s_firstRetry = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan s_maxRetry = TimeSpan.FromMinutes(1);

    protected override string Name => JobName;

    protected override async Task<int> RunAsync(IJobExecutionContext context, CancellationToken cancellationToken)
    {
        var today = reminders.Today();
        if (OwedDays.DayOf(context) is { } owed)
        {
            if (owed != today)
            {
                // Its texts count the days to the due date from the day they were meant for, so a later day cannot send them.
                await SettleAsync(context, owed);
                throw new InvalidOperationException(string.Create(
                    CultureInfo.InvariantCulture,
                    $"billing reminders for {owed:yyyy-MM-dd} were left unfinished by a run cut short, and that day is over: not resumed, since their texts count days from it. The reminders already in the ledger go out; the rest of that day's do not."));
            }

            Log.BillingDayResumed(logger, owed);
        }

        BillingRunResult result;
        try
        {
            result = await RunWithRetriesAsync(context, today, cancellationToken);
        }
        catch (BillingTemplateException ex)
        {
            // Fixed by hand, not by a retry at once: still owed, run again later today (the same day only, see above).
            var retryAt = Clock.GetUtcNow() + TemplateRetry;
            await OweAgainAsync(context, today, retryAt);
            Log.BillingTemplatesBroken(logger, today, ex.Charges, string.Join("; ", ex.Templates), retryAt);
            throw;
        }
        catch (Exception ex) when (!(ex is OperationCanceledException && cancellationToken.IsCancellationRequested))
        {
            // Reported, and not owed any more: it would fire again at once into the same fault. A shutdown leaves it owed.
            await SettleAsync(context, today);
            throw;
        }

        await SettleAsync(context, today);
        Metrics.InvalidRows(JobName, result.Invalid);
        Log.BillingRun(logger, result.Today, result.Due, result.New, result.OptedOut, result.Invalid, result.Published);
        if (result is { Late: > 0, LateSendTime: { } sendTime })
        {
            Log.BillingRunTooLate(logger, result.Today, result.Late, sendTime);
        }

        return result.Published;
    }

    private async Task<BillingRunResult> RunWithRetriesAsync(IJobExecutionContext context, DateOnly today, CancellationToken cancellationToken)
    {
        var started = Clock.GetTimestamp();
        var delay = s_firstRetry;
        var owed = false;
        while (true)
        {
            try
            {
                if (!owed)
                {
                    await OwedDays.OweAsync(context, today, cancellationToken);
                    owed = true;
                }

                return await reminders.RunAsync(today, cancellationToken);
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

    /// <summary>The day stays owed from <paramref name="retryAt"/>; if PostgreSQL cannot be told, it stays owed as it was (at once).</summary>
    private async Task OweAgainAsync(IJobExecutionContext context, DateOnly day, DateTimeOffset retryAt)
    {
        try
        {
            await OwedDays.OweAgainAsync(context, day, retryAt, CancellationToken.None);
        }
        catch (SchedulerException ex)
        {
            Log.BillingDayStillOwed(logger, day, (ex.InnerException ?? ex).Message);
        }
    }

    /// <summary>The day is no longer owed; if PostgreSQL cannot be told (away, or refusing the login), it stays owed.</summary>
    private async Task SettleAsync(IJobExecutionContext context, DateOnly day)
    {
        try
        {
            await OwedDays.SettleAsync(context, day, CancellationToken.None);
        }
        catch (SchedulerException ex)
        {
            Log.BillingDayStillOwed(logger, day, (ex.InnerException ?? ex).Message);
        }
    }

    /// <summary>
    /// A server away or restarting, or a Redis ACL refusal an operator can lift; not a bug in a query, which would fail the
    /// same way every time. Quartz wraps its store's failures (the owed day is written there).
    /// </summary>
    internal static bool IsTransient(Exception exception) => exception switch
    {
        Npgsql.NpgsqlException { IsTransient: true } or StackExchange.Redis.RedisException or TimeoutException => true,
        SchedulerException { InnerException: { } inner } => IsTransient(inner),
        _ => false,
    };
}

/// <summary>Conversation follow-ups (cron Cortex:Scheduler:FollowUps:Cron, default every minute).</summary>
[DisallowConcurrentExecution]
public sealed class FollowUpJob(ConversationFollowUps followUps, SchedulerMetrics metrics, TimeProvider timeProvider, ILogger<FollowUpJob> logger)
    : CortexJob(metrics, timeProvider, logger)
{
    public const string JobName = "conversation-follow-ups";

    protected override string Name => JobName;

    protected override async Task<int> RunAsync(IJobExecutionContext context, CancellationToken cancellationToken)
    {
        var r = await followUps.RunAsync(cancellationToken);
        Metrics.InvalidRows(JobName, r.Invalid);
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

    protected override async Task<int> RunAsync(IJobExecutionContext context, CancellationToken cancellationToken)
    {
        var result = await fanOut.RunAsync(cancellationToken);
        Metrics.InvalidRows(JobName, result.Invalid);
        return result.Published;
    }
}

/// <summary>
/// Pushes ledger rows that were committed but never pushed, and withdraws messages no longer wanted before they are sent:
/// held ones shortly before their send time, and those of a backlog waiting in the ready lists (cron
/// Cortex:Scheduler:OutboxRepairCron).
/// </summary>
[DisallowConcurrentExecution]
public sealed class OutboxRepairJob(DispatchLedger ledger, IOptions<SchedulerOptions> options, SchedulerMetrics metrics, TimeProvider timeProvider, ILogger<OutboxRepairJob> logger)
    : CortexJob(metrics, timeProvider, logger)
{
    public const string JobName = "outbox-repair";

    protected override string Name => JobName;

    protected override async Task<int> RunAsync(IJobExecutionContext context, CancellationToken cancellationToken)
    {
        var published = await ledger.PublishPendingAsync(options.Value.BatchSize, cancellationToken);
        if (published > 0)
        {
            Log.OutboxRepaired(logger, published);
        }

        var withdrawn = await ledger.WithdrawUnwantedAsync(cancellationToken);
        if (withdrawn.Count > 0)
        {
            Metrics.Withdrawn(withdrawn);
            var reasons = string.Join(", ", withdrawn.GroupBy(w => w.Reason).Select(g => $"{g.Key}: {g.Count()}"));
            Log.Withdrawn(logger, withdrawn.Count, reasons);
        }

        return published;
    }
}
