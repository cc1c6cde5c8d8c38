using Cortex.Scheduler.Billing;
using Cortex.Scheduler.Metrics;
using Cortex.Shared.Redis;
using Quartz;

namespace Cortex.Scheduler.Scheduling;

/// <summary>
/// The Quartz side of a Cortex job. Each job class is [DisallowConcurrentExecution] (one firing at a time across the
/// cluster); a shutdown cancels the run through its token (the work resumes from committed progress next time); a
/// failure is logged and left for the next firing rather than refired at once into the same fault.
/// </summary>
public abstract class CortexJob(SchedulerMetrics metrics, TimeProvider timeProvider, ILogger logger) : IJob
{
    /// <summary>The job's name in Quartz and in logs.</summary>
    protected abstract string Name { get; }

    /// <summary>The injected clock, for jobs that wait (a retry's backoff).</summary>
    protected TimeProvider Clock => timeProvider;

    /// <summary>The scheduler's metrics, for what a job counts beyond its run.</summary>
    protected SchedulerMetrics Metrics => metrics;

    public async ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (context.Recovering)
        {
            // The firing of a node that died mid-run, run again here (the jobs request recovery): not a new firing.
            Log.JobRecovering(logger, Name, context.ScheduledFireTimeUtc, context.Scheduler.SchedulerInstanceId);
        }
        else
        {
            Log.JobFired(logger, Name, context.ScheduledFireTimeUtc, context.Scheduler.SchedulerInstanceId);
        }

        var started = timeProvider.GetTimestamp();
        try
        {
            var pushed = await RunAsync(context, cancellationToken);
            metrics.JobRun(Name, succeeded: true, timeProvider.GetElapsedTime(started), pushed);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Shutdown, not a fault: the next firing resumes from committed progress, so no failure is counted.
            Log.JobInterrupted(logger, Name);
        }
        catch (Exception ex)
        {
            metrics.JobRun(Name, succeeded: false, timeProvider.GetElapsedTime(started), 0);
            if (RedisAcl.IsRefusal(ex))
            {
                Log.JobRefused(logger, Name, ex.Message);
            }
            else if (ex is not BillingTemplateException)
            {
                // A template billing cannot render is logged by the job (event 2020), with when the day is run again.
                Log.JobFailed(logger, ex, Name);
            }

            throw new JobExecutionException(ex) { RefireImmediately = false };
        }
    }

    /// <summary>The job's work; returns how many messages it pushed to Redis.</summary>
    protected abstract Task<int> RunAsync(IJobExecutionContext context, CancellationToken cancellationToken);
}
