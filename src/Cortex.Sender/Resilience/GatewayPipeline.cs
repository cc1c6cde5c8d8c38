using Cortex.Sender.Gateways;
using Cortex.Sender.Pipeline;
using Cortex.Shared.Contract;
using Microsoft.Extensions.Options;
using Polly;
using Polly.CircuitBreaker;
using Polly.Retry;
using Polly.Timeout;

namespace Cortex.Sender.Resilience;

/// <summary>
/// One Polly pipeline for the gateway, built once: short retries of transient faults, two circuit breakers that
/// shut the <see cref="SendGate"/> while open, and a timeout per attempt. Throttled, permanent and configuration
/// answers pass straight through: they are not faults to retry here.
/// </summary>
/// <remarks>
/// The ratio breaker (FailureRatio over SamplingDuration) catches a degraded gateway, but after a busy spell its window
/// is full of successes: a gateway that goes down completely keeps it closed until those age out, up to 30 s during
/// which every send burns an attempt. The outage breaker opens as soon as every call of a short window failed.
/// </remarks>
public sealed class GatewayPipeline
{
    private readonly ResiliencePipeline<GatewayResult> _pipeline;
    private readonly IWhatsAppGateway _gateway;

    public GatewayPipeline(IWhatsAppGateway gateway, SendGate gate, IOptions<ResilienceOptions> options, IOptions<GatewayOptions> gatewayOptions, TimeProvider timeProvider)
    {
        ArgumentNullException.ThrowIfNull(gate);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(gatewayOptions);
        _gateway = gateway;
        var o = options.Value;
        var transient = new PredicateBuilder<GatewayResult>()
            .HandleResult(r => r.Outcome == GatewayOutcome.Retryable)
            .Handle<TimeoutRejectedException>()
            .Handle<HttpRequestException>();

        var builder = new ResiliencePipelineBuilder<GatewayResult> { TimeProvider = timeProvider };
        if (o.ShortRetries > 0)
        {
            builder.AddRetry(new RetryStrategyOptions<GatewayResult>
            {
                ShouldHandle = transient,
                MaxRetryAttempts = o.ShortRetries,
                Delay = o.ShortRetryDelay,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
            });
        }

        // Each breaker ignores the other's BrokenCircuitException: only transient answers count as failures.
        _pipeline = builder
            .AddCircuitBreaker(Breaker(transient, o.FailureRatio, o.SamplingDuration, o, gate.CircuitState, gate))
            .AddCircuitBreaker(Breaker(transient, 1.0, o.OutageSamplingDuration, o, gate.OutageCircuitState, gate))
            .AddTimeout(gatewayOptions.Value.Timeout)
            .Build();
    }

    private static CircuitBreakerStrategyOptions<GatewayResult> Breaker(
        PredicateBuilder<GatewayResult> transient, double ratio, TimeSpan sampling, ResilienceOptions o, CircuitBreakerStateProvider state, SendGate gate) => new()
    {
        ShouldHandle = transient,
        FailureRatio = ratio,
        SamplingDuration = sampling,
        MinimumThroughput = o.MinimumThroughput,
        BreakDuration = o.BreakDuration,
        StateProvider = state,
        OnOpened = args =>
        {
            gate.OnCircuitOpened(args.BreakDuration);
            return ValueTask.CompletedTask;
        },
    };

    /// <summary>Sends through the pipeline. Throws <see cref="BrokenCircuitException"/> while the circuit is open.</summary>
    public ValueTask<GatewayResult> SendAsync(Envelope message, CancellationToken cancellationToken) =>
        _pipeline.ExecuteAsync(
            static async (state, ct) => await state.Gateway.SendAsync(state.Message, ct),
            (Gateway: _gateway, Message: message),
            cancellationToken);
}
