using System.Globalization;
using System.Threading.Channels;
using Cortex.Sender.Gateways;
using Cortex.Sender.Metrics;
using Cortex.Sender.RateLimiting;
using Cortex.Sender.Resilience;
using Cortex.Sender.Retry;
using Cortex.Shared.Contract;
using Cortex.Shared.Hosting;
using Cortex.Shared.Privacy;
using Cortex.Shared.Queue;
using Cortex.Shared.Redis;
using Microsoft.Extensions.Options;
using Polly.CircuitBreaker;
using Polly.Timeout;
using StackExchange.Redis;

namespace Cortex.Sender.Pipeline;

/// <summary>
/// The sender: a fetcher leases batches into a bounded channel only as far as it has room, a pool of workers
/// sends each message through the rate limiter and the gateway pipeline, and acks are written in batches.
/// Heartbeats keep this consumer's leases safe; maintenance promotes delayed messages and recovers the
/// leases of dead consumers. On stop: no more leasing, in-flight sends finish within the budget, acks are
/// flushed, and everything still leased goes back to ready.
/// </summary>
internal sealed class SenderEngine : BackgroundService
{

    private static readonly TimeSpan s_probePoll = TimeSpan.FromMilliseconds(50);

    // A copy of an id that another live lease is sending waits this long, then meets that copy's sent marker.
    private static readonly TimeSpan s_inFlightDuplicateDelay = TimeSpan.FromSeconds(5);

    // How often this consumer looks for leases it no longer knows of when no Redis call of its own failed meanwhile.
    private static readonly TimeSpan s_reconcileEvery = TimeSpan.FromMinutes(1);

    // Every call of this consumer's goes through it, so it knows which leases this process holds (ReconcileLeasesAsync).
    private readonly HeldLeases _queue;
    private readonly GatewayPipeline _pipeline;
    private readonly IWhatsAppGateway _gateway;
    private readonly SendGate _gate;
    private readonly SenderRateLimiter _limiter;
    private readonly RetrySchedule _retry;
    private readonly SenderOptions _options;
    private readonly QueueOptions _queueOptions;
    private readonly SenderMetrics _metrics;
    private readonly TimeProvider _time;
    private readonly ILogger<SenderEngine> _logger;
    private readonly DeadLetterLog _deadLetterLog;
    private readonly ConfigurationRefusals _refusals;
    private readonly Channel<WorkItem> _channel;
    private readonly RefillSignal _refill;
    private readonly ConditionSignal _idle;
    private readonly CancellationTokenSource _sendsCancelled = new();
    private readonly CancellationTokenSource _hardStop = new();

    // Ends a worker's wait before its send (the pod's gate, a permit): at the send deadline, or with the hard stop, which
    // a stop on a dead connection cancels at once. A permit the global bucket in Redis would grant never comes then.
    private readonly CancellationTokenSource _waitToSendEnds;

    // Cancelled when the stop begins: a send held while Redis is silent is not made, and its message stays leased.
    private readonly CancellationTokenSource _stopping = new();

    // Guards the two heartbeat times below, which are read together.
    private readonly Lock _heartbeatWritten = new();

    private readonly RedisConnectionWatchdog? _watchdog;
    private AckBatcher? _acker;
    private volatile bool _draining;
    private int _busyWorkers;
    private int _cancelledSends;

    // Unix ms of the last Redis call that failed or answered a heartbeat late (long.MinValue: none yet); crash recovery
    // waits after an outage.
    private long _lastRedisFailureMs = long.MinValue;

    // Unix ms of the latest look for leases this consumer no longer knows of (ReconcileLeasesAsync).
    private long _leasesReconciledMs;

    // Unix ms the heartbeat now awaiting Redis was sent (long.MinValue: none in flight).
    private long _heartbeatSentMs = long.MinValue;

    // Unix ms the ack write now awaiting Redis was sent (long.MinValue: none in flight).
    private long _ackSentMs = long.MinValue;

    // Unix ms since which this pod's heartbeats or ack writes fail, none answered since (long.MinValue: they do not).
    private long _redisFailingSinceMs = long.MinValue;

    // Completed, and replaced, each time a heartbeat or an ack write ends: wakes the sends held while Redis was silent.
    private TaskCompletionSource _redisCallEnded = NewSignal();

    // 1 while sends are held because Redis is silent (logged once when the hold begins and once when it ends).
    private int _holdingSends;

    // Unix ms the latest heartbeat Redis answered was sent: the age other pods may see this one's heartbeat at, at most.
    private long _heartbeatWrittenMs;

    // Unix ms of the heartbeat that ended the latest spell in which this one's heartbeat may have looked dead to other
    // pods (long.MinValue: none): a lease issued before it may have been recovered and sent by another pod.
    private long _leasesInDoubtBeforeMs = long.MinValue;

    public SenderEngine(
        IMessageQueue queue,
        GatewayPipeline pipeline,
        IWhatsAppGateway gateway,
        SendGate gate,
        SenderRateLimiter limiter,
        RetrySchedule retry,
        IOptions<SenderOptions> options,
        IOptions<QueueOptions> queueOptions,
        SenderMetrics metrics,
        TimeProvider timeProvider,
        ILogger<SenderEngine> logger,
        RedisConnectionWatchdog? watchdog = null)
    {
        ConsumerId = options.Value.ConsumerId ?? $"{Environment.MachineName}-{Guid.NewGuid().ToString("N")[..8]}";
        _queue = new HeldLeases(queue, ConsumerId);
        _watchdog = watchdog;
        _pipeline = pipeline;
        _gateway = gateway;
        _gate = gate;
        _limiter = limiter;
        _retry = retry;
        _options = options.Value;
        _queueOptions = queueOptions.Value;
        _metrics = metrics;
        _time = timeProvider;
        _logger = logger;
        _deadLetterLog = new DeadLetterLog(logger, timeProvider, _options.DeadLetterLogLimit);
        _refusals = new ConfigurationRefusals(timeProvider);
        _waitToSendEnds = CancellationTokenSource.CreateLinkedTokenSource(_sendsCancelled.Token, _hardStop.Token);

        // FullMode is stated: the fetcher waits for room instead of leasing more than the pool can take.
        _channel = Channel.CreateBounded<WorkItem>(new BoundedChannelOptions(_options.Prefetch)
        {
            FullMode = BoundedChannelFullMode.Wait,
            SingleWriter = true,
            SingleReader = false,
        });
        _refill = new RefillSignal(_channel.Reader, _options.Prefetch, _options.Workers, _options.LeaseBatchSize);
        _idle = new ConditionSignal(() => IsIdle);
        metrics.ObserveEngine(() => _channel.Reader.Count, _options.Prefetch, () => BusyWorkers, _options.Workers, () => (int)gate.Circuit, () => gate.IsConfigurationPaused ? 1 : 0, gateway.Name);
    }

    public string ConsumerId { get; }

    /// <summary>Leased messages waiting for a worker.</summary>
    public int Buffered => _channel.Reader.Count;

    public int BusyWorkers => Volatile.Read(ref _busyWorkers);

    // The buffer first, then the busy count: a worker counts itself busy before it reads, so no message is missed between.
    private bool IsIdle => _channel.Reader.Count == 0 && BusyWorkers == 0;

    public override void Dispose()
    {
        _stopping.Dispose();
        _waitToSendEnds.Dispose();
        _sendsCancelled.Dispose();
        _hardStop.Dispose();
        base.Dispose();
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // Yield so host start-up is not held by the first Redis round trip.
        await Task.Yield();

        // Synchronously on SIGTERM: a worker finishing a send must not pick up another buffered message.
        using var drainOnStop = stoppingToken.Register(() => _draining = true);
        using var maintenanceStop = new CancellationTokenSource();
        if (_time is RedisClock clock)
        {
            // No heartbeat dated by this pod's own clock: other pods would judge it by theirs.
            await PersistAsync(() => clock.SyncAsync(stoppingToken), "clock reading", stoppingToken).ConfigureAwait(false);
            if (Interlocked.Read(ref _lastRedisFailureMs) != long.MinValue)
            {
                // Redis was away at start, a failure dated by the clock before its reading: Redis answered just now.
                Interlocked.Exchange(ref _lastRedisFailureMs, NowMs);
            }
        }

        await RecoverPredecessorAsync(stoppingToken).ConfigureAwait(false);
        var firstHeartbeatMs = NowMs;
        await PersistAsync(() => _queue.HeartbeatAsync(ConsumerId), "heartbeat", stoppingToken).ConfigureAwait(false);
        HeartbeatWritten(firstHeartbeatMs);
        _leasesReconciledMs = firstHeartbeatMs;
        var heartbeat = RunHeartbeatAsync(maintenanceStop.Token);
        var maintenance = RunMaintenanceAsync(maintenanceStop.Token);
        _acker = new AckBatcher(_queue, ConsumerId, _options.AckBatchSize, (op, name) => PersistAsync(() => AckWriteAsync(op), name, _hardStop.Token), OnLeasesLost);
        _acker.Start();
        var workers = new Task[_options.Workers];
        for (var i = 0; i < workers.Length; i++)
        {
            workers[i] = RunWorkerAsync();
        }

        SenderLog.Started(_logger, ConsumerId, _options.Workers, _options.Prefetch, _gateway.Name, _queue.Keys.Name);
        try
        {
            await FetchLoopAsync(stoppingToken);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        finally
        {
            await ShutdownAsync(workers, heartbeat, maintenance, maintenanceStop);
        }
    }

    // Leases held under this process's own id are a predecessor's: a process restarted under a fixed ConsumerId (a
    // StatefulSet's pod name) after a crash, within the consumer timeout. This process's heartbeat would keep them from
    // ever being recovered, so they go back to the queue before it starts, a delivery counted as for any crash.
    private async Task RecoverPredecessorAsync(CancellationToken stoppingToken)
    {
        var recovery = new RecoveryResult(0, 0, 0);
        await PersistAsync(async () => recovery = await _queue.RecoverConsumerAsync(ConsumerId), "recover predecessor", stoppingToken);
        if (recovery.Recovered + recovery.Poisoned > 0)
        {
            CountRecovered(recovery);
            SenderLog.PredecessorLeasesRecovered(_logger, ConsumerId, recovery.Recovered, recovery.Poisoned);
        }
    }

    // A recovery's counts, at start or in a sweep: the leases back in ready, and the poison dead-lettered on the way
    // (only ever among a recovered consumer's leases).
    private void CountRecovered(RecoveryResult recovery)
    {
        _metrics.LeasesRecovered(recovery.Recovered);
        if (recovery.Poisoned > 0)
        {
            _metrics.DeadLettered(DeadLetterReasons.Poison, null, recovery.Poisoned);
        }
    }

    private async Task ShutdownAsync(Task[] workers, Task heartbeat, Task maintenance, CancellationTokenSource maintenanceStop)
    {
        SenderLog.Stopping(_logger, ConsumerId, _options.ShutdownTimeout);

        // Messages still in the channel are not started: they stay leased and go back below, in order. So do those whose
        // send was held while Redis was silent.
        _draining = true;
        await _stopping.CancelAsync();
        _channel.Writer.TryComplete();
        _sendsCancelled.CancelAfter(_options.ShutdownTimeout);
        if (_watchdog is { ConnectionDead: true })
        {
            // The stop is the watchdog's: the connection carries nothing more, and waiting on it for acks and returns would
            // only hold back the restart. Sends in flight still finish; what this consumer holds is recovered by another.
            SenderLog.StopOnDeadConnection(_logger, ConsumerId);
            await _hardStop.CancelAsync();
        }
        else
        {
            _hardStop.CancelAfter(_options.ShutdownTimeout + TimeSpan.FromSeconds(5));
        }
        await Task.WhenAll(workers);
        var returned = 0;
        try
        {
            // Acks first: a sent message still leased would otherwise be returned and sent twice.
            await _acker!.CompleteAsync();

            // Heartbeats stop before the consumer is removed: one landing after the removal would register it again,
            // a ghost that looks alive for a consumer timeout.
            await StopAsync(maintenanceStop, heartbeat, maintenance);
            await PersistAsync(async () => returned = await _queue.RemoveConsumerAsync(ConsumerId), "return leases", _hardStop.Token);
            _metrics.Returned(returned);
        }
        catch (OperationCanceledException) when (_hardStop.IsCancellationRequested)
        {
            // Redis stayed away past the deadline: our leases stay in Redis and another consumer recovers them.
        }

        await StopAsync(maintenanceStop, heartbeat, maintenance);
        _deadLetterLog.Flush(final: true);
        SenderLog.Stopped(_logger, ConsumerId, returned, _cancelledSends);
    }

    private static async Task StopAsync(CancellationTokenSource maintenanceStop, Task heartbeat, Task maintenance)
    {
        await maintenanceStop.CancelAsync();
        await Task.WhenAll(heartbeat, maintenance);
    }

    private async Task FetchLoopAsync(CancellationToken stoppingToken)
    {
        var writer = _channel.Writer;
        var idle = _options.IdlePollMin;
        while (!stoppingToken.IsCancellationRequested)
        {
            await _gate.WaitUntilOpenAsync(stoppingToken);
            if (!await writer.WaitToWriteAsync(stoppingToken))
            {
                return;
            }

            if (_gate.OperatorPause is not null)
            {
                // Paused by an operator: the Lease script would hand out nothing. Leasing again waits for the maintenance
                // tick that reads the resume, or the workers would hand back what a lease brought before that read.
                await Task.Delay(_options.IdlePollMax, _time, stoppingToken);
                continue;
            }

            if (_gate.IsProbing && !IsIdle)
            {
                // The circuit lets one probe through: lease the next only when nothing is in flight, or every extra
                // message would bounce off the half-open circuit and back to Redis in a tight loop.
                await Task.Delay(s_probePoll, _time, stoppingToken);
                continue;
            }

            if (!_gate.IsProbing && _refill.IsAbove)
            {
                // Enough buffered for the workers: wait until a whole batch fits rather than lease a few at a time.
                // Then look at the gate and the circuit again, which may have changed meanwhile.
                await _refill.WaitAsync(stoppingToken);
                continue;
            }

            var room = _options.Prefetch - _channel.Reader.Count;
            var max = _gate.IsProbing ? 1 : Math.Min(_options.LeaseBatchSize, Math.Max(1, room));
            // One token for every retry of this request: if Redis ran a lease whose reply was lost, the retry gets that batch.
            var batch = LeaseBatch.Empty;
            var token = Guid.NewGuid().ToString("N");
            var leasedAtMs = NowMs;
            await PersistAsync(async () => batch = await _queue.LeaseAsync(ConsumerId, max, token, stoppingToken), "lease", stoppingToken);
            CountOversized(batch.Oversized);
            IReadOnlyList<LeasedMessage> leased = batch;
            if (leased.Count == 0)
            {
                if (batch.Oversized.Count > 0)
                {
                    // Only oversized payloads, already dead-lettered: what follows them may be ready now.
                    continue;
                }

                await Task.Delay(idle, _time, stoppingToken);
                idle = TimeSpan.FromTicks(Math.Min(idle.Ticks * 2, _options.IdlePollMax.Ticks));
                continue;
            }

            idle = _options.IdlePollMin;

            // Only a message that is an envelope: one that is not is dead-lettered in admission, with nothing to send. Anyone
            // who can LPUSH can write the redelivery header, and each payload pushed behind "\30" "2" "\30" held the pod's
            // sends until nothing else was in flight (5 ms each at 8 workers).
            var isolated = leased.FirstOrDefault(l => l.PreviousDeliveries >= IsolateFrom && EnvelopeCodec.Parse(l.Payload.Span).Envelope is not null);
            if (isolated is not null)
            {
                leased = await IsolateAsync(leased, isolated, stoppingToken);
            }

            var (admitted, sideTrips) = await AdmitAsync(leased, leasedAtMs, stoppingToken);
            foreach (var item in admitted)
            {
                // Room was reserved above and this is the only writer, so this does not wait.
                await writer.WriteAsync(item, stoppingToken);
            }

            // The batch's dead letters and deferrals finish while the workers send; one batch's writes at a time.
            await sideTrips;

            if (isolated is not null)
            {
                // Nothing more is leased until it is done: if it kills the process again, it alone is blamed.
                await WhileBusyAsync(stoppingToken);
            }
        }
    }

    /// <summary>
    /// Deliveries after which a message is handled alone. A crash recovery counts a delivery against every message the
    /// dead process held, not only the one that killed it, so the innocent messages leased with a poison one would
    /// travel with it from pod to pod and reach MaxDeliveries together. One crash proves nothing (a kill, an OOM from
    /// something else); a message whose holders died twice is sent with nothing else leased or in flight, so the
    /// innocent ones go through and only the culprit keeps counting.
    /// </summary>
    private int IsolateFrom => Math.Clamp(_queueOptions.MaxDeliveries - 1, 1, 2);

    /// <summary>Returns every lease but <paramref name="suspect"/> to ready and waits until nothing else is buffered or in flight.</summary>
    private async Task<IReadOnlyList<LeasedMessage>> IsolateAsync(IReadOnlyList<LeasedMessage> leased, LeasedMessage suspect, CancellationToken cancellationToken)
    {
        var others = leased.Where(l => l.LeaseId != suspect.LeaseId).Select(l => l.LeaseId).ToArray();
        if (others.Length > 0)
        {
            // Back to the consuming end in their order, with their delivery counts unchanged: the next leases take them.
            await PersistAsync(() => _queue.ReturnAsync(ConsumerId, others), "return", cancellationToken);
        }

        SenderLog.IsolatedRedelivery(_logger, suspect.LeaseId, suspect.PreviousDeliveries);
        await WhileBusyAsync(cancellationToken);
        return [suspect];
    }

    /// <summary>Until nothing is buffered or in flight; the last worker to let go ends the wait (<see cref="ConditionSignal"/>).</summary>
    private Task WhileBusyAsync(CancellationToken cancellationToken) => _idle.WaitAsync(cancellationToken);

    // Parses and screens a leased batch: bad envelopes and expired messages go to the DLQ, early ones to the
    // delayed set, ids already sent are acked without sending. Returns the rest, for the workers, as soon as the claim
    // answers, and the writes still going (dead letters, deferrals). The claim goes to Redis first: bad input leased
    // with good messages (its entries built, its bytes written) does not hold the good ones back.
    private async Task<(List<WorkItem> Admitted, Task SideTrips)> AdmitAsync(IReadOnlyList<LeasedMessage> leased, long leasedAtMs, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        var admitted = new List<WorkItem>(leased.Count);
        var sideTrips = new List<Task>();
        List<(LeasedMessage Message, Envelope? Envelope, string Reason, string Detail, string? MessageId)>? dead = null;
        foreach (var message in leased)
        {
            var parsed = EnvelopeCodec.Parse(message.Payload.Span);
            if (parsed.Envelope is not { } envelope)
            {
                (dead ??= []).Add((message, null, DeadLetterReasons.InvalidEnvelope, parsed.Error!.ToString(), EnvelopeCodec.TryReadId(message.Payload.Span)));
            }
            else if (envelope.ExpiresAt is { } expiresAt && expiresAt <= now)
            {
                (dead ??= []).Add((message, envelope, DeadLetterReasons.Expired, string.Create(CultureInfo.InvariantCulture, $"expired at {expiresAt:O} before it could be sent"), envelope.Id));
            }
            else if (envelope.NotBefore is { } notBefore && notBefore > now)
            {
                sideTrips.Add(DeferAsync(message, notBefore, cancellationToken));
            }
            else
            {
                admitted.Add(new WorkItem(message, envelope, leasedAtMs));
            }
        }

        // One atomic claim per batch: ids already sent are acked unsent; an id another live lease is sending
        // (a producer pushed it twice, on this pod or another) waits, so it never reaches the gateway twice; an id its
        // producer withdrew is dropped.
        ClaimResult[] claims = [];
        var items = admitted.Select(w => new AckItem(w.Lease.LeaseId, w.Envelope.Id, w.Envelope.ExpiresAt)).ToArray();
        var claim = admitted.Count == 0 ? Task.CompletedTask : PersistAsync(async () => claims = await _queue.ClaimAsync(ConsumerId, items), "claim", cancellationToken);
        if (dead is not null)
        {
            // A batch's dead letters in one call.
            var entries = dead.ConvertAll(d => DeadLetter(d.Message, d.Envelope, d.Reason, d.Detail, d.Envelope?.LastError, null, d.MessageId));
            sideTrips.Add(PersistAsync(() => _queue.DeadLetterAsync(ConsumerId, entries), "dead-letter", cancellationToken));
        }

        await claim;
        for (var i = admitted.Count - 1; i >= 0; i--)
        {
            var (lease, envelope, _) = admitted[i];

            // Sent by this pod, its ack not yet written, and leased again: the pod that recovered this one's leases after
            // a freeze or a silence put the message back in ready (a redelivery), and this pod took it before its ack landed.
            var sentHere = claims[i] == ClaimResult.Claimed && lease.IsRedelivery && _acker!.IsPending(envelope.Id);
            if (claims[i] == ClaimResult.AlreadySent || sentHere)
            {
                _metrics.DuplicateSkipped();
                SenderLog.DuplicateSkipped(_logger, envelope.Id, envelope.TraceId);
                _acker!.Add(items[i]);
                admitted.RemoveAt(i);
            }
            else if (claims[i] == ClaimResult.InFlightElsewhere)
            {
                sideTrips.Add(DeferAsync(lease, now + s_inFlightDuplicateDelay, cancellationToken));
                admitted.RemoveAt(i);
            }
            else if (claims[i] == ClaimResult.Withdrawn)
            {
                // Its lease is released by the claim; nothing to ack.
                _metrics.WithdrawnSkipped();
                SenderLog.WithdrawnSkipped(_logger, envelope.Id, envelope.TraceId);
                admitted.RemoveAt(i);
            }
        }

        return (admitted, Task.WhenAll(sideTrips));
    }

    private async Task RunWorkerAsync()
    {
        await Task.Yield();
        var reader = _channel.Reader;
        while (!_draining && await reader.WaitToReadAsync())
        {
            while (!_draining)
            {
                // Busy before the read, so a message out of the buffer is always counted: an idle check reads the
                // buffer, then the busy count, and cannot see neither while a worker is between the two.
                Interlocked.Increment(ref _busyWorkers);
                if (!reader.TryRead(out var item))
                {
                    Release();
                    break;
                }

                _refill.OnRead();
                using var scope = _logger.BeginScope(new MessageLogScope(item.Envelope));
                try
                {
                    await ProcessAsync(item, _sendsCancelled.Token);
                }
                catch (Exception) when (_waitToSendEnds.IsCancellationRequested)
                {
                    // Shutdown deadline (or a stop on a dead connection): the message stays leased and is returned below
                    // (or recovered by another pod); the gateway may have it. Whatever the cut-short work threw, a
                    // cancellation or not, the worker ends normally: a fault here would skip the stop's final acks and
                    // the return of every lease.
                    Interlocked.Increment(ref _cancelledSends);
                }
                catch (Exception ex) when (!_waitToSendEnds.IsCancellationRequested)
                {
                    // A bug or an unforeseen fault costs the message an attempt, never a worker: a message that always
                    // faults reaches the dead-letter list after MaxAttempts instead of bouncing forever.
                    SenderLog.WorkerFault(_logger, item.Envelope.Id, item.Envelope.TraceId, ex);
                    await FailAfterFaultAsync(item, ex);
                }
                finally
                {
                    Release();
                }
            }
        }

        void Release()
        {
            Interlocked.Decrement(ref _busyWorkers);
            _idle.OnChanged();
        }
    }

    private async Task ProcessAsync(WorkItem item, CancellationToken cancellationToken)
    {
        var (lease, envelope, leasedAtMs) = item;
        if (_gate.IsHoldingBack)
        {
            // Leased before the queue was paused, the circuit opened or the gateway refused our key: back to ready, no
            // attempt spent, with what is buffered behind it.
            await ReturnWithBufferAsync(lease, cancellationToken);
            return;
        }

        if (lease.IsRedelivery)
        {
            _metrics.RedeliveredSend();
            SenderLog.Redelivered(_logger, envelope.Id, envelope.TraceId, lease.PreviousDeliveries);
        }

        for (var throttles = 0; ; throttles++)
        {
            if (!await WhileRedisSilentAsync())
            {
                // The stop came while the send was held: not sent, still leased, returned by the stop or recovered.
                return;
            }

            var (sent, unsent) = await SendOnceAsync(lease, envelope, leasedAtMs, cancellationToken);
            if (sent is not { } result)
            {
                await SettleUnsentAsync(lease, envelope, unsent, cancellationToken);
                return;
            }

            switch (result.Outcome)
            {
                case GatewayOutcome.Accepted:
                    // The provider's id is what its status webhooks carry (Evolution's keyId, Meta's wamid): the way back
                    // from a delivery failure reported there to this message.
                    if (result.ProviderMessageId is { } providerId)
                    {
                        SenderLog.Accepted(_logger, envelope.Id, envelope.TraceId, providerId);
                    }

                    _acker!.Add(new AckItem(lease.LeaseId, envelope.Id, envelope.ExpiresAt));
                    _metrics.Sent(envelope.Kind, envelope.EnqueuedAt is { } enqueuedAt ? _time.GetUtcNow() - enqueuedAt : null);
                    return;

                case GatewayOutcome.Throttled:
                    if (throttles < _options.MaxThrottleRetries)
                    {
                        continue;
                    }

                    // Still throttled: park it without spending an attempt, and free the worker.
                    await DeferAsync(lease, _gate.Pause.Until > _time.GetUtcNow() ? _gate.Pause.Until : _time.GetUtcNow() + TimeSpan.FromSeconds(1), cancellationToken);
                    return;

                case GatewayOutcome.RecipientThrottled:
                    // Too many messages to this one recipient: park it for the provider's interval, no attempt spent.
                    // Not a pause: the other recipients' messages carry on.
                    var wait = result.RetryAfter ?? TimeSpan.Zero;
                    _metrics.Throttled();
                    SenderLog.RecipientThrottled(_logger, envelope.Id, envelope.TraceId, wait);
                    await DeferAsync(lease, _time.GetUtcNow() + wait, cancellationToken);
                    return;

                case GatewayOutcome.Permanent:
                    await DeadLetterAsync(lease, envelope, DeadLetterReasons.Permanent, result.Error ?? "permanent failure", result.Error, envelope.Attempt + 1, cancellationToken);
                    return;

                case GatewayOutcome.ConfigurationError:
                    switch (_refusals.Refused(envelope.Id))
                    {
                        case RefusalVerdict.Message:
                            // The gateway answered other sends since it first refused this one so: the key works, this
                            // request does not. It waits a pause's length on its own; the pod goes on, no attempt spent.
                            SenderLog.MessageRefusedAsConfiguration(_logger, envelope.Id, envelope.TraceId, result.Error, _options.ConfigurationErrorPause);
                            await DeferAsync(lease, _time.GetUtcNow() + _options.ConfigurationErrorPause, cancellationToken);
                            return;

                        case RefusalVerdict.MessageForTooLong:
                            var detail = string.Create(
                                CultureInfo.InvariantCulture,
                                $"refused as a configuration error for over {ConfigurationRefusals.GiveUpAfter.TotalMinutes:0} minutes while the gateway took other messages: this request is refused, not the key");
                            await DeadLetterAsync(lease, envelope, DeadLetterReasons.Permanent, detail, result.Error, envelope.Attempt + 1, cancellationToken);
                            return;
                    }

                    SenderLog.ConfigurationRejected(_logger, result.Error, _options.ConfigurationErrorPause);
                    _gate.PauseForConfigurationError(_options.ConfigurationErrorPause, result.Error ?? "configuration error");

                    // Behind the backlog, as after an outage: the pause's probe is another message, which tells a refused
                    // key from a refused message. In front, a message refused for what it carries was every pause's probe.
                    await ReturnToBackAsync(lease, cancellationToken);
                    return;

                default:
                    if (_gate.IsSendingHeld)
                    {
                        // Its failure opened the circuit, or came while it was open (the probe, a call in flight at the
                        // opening) or during a configuration pause: the gateway is out, no fault of this message, and it
                        // waits in ready as the backlog does. Behind the backlog, not in front: the next probe is another
                        // message, so one the gateway always fails cannot hold the circuit open once the gateway is back.
                        SenderLog.OutageReturned(_logger, envelope.Id, envelope.TraceId, result.Error);
                        await ReturnToBackAsync(lease, cancellationToken);
                        return;
                    }

                    if (_gate.OperatorPause is not null)
                    {
                        // Failed as the queue was paused (its short retries are not taken then): back to ready with
                        // everything else the pod had leased, no attempt spent.
                        await ReturnAsync(lease, cancellationToken);
                        return;
                    }

                    await RetryOrDeadLetterAsync(lease, envelope, result.Error ?? "transient failure", result.RetryAfter, cancellationToken);
                    return;
            }
        }
    }

    /// <summary>A send that made no call whose answer counts (<see cref="Unsent"/>): where its message goes.</summary>
    private async Task SettleUnsentAsync(LeasedMessage lease, Envelope envelope, Unsent unsent, CancellationToken cancellationToken)
    {
        switch (unsent.Reason)
        {
            case UnsentReason.QuietHours:
                await HoldForQuietHoursAsync(lease, envelope, unsent.QuietUntil, cancellationToken);
                return;

            case UnsentReason.Expired:
                // Its expiresAt passed while it waited for a turn (a throttle pause, the rate limit): not sent late.
                var detail = string.Create(CultureInfo.InvariantCulture, $"expired at {envelope.ExpiresAt:O} while it waited for its turn to send (a throttle pause or the rate limit)");
                await DeadLetterAsync(lease, envelope, DeadLetterReasons.Expired, detail, unsent.LastError, unsent.Attempts, cancellationToken);
                return;

            case UnsentReason.LeaseGone:
                // Not sent: the lease went to another pod, or the stop came while this one asked.
                return;

            case UnsentReason.CircuitOpen:
                SenderLog.CircuitOpenReturned(_logger, envelope.Id, envelope.TraceId);
                await ReturnAsync(lease, cancellationToken);
                return;

            case UnsentReason.Paused:
                // Its turn came after the queue was paused by an operator: back to ready with the rest, unsent.
                await ReturnAsync(lease, cancellationToken);
                return;
        }
    }

    /// <summary>Why a send made no call whose answer counts.</summary>
    private enum UnsentReason
    {
        /// <summary>It did: the gateway's result counts.</summary>
        None,

        /// <summary>Its lease went to another pod (a retry found that), or the stop came while Redis was asked.</summary>
        LeaseGone,

        /// <summary>Refused by the open circuit.</summary>
        CircuitOpen,

        /// <summary>Its turn came after the queue was paused by an operator.</summary>
        Paused,

        /// <summary>Its turn came inside its quiet hours: to be held until <see cref="Unsent.QuietUntil"/>.</summary>
        QuietHours,

        /// <summary>Its turn came after its expiresAt: dead-lettered with <see cref="Unsent.Attempts"/> and <see cref="Unsent.LastError"/>.</summary>
        Expired,
    }

    /// <summary>
    /// A send that was not made, or not finished, and why. No attempt is counted for it, except one for a call of this send
    /// that failed before its expiry ended it (in <see cref="Attempts"/>, with that call's error).
    /// </summary>
    private readonly record struct Unsent(UnsentReason Reason, DateTimeOffset QuietUntil = default, int Attempts = 0, string? LastError = null);

    /// <summary>
    /// One send through the resilience pipeline, counted: the gateway's result, or, when none counts, why
    /// (<see cref="Unsent"/>). Each of its attempts, short retries included, waits for its turn (<see cref="SendTurns"/>).
    /// </summary>
    private async Task<(GatewayResult? Result, Unsent Unsent)> SendOnceAsync(LeasedMessage lease, Envelope envelope, long leasedAtMs, CancellationToken cancellationToken)
    {
        var turns = new SendTurns(this, lease, envelope, leasedAtMs);
        GatewayResult result;
        try
        {
            result = await _pipeline.SendAsync(envelope, turns, cancellationToken);
        }
        catch (SendWithdrawnException)
        {
            return (null, turns.Paused ? new Unsent(UnsentReason.Paused)
                : turns.QuietUntil is { } quietUntil ? new Unsent(UnsentReason.QuietHours, quietUntil)
                : !turns.Expired ? new Unsent(UnsentReason.LeaseGone)
                : turns.FailedCallError is { } error ? new Unsent(UnsentReason.Expired, Attempts: envelope.Attempt + 1, LastError: error)
                : new Unsent(UnsentReason.Expired, Attempts: envelope.Attempt, LastError: envelope.LastError));
        }
        catch (BrokenCircuitException)
        {
            return (null, new Unsent(UnsentReason.CircuitOpen));
        }
        catch (Exception ex) when (ex is TimeoutRejectedException or HttpRequestException)
        {
            result = GatewayResult.Retryable(FailureText(ex));
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            SenderLog.UnexpectedSendError(_logger, envelope.Id, envelope.TraceId, ex);
            result = GatewayResult.Retryable(FailureText(ex));
        }

        if (result.Outcome is GatewayOutcome.Accepted or GatewayOutcome.Permanent or GatewayOutcome.Throttled or GatewayOutcome.RecipientThrottled)
        {
            // The gateway itself answered (a 5xx or a timeout may come from anything in between): the key works.
            _gate.ConfigurationConfirmed();
            _refusals.Answered(turns.CallStart);
        }

        var outcome = OutcomeLabel(result.Outcome);
        _metrics.SendDuration(turns.CallTime, outcome);
        if (result.Outcome != GatewayOutcome.Accepted)
        {
            _metrics.Failed(envelope.Kind, outcome);
        }

        return (result, default);
    }

    /// <summary>What a call that ended in <paramref name="exception"/> instead of an answer counts as.</summary>
    private static string FailureText(Exception exception) => exception switch
    {
        TimeoutRejectedException => "gateway timed out",
        HttpRequestException http => "connection failed: " + http.HttpRequestError,
        _ => "unexpected error: " + exception.GetType().Name,
    };

    /// <summary>
    /// The turns of one send's attempts. Before each: the pod's gate (after a 429, one send at a time is the probe), a
    /// permit (after a shared pause, every pod's probe), then the message's expiry and quiet hours, and, for a lease in doubt
    /// (<see cref="LeaseInDoubt"/>), Redis's word that it is still this pod's, asked last, after every wait. A short
    /// retry that skipped them sent into another worker's throttle pause, and over the rate limit while the gateway
    /// failed. After each: a throttled answer pauses every pod before the probe reports, so the workers it wakes find the
    /// new pause; a probe reports whatever became of its attempt.
    /// </summary>
    private sealed class SendTurns(SenderEngine engine, LeasedMessage lease, Envelope envelope, long leasedAtMs) : ISendTurns
    {
        private bool _podProbe;
        private string? _globalProbe;

        /// <summary>Set when a turn came inside the message's quiet hours: the end of them.</summary>
        public DateTimeOffset? QuietUntil { get; private set; }

        /// <summary>Set when a turn came after the queue was paused by an operator: not sent, to go back to ready.</summary>
        public bool Paused { get; private set; }

        /// <summary>Set when a turn came after the message's expiresAt.</summary>
        public bool Expired { get; private set; }

        /// <summary>The error of this send's latest call, when one was made and failed (a short retry follows it).</summary>
        public string? FailedCallError { get; private set; }

        /// <summary>When the latest attempt's call started, as a timestamp of the engine's clock.</summary>
        public long CallStart { get; private set; }

        /// <summary>Time in the gateway's calls, the waits before them left out.</summary>
        public TimeSpan CallTime { get; private set; }

        public async ValueTask<bool> TakeAsync()
        {
            _podProbe = await engine._gate.WaitToSendAsync(engine._waitToSendEnds.Token);
            var taken = false;
            try
            {
                var waitStart = engine._time.GetTimestamp();
                _globalProbe = await engine._limiter.AcquireAsync(engine._waitToSendEnds.Token);
                if (engine._limiter.IsEnabled)
                {
                    engine._metrics.RateLimitWait(engine._time.GetElapsedTime(waitStart));
                }

                var now = engine._time.GetUtcNow();
                if (envelope.ExpiresAt <= now)
                {
                    // Checked at the lease, and again here: a throttle pause or the rate limit can outlast it.
                    Expired = true;
                }
                else if (envelope.QuietHours?.NextAllowed(now) is { } allowed && allowed > now)
                {
                    // Its quiet hours began while it waited: not sent, held until they end (HoldForQuietHoursAsync).
                    QuietUntil = allowed;
                }
                else
                {
                    taken = !engine.LeaseInDoubt(leasedAtMs) || await engine.StillHeldAsync(lease, envelope);

                    // Paused by an operator while this send waited for its turn (a throttle pause, the rate limit, Redis's
                    // word on its lease): not under way yet, it goes back with the rest.
                    if (taken && engine._gate.OperatorPause is not null)
                    {
                        Paused = true;
                        taken = false;
                    }
                }
            }
            finally
            {
                if (!taken)
                {
                    await ReleaseAsync(throttleOver: false);
                }
            }

            if (!taken)
            {
                return false;
            }

            CallStart = engine._time.GetTimestamp();
            return true;
        }

        public async ValueTask EndAsync(GatewayResult? result, Exception? exception)
        {
            CallTime += engine._time.GetElapsedTime(CallStart);
            FailedCallError = result is not { } answered ? (exception is null ? "no answer from the gateway" : FailureText(exception))
                : answered.Outcome == GatewayOutcome.Accepted ? null
                : answered.Error ?? answered.Outcome.ToString();
            try
            {
                if (result is { Outcome: GatewayOutcome.Throttled } throttled)
                {
                    engine._metrics.Throttled();
                    var pause = engine._limiter.PauseFor(throttled.RetryAfter);
                    SenderLog.Throttled(engine._logger, pause);
                    await engine._limiter.OnThrottledAsync(pause, engine._waitToSendEnds.Token);
                }
            }
            finally
            {
                // Taken or refused for good: the provider is sending again. Throttled, failed or no answer: probe again.
                await ReleaseAsync(result?.Outcome is GatewayOutcome.Accepted or GatewayOutcome.Permanent);
            }
        }

        private async Task ReleaseAsync(bool throttleOver)
        {
            if (_podProbe)
            {
                _podProbe = false;
                engine._gate.ThrottleProbeDone(throttleOver);
            }

            if (_globalProbe is { } token)
            {
                _globalProbe = null;
                await engine._limiter.ProbeDoneAsync(token, throttleOver, engine._waitToSendEnds.Token);
            }
        }
    }

    /// <summary>
    /// A failed attempt: the message goes to the delayed set for its next one, or is dead-lettered when none is left. The
    /// retry is not due before the gateway's Retry-After, when the answer had one (a 503 during maintenance).
    /// </summary>
    private async Task RetryOrDeadLetterAsync(LeasedMessage lease, Envelope envelope, string error, TimeSpan? retryAfter, CancellationToken cancellationToken)
    {
        var failedAttempts = envelope.Attempt + 1;
        if (_retry.NextDelay(failedAttempts) is not { } scheduled)
        {
            var detail = string.Create(CultureInfo.InvariantCulture, $"gave up after {failedAttempts} attempts");
            await DeadLetterAsync(lease, envelope, DeadLetterReasons.RetriesExhausted, detail, error, failedAttempts, cancellationToken);
            return;
        }

        // Its notBefore moves to when the retry is due, so that its queue age counts from then: an outage's retries, back in
        // ready, read as minutes or hours late from their first push, and CortexOldestMessageTooOld paged on the recovery.
        // Rewritten, a payload can outgrow the limit the lease holds it to: the error is added, and characters a producer
        // wrote as UTF-8 come back escaped (an emoji as \uD83D\uDE00, 12 bytes for 4). Without the error if that is enough,
        // then without the new notBefore; otherwise no retry could be leased, and it is dead-lettered now, saying why.
        var delay = retryAfter > scheduled ? retryAfter.Value : scheduled;
        var due = _time.GetUtcNow() + delay;
        if (envelope.ExpiresAt is { } expires && expires <= due)
        {
            // No retry may be sent after its expiresAt (and the envelope cannot say notBefore past it): expired now, with
            // this attempt and its error, as a hold for quiet hours that would outlast it is.
            var detail = string.Create(CultureInfo.InvariantCulture, $"expires at {expires:O}, before its retry at {due:O}");
            await DeadLetterAsync(lease, envelope, DeadLetterReasons.Expired, detail, error, failedAttempts, cancellationToken);
            return;
        }

        var retry = envelope with { Attempt = failedAttempts, LastError = error, NotBefore = due };
        var payload = EnvelopeCodec.Serialize(retry);
        if (payload.Length > EnvelopeLimits.MaxEnvelopeBytes)
        {
            payload = EnvelopeCodec.Serialize(retry with { LastError = null });
        }

        if (payload.Length > EnvelopeLimits.MaxEnvelopeBytes)
        {
            payload = EnvelopeCodec.Serialize(retry with { LastError = null, NotBefore = envelope.NotBefore });
        }

        if (payload.Length > EnvelopeLimits.MaxEnvelopeBytes)
        {
            var detail = string.Create(CultureInfo.InvariantCulture, $"cannot be retried: written for its retry it is {payload.Length} bytes, over the {EnvelopeLimits.MaxEnvelopeBytes}-byte limit (characters such as emoji take 12 bytes escaped)");
            await DeadLetterAsync(lease, envelope, DeadLetterReasons.InvalidEnvelope, detail, error, failedAttempts, cancellationToken);
            return;
        }

        await PersistAsync(() => _queue.ScheduleRetryAsync(ConsumerId, lease, payload, due), "schedule retry", cancellationToken);
        _metrics.RetryScheduled(envelope.Kind);
        SenderLog.RetryScheduled(_logger, envelope.Id, envelope.TraceId, failedAttempts, delay, error);
    }

    /// <summary>
    /// A message whose turn came inside its quiet hours (a backlog draining past 21:00, a retry due at night, a send that
    /// waited out a throttle pause): it waits in the delayed set until <paramref name="allowed"/>, their end, with no
    /// attempt spent and its notBefore moved there, so that its queue age counts from then. When it would expire first,
    /// it is dead-lettered now rather than in the morning.
    /// </summary>
    private async Task HoldForQuietHoursAsync(LeasedMessage lease, Envelope envelope, DateTimeOffset allowed, CancellationToken cancellationToken)
    {
        if (envelope.ExpiresAt is { } expires && expires <= allowed)
        {
            var detail = string.Create(CultureInfo.InvariantCulture, $"expires at {expires:O}, before its quiet hours ({envelope.QuietHours}) end at {allowed:O}");
            await DeadLetterAsync(lease, envelope, DeadLetterReasons.Expired, detail, envelope.LastError, null, cancellationToken);
            return;
        }

        // Rewritten over the lease's size limit (characters re-escaped), it keeps its own bytes and notBefore instead.
        var payload = EnvelopeCodec.Serialize(envelope with { NotBefore = allowed });
        if (payload.Length > EnvelopeLimits.MaxEnvelopeBytes)
        {
            await DeferAsync(lease, allowed, cancellationToken);
            return;
        }

        _metrics.Deferred();
        await PersistAsync(() => _queue.ScheduleRetryAsync(ConsumerId, lease, payload, allowed), "defer", cancellationToken);
    }

    private Task DeadLetterAsync(LeasedMessage lease, Envelope? envelope, string reason, string detail, string? lastError, int? attempts, CancellationToken cancellationToken)
    {
        var item = DeadLetter(lease, envelope, reason, detail, lastError, attempts);
        return PersistAsync(() => _queue.DeadLetterAsync(ConsumerId, item.Message, item.Entry), "dead-letter", cancellationToken);
    }

    // The entry for a message about to be dead-lettered, counted and logged (phone number masked).
    // An invalid envelope's own id, when it has a valid one (messageId), names the entry and the log line all the same.
    private DeadLetterItem DeadLetter(LeasedMessage lease, Envelope? envelope, string reason, string detail, string? lastError, int? attempts, string? messageId = null)
    {
        messageId = envelope?.Id ?? messageId;
        // The queue stores the leased payload byte for byte after this header: nothing to decode or escape here.
        var entry = new DeadLetterEntry
        {
            Reason = reason,
            Detail = detail,
            DeadAt = _time.GetUtcNow(),
            MessageId = messageId,
            Kind = envelope?.Kind,
            Attempts = attempts ?? envelope?.Attempt ?? 0,
            Deliveries = lease.PreviousDeliveries + 1,
            LastError = lastError,
        };
        _metrics.DeadLettered(reason, envelope?.Kind);
        _deadLetterLog.Write(messageId, envelope?.TraceId, PhoneMask.Mask(envelope?.To), reason, detail);
        return new DeadLetterItem(lease, entry);
    }

    // Payloads the lease dead-lettered inside Redis for being over the envelope limit: counted and logged like the
    // dead letters written here (they have no id, kind or number to show).
    private void CountOversized(IReadOnlyList<int> sizes)
    {
        if (sizes.Count == 0)
        {
            return;
        }

        _metrics.DeadLettered(DeadLetterReasons.InvalidEnvelope, null, sizes.Count);
        foreach (var size in sizes)
        {
            _deadLetterLog.Write(null, null, PhoneMask.Mask(null), DeadLetterReasons.InvalidEnvelope, EnvelopeLimits.OversizedDetail(size));
        }
    }

    private async Task FailAfterFaultAsync(WorkItem item, Exception fault)
    {
        try
        {
            await RetryOrDeadLetterAsync(item.Lease, item.Envelope, "worker fault: " + fault.GetType().Name, null, _hardStop.Token);
        }
        catch (OperationCanceledException) when (_hardStop.IsCancellationRequested)
        {
            // Shutting down with Redis away: the lease stays in Redis and is recovered by another consumer.
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // Its retry or dead letter faulted too: it stays leased, returned by the stop (or recovered after a crash),
            // and the worker goes on. Ending the worker would shrink the pool for the pod's life.
            SenderLog.FaultNotRecorded(_logger, item.Envelope.Id, item.Envelope.TraceId, ex);
        }
    }

    // Parks a leased message in the delayed set until dueAt, no attempt spent.
    private Task DeferAsync(LeasedMessage lease, DateTimeOffset dueAt, CancellationToken cancellationToken)
    {
        _metrics.Deferred();
        return PersistAsync(() => _queue.DeferAsync(ConsumerId, lease, dueAt), "defer", cancellationToken);
    }

    private async Task ReturnAsync(LeasedMessage lease, CancellationToken cancellationToken)
    {
        await PersistAsync(() => _queue.ReturnAsync(ConsumerId, [lease.LeaseId]), "return", cancellationToken);
        _metrics.Returned(1);
    }

    // Returns a message with the buffer behind it in one call, in the order they were leased: returned one by one, each
    // to the front of ready, a pod's buffer went back reversed. What another worker took meanwhile it returns on its own.
    private async Task ReturnWithBufferAsync(LeasedMessage lease, CancellationToken cancellationToken)
    {
        var leaseIds = new List<long> { lease.LeaseId };
        while (_channel.Reader.TryRead(out var buffered))
        {
            _refill.OnRead();
            leaseIds.Add(buffered.Lease.LeaseId);
        }

        leaseIds.Sort();
        await PersistAsync(() => _queue.ReturnAsync(ConsumerId, leaseIds), "return", cancellationToken);
        _metrics.Returned(leaseIds.Count);
    }

    // Behind the backlog: the next probe of the gateway is another message.
    private async Task ReturnToBackAsync(LeasedMessage lease, CancellationToken cancellationToken)
    {
        await PersistAsync(() => _queue.ReturnToBackAsync(ConsumerId, lease.LeaseId), "return", cancellationToken);
        _metrics.Returned(1);
    }

    private void OnLeasesLost(int lost) => SenderLog.LeasesLost(_logger, lost);

    private async Task RunHeartbeatAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(_queueOptions.HeartbeatInterval, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken))
            {
                var sentMs = NowMs;
                Interlocked.Exchange(ref _heartbeatSentMs, sentMs);
                try
                {
                    await _queue.HeartbeatAsync(ConsumerId).WaitAsync(cancellationToken);
                    HeartbeatWritten(sentMs);
                    var answeredIn = TimeSpan.FromMilliseconds(NowMs - sentMs);
                    if (answeredIn > _queueOptions.HeartbeatInterval)
                    {
                        // Redis was silent (hung, or a network that dropped packets without a reset): the connection
                        // held, no call failed, and every consumer's heartbeat is as late as this one.
                        Interlocked.Exchange(ref _lastRedisFailureMs, NowMs);
                        SenderLog.RedisAnsweredLate(_logger, answeredIn, _queueOptions.ConsumerTimeout);
                    }
                }
                catch (Exception ex) when (ex is RedisException or TimeoutException)
                {
                    Interlocked.CompareExchange(ref _redisFailingSinceMs, NowMs, long.MinValue);
                    RedisFailed("heartbeat", _queueOptions.HeartbeatInterval, ex);
                }
                finally
                {
                    Interlocked.Exchange(ref _heartbeatSentMs, long.MinValue);
                    OnRedisCallEnded();
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    private async Task RunMaintenanceAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(_queueOptions.MaintenanceInterval, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken))
            {
                // A second whose dead letters went over the log limit is summed up even when no more come.
                _deadLetterLog.Flush();
                try
                {
                    await ReadOperatorPauseAsync(cancellationToken);
                    while (await _queue.PromoteDueAsync().WaitAsync(cancellationToken) == 1000 && !cancellationToken.IsCancellationRequested)
                    {
                        // A large backlog of due messages: keep promoting in bounded steps.
                    }

                    await ReconcileLeasesAsync(cancellationToken);

                    if (RecoveryMustWait())
                    {
                        continue;
                    }

                    var recovery = await _queue.RecoverAsync().WaitAsync(cancellationToken);
                    if (recovery.DeadConsumers > 0)
                    {
                        CountRecovered(recovery);
                        SenderLog.LeasesRecovered(_logger, recovery.Recovered, recovery.DeadConsumers, recovery.Poisoned);
                    }
                }
                catch (Exception ex) when (ex is RedisException or TimeoutException)
                {
                    RedisFailed("maintenance", _queueOptions.MaintenanceInterval, ex);
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    // Redis that comes back without its last writes (a failover to a replica that had not received them, the AOF fsync
    // window) gives back leases this consumer had already finished: its retries, dead letters, returns and acks are gone,
    // and the lease hash holds the messages again. Nothing in this process will send or move them, and its heartbeat
    // keeps every other consumer from recovering them: they stayed until the process stopped, days on a long-lived pod,
    // and a copy of such a message's id waited behind its claim all that time. So after any failed Redis call, and once a
    // minute besides (a failover the client rode through without a failed call), the leases in the hash are compared with
    // those in hand, and the ones nothing holds go back to ready, as a stop would return them. A lease handed out after the
    // comparison began is left alone: its ids are above those read before it.
    private async Task ReconcileLeasesAsync(CancellationToken cancellationToken)
    {
        var now = NowMs;
        if (Interlocked.Read(ref _lastRedisFailureMs) < _leasesReconciledMs && now - _leasesReconciledMs < s_reconcileEvery.TotalMilliseconds)
        {
            return;
        }

        var highest = _queue.Highest;
        var orphans = _queue.Orphans(await _queue.LeaseIdsAsync(ConsumerId).WaitAsync(cancellationToken), highest);
        if (orphans.Count > 0)
        {
            var returned = await _queue.ReturnAsync(ConsumerId, orphans).WaitAsync(cancellationToken);
            _metrics.Returned(returned);
            SenderLog.ForgottenLeasesReturned(_logger, ConsumerId, returned);
        }

        _leasesReconciledMs = now;
    }

    // The operator's pause (POST /admin/pause) stops the Lease script at once; the pod learns of it here, within a
    // maintenance tick: its workers hand back what it had leased before (SendGate.IsHoldingBack, SendTurns) and its fetch
    // loop stops asking until a tick reads the resume.
    private async Task ReadOperatorPauseAsync(CancellationToken cancellationToken)
    {
        var reason = await _queue.GetPausedAsync().WaitAsync(cancellationToken);
        if (reason == _gate.OperatorPause)
        {
            return;
        }

        _gate.OperatorPause = reason;
        if (reason is null)
        {
            SenderLog.QueueResumed(_logger, _queue.Keys.Name);
        }
        else
        {
            // Set by hand with redis-cli, it may hold a line break (the admin endpoint refuses them): one line all the same.
            SenderLog.QueuePaused(_logger, _queue.Keys.Name, ControlCharacters.Escape(PhoneMask.MaskNumbersIn(reason))!);
        }
    }

    // Redis outages are waited out with capped exponential backoff (no tight reconnect loop); only the token ends it. It
    // also ends the wait for an answer: StackExchange.Redis 1.2.6 puts no timeout on async calls, and on a connection that
    // went silent without failing a stop would otherwise wait until the host gave up on it. A call given up on may still
    // run in Redis: what it leased stays this consumer's, and the stop returns it, or another pod recovers it.
    private async Task PersistAsync(Func<Task> operation, string name, CancellationToken cancellationToken)
    {
        var backoff = new RedisBackoff();
        while (true)
        {
            try
            {
                await operation().WaitAsync(cancellationToken);
                return;
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException)
            {
                var delay = backoff.Next();
                RedisFailed(name, delay, ex);
                await Task.Delay(delay, _time, cancellationToken);
            }
        }
    }

    // After an outage every consumer's heartbeat is stale, this one's and other live pods' alike: recovering then would
    // take live leases back and send their in-flight messages twice. Every live consumer heartbeats again within a
    // heartbeat interval of Redis coming back; the consumer timeout is the wait. An outage is a failed call, or Redis
    // silent for longer than a heartbeat interval: this consumer's heartbeat answered that late, or still unanswered
    // (its answer may have arrived with nobody to note it yet). A shorter silence leaves a live consumer's heartbeat at
    // most three intervals old, within the consumer timeout.
    private bool RecoveryMustWait()
    {
        var now = NowMs;
        var lastFailure = Interlocked.Read(ref _lastRedisFailureMs);
        if (lastFailure != long.MinValue && now - lastFailure < _queueOptions.ConsumerTimeout.TotalMilliseconds)
        {
            return true;
        }

        var heartbeatSent = Interlocked.Read(ref _heartbeatSentMs);
        return heartbeatSent != long.MinValue && now - heartbeatSent > _queueOptions.HeartbeatInterval.TotalMilliseconds;
    }

    private long NowMs => _time.GetUtcNow().ToUnixTimeMilliseconds();

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private void OnRedisCallEnded() => Interlocked.Exchange(ref _redisCallEnded, NewSignal()).TrySetResult();

    // One attempt of an ack write, timed for RedisSilence; one that fails holds sends until a write is answered.
    private async Task AckWriteAsync(Func<Task> write)
    {
        Interlocked.Exchange(ref _ackSentMs, NowMs);
        try
        {
            await write();
            Interlocked.Exchange(ref _redisFailingSinceMs, long.MinValue);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            Interlocked.CompareExchange(ref _redisFailingSinceMs, NowMs, long.MinValue);
            throw;
        }
        finally
        {
            Interlocked.Exchange(ref _ackSentMs, long.MinValue);
            OnRedisCallEnded();
        }
    }

    /// <summary>
    /// How long Redis has left this pod's heartbeat or ack write unanswered, when that is longer than a heartbeat
    /// interval (the silence <see cref="RecoveryMustWait"/> also goes by), or since they began to fail, none answered
    /// since; null otherwise.
    /// </summary>
    private TimeSpan? RedisSilence()
    {
        static long OrNever(long sentMs) => sentMs == long.MinValue ? long.MaxValue : sentMs;
        var now = NowMs;
        if (Interlocked.Read(ref _redisFailingSinceMs) is var failing && failing != long.MinValue)
        {
            return TimeSpan.FromMilliseconds(Math.Max(0, now - failing));
        }

        var since = Math.Min(OrNever(Interlocked.Read(ref _heartbeatSentMs)), OrNever(Interlocked.Read(ref _ackSentMs)));
        var silence = since == long.MaxValue ? TimeSpan.Zero : TimeSpan.FromMilliseconds(now - since);
        return silence > _queueOptions.HeartbeatInterval ? silence : null;
    }

    // How old this pod's heartbeat may grow before another pod could take it for dead: a heartbeat interval short of the
    // consumer timeout, for the clocks of the pods and the recovery sweep's own delay.
    private long DoubtAfterMs => (long)(_queueOptions.ConsumerTimeout - _queueOptions.HeartbeatInterval).TotalMilliseconds;

    // A heartbeat sent at sentMs was answered (a lease check writes one too). A gap since the one before it long enough
    // for other pods to take this one for dead puts every lease issued before it in doubt.
    private void HeartbeatWritten(long sentMs)
    {
        lock (_heartbeatWritten)
        {
            if (sentMs - _heartbeatWrittenMs >= DoubtAfterMs)
            {
                _leasesInDoubtBeforeMs = Math.Max(_leasesInDoubtBeforeMs, sentMs);
            }

            _heartbeatWrittenMs = Math.Max(_heartbeatWrittenMs, sentMs);
        }

        Interlocked.Exchange(ref _redisFailingSinceMs, long.MinValue);
    }

    /// <summary>
    /// Whether a message leased at <paramref name="leasedAtMs"/> may have been recovered by another pod since: this pod's
    /// heartbeat has gone unwritten for long enough since then, or is now. Redis that stayed silent past the consumer
    /// timeout and then answered again (a network that dropped packets for a while) leaves the sends it held, and the
    /// messages buffered meanwhile, leased here in this pod's eyes only; so does a process that stood still as long (a VM
    /// frozen by its host), or a pod cut off from Redis alone while the others reach it. Asked of Redis before such a
    /// message is sent; when Redis was away for every pod, nobody recovered and the answer is yes.
    /// </summary>
    private bool LeaseInDoubt(long leasedAtMs)
    {
        lock (_heartbeatWritten)
        {
            return leasedAtMs < _leasesInDoubtBeforeMs || NowMs - _heartbeatWrittenMs >= DoubtAfterMs;
        }
    }

    /// <summary>
    /// Asks Redis whether a lease in doubt is still this pod's. False when it went to another pod (logged: that pod sends
    /// the message) or the stop came while asking (it stays leased, and the stop returns it if it is still this pod's). A
    /// lease found held is safe to send at once: the check renewed this pod's heartbeat.
    /// </summary>
    private async Task<bool> StillHeldAsync(LeasedMessage lease, Envelope envelope)
    {
        var askedAtMs = NowMs;
        var held = false;
        try
        {
            await PersistAsync(async () => held = await _queue.HoldsLeaseAsync(ConsumerId, lease.LeaseId), "lease check", _stopping.Token);
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
            return false;
        }

        HeartbeatWritten(askedAtMs);
        if (!held)
        {
            SenderLog.LeaseTakenBeforeSend(_logger, envelope.Id, envelope.TraceId, lease.LeaseId);
            return false;
        }

        return true;
    }

    /// <summary>
    /// Holds a send while Redis is silent or fails this pod's heartbeats and ack writes (<see cref="RedisSilence"/>): the
    /// connection may be dead without having failed, and then nothing this pod sends can be acked. Another pod takes this
    /// one's leases once its heartbeat is a consumer timeout old and sends them again, so every send made meanwhile would
    /// reach its customer twice; a gateway that sets a slow pace (an Evolution instance sending a few messages a second)
    /// would go on for the watchdog's whole timeout. Calls that fail hold sends too: Redis may fail this pod alone (its
    /// connection reset and reconnects refused, a rotated password) while other pods reach it and recover its leases.
    /// Returns false when the stop came first: the message was not sent and stays leased.
    /// </summary>
    private async Task<bool> WhileRedisSilentAsync()
    {
        while (true)
        {
            // Read before the check: a call that ends after the check completes this one.
            var ended = Volatile.Read(ref _redisCallEnded).Task;
            if (RedisSilence() is not { } silence)
            {
                if (Interlocked.Exchange(ref _holdingSends, 0) == 1)
                {
                    SenderLog.SendsResumed(_logger, ConsumerId);
                }

                return true;
            }

            if (Interlocked.Exchange(ref _holdingSends, 1) == 0)
            {
                SenderLog.SendsHeld(_logger, ConsumerId, silence, _queueOptions.ConsumerTimeout);
            }

            try
            {
                await ended.WaitAsync(_stopping.Token);
            }
            catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
            {
                return false;
            }
        }
    }

    private void RedisFailed(string operation, TimeSpan retryIn, Exception ex)
    {
        Interlocked.Exchange(ref _lastRedisFailureMs, NowMs);
        SenderLog.RedisFailed(_logger, operation, retryIn, ex);
    }

    private static string OutcomeLabel(GatewayOutcome outcome) => outcome switch
    {
        GatewayOutcome.Accepted => "accepted",
        GatewayOutcome.Retryable => "retryable",
        GatewayOutcome.Throttled or GatewayOutcome.RecipientThrottled => "throttled",
        GatewayOutcome.Permanent => "permanent",
        _ => "configuration_error",
    };
}
