using System.Diagnostics;
using System.Diagnostics.Metrics;
using Cortex.Shared.Metrics;

namespace Cortex.Sender.Metrics;

/// <summary>The sender's instruments (meter "Cortex.Sender"), created once. Tags are small fixed sets, never ids or phones.</summary>
public sealed class SenderMetrics
{
    public const string MeterName = "Cortex.Sender";

    private readonly Meter _meter;
    private readonly BoundedLabel _kinds = new(32);
    private readonly Counter<long> _sent;
    private readonly Counter<long> _failed;
    private readonly Counter<long> _retries;
    private readonly Counter<long> _deadLettered;
    private readonly Counter<long> _duplicatesSkipped;
    private readonly Counter<long> _withdrawnSkipped;
    private readonly Counter<long> _redeliveredSends;
    private readonly Counter<long> _unansweredSends;
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
        var meter = _meter = meterFactory.Create(MeterName);
        _sent = meter.CreateCounter<long>("cortex.sender.sent", "{message}", "Messages accepted by the gateway, by kind.");
        _failed = meter.CreateCounter<long>("cortex.sender.failed", "{attempt}", "Gateway calls that did not deliver, by kind and reason (retryable, throttled, permanent, configuration_error).");
        _retries = meter.CreateCounter<long>("cortex.sender.retries", "{message}", "Failed sends scheduled for a later attempt, by kind.");
        _deadLettered = meter.CreateCounter<long>("cortex.sender.dead_lettered", "{message}", "Messages moved to the dead-letter list, by kind and reason.");
        _duplicatesSkipped = meter.CreateCounter<long>("cortex.sender.duplicates_skipped", "{message}", "Messages not sent because their id was already sent.");
        _withdrawnSkipped = meter.CreateCounter<long>("cortex.sender.withdrawn_skipped", "{message}", "Messages not sent because their producer withdrew them before the send.");
        _redeliveredSends = meter.CreateCounter<long>("cortex.sender.redelivered_sends", "{message}", "Sends of messages whose earlier consumer died mid-flight: possible duplicates.");
        _unansweredSends = meter.CreateCounter<long>("cortex.sender.unanswered_sends", "{attempt}", "Gateway calls cut off before an answer (timeout, dropped connection, shutdown deadline): the message may have been delivered, and its resend may be a duplicate.");
        _throttled = meter.CreateCounter<long>("cortex.sender.throttled", "{answer}", "Gateway answers asking to slow down.");
        _returned = meter.CreateCounter<long>("cortex.sender.returned", "{message}", "Leased messages returned to ready with no attempt spent (open circuit, a send that failed as it opened, configuration error, shutdown).");
        _deferred = meter.CreateCounter<long>("cortex.sender.deferred", "{message}", "Messages moved to the delayed set without an attempt (notBefore ahead, repeated throttling, a recipient's pair rate limit).");
        _leasesRecovered = meter.CreateCounter<long>("cortex.queue.leases_recovered", "{message}", "Leases of dead consumers returned to ready.");
        _sendDuration = meter.CreateHistogram<double>("cortex.sender.send.duration", "s", "Time in the gateway calls of one send, its short retries included; the waits for a permit or a pause before them left out.");
        _endToEnd = meter.CreateHistogram<double>("cortex.sender.end_to_end.duration", "s", "From enqueuedAt to the gateway accepting the message, by kind.");
        _rateLimitWait = meter.CreateHistogram<double>("cortex.sender.rate_limit.wait", "s", "Time spent waiting for a rate-limit permit.");

        // Zero series from the start for the counters without tags: rate() and increase() cannot see the first event
        // of a series that did not exist before it (a new pod's first unanswered send). The tagged ones cannot be
        // seeded: their kinds are the producers'.
        foreach (var counter in (Counter<long>[])[_duplicatesSkipped, _withdrawnSkipped, _redeliveredSends, _unansweredSends, _throttled, _returned, _deferred, _leasesRecovered])
        {
            counter.Add(0);
        }
    }

    /// <summary>
    /// Gauges read from the engine at each scrape: prefetch channel occupancy, busy workers and the circuit state
    /// (0 closed, 1 open, 2 half-open, 3 isolated — Polly's <c>CircuitState</c> values), and 1 while sending is paused
    /// because the gateway rejected the configuration (a 401 pauses without opening the circuit).
    /// </summary>
    public void ObserveEngine(Func<int> channelItems, int channelCapacity, Func<int> busyWorkers, int workers, Func<int> circuitState, Func<int> configurationPaused, string gateway)
    {
        _meter.CreateObservableGauge("cortex.sender.channel.items", channelItems, "{message}", "Leased messages waiting in the prefetch channel for a worker.");
        _meter.CreateObservableGauge("cortex.sender.channel.capacity", () => channelCapacity, "{message}", "Size of the prefetch channel (Cortex:Sender:Prefetch).");
        _meter.CreateObservableGauge("cortex.sender.workers.busy", busyWorkers, "{worker}", "Workers in the middle of a send.");
        _meter.CreateObservableGauge("cortex.sender.workers", () => workers, "{worker}", "Configured workers (Cortex:Sender:Workers).");
        _meter.CreateObservableGauge(
            "cortex.sender.circuit.state",
            () => new Measurement<int>(circuitState(), new KeyValuePair<string, object?>("gateway", gateway)),
            "{state}",
            "Gateway circuit breaker: 0 closed, 1 open, 2 half-open, 3 isolated.");
        _meter.CreateObservableGauge(
            "cortex.sender.configuration_paused",
            () => new Measurement<int>(configurationPaused(), new KeyValuePair<string, object?>("gateway", gateway)),
            "{state}",
            "1 while sending is paused because the gateway rejected our configuration (401/403 key, unknown instance); messages wait in Redis.");
    }

    public void Sent(string? kind, TimeSpan? endToEnd)
    {
        if (!_sent.Enabled && !_endToEnd.Enabled)
        {
            return;
        }

        var tags = new TagList { { "kind", _kinds[kind] } };
        _sent.Add(1, tags);
        if (endToEnd is { } e)
        {
            _endToEnd.Record(Math.Max(0, e.TotalSeconds), tags);
        }
    }

    public void Failed(string? kind, string reason)
    {
        if (_failed.Enabled)
        {
            _failed.Add(1, new TagList { { "kind", _kinds[kind] }, { "reason", reason } });
        }
    }

    public void RetryScheduled(string? kind)
    {
        if (_retries.Enabled)
        {
            _retries.Add(1, new TagList { { "kind", _kinds[kind] } });
        }
    }

    // A dead letter labels its kind only if a send of that kind reached the gateway since the start: already expired
    // messages with 32 made-up kinds, dead-lettered at admission, took every slot, and real kinds read "other" after.
    public void DeadLettered(string reason, string? kind, int count = 1)
    {
        if (_deadLettered.Enabled)
        {
            _deadLettered.Add(count, new TagList { { "kind", _kinds.Known(kind) }, { "reason", reason } });
        }
    }

    public void DuplicateSkipped() => _duplicatesSkipped.Add(1);

    public void WithdrawnSkipped() => _withdrawnSkipped.Add(1);

    public void RedeliveredSend() => _redeliveredSends.Add(1);

    public void UnansweredSend() => _unansweredSends.Add(1);

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
