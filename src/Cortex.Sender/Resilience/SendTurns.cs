using Cortex.Sender.Gateways;
using Polly;

namespace Cortex.Sender.Resilience;

/// <summary>
/// What every attempt of one send goes through, its short retries as much as the first, supplied by the caller for that
/// send: a wait for its turn before the call (the send gate's pauses and throttle probe, a rate-limit permit, a lease in
/// doubt asked of Redis) and a report after it.
/// </summary>
public interface ISendTurns
{
    /// <summary>
    /// Waits for the attempt's turn. False when the message is no longer this caller's to send (its lease went to another
    /// pod): the attempt is not made, and the send ends in <see cref="SendWithdrawnException"/>.
    /// </summary>
    ValueTask<bool> TakeAsync();

    /// <summary>
    /// The attempt is over: the gateway's answer, or null when it ended without one, with what ended it (a timeout, a
    /// failed connection, the circuit). Must not throw: the answer decides what becomes of the message, and an accepted
    /// one must not be lost.
    /// </summary>
    ValueTask EndAsync(GatewayResult? result, Exception? exception);
}

/// <summary>A send ended before an attempt because <see cref="ISendTurns.TakeAsync"/> said the message is no longer the caller's to send.</summary>
public sealed class SendWithdrawnException : Exception
{
    public SendWithdrawnException()
        : base("The send was withdrawn before an attempt: the message is no longer this caller's to send.")
    {
    }

    public SendWithdrawnException(string message)
        : base(message)
    {
    }

    public SendWithdrawnException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>
/// Takes each attempt's turn from the send's <see cref="ISendTurns"/>. It sits just inside the short retries, so a retry
/// waits out a throttle pause and takes a permit as any send does, and outside the breakers and the timeout: the wait is
/// no part of the attempt, and an attempt that never starts counts neither way.
/// </summary>
/// <remarks>
/// A retry due while <paramref name="holdingBack"/> (the circuit opened, or a configuration pause began, during its delay)
/// is not made, and does not wait: the send ends with the failure before it, and the caller hands the message back to
/// ready unspent rather than hold its lease through the break, where no other pod could take it.
/// </remarks>
internal sealed class SendTurnStrategy(Func<bool> holdingBack) : ResilienceStrategy<GatewayResult>
{
    /// <summary>The send's turns, set by the caller; a send without them goes straight on.</summary>
    internal static readonly ResiliencePropertyKey<ISendTurns> Turns = new("cortex.send-turns");

    // The send's latest attempt: the outcome a retry held back ends with.
    private static readonly ResiliencePropertyKey<Outcome<GatewayResult>> s_previous = new("cortex.previous-attempt");

    protected override async ValueTask<Outcome<GatewayResult>> ExecuteCore<TState>(
        Func<ResilienceContext, TState, ValueTask<Outcome<GatewayResult>>> callback, ResilienceContext context, TState state)
    {
        if (context.Properties.TryGetValue(s_previous, out var previous) && holdingBack())
        {
            return previous;
        }

        var outcome = await TakeTurnAsync(callback, context, state).ConfigureAwait(context.ContinueOnCapturedContext);
        context.Properties.Set(s_previous, outcome);
        return outcome;
    }

    private static async ValueTask<Outcome<GatewayResult>> TakeTurnAsync<TState>(
        Func<ResilienceContext, TState, ValueTask<Outcome<GatewayResult>>> callback, ResilienceContext context, TState state)
    {
        if (!context.Properties.TryGetValue(Turns, out var turns))
        {
            return await callback(context, state).ConfigureAwait(context.ContinueOnCapturedContext);
        }

        try
        {
            if (!await turns.TakeAsync().ConfigureAwait(context.ContinueOnCapturedContext))
            {
                return Outcome.FromException<GatewayResult>(new SendWithdrawnException());
            }
        }
        catch (Exception ex)
        {
            // The stop ended the wait: no attempt, and a cancellation is never retried.
            return Outcome.FromException<GatewayResult>(ex);
        }

        var outcome = await callback(context, state).ConfigureAwait(context.ContinueOnCapturedContext);
        await turns.EndAsync(outcome is { Exception: null, Result: var answer } ? answer : null, outcome.Exception).ConfigureAwait(context.ContinueOnCapturedContext);
        return outcome;
    }
}

/// <summary>Polly's builder asks every strategy for options; this one has none of its own.</summary>
internal sealed class SendTurnOptions : ResilienceStrategyOptions
{
    public SendTurnOptions() => Name = "SendTurns";
}
