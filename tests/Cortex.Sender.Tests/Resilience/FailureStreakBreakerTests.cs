using Cortex.Sender.Gateways;
using Cortex.Sender.Resilience;
using Cortex.Testing;
using Polly;
using Polly.CircuitBreaker;
using Polly.Timeout;

namespace Cortex.Sender.Tests.Resilience;

/// <summary>
/// The breaker that counts failures in a row however far apart they come (a paced pod against a gateway that stopped
/// answering). A fake clock ends the breaks; no call here waits on time.
/// </summary>
public sealed class FailureStreakBreakerTests
{
    private static readonly TimeSpan s_break = TimeSpan.FromSeconds(30);
    private static readonly GatewayResult s_failure = GatewayResult.Retryable("HTTP 503");
    private static readonly GatewayResult s_success = GatewayResult.Accepted("ok");

    private readonly FakeTimeProvider _clock = new();
    private readonly List<TimeSpan> _opened = [];
    private readonly FailureStreakBreaker _breaker;
    private readonly ResiliencePipeline<GatewayResult> _pipeline;
    private int _calls;

    public FailureStreakBreakerTests()
    {
        _breaker = new FailureStreakBreaker(3, 3, TimeSpan.FromMinutes(1), s_break, _clock, GatewayPipeline.Transient, _opened.Add);
        _pipeline = new ResiliencePipelineBuilder<GatewayResult>().AddStrategy(_ => _breaker, new FailureStreakOptions()).Build();
    }

    [Fact]
    public async Task Execute_ThresholdFailuresInARow_OpensAndLetsNoCallThroughUntilTheBreakIsOver()
    {
        await CallAsync(s_failure);
        await CallAsync(s_failure);
        await CallAsync(s_success);
        await CallAsync(s_failure);
        await CallAsync(s_failure);
        Assert.Equal(CircuitState.Closed, _breaker.State);
        Assert.Empty(_opened);

        await CallAsync(s_failure);
        _clock.Advance(s_break - TimeSpan.FromSeconds(1));

        Assert.Equal(CircuitState.Open, _breaker.State);
        Assert.Equal([s_break], _opened);
        await Assert.ThrowsAsync<BrokenCircuitException>(() => CallAsync(s_success));
        Assert.Equal(6, _calls);
    }

    [Fact]
    public async Task Execute_FailuresInARowForTheSpan_OpenBeforeTheirCountDoesButNotOnOneMessagesAttempts()
    {
        // A pod with one worker against a gateway that stopped answering fails a call per timeout: 10 in a row would take
        // 10 timeouts. Failing in a row for the span opens it, given 4 failures: one message's three attempts are no outage.
        var breaker = new FailureStreakBreaker(10, 4, TimeSpan.FromSeconds(30), s_break, _clock, GatewayPipeline.Transient, _opened.Add);
        var pipeline = new ResiliencePipelineBuilder<GatewayResult>().AddStrategy(_ => breaker, new FailureStreakOptions()).Build();
        async Task Call(GatewayResult result, TimeSpan after)
        {
            _clock.Advance(after);
            await pipeline.ExecuteAsync(_ => ValueTask.FromResult(result));
        }

        await Call(s_failure, TimeSpan.Zero);
        await Call(s_failure, TimeSpan.FromSeconds(20));
        await Call(s_failure, TimeSpan.FromSeconds(20));
        Assert.Equal(CircuitState.Closed, breaker.State);

        await Call(s_success, TimeSpan.FromSeconds(10));
        await Call(s_failure, TimeSpan.FromSeconds(10));
        await Call(s_failure, TimeSpan.FromSeconds(10));
        await Call(s_failure, TimeSpan.FromSeconds(10));
        await Call(s_failure, TimeSpan.FromSeconds(9));
        Assert.Equal(CircuitState.Closed, breaker.State);

        await Call(s_failure, TimeSpan.FromSeconds(1));

        Assert.Equal(CircuitState.Open, breaker.State);
        Assert.Equal([s_break], _opened);
    }

    [Fact]
    public async Task Execute_FailuresOfOneMessageAlone_NeverOpenHoweverManyOrLong()
    {
        // A message the gateway cannot take fails all its attempts; on a pod with nothing else to send they are the only
        // calls. That is the message's problem: the circuit would hold it unspent, never dead-lettered.
        for (var i = 0; i < 6; i++)
        {
            await CallAsync(s_failure, "stuck", TimeSpan.FromSeconds(20));
        }

        Assert.Equal(CircuitState.Closed, _breaker.State);

        await CallAsync(s_failure, "other", TimeSpan.FromSeconds(20));

        Assert.Equal(CircuitState.Open, _breaker.State);
    }

    [Fact]
    public async Task Execute_BreakOver_OneProbeGoesAndItsSuccessClosesTheCircuit()
    {
        await OpenAsync();
        _clock.Advance(s_break);
        var answer = new TaskCompletionSource<GatewayResult>(TaskCreationOptions.RunContinuationsAsynchronously);

        var probe = _pipeline.ExecuteAsync(async _ => { Interlocked.Increment(ref _calls); return await answer.Task; }).AsTask();
        Assert.Equal(CircuitState.HalfOpen, _breaker.State);
        await Assert.ThrowsAsync<BrokenCircuitException>(() => CallAsync(s_success));
        answer.SetResult(s_success);
        await probe;
        await CallAsync(s_failure);
        await CallAsync(s_failure);

        Assert.Equal(CircuitState.Closed, _breaker.State);
        Assert.Equal(3 + 3, _calls);
        Assert.Single(_opened);
    }

    [Fact]
    public async Task Execute_ProbeFails_OpensForAnotherBreak()
    {
        await OpenAsync();
        _clock.Advance(s_break);

        await CallAsync(s_failure);

        Assert.Equal(CircuitState.Open, _breaker.State);
        Assert.Equal([s_break, s_break], _opened);
        await Assert.ThrowsAsync<BrokenCircuitException>(() => CallAsync(s_success));
    }

    [Fact]
    public async Task Execute_TimeoutsAndRefusedConnections_CountAsFailures()
    {
        await Assert.ThrowsAsync<TimeoutRejectedException>(() => _pipeline.ExecuteAsync<GatewayResult>(_ => throw new TimeoutRejectedException()).AsTask());
        await Assert.ThrowsAsync<HttpRequestException>(() => _pipeline.ExecuteAsync<GatewayResult>(_ => throw new HttpRequestException("refused")).AsTask());
        await CallAsync(s_failure);

        Assert.Equal(CircuitState.Open, _breaker.State);
    }

    [Fact]
    public async Task Execute_OutcomesThatSayNothingAboutTheGateway_NeitherCountNorBreakTheStreak()
    {
        // A call cancelled at the shutdown, or a fault of ours, between failures: the gateway still failed three in a row.
        await CallAsync(s_failure);
        await Assert.ThrowsAsync<OperationCanceledException>(() => _pipeline.ExecuteAsync<GatewayResult>(_ => throw new OperationCanceledException()).AsTask());
        await CallAsync(s_failure);
        await Assert.ThrowsAsync<InvalidOperationException>(() => _pipeline.ExecuteAsync<GatewayResult>(_ => throw new InvalidOperationException("bug")).AsTask());
        Assert.Equal(CircuitState.Closed, _breaker.State);

        await CallAsync(s_failure);

        Assert.Equal(CircuitState.Open, _breaker.State);
    }

    private async Task OpenAsync()
    {
        for (var i = 0; i < 3; i++)
        {
            await CallAsync(s_failure);
        }

        Assert.Equal(CircuitState.Open, _breaker.State);
    }

    private async Task CallAsync(GatewayResult result) =>
        await _pipeline.ExecuteAsync(_ =>
        {
            Interlocked.Increment(ref _calls);
            return ValueTask.FromResult(result);
        });

    /// <summary>A call sending <paramref name="message"/>, <paramref name="after"/> the one before, as the gateway pipeline makes it.</summary>
    private async Task CallAsync(GatewayResult result, string message, TimeSpan after)
    {
        _clock.Advance(after);
        var context = ResilienceContextPool.Shared.Get();
        context.Properties.Set(FailureStreakBreaker.MessageId, message);
        try
        {
            await _pipeline.ExecuteAsync((_, r) => ValueTask.FromResult(r), context, result);
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }
}
