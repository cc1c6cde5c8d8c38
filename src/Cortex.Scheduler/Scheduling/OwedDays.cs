using System.Globalization;
using Quartz;

namespace Cortex.Scheduler.Scheduling;

/// <summary>
/// A billing day a run still owes, kept as a one-shot trigger of the billing job in Quartz's store (PostgreSQL), so that
/// the day outlives the process running it, as Hangfire keeps a job's retry in its storage. A run stores one before its
/// work and removes it when the day is written (or its failure reported). One cut by a shutdown, a crash or a refused
/// login leaves it behind: while the run lasts it is blocked (the job disallows concurrent execution, cluster-wide), and
/// once the run ends it fires at once, on any node, or on the first one to start.
/// </summary>
public static class OwedDays
{
    /// <summary>The owed days' trigger group; each trigger is named after its day ("2026-12-04.{id}").</summary>
    public const string Group = "cortex-billing-owed";

    private const string DateKey = "date";
    private const string Format = "yyyy-MM-dd";

    /// <summary>The day a firing owes, if an owed day's trigger fired it (a Quartz recovery of one carries its data too).</summary>
    public static DateOnly? DayOf(IJobExecutionContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return context.MergedJobDataMap.TryGetString(DateKey, out var text)
            && DateOnly.TryParseExact(text, Format, CultureInfo.InvariantCulture, DateTimeStyles.None, out var day) ? day : null;
    }

    /// <summary>The day of an owed day's trigger, from its name; null for any other trigger.</summary>
    public static DateOnly? DayOf(TriggerKey key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return key.Group == Group && key.Name.Length > Format.Length
            && DateOnly.TryParseExact(key.Name.AsSpan(0, Format.Length), Format, CultureInfo.InvariantCulture, DateTimeStyles.None, out var day) ? day : null;
    }

    /// <summary>Stores the day as owed by the firing's job.</summary>
    public static async Task OweAsync(IJobExecutionContext context, DateOnly day, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        await context.Scheduler.ScheduleJob(Trigger(context.JobDetail.Key, day), new ScheduleJobOptions(), cancellationToken);
    }

    /// <summary>
    /// The trigger that owes <paramref name="day"/>: it fires once, as soon as nothing of the job is running, or not before
    /// <paramref name="notBefore"/>.
    /// </summary>
    public static ITrigger Trigger(JobKey job, DateOnly day, DateTimeOffset? notBefore = null)
    {
        var text = day.ToString(Format, CultureInfo.InvariantCulture);
        var builder = TriggerBuilder.Create()
            .WithIdentity($"{text}.{Guid.NewGuid():N}", Group)
            .ForJob(job)
            .UsingJobData(DateKey, text);
        return (notBefore is { } at ? builder.StartAt(at) : builder.StartNow())
            .WithSimpleSchedule(s => s.WithMisfireInstruction(SimpleTriggerMisfireInstruction.FireNow))
            .Build();
    }

    /// <summary>
    /// Keeps the day owed, but not before <paramref name="notBefore"/>: for a run that failed on something a retry at once
    /// would meet again (a template to be fixed). Its other owed triggers, which would fire at once, are removed.
    /// </summary>
    public static async Task OweAgainAsync(IJobExecutionContext context, DateOnly day, DateTimeOffset notBefore, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var trigger = Trigger(context.JobDetail.Key, day, notBefore);
        await context.Scheduler.ScheduleJob(trigger, new ScheduleJobOptions(), cancellationToken);
        await SettleAsync(context, day, cancellationToken, keep: trigger.Key);
    }

    /// <summary>
    /// Removes every owed trigger of the day but the one firing now, which Quartz removes itself when the run ends (a
    /// trigger removed under a running firing could be written back by Quartz's bookkeeping).
    /// </summary>
    public static async Task SettleAsync(IJobExecutionContext context, DateOnly day, CancellationToken cancellationToken, TriggerKey? keep = null)
    {
        ArgumentNullException.ThrowIfNull(context);
        var keys = (await context.Scheduler.GetTriggersOfJob(context.JobDetail.Key, cancellationToken))
            .Select(t => t.Key)
            .Where(k => DayOf(k) == day && !k.Equals(context.Trigger.Key) && !k.Equals(keep))
            .ToList();
        if (keys.Count > 0)
        {
            await context.Scheduler.UnscheduleJobs(keys, cancellationToken);
        }
    }
}
