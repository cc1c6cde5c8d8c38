using Polly.CircuitBreaker;

namespace Cortex.Sender.Pipeline;

/// <summary>
/// Whether sending may proceed: shut while the gateway's circuit is open or while a pause is in force
/// (throttling, a configuration error). The fetcher stops leasing while it is shut, so messages wait in
/// Redis instead of burning attempts.
/// </summary>
public sealed class SendGate(TimeProvider timeProvider)
{
    private readonly Lock _lock = new();
    private DateTimeOffset _pausedUntil;
    private DateTimeOffset _probeAt;
    private string? _pauseReason;

    /// <summary>Filled by the resilience pipeline; reports the circuit breaker's state.</summary>
    public CircuitBreakerStateProvider CircuitState { get; } = new();

    /// <summary>True unless the circuit is closed: the fetcher then leases a single probe message at a time.</summary>
    public bool IsProbing => CircuitState.CircuitState != Polly.CircuitBreaker.CircuitState.Closed;

    public bool IsCircuitOpen => CircuitState.CircuitState is Polly.CircuitBreaker.CircuitState.Open or Polly.CircuitBreaker.CircuitState.Isolated;

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
}
