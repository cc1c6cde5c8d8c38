using System.Globalization;
using Cortex.Sender.Gateways;
using Cortex.Sender.Metrics;
using Cortex.Sender.Pipeline;
using Cortex.Shared.Contract;
using Microsoft.Extensions.Options;
using Polly;
using Polly.CircuitBreaker;
using Polly.Retry;
using Polly.Timeout;

namespace Cortex.Sender.Resilience;

/// <summary>
/// One Polly pipeline for the gateway, built once: short retries of transient faults, each attempt's turn (the caller's
/// <see cref="ISendTurns"/>), three circuit breakers that shut the <see cref="SendGate"/> while open, and a timeout per
/// attempt. Throttled, permanent and configuration answers pass straight through: they are not faults to retry here.
/// </summary>
/// <remarks>
/// The ratio breaker (FailureRatio over SamplingDuration) catches a degraded gateway, but after a busy spell its window
/// is full of successes: a gateway that goes down completely keeps it closed until those age out, up to 30 s during
/// which every send burns an attempt. The outage breaker opens as soon as every call of a short window failed, and the
/// <see cref="FailureStreakBreaker"/> once the last <c>MinimumThroughput</c> calls failed, for calls too far apart for
/// that window.
/// <para>
/// Every call that ends without an answer after its request may have reached the gateway (the timeout, the shutdown
/// deadline, a connection dropped mid-exchange) is logged with the message id and counted in
/// <c>cortex.sender.unanswered_sends</c>. The gateway may have delivered it, so the resend that follows, here or on
/// the long schedule, may reach the customer twice: with a crash, the only way a message repeats.
/// </para>
/// </remarks>
public sealed class GatewayPipeline
{
    /// <summary>The faults the short retries repeat and the breakers count: a retryable answer, a timeout, a failed connection.</summary>
    internal static readonly PredicateBuilder<GatewayResult> Transient = new PredicateBuilder<GatewayResult>()
        .HandleResult(r => r.Outcome == GatewayOutcome.Retryable)
        .Handle<TimeoutRejectedException>()
        .Handle<HttpRequestException>();

    private readonly ResiliencePipeline<GatewayResult> _pipeline;
    private readonly IWhatsAppGateway _gateway;
    private readonly SenderMetrics _metrics;
    private readonly ILogger<GatewayPipeline> _logger;
    private readonly string _timedOut;

    public GatewayPipeline(
        IWhatsAppGateway gateway,
        SendGate gate,
        IOptions<ResilienceOptions> options,
        IOptions<GatewayOptions> gatewayOptions,
        IOptions<SenderOptions> senderOptions,
        TimeProvider timeProvider,
        SenderMetrics metrics,
        ILogger<GatewayPipeline> logger)
    {
        ArgumentNullException.ThrowIfNull(gate);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(gatewayOptions);
        ArgumentNullException.ThrowIfNull(senderOptions);
        _gateway = gateway;
        _metrics = metrics;
        _logger = logger;
        _timedOut = string.Create(CultureInfo.InvariantCulture, $"timeout: no answer within {gatewayOptions.Value.Timeout.TotalSeconds:0.###} s");
        var o = options.Value;

        var builder = new ResiliencePipelineBuilder<GatewayResult> { TimeProvider = timeProvider };
        if (o.ShortRetries > 0)
        {
            Func<RetryPredicateArguments<GatewayResult>, ValueTask<bool>> retryable = Transient;
            Func<RetryPredicateArguments<GatewayResult>, ValueTask<bool>> toldWhen = new PredicateBuilder<GatewayResult>()
                .HandleResult(r => r.RetryAfter > o.ShortRetryDelay);
            builder.AddRetry(new RetryStrategyOptions<GatewayResult>
            {
                // A send whose failure opened the circuit (a failed probe among them) or came during a configuration
                // pause or an operator's pause of the queue returns its failure: its retry would only meet the open
                // circuit or the pause, and the caller hands the message back unspent. The gate is asked only about a
                // transient failure, not on every answer. A retry that goes waits for its turn as the first attempt did
                // (SendTurnStrategy, next). An answer whose Retry-After is longer than the short retries' delay said when to
                // come back: the long schedule waits for it (SenderEngine), a short retry would only be refused again.
                ShouldHandle = async args => await retryable(args) && !await toldWhen(args) && !gate.IsSendingHeld && gate.OperatorPause is null,
                MaxRetryAttempts = o.ShortRetries,
                Delay = o.ShortRetryDelay,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
            });
        }

        // Each breaker ignores the others' BrokenCircuitException: only transient answers count as failures.
        // A gateway that stops answering fails one call per worker per timeout, all at once: a pod with fewer workers
        // than MinimumThroughput never sees that many in the outage window, so there a failure for every worker is
        // enough. Never fewer than one message's attempts and one more: a single message's short retries are no outage.
        var moreThanOneMessage = o.ShortRetries + 2;
        var outageMinimum = Math.Min(o.MinimumThroughput, Math.Max(senderOptions.Value.Workers, moreThanOneMessage));
        // Calls that start spread out fail spread out too: the streak breaker counts them however far apart they are, and
        // opens sooner once they have failed in a row for the ratio breaker's window, with more than one message's attempts.
        // One message's failures alone never open it.
        var streak = new FailureStreakBreaker(
            o.MinimumThroughput, Math.Min(o.MinimumThroughput, moreThanOneMessage), o.SamplingDuration, o.BreakDuration, timeProvider, Transient, gate.OnCircuitOpened);
        gate.ReadStreakStateFrom(() => streak.State);
        _pipeline = builder
            .AddStrategy(_ => new SendTurnStrategy(() => gate.IsHoldingBack), new SendTurnOptions())
            .AddCircuitBreaker(Breaker(o.FailureRatio, o.SamplingDuration, o.MinimumThroughput, o, gate.CircuitState, gate))
            .AddCircuitBreaker(Breaker(1.0, o.OutageSamplingDuration, outageMinimum, o, gate.OutageCircuitState, gate))
            .AddStrategy(_ => streak, new FailureStreakOptions())
            .AddTimeout(gatewayOptions.Value.Timeout)
            .Build();
    }

    private static CircuitBreakerStrategyOptions<GatewayResult> Breaker(
        double ratio, TimeSpan sampling, int minimumThroughput, ResilienceOptions o, CircuitBreakerStateProvider state, SendGate gate) => new()
    {
        ShouldHandle = Transient,
        FailureRatio = ratio,
        SamplingDuration = sampling,
        MinimumThroughput = minimumThroughput,
        BreakDuration = o.BreakDuration,
        StateProvider = state,
        OnOpened = args =>
        {
            gate.OnCircuitOpened(args.BreakDuration);
            return ValueTask.CompletedTask;
        },
    };

    /// <summary>
    /// Sends through the pipeline, each attempt in its turn from <paramref name="turns"/> when given. Throws
    /// <see cref="BrokenCircuitException"/> while the circuit is open, and <see cref="SendWithdrawnException"/> when a turn
    /// was refused.
    /// </summary>
    public async ValueTask<GatewayResult> SendAsync(Envelope message, ISendTurns? turns, CancellationToken cancellationToken)
    {
        var context = ResilienceContextPool.Shared.Get(cancellationToken);
        context.Properties.Set(FailureStreakBreaker.MessageId, message.Id);
        if (turns is not null)
        {
            context.Properties.Set(SendTurnStrategy.Turns, turns);
        }

        try
        {
            return await _pipeline.ExecuteAsync(static (context, state) => state.Self.AttemptAsync(state.Message, state.Outer, context.CancellationToken), context, (Self: this, Message: message, Outer: cancellationToken));
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }

    // One attempt, inside the timeout: ct is the attempt's token, outer the caller's.
    private async ValueTask<GatewayResult> AttemptAsync(Envelope message, CancellationToken outer, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        GatewayResult result;
        try
        {
            result = await _gateway.SendAsync(message, ct);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // The attempt's timeout or the shutdown deadline cut the call: whatever the gateway did is unknown.
            Unanswered(message, outer.IsCancellationRequested ? "cancelled at the shutdown deadline" : _timedOut);
            throw;
        }

        if (result.Unanswered)
        {
            Unanswered(message, result.Error);
        }

        return result;
    }

    private void Unanswered(Envelope message, string? reason)
    {
        _metrics.UnansweredSend();
        GatewayLog.Unanswered(_logger, _gateway.Name, message.Id, reason);
    }
}
