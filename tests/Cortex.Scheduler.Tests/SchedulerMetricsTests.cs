using System.Diagnostics.Metrics;
using Cortex.Scheduler.Metrics;
using Cortex.Scheduler.Scheduling;
using Cortex.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Cortex.Scheduler.Tests;

public class SchedulerMetricsTests
{
    [Fact]
    public void JobRun_TheRunIsCountedOnlyOnceItsDurationPushesAndSuccessTimeAreRecorded()
    {
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var time = new FakeTimeProvider();
        var metrics = new SchedulerMetrics(services.GetRequiredService<IMeterFactory>(), null!, null!, time);
        var recorded = new List<string>();
        double? lastSuccessWhenCounted = null;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == SchedulerMetrics.MeterName)
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<double>((instrument, value, _, _) =>
        {
            if (instrument.Name == "cortex.scheduler.job.last_success.timestamp")
            {
                lastSuccessWhenCounted = value;
            }
            else
            {
                recorded.Add(instrument.Name);
            }
        });
        listener.SetMeasurementEventCallback<long>((instrument, value, _, _) =>
        {
            if (value > 0)
            {
                recorded.Add(instrument.Name);
            }

            if (instrument.Name == "cortex.scheduler.job.runs" && value == 1)
            {
                // What a scrape at this instant would read of the observable gauges.
                listener.RecordObservableInstruments();
            }
        });
        listener.Start();

        metrics.JobRun(OutboxRepairJob.JobName, succeeded: true, TimeSpan.FromSeconds(2), enqueued: 2);

        Assert.Equal(["cortex.scheduler.job.duration", "cortex.scheduler.enqueued", "cortex.scheduler.job.runs"], recorded.Take(3));
        Assert.Equal(time.GetUtcNow().ToUnixTimeMilliseconds() / 1000.0, lastSuccessWhenCounted);
    }
}
