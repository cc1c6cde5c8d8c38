using Cortex.Sender.Gateways;
using Polly;
using Polly.CircuitBreaker;

namespace Cortex.Sender.Resilience;

/// <summary>
/// The third breaker: opens once the last <c>threshold</c> calls all failed, however far apart they were, or once calls
/// have failed in a row for <c>span</c>, at least <c>spanThreshold</c> of them. The outage breaker needs its failures
/// inside one short window, and a pod whose calls start spread out never gives it that: a rate limit far below the
/// workers, or one or two workers, against a gateway that stops answering (each call then times out on its own, one
/// after the other). Only the ratio breaker opened there, once the successes from before the fault had left its window,
/// and every send until then spent an attempt. With this one the attempts spent before the circuit opens are bounded by
/// a count, and for the slowest pods (one worker waiting out a 10 s timeout per call) by the span too.
/// </summary>
/// <remarks>
/// The failures of one message alone, its attempts however far apart, never open it: otherwise a pod left with a message
/// the gateway cannot take, back from the retry schedule minutes after its last attempt, opened the circuit on that
/// message's own failures, then held it unspent after every failed probe, with nothing else to probe with: never
/// dead-lettered, and the circuit open until other traffic came.
/// <para>
/// Break and probe as Polly's breakers do: open for the break (calls fail with <see cref="BrokenCircuitException"/>),
/// then one call goes through; its success closes the circuit, its failure opens it again. A call cancelled by its
/// caller (the shutdown) counts neither way, nor does a fault of ours.
/// </para>
/// </remarks>
internal sealed class FailureStreakBreaker : ResilienceStrategy<GatewayResult>
{
    private readonly Lock _lock = new();
    private readonly int _threshold;
    private readonly int _spanThreshold;
    private readonly TimeSpan _span;
    private readonly TimeSpan _breakDuration;
    private readonly TimeProvider _time;
    private readonly Func<CircuitBreakerPredicateArguments<GatewayResult>, ValueTask<bool>> _shouldHandle;
    private readonly Action<TimeSpan> _onOpened;
    private CircuitState _state = CircuitState.Closed;
    private DateTimeOffset _openUntil;
    private int _streak;
    private DateTimeOffset _streakSince;
    // The one message every failure of the streak sent; null once another message failed in it (or a call without one).
    private string? _streakMessage;

    /// <summary>The id of the message a call sends, set by the caller; a call without one counts as a message of its own.</summary>
    internal static readonly ResiliencePropertyKey<string> MessageId = new("cortex.message-id");

    /// <summary>
    /// A breaker that opens after <paramref name="threshold"/> failures in a row, or after failures in a row for
    /// <paramref name="span"/> from the first to the last, at least <paramref name="spanThreshold"/> of them, when they are
    /// not all of one message (<see cref="MessageId"/>), for <paramref name="breakDuration"/>, and calls
    /// <paramref name="onOpened"/> each time; <paramref name="time"/> is the clock. A failure is what
    /// <paramref name="shouldHandle"/> handles, as for the other breakers; any other answer of the gateway's is a success,
    /// and any other exception (a cancellation, a fault of ours) says nothing about the gateway.
    /// </summary>
    public FailureStreakBreaker(int threshold, int spanThreshold, TimeSpan span, TimeSpan breakDuration, TimeProvider time, Func<CircuitBreakerPredicateArguments<GatewayResult>, ValueTask<bool>> shouldHandle, Action<TimeSpan> onOpened)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threshold, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(spanThreshold, 1);
        _threshold = threshold;
        _spanThreshold = spanThreshold;
        _span = span;
        _breakDuration = breakDuration;
        _time = time;
        _shouldHandle = shouldHandle;
        _onOpened = onOpened;
    }

    public CircuitState State
    {
        get
        {
            lock (_lock)
            {
                return _state;
            }
        }
    }

    protected override async ValueTask<Outcome<GatewayResult>> ExecuteCore<TState>(
        Func<ResilienceContext, TState, ValueTask<Outcome<GatewayResult>>> callback, ResilienceContext context, TState state)
    {
        bool probe;
        lock (_lock)
        {
            probe = _state != CircuitState.Closed;
            if (probe)
            {
                if (_state == CircuitState.HalfOpen || _time.GetUtcNow() < _openUntil)
                {
                    return Outcome.FromException<GatewayResult>(new BrokenCircuitException("The circuit is now open and is not allowing calls: the gateway failed every one of the last calls."));
                }

                _state = CircuitState.HalfOpen;
            }
        }

        var outcome = await callback(context, state).ConfigureAwait(context.ContinueOnCapturedContext);
        bool? failed = await _shouldHandle(new(context, outcome)).ConfigureAwait(context.ContinueOnCapturedContext) ? true
            : outcome.Exception is null ? false
            : null;
        var opened = false;
        lock (_lock)
        {
            if (probe)
            {
                // A probe cancelled by its caller leaves the circuit open with its break over: the next call probes.
                opened = failed == true;
                _state = failed == false ? CircuitState.Closed : CircuitState.Open;
                _openUntil = opened ? _time.GetUtcNow() + _breakDuration : _time.GetUtcNow();
                _streak = 0;
            }
            else if (_state == CircuitState.Closed && failed is { } f)
            {
                // A call that started before the circuit opened and ends after it counts neither way.
                var now = _time.GetUtcNow();
                if (!f)
                {
                    _streak = 0;
                }
                else
                {
                    context.Properties.TryGetValue(MessageId, out var message);
                    if (++_streak == 1)
                    {
                        (_streakSince, _streakMessage) = (now, message);
                    }
                    else if (message != _streakMessage)
                    {
                        _streakMessage = null;
                    }
                }

                if (_streakMessage is null && (_streak >= _threshold || (_streak >= _spanThreshold && now - _streakSince >= _span)))
                {
                    opened = true;
                    _state = CircuitState.Open;
                    _openUntil = now + _breakDuration;
                    _streak = 0;
                }
            }
        }

        if (opened)
        {
            _onOpened(_breakDuration);
        }

        return outcome;
    }
}

/// <summary>Polly's builder asks every strategy for options; the breaker's own come through its constructor.</summary>
internal sealed class FailureStreakOptions : ResilienceStrategyOptions
{
    public FailureStreakOptions() => Name = "FailureStreak";
}
