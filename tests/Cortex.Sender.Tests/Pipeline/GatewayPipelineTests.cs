using Cortex.Sender.Gateways;
using Cortex.Sender.Resilience;
using Cortex.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Cortex.Sender.Tests.Pipeline;

/// <summary>The gateway pipeline as the sender builds it: its short retries, and each attempt's turn.</summary>
public sealed class GatewayPipelineTests(RedisFixture redis) : IClassFixture<RedisFixture>
{
    [Fact]
    public async Task SendAsync_ShortRetries_EachAttemptTakesItsTurnBeforeItsCallAndEndsItAfter()
    {
        // The turn is the send gate and a rate-limit permit: a retry that skipped it sent into a throttle pause, and over
        // the rate limit while the gateway failed.
        var steps = new List<string>();
        var gateway = new ScriptedGateway((_, call, _) =>
        {
            steps.Add("call");
            return Task.FromResult(call < 3 ? GatewayResult.Retryable("HTTP 503") : GatewayResult.Accepted("wamid.1"));
        });
        await using var host = SenderTestHost.Create(redis, gateway, new Dictionary<string, string?>
        {
            ["Cortex:Resilience:ShortRetries"] = "2",
            ["Cortex:Resilience:ShortRetryDelay"] = "00:00:00",
        });
        var pipeline = host.Host.Services.GetRequiredService<GatewayPipeline>();

        var result = await pipeline.SendAsync(SenderTestHost.Message("m"), new Turns(steps), CancellationToken.None);

        Assert.Equal(GatewayOutcome.Accepted, result.Outcome);
        Assert.Equal(
            ["take", "call", "end Retryable", "take", "call", "end Retryable", "take", "call", "end Accepted"],
            steps);
    }

    [Fact]
    public async Task SendAsync_TurnRefusedBeforeARetry_NoFurtherCallAndTheSendEndsWithdrawn()
    {
        // A send cut off by its timeout after the pod stood still past the consumer timeout: the gateway may have taken it,
        // and another pod may be sending it now. The retry's turn asks Redis and hears the lease is gone.
        var steps = new List<string>();
        var gateway = new ScriptedGateway(_ =>
        {
            steps.Add("call");
            return GatewayResult.Retryable("HTTP 503");
        });
        await using var host = SenderTestHost.Create(redis, gateway, new Dictionary<string, string?>
        {
            ["Cortex:Resilience:ShortRetries"] = "2",
            ["Cortex:Resilience:ShortRetryDelay"] = "00:00:00",
        });
        var pipeline = host.Host.Services.GetRequiredService<GatewayPipeline>();

        await Assert.ThrowsAsync<SendWithdrawnException>(
            async () => await pipeline.SendAsync(SenderTestHost.Message("m"), new Turns(steps, refuseFrom: 2), CancellationToken.None));

        Assert.Equal(["take", "call", "end Retryable", "refused"], steps);
    }

    [Fact]
    public async Task SendAsync_TurnWaitsLongerThanTheGatewayTimeout_TheAttemptStillGetsItsWholeTimeout()
    {
        // A throttle pause of a minute before the call is no timeout of the call.
        var clock = new FakeTimeProvider();
        var gateway = new ScriptedGateway(async (_, _, ct) =>
        {
            await Task.Yield();
            ct.ThrowIfCancellationRequested();
            return GatewayResult.Accepted("wamid.1");
        });
        await using var host = SenderTestHost.Create(redis, gateway, new Dictionary<string, string?> { ["Cortex:Gateway:Timeout"] = "00:00:05" }, time: clock);
        var pipeline = host.Host.Services.GetRequiredService<GatewayPipeline>();
        var steps = new List<string>();

        var result = await pipeline.SendAsync(SenderTestHost.Message("m"), new Turns(steps, onTake: () => clock.Advance(TimeSpan.FromMinutes(1))), CancellationToken.None);

        Assert.Equal(GatewayOutcome.Accepted, result.Outcome);
        Assert.Equal(["take", "end Accepted"], steps);
    }

    [Fact]
    public async Task SendAsync_SendingHeldDuringAShortRetrysDelay_TheRetryIsNotMadeAndTheFailureReturned()
    {
        // The 503 came while the gateway was fine, so a retry was due; during its delay another worker's call was refused
        // as a configuration error (401) and sending paused for a minute. The retry waited out the pause at the gate with
        // its message leased, where no other pod could take it. The caller now gets the 503 back, and hands the message
        // back to ready unspent.
        var clock = new FakeTimeProvider();
        var answered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var gateway = new ScriptedGateway(_ =>
        {
            answered.TrySetResult();
            return GatewayResult.Retryable("HTTP 503");
        });
        await using var host = SenderTestHost.Create(redis, gateway, new Dictionary<string, string?>
        {
            ["Cortex:Resilience:ShortRetries"] = "1",
            ["Cortex:Resilience:ShortRetryDelay"] = "00:00:01",
        }, time: clock);
        var pipeline = host.Host.Services.GetRequiredService<GatewayPipeline>();
        var steps = new List<string>();

        var send = pipeline.SendAsync(SenderTestHost.Message("m"), new Turns(steps), CancellationToken.None).AsTask();
        await answered.Task;
        await SenderTestHost.WaitForAsync(() => Task.FromResult(clock.PendingTimers == 1 && !send.IsCompleted), "the short retry's delay");
        host.Gate.PauseForConfigurationError(TimeSpan.FromMinutes(1), "HTTP 401");
        clock.Advance(TimeSpan.FromSeconds(30));
        var result = await send;

        Assert.Equal(GatewayOutcome.Retryable, result.Outcome);
        Assert.Equal(1, gateway.CallsFor("m"));
        Assert.Equal(["take", "end Retryable"], steps);
    }

    /// <summary>Records each turn; refuses from the <c>refuseFrom</c>th take on.</summary>
    private sealed class Turns(List<string> steps, int refuseFrom = int.MaxValue, Action? onTake = null) : ISendTurns
    {
        private int _takes;

        public ValueTask<bool> TakeAsync()
        {
            onTake?.Invoke();
            var taken = ++_takes < refuseFrom;
            steps.Add(taken ? "take" : "refused");
            return ValueTask.FromResult(taken);
        }

        public ValueTask EndAsync(GatewayResult? result, Exception? exception)
        {
            steps.Add("end " + (result?.Outcome.ToString() ?? "without an answer"));
            return ValueTask.CompletedTask;
        }
    }
}
