using Polly.CircuitBreaker;

namespace Cortex.Sender.Pipeline;

/// <summary>
/// Whether sending may proceed: shut while the gateway's circuit is open or while a pause is in force
/// (throttling, a configuration error, an operator's pause of the queue). The fetcher stops leasing while it is shut, so
/// messages wait in Redis instead of burning attempts.
/// </summary>
public sealed class SendGate(TimeProvider timeProvider)
{
    private readonly Lock _lock = new();
    private DateTimeOffset _pausedUntil;
    private DateTimeOffset _probeAt;
    private DateTimeOffset _configurationPausedUntil;
    private string? _pauseReason;
    private Func<Polly.CircuitBreaker.CircuitState> _streakState = static () => Polly.CircuitBreaker.CircuitState.Closed;
    private volatile bool _configurationUnconfirmed;
    private bool _throttleUnconfirmed;
    private TaskCompletionSource? _throttleProbe;
    private string? _operatorPause;

    /// <summary>Filled by the resilience pipeline; reports the failure-ratio circuit breaker's state.</summary>
    public CircuitBreakerStateProvider CircuitState { get; } = new();

    /// <summary>Filled by the resilience pipeline; reports the outage breaker's state (every call failing).</summary>
    public CircuitBreakerStateProvider OutageCircuitState { get; } = new();

    /// <summary>The gateway's circuit as one state: open if any breaker is open, half-open if any probes.</summary>
    public Polly.CircuitBreaker.CircuitState Circuit => Combine(Combine(CircuitState.CircuitState, OutageCircuitState.CircuitState), _streakState());

    /// <summary>Called by the resilience pipeline once: where the failure-streak breaker's state is read.</summary>
    internal void ReadStreakStateFrom(Func<Polly.CircuitBreaker.CircuitState> state) => _streakState = state;

    /// <summary>
    /// True unless the circuit is closed, or while a configuration error has not been answered otherwise since: the
    /// fetcher then leases a single probe message at a time, so a key still wrong after the pause costs one 401, not a batch.
    /// </summary>
    public bool IsProbing => _configurationUnconfirmed || Circuit != Polly.CircuitBreaker.CircuitState.Closed;

    public bool IsCircuitOpen => Circuit is Polly.CircuitBreaker.CircuitState.Open or Polly.CircuitBreaker.CircuitState.Isolated;

    /// <summary>
    /// True while the gateway as a whole is failing us: the circuit is open, or a configuration pause is in force. A send
    /// that fails then is no fault of its message, and goes back to ready without spending an attempt.
    /// </summary>
    public bool IsSendingHeld => IsCircuitOpen || IsConfigurationPaused;

    /// <summary>True while sending is paused because the gateway rejected our configuration (401, unknown instance).</summary>
    public bool IsConfigurationPaused
    {
        get
        {
            lock (_lock)
            {
                return _configurationPausedUntil > timeProvider.GetUtcNow();
            }
        }
    }

    /// <summary>
    /// The reason an operator paused the queue (POST /admin/pause, read from Redis each maintenance tick), or null. The
    /// Lease script hands out nothing while it is set; this tells the workers too, so that what the pod had already
    /// leased goes back to ready instead of out to customers.
    /// </summary>
    public string? OperatorPause
    {
        get => Volatile.Read(ref _operatorPause);
        set => Volatile.Write(ref _operatorPause, value);
    }

    /// <summary>
    /// True while nothing will be sent for a while: the queue is paused by an operator, the circuit is open and its probe
    /// is not yet due, or a configuration pause is in force. A worker then hands its message back to Redis rather than
    /// hold the lease through the wait, so leasing really pauses (other pods can take the messages) and the backlog stays
    /// visible as ready.
    /// </summary>
    public bool IsHoldingBack
    {
        get
        {
            if (OperatorPause is not null)
            {
                return true;
            }

            var now = timeProvider.GetUtcNow();
            lock (_lock)
            {
                return _configurationPausedUntil > now || (IsCircuitOpen && _probeAt > now);
            }
        }
    }

    public (DateTimeOffset Until, string? Reason) Pause
    {
        get
        {
            lock (_lock)
            {
                return (_pausedUntil, _pauseReason);
            }
        }
    }

    /// <summary>Extends the pause to at least <paramref name="duration"/> from now.</summary>
    public void PauseFor(TimeSpan duration, string reason)
    {
        var until = timeProvider.GetUtcNow() + duration;
        lock (_lock)
        {
            if (until > _pausedUntil)
            {
                _pausedUntil = until;
                _pauseReason = reason;
            }
        }
    }

    /// <summary>
    /// Pauses sending after a throttled answer. Until a send is answered otherwise, each pause ends with one send (the
    /// probe) while the other workers wait for its answer, so a throttle that lasts costs one answer per pause, not one
    /// per worker.
    /// </summary>
    public void Throttled(TimeSpan duration)
    {
        PauseFor(duration, "gateway throttling");
        lock (_lock)
        {
            _throttleUnconfirmed = true;
        }
    }

    /// <summary>
    /// A worker's wait before a send: <see cref="WaitUntilOpenAsync"/>, then, after a throttled answer, the wait for the
    /// probe's answer. True when this caller is the probe; it must then call <see cref="ThrottleProbeDone"/> once its send
    /// is over, whatever became of it.
    /// </summary>
    public async Task<bool> WaitToSendAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            await WaitUntilOpenAsync(cancellationToken);
            Task probe;
            lock (_lock)
            {
                if (!_throttleUnconfirmed)
                {
                    return false;
                }

                if (_throttleProbe is null)
                {
                    if (_pausedUntil > timeProvider.GetUtcNow())
                    {
                        // Throttled again between the wait and the lock.
                        continue;
                    }

                    _throttleProbe = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    return true;
                }

                probe = _throttleProbe.Task;
            }

            await probe.WaitAsync(cancellationToken);
        }
    }

    /// <summary>
    /// The probe's send is over. <paramref name="throttleOver"/> (the gateway took it or refused it for good) lets every
    /// worker go; otherwise (throttled again, no answer) the next send after the pause probes.
    /// </summary>
    public void ThrottleProbeDone(bool throttleOver)
    {
        TaskCompletionSource? probe;
        lock (_lock)
        {
            if (throttleOver)
            {
                _throttleUnconfirmed = false;
            }

            probe = _throttleProbe;
            _throttleProbe = null;
        }

        probe?.TrySetResult();
    }

    /// <summary>Pauses sending after the gateway rejected our configuration; <see cref="IsConfigurationPaused"/> shows it until the pause ends.</summary>
    public void PauseForConfigurationError(TimeSpan duration, string reason)
    {
        _configurationUnconfirmed = true;
        PauseFor(duration, reason);
        var until = timeProvider.GetUtcNow() + duration;
        lock (_lock)
        {
            if (until > _configurationPausedUntil)
            {
                _configurationPausedUntil = until;
            }
        }
    }

    /// <summary>The gateway itself answered (accepted, permanent or throttled): our key and instance work again.</summary>
    public void ConfigurationConfirmed()
    {
        if (_configurationUnconfirmed)
        {
            _configurationUnconfirmed = false;
        }
    }

    /// <summary>Called when the circuit opens: no message is leased until the break is over.</summary>
    public void OnCircuitOpened(TimeSpan breakDuration)
    {
        lock (_lock)
        {
            _probeAt = timeProvider.GetUtcNow() + breakDuration;
        }
    }

    /// <summary>Waits while paused, or while the circuit is open and its break has not run out.</summary>
    public async Task WaitUntilOpenAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            DateTimeOffset resumeAt;
            lock (_lock)
            {
                resumeAt = _pausedUntil;
                if (IsCircuitOpen && _probeAt > resumeAt)
                {
                    resumeAt = _probeAt;
                }
            }

            var wait = resumeAt - timeProvider.GetUtcNow();
            if (wait <= TimeSpan.Zero)
            {
                return;
            }

            await Task.Delay(wait, timeProvider, cancellationToken);
        }
    }

    private static Polly.CircuitBreaker.CircuitState Combine(Polly.CircuitBreaker.CircuitState a, Polly.CircuitBreaker.CircuitState b) =>
        a is Polly.CircuitBreaker.CircuitState.Open or Polly.CircuitBreaker.CircuitState.Isolated ? a
        : b is Polly.CircuitBreaker.CircuitState.Open or Polly.CircuitBreaker.CircuitState.Isolated ? b
        : a == Polly.CircuitBreaker.CircuitState.HalfOpen ? a
        : b;
}
