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
/// One Polly pipeline for the gateway, built once: short retries of transient faults, a circuit breaker that
/// shuts the <see cref="SendGate"/> while open, and a timeout per attempt. Throttled, permanent and configuration
/// answers pass straight through: they are not faults to retry here.
/// </summary>
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

        _pipeline = builder
            .AddCircuitBreaker(new CircuitBreakerStrategyOptions<GatewayResult>
            {
                ShouldHandle = transient,
                FailureRatio = o.FailureRatio,
                SamplingDuration = o.SamplingDuration,
                MinimumThroughput = o.MinimumThroughput,
                BreakDuration = o.BreakDuration,
                StateProvider = gate.CircuitState,
                OnOpened = args =>
                {
                    gate.OnCircuitOpened(args.BreakDuration);
                    return ValueTask.CompletedTask;
                },
            })
            .AddTimeout(gatewayOptions.Value.Timeout)
            .Build();
    }

    /// <summary>Sends through the pipeline. Throws <see cref="BrokenCircuitException"/> while the circuit is open.</summary>
    public ValueTask<GatewayResult> SendAsync(Envelope message, CancellationToken cancellationToken) =>
        _pipeline.ExecuteAsync(
            static async (state, ct) => await state.Gateway.SendAsync(state.Message, ct),
            (Gateway: _gateway, Message: message),
            cancellationToken);
}
