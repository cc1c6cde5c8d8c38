using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Cortex.Sender.Metrics;

/// <summary>The sender's instruments (meter "Cortex.Sender"), created once. Tags are small fixed sets, never ids or phones.</summary>
public sealed class SenderMetrics
{
    public const string MeterName = "Cortex.Sender";

    private readonly Counter<long> _sent;
    private readonly Counter<long> _retries;
    private readonly Counter<long> _deadLettered;
    private readonly Counter<long> _duplicatesSkipped;
    private readonly Counter<long> _redeliveredSends;
    private readonly Counter<long> _throttled;
    private readonly Counter<long> _returned;
    private readonly Counter<long> _deferred;
    private readonly Counter<long> _leasesRecovered;
    private readonly Histogram<double> _sendDuration;
    private readonly Histogram<double> _endToEnd;
    private readonly Histogram<double> _rateLimitWait;

    public SenderMetrics(IMeterFactory meterFactory)
    {
        ArgumentNullException.ThrowIfNull(meterFactory);
        var meter = meterFactory.Create(MeterName);
        _sent = meter.CreateCounter<long>("cortex.sender.sent", "{message}", "Messages accepted by the gateway.");
        _retries = meter.CreateCounter<long>("cortex.sender.retries", "{message}", "Failed sends scheduled for a later attempt.");
        _deadLettered = meter.CreateCounter<long>("cortex.sender.dead_lettered", "{message}", "Messages moved to the dead-letter list, by reason.");
        _duplicatesSkipped = meter.CreateCounter<long>("cortex.sender.duplicates_skipped", "{message}", "Messages not sent because their id was already sent.");
        _redeliveredSends = meter.CreateCounter<long>("cortex.sender.redelivered_sends", "{message}", "Sends of messages whose earlier consumer died mid-flight: possible duplicates.");
        _throttled = meter.CreateCounter<long>("cortex.sender.throttled", "{answer}", "Gateway answers asking to slow down.");
        _returned = meter.CreateCounter<long>("cortex.sender.returned", "{message}", "Leased messages returned to ready unsent (open circuit, configuration error, shutdown).");
        _deferred = meter.CreateCounter<long>("cortex.sender.deferred", "{message}", "Messages moved to the delayed set without an attempt (notBefore ahead, repeated throttling).");
        _leasesRecovered = meter.CreateCounter<long>("cortex.queue.leases_recovered", "{message}", "Leases of dead consumers returned to ready.");
        _sendDuration = meter.CreateHistogram<double>("cortex.sender.send.duration", "s", "Time of one gateway call, retries included.");
        _endToEnd = meter.CreateHistogram<double>("cortex.sender.end_to_end.duration", "s", "From enqueuedAt to the gateway accepting the message.");
        _rateLimitWait = meter.CreateHistogram<double>("cortex.sender.rate_limit.wait", "s", "Time spent waiting for a rate-limit permit.");
    }

    public void Sent(TimeSpan? endToEnd)
    {
        _sent.Add(1);
        if (endToEnd is { } e && _endToEnd.Enabled)
        {
            _endToEnd.Record(Math.Max(0, e.TotalSeconds));
        }
    }

    public void RetryScheduled() => _retries.Add(1);

    public void DeadLettered(string reason, int count = 1)
    {
        if (_deadLettered.Enabled)
        {
            _deadLettered.Add(count, new TagList { { "reason", reason } });
        }
    }

    public void DuplicateSkipped() => _duplicatesSkipped.Add(1);

    public void RedeliveredSend() => _redeliveredSends.Add(1);

    public void Throttled() => _throttled.Add(1);

    public void Returned(int count) => _returned.Add(count);

    public void Deferred() => _deferred.Add(1);

    public void LeasesRecovered(int count) => _leasesRecovered.Add(count);

    public void SendDuration(TimeSpan elapsed, string outcome)
    {
        if (_sendDuration.Enabled)
        {
            _sendDuration.Record(elapsed.TotalSeconds, new TagList { { "outcome", outcome } });
        }
    }

    public void RateLimitWait(TimeSpan elapsed)
    {
        if (_rateLimitWait.Enabled)
        {
            _rateLimitWait.Record(elapsed.TotalSeconds);
        }
    }
}
