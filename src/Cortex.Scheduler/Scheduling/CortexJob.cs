using Quartz;

namespace Cortex.Scheduler.Scheduling;

/// <summary>
/// The Quartz side of a Cortex job. Each job class is [DisallowConcurrentExecution] (one firing at a time across the
/// cluster); a shutdown cancels the run through its token (the work resumes from committed progress next time); a
/// failure is logged and left for the next firing rather than refired at once into the same fault.
/// </summary>
public abstract class CortexJob(ILogger logger) : IJob
{
    /// <summary>The job's name in Quartz and in logs.</summary>
    protected abstract string Name { get; }

    public async ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        Log.JobFired(logger, Name, context.ScheduledFireTimeUtc, context.Scheduler.SchedulerInstanceId);
        try
        {
            await RunAsync(cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            Log.JobInterrupted(logger, Name);
        }
        catch (Exception ex)
        {
            Log.JobFailed(logger, ex, Name);
            throw new JobExecutionException(ex) { RefireImmediately = false };
        }
    }

    /// <summary>The job's work.</summary>
    protected abstract Task RunAsync(CancellationToken cancellationToken);
}
