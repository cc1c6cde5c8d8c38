using System.Diagnostics.Metrics;
using Cortex.Sender.Metrics;
using Cortex.Shared.Queue;
using Microsoft.Extensions.DependencyInjection;

namespace Cortex.Sender.Tests.Metrics;

public sealed class SenderMetricsTests
{
    [Fact]
    public void DeadLettered_32MadeUpKinds_TakeNoKindLabelFromTheKindsSentAfterThem()
    {
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var metrics = new SenderMetrics(services.GetRequiredService<IMeterFactory>());
        var recorded = new List<(string Instrument, string? Kind)>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == SenderMetrics.MeterName)
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((instrument, _, tags, _) =>
        {
            string? kind = null;
            foreach (var tag in tags)
            {
                kind = tag.Key == "kind" ? tag.Value as string : kind;
            }

            recorded.Add((instrument.Name, kind));
        });
        listener.Start();

        // Already expired envelopes, dead-lettered at admission: a producer can push as many kinds as it likes.
        for (var i = 0; i < 32; i++)
        {
            metrics.DeadLettered(DeadLetterReasons.Expired, $"made-up-{i}");
        }

        metrics.Sent("billing_reminder", null);
        metrics.Failed("campaign", "retryable");
        metrics.DeadLettered(DeadLetterReasons.Expired, "billing_reminder");
        metrics.DeadLettered(DeadLetterReasons.Expired, "never_sent");
        metrics.DeadLettered(DeadLetterReasons.Expired, null);

        Assert.Equal(("cortex.sender.sent", "billing_reminder"), recorded[32]);
        Assert.Equal(("cortex.sender.failed", "campaign"), recorded[33]);
        Assert.Equal(("cortex.sender.dead_lettered", "billing_reminder"), recorded[34]); // a kind sent before is named
        Assert.Equal(("cortex.sender.dead_lettered", "other"), recorded[35]);
        Assert.Equal(("cortex.sender.dead_lettered", "none"), recorded[36]);
        Assert.All(recorded.Take(32), r => Assert.Equal("other", r.Kind));
    }
}
